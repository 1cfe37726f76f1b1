//! Property tests: parsers never panic, generated rulesets round-trip exactly,
//! and the precompiled engine agrees with the naive reference evaluator.

use conntrack::Conntrack;
use netfilter::engine::{eval_naive, Engine};
use netfilter::ruleset::parse_rule;
use netfilter::{IpsetStore, Ruleset, Rulesets};
use packet::{Packet, PathKind};
use proptest::prelude::*;

const TOKENS: &[&str] = &[
    "-A",
    "X",
    "-s",
    "-d",
    "!",
    "-i",
    "-o",
    "-p",
    "tcp",
    "udp",
    "icmp",
    "-m",
    "tcp",
    "udp",
    "--dport",
    "--sport",
    "80",
    "1:2",
    "multiport",
    "--dports",
    "state",
    "--state",
    "NEW,ESTABLISHED",
    "mac",
    "--mac-source",
    "fa:16:3e:00:00:01",
    "physdev",
    "--physdev-in",
    "tap+",
    "--physdev-is-bridged",
    "set",
    "--match-set",
    "S",
    "src,dst",
    "comment",
    "--comment",
    "\"a b\"",
    "\"",
    "-j",
    "-g",
    "CT",
    "--zone",
    "4097",
    "--notrack",
    "MARK",
    "--set-xmark",
    "0x1/0xff",
    "ACCEPT",
    "REJECT",
    "--reject-with",
    "192.0.2.1/32",
    "2001:db8::/64",
    "[1:2]",
    "--tcp-flags",
    "SYN,ACK",
    "SYN",
    "icmp",
    "--icmp-type",
    "8/0",
    "iprange",
    "--src-range",
    "1.2.3.4-1.2.3.9",
    "addrtype",
    "--dst-type",
    "LOCAL",
    "mark",
    "--mark",
    "-f",
    "\\",
    "",
];

fn token_soup() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(TOKENS), 0..14).prop_map(|v| v.join(" "))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, .. ProptestConfig::default() })]

    #[test]
    fn parsers_never_panic(s in "\\PC*") {
        let _ = Ruleset::parse(&s);
        let _ = Rulesets::parse(&s);
        let _ = IpsetStore::parse(&s);
        let _ = Packet::parse_kv(&s);
        let _ = parse_rule(&s, 1);
    }

    #[test]
    fn rule_parser_never_panics_on_token_soup(s in token_soup()) {
        let _ = parse_rule(&format!("-A X {s}"), 1);
        let text = format!("*filter\n:X - [0:0]\n-A X {s}\nCOMMIT\n");
        if let Ok(rs) = Ruleset::parse(&text) {
            // Whatever parses prints back and parses to the same model.
            let printed = rs.to_string();
            prop_assert_eq!(Ruleset::parse(&printed).unwrap(), rs);
        }
    }

    #[test]
    fn ipset_and_kv_never_panic(a in token_soup(), b in token_soup()) {
        let _ = IpsetStore::parse(&format!("create S hash:ip,port {a}\nadd S {b}\n"));
        let _ = Packet::parse_kv(&format!("src=192.0.2.1 dst=192.0.2.2 proto=tcp {}", b.replace(' ', "=")));
    }
}

// ---------------------------------------------------------------- generated rulesets

fn neg() -> impl Strategy<Value = &'static str> {
    prop_oneof![3 => Just(""), 1 => Just("! ")]
}

fn addr() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec!["192.0.2", "198.51.100"]),
        0u8..8,
        prop::sample::select(vec![32u8, 30, 24]),
    )
        .prop_map(|(n, h, l)| {
            let host = if l == 32 {
                h
            } else if l == 30 {
                h & !3
            } else {
                0
            };
            format!("{n}.{host}/{l}")
        })
}

fn port() -> impl Strategy<Value = u16> {
    prop::sample::select(vec![22u16, 53, 67, 68, 80, 1000, 1500])
}

