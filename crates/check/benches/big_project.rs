//! `check` on the field-report load balancer inside a big project: the ports
//! beyond the load balancer's own (all in its default group, spread over 50
//! compute hosts) must cost little. Baseline: the bare field report, same run.
//! `cargo bench -p check --bench big_project`

use check::{run, Scenario};
use criterion::{criterion_group, criterion_main, Criterion};

fn with_extra_ports(n: usize) -> Scenario {
    let mut sc = Scenario::builtin().expect("built-in scenario");
    let template = sc.cloud.port("client-1").expect("client-1").clone();
    for i in 0..n {
        let mut p = template.clone();
        p.id = format!("{:08x}-0000-4000-8000-{:012x}", i + 1, i + 1);
        p.name = format!("vm-{i}");
        p.mac_address = format!(
            "fa:16:3f:{:02x}:{:02x}:{:02x}",
            (i >> 16) & 255,
            (i >> 8) & 255,
            i & 255
        );
        p.fixed_ips[0].ip_address =
            format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255)
                .parse()
                .expect("address");
        p.host_id = format!("compute-{}", 3 + i % 50);
        sc.cloud.ports.push(p);
    }
    sc
}

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
