//! The ML2/OVN backend's cost, each against iptables_hybrid in the same run:
//! checking the built-in field report, and building the backend (Northbound
//! rows, logical-flow model, address sets) for a 1,000-port network.
//! `cargo bench -p check --bench ovn`

use check::{run, Scenario};
use criterion::{criterion_group, criterion_main, Criterion};
use neutron::firewall::FirewallDriver;

/// The field report's cloud plus `n` VMs in its default group on its network.
fn with_ports(n: usize) -> Scenario {
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
    let mut g = c.benchmark_group("ovn");
    g.sample_size(10);
    let mut sc = with_ports(0);
    for driver in [FirewallDriver::IptablesHybrid, FirewallDriver::Ovn] {
        sc.driver = driver;
        g.bench_function(format!("check_field_report/{}", driver.name()), |b| {
            b.iter(|| run(&sc).expect("check runs"))
        });
    }
    let big = with_ports(1000 - 8);
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