/// One match in canonical iptables-save form.
fn a_match() -> BoxedStrategy<String> {
    prop_oneof![
        (neg(), addr()).prop_map(|(n, a)| format!("{n}-s {a}")),
        (neg(), addr()).prop_map(|(n, a)| format!("{n}-d {a}")),
        (neg(), prop::sample::select(vec!["eth0", "eth+", "qbr1"]))
            .prop_map(|(n, i)| format!("{n}-i {i}")),
        (neg(), prop::sample::select(vec!["eth1", "qbr+"])).prop_map(|(n, i)| format!("{n}-o {i}")),
        (
            neg(),
            prop::sample::select(vec!["tcp", "udp", "icmp", "vrrp", "6"])
        )
            .prop_map(|(n, p)| format!("{n}-p {p}")),
        (
            prop::sample::select(vec!["tcp", "udp"]),
            neg(),
            port(),
            prop::bool::ANY
        )
            .prop_map(|(p, n, x, d)| format!(
                "-p {p} -m {p} {n}--{}port {x}",
                if d { "d" } else { "s" }
            )),
        (port(), port()).prop_map(|(a, b)| format!(
            "-p tcp -m tcp --dport {}:{}",
            a.min(b),
            a.max(b)
        )),
        Just("-p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN".to_string()),
        (neg(),).prop_map(|(n,)| format!("-p tcp -m tcp {n}--syn")),
        (prop::sample::select(vec!["8/0", "0", "echo-request", "any"]))
            .prop_map(|t| format!("-p icmp -m icmp --icmp-type {t}")),
        (neg(), port(), port()).prop_map(|(n, a, b)| format!(
            "-p udp -m multiport {n}--dports {a},{}:{}",
            a.min(b),
            a.max(b)
        )),
        (
            neg(),
            prop::sample::select(vec![
                "NEW",
                "ESTABLISHED",
                "RELATED,ESTABLISHED",
                "INVALID",
                "UNTRACKED"
            ])
        )
            .prop_map(|(n, s)| format!("-m state {n}--state {s}")),
        (
            neg(),
            prop::sample::select(vec!["NEW,UNTRACKED", "INVALID"])
        )
            .prop_map(|(n, s)| format!("-m conntrack {n}--ctstate {s}")),
        (
            neg(),
            prop::sample::select(vec!["fa:16:3e:00:00:01", "fa:16:3e:00:00:02"])
        )
            .prop_map(|(n, m)| format!("-m mac {n}--mac-source {m}")),
        (neg(), prop::sample::select(vec!["tap1", "tap+", "qvb1"]))
            .prop_map(|(n, d)| format!("-m physdev {n}--physdev-in {d}")),
        (neg(), prop::sample::select(vec!["tap1", "qvb1"]))
            .prop_map(|(n, d)| format!("-m physdev {n}--physdev-out {d} --physdev-is-bridged")),
        (neg(), prop::sample::select(vec!["src", "dst", "NOPE"])).prop_map(|(n, d)| {
            if d == "NOPE" {
                format!("-m set {n}--match-set NOPE src")
            } else {
                format!("-m set {n}--match-set S {d}")
            }
        }),
        Just("-m comment --comment \"Allow traffic from defined IP/MAC pairs.\"".to_string()),
        (neg(), 0u8..8, 0u8..8).prop_map(|(n, a, b)| format!(
            "-m iprange {n}--src-range 192.0.2.{}-192.0.2.{}",
            a.min(b),
            a.max(b)
        )),
        (
            neg(),
            prop::sample::select(vec!["LOCAL", "UNICAST", "MULTICAST,BROADCAST"])
        )
            .prop_map(|(n, t)| format!("-m addrtype {n}--dst-type {t}")),
        (neg(), 0u32..4).prop_map(|(n, m)| format!("-m mark {n}--mark 0x{m:x}/0x3")),
        Just("-m hashlimit --hashlimit-upto 5/sec".to_string()),
    ]
    .boxed()
}

/// A target for a rule in chain `i` of `n` user chains (jumps only forward).
fn a_target(i: usize, n: usize) -> BoxedStrategy<String> {
    let mut s = vec![
        Just("-j ACCEPT".to_string()).boxed(),
        Just("-j DROP".to_string()).boxed(),
        Just("-j RETURN".to_string()).boxed(),
        Just("-j REJECT --reject-with icmp-port-unreachable".to_string()).boxed(),
        Just("-j LOG --log-prefix \"x \"".to_string()).boxed(),
        (0u32..4)
            .prop_map(|m| format!("-j MARK --set-xmark 0x{m:x}/0x3"))
            .boxed(),
        Just("-j SNAT --to-source 192.0.2.1".to_string()).boxed(),
    ];
    if i + 1 < n {
        s.push(((i + 1)..n).prop_map(|j| format!("-j C{j}")).boxed());
        s.push(((i + 1)..n).prop_map(|j| format!("-g C{j}")).boxed());
    }
    prop::strategy::Union::new(s).boxed()
}

fn a_rule(chain: String, i: usize, n: usize) -> impl Strategy<Value = String> {
    (prop::collection::vec(a_match(), 0..3), a_target(i, n)).prop_map(move |(ms, t)| {
        let mut s = format!("-A {chain}");
        for m in ms {
            s.push(' ');
            s.push_str(&m);
        }
        s.push(' ');
        s.push_str(&t);
        s
    })
}

const NCHAINS: usize = 4;

