//! Regressions found by the real-kernel differential harness (conformance/kernel):
//! each test pins what the kernel did where vipwire once disagreed.

use netfilter::{trace_packets, StepKind, Verdict};

fn rule_steps(t: &netfilter::PacketTrace, table: &str) -> Vec<usize> {
    t.path
        .iter()
        .filter(|s| s.table == table && s.kind == StepKind::Rule)
        .map(|s| s.rule_num)
        .collect()
}

#[test]
fn nat_chains_see_only_the_packet_that_creates_the_entry() {
    // Kernel: a retransmitted SYN is still NEW but its entry exists, so nat is skipped.
    let rules = "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
                 :POSTROUTING ACCEPT [0:0]\n-A PREROUTING -p tcp -j ACCEPT\nCOMMIT\n";
    let pkts = "src=203.0.113.5 dst=203.0.113.8 proto=tcp sport=1000 dport=80 flags=S t=0\n\
                src=203.0.113.5 dst=203.0.113.8 proto=tcp sport=1000 dport=80 flags=S t=1\n";
    let out = trace_packets(rules, None, pkts).unwrap();
    assert_eq!(out[0].1.ctstate, "NEW");
    assert_eq!(rule_steps(&out[0].1, "nat"), [1]);
    assert_eq!(out[1].1.ctstate, "NEW");
    assert!(
        rule_steps(&out[1].1, "nat").is_empty(),
        "{:?}",
        out[1].1.path
    );
}

#[test]
fn raw_rules_after_a_ct_template_see_new() {
    let rules = "*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
                 -A PREROUTING -m conntrack --ctstate INVALID -j LOG\n\
                 -A PREROUTING -p tcp -j CT --zone 7\n\
                 -A PREROUTING -m conntrack --ctstate NEW -j LOG\n\
                 -A PREROUTING -p udp -j CT --notrack\n\
                 -A PREROUTING -m conntrack --ctstate UNTRACKED -j LOG\nCOMMIT\n";
    let pkts = "src=203.0.113.5 dst=203.0.113.8 proto=tcp sport=1000 dport=80 flags=S\n\
                src=203.0.113.5 dst=203.0.113.8 proto=udp sport=1000 dport=53\n";
    let out = trace_packets(rules, None, pkts).unwrap();
    // Before any CT rule: no conntrack yet, INVALID; after the zone template: NEW.
    assert_eq!(rule_steps(&out[0].1, "raw"), [1, 2, 3]);
    assert_eq!(out[0].1.zone, 7);
    assert_eq!(rule_steps(&out[1].1, "raw"), [1, 4, 5]);
    assert_eq!(out[1].1.ctstate, "UNTRACKED");
}

#[test]
fn protocol_names_from_etc_protocols_parse() {
    // iptables-save prints `-p 4` as `-p ipencap` (getprotobynumber, Debian netbase).
    let rules = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
                 -A FORWARD -p ipencap -j DROP\n-A FORWARD -p ipip -j DROP\nCOMMIT\n";
    let pkts =
        "src=203.0.113.5 dst=203.0.113.8 proto=4\nsrc=203.0.113.5 dst=203.0.113.8 proto=94\n\
                src=203.0.113.5 dst=203.0.113.8 proto=47\n";
    let out = trace_packets(rules, None, pkts).unwrap();
    assert_eq!(rule_steps(&out[0].1, "filter"), [1]);
    assert_eq!(rule_steps(&out[1].1, "filter"), [2]);
    let verdicts: Vec<Verdict> = out.iter().map(|(_, t)| t.verdict).collect();
    assert_eq!(verdicts, [Verdict::Drop, Verdict::Drop, Verdict::Accept]);
}
