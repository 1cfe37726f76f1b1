//! `check` on the field-report load balancer inside a big project: the ports
//! beyond the load balancer's own (all in its default group, spread over 50
//! compute hosts) must cost little. Baseline: the bare field report, same run.
//! `cargo bench -p check --bench big_project`

use check::run;
use criterion::{criterion_group, criterion_main, Criterion};

mod support;
use support::with_extra_ports;

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("check_in_a_big_project");
    g.sample_size(10);
    for n in [0usize, 10_000] {
        let sc = with_extra_ports(n);
        g.bench_function(format!("{n}_extra_ports"), |b| {
            b.iter(|| run(&sc).expect("check runs"))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
