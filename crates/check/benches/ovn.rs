//! The ML2/OVN backend's cost, each against iptables_hybrid in the same run:
//! checking the built-in field report, and building the backend (Northbound
//! rows, logical-flow model, address sets) for a 1,000-port network.
//! `cargo bench -p check --bench ovn`

use check::run;
use criterion::{criterion_group, criterion_main, Criterion};
use neutron::firewall::FirewallDriver;

mod support;
use support::with_extra_ports;

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("ovn");
    g.sample_size(10);
    let mut sc = with_extra_ports(0);
    for driver in [FirewallDriver::IptablesHybrid, FirewallDriver::Ovn] {
        sc.driver = driver;
        g.bench_function(format!("check_field_report/{}", driver.name()), |b| {
            b.iter(|| run(&sc).expect("check runs"))
        });
    }
    let big = with_extra_ports(1000 - 8);
    for driver in [FirewallDriver::IptablesHybrid, FirewallDriver::Ovn] {
        g.bench_function(format!("build_1000_ports/{}", driver.name()), |b| {
            b.iter(|| fabric::build(&big.cloud, driver).expect("backend builds"))
        });
    }
    g.bench_function("lflows_1000_ports/ovn", |b| {
        b.iter(|| {
            let nb = neutron::firewall::ovn::Northbound::of(&big.cloud);
            fabric::ovn::lflows::render(&big.cloud, &nb)
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
