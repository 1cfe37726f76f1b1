//! Packets per second through a synthetic iptables_hybrid compute host (200 ports,
//! 20 security-group rules each, Neutron's chain layout): the precompiled
//! [`Engine`] against the naive reference evaluator on the same packets.

use conntrack::Conntrack;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use netfilter::engine::{eval_naive, Engine};
use netfilter::{IpsetStore, Rulesets};
use packet::{Packet, PathKind};
use std::fmt::Write;
use std::time::Duration;

const PORTS: usize = 200;
const RULES_PER_GROUP: usize = 20;
const P: &str = "neutron-openvswi-";

fn uuid(i: usize) -> String {
    format!("{:08x}-aaaa-bbbb-cccc-dddddddddddd", i + 1)
}

fn ip(i: usize) -> String {
    // 192.0.2.0/24 and 198.51.100.0/24 hold 200 ports with room to spare.
    if i < 120 {
        format!("192.0.2.{}", i + 2)
    } else {
        format!("198.51.100.{}", i - 118)
    }
}

fn mac(i: usize) -> String {
    format!("fa:16:3e:00:{:02x}:{:02x}", i / 256, i % 256)
}

fn host_rules() -> String {
    let mut t = String::new();
    let ports: Vec<(String, String)> = (0..PORTS)
        .map(|i| (uuid(i)[..11].to_string(), uuid(i)[..10].to_string()))
        .collect();
    t += "*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n";
    writeln!(t, ":{P}PREROUTING - [0:0]\n-A PREROUTING -j {P}PREROUTING").unwrap();
    for (i, (dev, _)) in ports.iter().enumerate() {
        let z = 4097 + i;
        for m in [
            format!("-m physdev --physdev-in qvb{dev}"),
            format!("-i qvb{dev}"),
            format!("-m physdev --physdev-in tap{dev}"),
        ] {
            writeln!(
                t,
                "-A {P}PREROUTING {m} -m comment --comment \"Set zone for {}\" -j CT --zone {z}",
                &dev[..7]
            )
            .unwrap();
        }
    }
    t += "COMMIT\n*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n";
    t += ":neutron-filter-top - [0:0]\n";
    for c in ["FORWARD", "INPUT", "local", "sg-chain", "sg-fallback"] {
        writeln!(t, ":{P}{c} - [0:0]").unwrap();
    }
    for (_, s) in &ports {
        for k in ["i", "o", "s"] {
            writeln!(t, ":{P}{k}{s} - [0:0]").unwrap();
        }
    }
    writeln!(t, "-A INPUT -j {P}INPUT\n-A FORWARD -j neutron-filter-top\n-A FORWARD -j {P}FORWARD\n-A neutron-filter-top -j {P}local").unwrap();
    for (dev, _) in &ports {
        for d in ["out", "in"] {
            writeln!(t, "-A {P}FORWARD -m physdev --physdev-{d} tap{dev} --physdev-is-bridged -m comment --comment \"Direct traffic from the VM interface to the security group chain.\" -j {P}sg-chain").unwrap();
        }
    }
    for (dev, s) in &ports {
        writeln!(
            t,
            "-A {P}INPUT -m physdev --physdev-in tap{dev} --physdev-is-bridged -j {P}o{s}"
        )
        .unwrap();
    }
    for (i, (_, s)) in ports.iter().enumerate() {
        let c = format!("{P}i{s}");
        writeln!(t, "-A {c} -m state --state RELATED,ESTABLISHED -j RETURN").unwrap();
        writeln!(
            t,
            "-A {c} -d {}/32 -p udp -m udp --sport 67 --dport 68 -j RETURN",
            ip(i)
        )
        .unwrap();
        for r in 0..RULES_PER_GROUP {
            match r % 4 {
                0 => writeln!(t, "-A {c} -p tcp -m tcp --dport {} -j RETURN", 8000 + r),
                1 => writeln!(
                    t,
                    "-A {c} -s 203.0.113.{r}/32 -p udp -m udp --dport {} -j RETURN",
                    5000 + r
                ),
                2 => writeln!(
                    t,
                    "-A {c} -p tcp -m multiport --dports {}:{} -j RETURN",
                    10000 + r * 10,
                    10005 + r * 10
                ),
                _ => writeln!(
                    t,
                    "-A {c} -p icmp -m icmp --icmp-type {}/0 -j RETURN",
                    r % 16
                ),
            }
            .unwrap();
        }
        writeln!(
            t,
            "-A {c} -m state --state INVALID -j DROP\n-A {c} -j {P}sg-fallback"
        )
        .unwrap();
        let o = format!("{P}o{s}");
        writeln!(t, "-A {o} -s 0.0.0.0/32 -d 255.255.255.255/32 -p udp -m udp --sport 68 --dport 67 -j RETURN").unwrap();
        writeln!(t, "-A {o} -j {P}s{s}").unwrap();
        writeln!(t, "-A {o} -p udp -m udp --sport 68 --dport 67 -j RETURN\n-A {o} -p udp -m udp --sport 67 --dport 68 -j DROP").unwrap();
        writeln!(t, "-A {o} -m state --state RELATED,ESTABLISHED -j RETURN").unwrap();
        for r in 0..RULES_PER_GROUP {
            writeln!(
                t,
                "-A {o} -d 203.0.113.{r}/32 -p tcp -m tcp --dport {} -j RETURN",
                9000 + r
            )
            .unwrap();
        }
        writeln!(
            t,
            "-A {o} -m state --state INVALID -j DROP\n-A {o} -j {P}sg-fallback"
        )
        .unwrap();
        writeln!(
            t,
            "-A {P}s{s} -s {}/32 -m mac --mac-source {} -j RETURN\n-A {P}s{s} -j DROP",
            ip(i),
            mac(i)
        )
        .unwrap();
    }
    for (dev, s) in &ports {
        writeln!(
            t,
            "-A {P}sg-chain -m physdev --physdev-out tap{dev} --physdev-is-bridged -j {P}i{s}"
        )
        .unwrap();
        writeln!(
            t,
            "-A {P}sg-chain -m physdev --physdev-in tap{dev} --physdev-is-bridged -j {P}o{s}"
        )
        .unwrap();
    }
    writeln!(
        t,
        "-A {P}sg-chain -j ACCEPT\n-A {P}sg-fallback -j DROP\nCOMMIT"
    )
    .unwrap();
    t
}