/// raw (zones) + mangle (marks) + filter with FORWARD/INPUT and user chains C0..C3.
fn a_ruleset() -> impl Strategy<Value = String> {
    let raw = prop::collection::vec(
        (
            a_match(),
            prop::sample::select(vec![
                "-j CT --zone 4097",
                "-j CT --zone 4098",
                "-j CT --notrack",
                "-j NOTRACK",
            ]),
        )
            .prop_map(|(m, t)| format!("-A PREROUTING {m} {t}")),
        0..3,
    );
    let mangle = prop::collection::vec(
        prop_oneof![
            a_rule("PREROUTING".into(), NCHAINS, NCHAINS),
            a_rule("POSTROUTING".into(), NCHAINS, NCHAINS)
        ],
        0..3,
    );
    let fwd = prop::collection::vec(a_rule("FORWARD".into(), NCHAINS, NCHAINS), 0..5);
    let fwd_jumps = prop::collection::vec(
        (a_match(), 0..NCHAINS, prop::bool::ANY)
            .prop_map(|(m, j, g)| format!("-A FORWARD {m} -{} C{j}", if g { "g" } else { "j" })),
        0..3,
    );
    let chains: Vec<_> = (0..NCHAINS)
        .map(|i| prop::collection::vec(a_rule(format!("C{i}"), i, NCHAINS), 0..5))
        .collect();
    (raw, mangle, fwd, fwd_jumps, chains, prop::sample::select(vec!["ACCEPT", "DROP"])).prop_map(
        |(raw, mangle, fwd, jumps, chains, pol)| {
            let mut t = String::from("# Generated by iptables-save v1.8.9 (nf_tables)\n*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n");
            for r in raw {
                t += &r;
                t.push('\n');
            }
            t += "COMMIT\n*mangle\n:PREROUTING ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n";
            for r in mangle {
                t += &r;
                t.push('\n');
            }
            t += &format!("COMMIT\n*filter\n:INPUT ACCEPT [0:0]\n:FORWARD {pol} [12:345]\n:OUTPUT ACCEPT [0:0]\n");
            for i in 0..NCHAINS {
                t += &format!(":C{i} - [0:0]\n");
            }
            let mut all: Vec<String> = jumps.into_iter().chain(fwd).collect();
            for (i, c) in chains.into_iter().enumerate() {
                let _ = i;
                all.extend(c);
            }
            for r in all {
                t += &r;
                t.push('\n');
            }
            t += "COMMIT\n# Completed on Sun Nov 29 10:00:00 2026\n";
            t
        },
    )
}

fn a_packet() -> impl Strategy<Value = String> {
    (
        (0u8..8, 0u8..8, prop::bool::ANY),
        prop::sample::select(vec!["tcp", "udp", "icmp", "vrrp"]),
        (port(), port()),
        prop::sample::select(vec!["S", "SA", "A", "FA", "R"]),
        prop::sample::select(vec![
            "in=eth0 out=eth1",
            "in=qbr1 out=qbr1 physdev_in=tap1 physdev_out=qvb1",
            "in=qbr1 out=qbr1 physdev_in=qvb1 physdev_out=tap1",
            "in=eth0 path=in",
            "in=qbr1 physdev_in=tap1 path=in",
            "out=qbr1 physdev_out=tap1 path=out",
            "out=eth1 path=out",
        ]),
        (
            0u32..4,
            prop::sample::select(vec!["fa:16:3e:00:00:01", "fa:16:3e:00:00:02"]),
        ),
    )
        .prop_map(|((s, d, swap), p, (sp, dp), fl, dev, (mark, mac))| {
            let (a, b) = (format!("192.0.2.{s}"), format!("198.51.100.{d}"));
            let (src, dst) = if swap { (b, a) } else { (a, b) };
            let l4 = match p {
                "tcp" => format!("sport={sp} dport={dp} flags={fl}"),
                "udp" => format!("sport={sp} dport={dp}"),
                "icmp" => "icmp_type=8 icmp_id=3".to_string(),
                _ => String::new(),
            };
            format!("{dev} smac={mac} src={src} dst={dst} proto={p} {l4} mark={mark}")
        })
}

const SETS: &str = "create S hash:net family inet hashsize 1024 maxelem 65536\nadd S 192.0.2.0/30\nadd S 198.51.100.4\n";

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, .. ProptestConfig::default() })]

    #[test]
    fn generated_rulesets_round_trip(text in a_ruleset()) {
        let rs = Ruleset::parse(&text).unwrap();
        prop_assert_eq!(rs.to_string(), text);
    }

    #[test]
    fn compiled_agrees_with_naive(text in a_ruleset(), pkts in prop::collection::vec(a_packet(), 1..8)) {
        let rs = Rulesets::parse(&text).unwrap();
        let sets = IpsetStore::parse(SETS).unwrap();
        let local = vec!["198.51.100.1".parse().unwrap()];
        let eng = Engine::new(&rs, &sets).unwrap().with_local_ips(local.clone());
        // Every chain indexed by device name, so the dispatch index is exercised.
        let indexed = eng.clone().with_index_threshold(0);
        let (mut c1, mut c2, mut c3) = (Conntrack::new(), Conntrack::new(), Conntrack::new());
        for (i, kv) in pkts.iter().enumerate() {
            let (mut p, path) = Packet::parse_kv_path(kv).unwrap();
            p.time = i as f64 * 0.1;
            let path = path.unwrap_or_else(|| PathKind::default_for(&p));
            let a = eng.eval(&mut c1, &p, path);
            let b = eval_naive(&rs.v4, &sets, &mut c2, &p, path, &local);
            let c = indexed.eval(&mut c3, &p, path);
            prop_assert_eq!(&a, &b, "packet {}", kv);
            prop_assert_eq!(&c, &b, "indexed, packet {}", kv);
        }
    }
}