/// A mix: ingress allowed and denied, egress from the port's own pair, spoofed.
fn packets() -> Vec<Packet> {
    let mut out = Vec::new();
    for k in 0..64 {
        let i = (k * 37) % PORTS;
        let dev = &uuid(i)[..11];
        let kv = match k % 4 {
            0 => format!("in=qbr{dev} out=qbr{dev} physdev_in=qvb{dev} physdev_out=tap{dev} src=203.0.113.9 dst={} proto=tcp sport={} dport=8008 flags=S", ip(i), 30000 + k),
            1 => format!("in=qbr{dev} out=qbr{dev} physdev_in=qvb{dev} physdev_out=tap{dev} src=203.0.113.9 dst={} proto=tcp sport={} dport=22 flags=S", ip(i), 30000 + k),
            2 => format!("in=qbr{dev} out=qbr{dev} physdev_in=tap{dev} physdev_out=qvb{dev} smac={} src={} dst=203.0.113.3 proto=tcp sport={} dport=9003 flags=S", mac(i), ip(i), 30000 + k),
            _ => format!("in=qbr{dev} out=qbr{dev} physdev_in=tap{dev} physdev_out=qvb{dev} smac={} src=203.0.113.200 dst=203.0.113.3 proto=tcp sport={} dport=80 flags=S", mac(i), 30000 + k),
        };
        out.push(Packet::parse_kv(&kv).expect("bench packet"));
    }
    out
}

fn bench(c: &mut Criterion) {
    let text = host_rules();
    let rules = Rulesets::parse(&text).expect("synthetic ruleset parses");
    let sets = IpsetStore::default();
    let engine = Engine::new(&rules, &sets).expect("compiles");
    let pkts = packets();
    let mut g = c.benchmark_group("hybrid_host_200_ports");
    g.throughput(Throughput::Elements(pkts.len() as u64));
    g.measurement_time(Duration::from_secs(3));
    g.sample_size(20);
    g.warm_up_time(Duration::from_secs(1));
    g.bench_function("compiled", |b| {
        b.iter(|| {
            let mut ct = Conntrack::new();
            for p in &pkts {
                std::hint::black_box(engine.eval(&mut ct, p, PathKind::Bridged));
            }
        })
    });
    g.bench_function("naive", |b| {
        b.iter(|| {
            let mut ct = Conntrack::new();
            for p in &pkts {
                std::hint::black_box(eval_naive(
                    &rules.v4,
                    &sets,
                    &mut ct,
                    p,
                    PathKind::Bridged,
                    &[],
                ));
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
