//! Regressions found by the real-kernel differential harness (conformance/kernel):
//! each test pins what the kernel did where vipwire once disagreed.

use netfilter::{trace_packets, StepKind};
use packet::Verdict;

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

#[test]
fn icmp_type_255_is_any_for_ipv4_only() {
    // conformance/kernel/regressions/icmp-type-255-is-any.json: with IPv4 type
    // 255 the kernel's icmp match passes every ICMP packet whatever the code
    // (`! 255/7` matches nothing); ICMPv6 type 255 is only type 255.
    let v4 = "*filter\n:FORWARD DROP [0:0]\n\
              -A FORWARD -p icmp -m icmp ! --icmp-type 255/7 -j DROP\n\
              -A FORWARD -p icmp -m icmp --icmp-type 255/0 -j ACCEPT\nCOMMIT\n";
    let pkts = "src=203.0.113.10 dst=203.0.113.11 proto=icmp icmp_type=8 icmp_id=7\n\
                src=203.0.113.10 dst=203.0.113.11 proto=icmp icmp_type=255 icmp_code=9\n\
                src=203.0.113.10 dst=203.0.113.11 proto=icmp icmp_type=200 icmp_code=1\n";
    let out = trace_packets(v4, None, pkts).unwrap();
    for (_, t) in &out {
        assert_eq!(rule_steps(t, "filter"), [2]);
        assert_eq!(t.verdict, Verdict::Accept);
    }
    let v6 = "*filter\n:FORWARD DROP [0:0]\n\
              -A FORWARD -p ipv6-icmp -m icmp6 --icmpv6-type 255/0 -j ACCEPT\n\
              -A FORWARD -p ipv6-icmp -m icmp6 --icmpv6-type ECHO-REQ -j ACCEPT\nCOMMIT\n";
    let pkts = "src=2001:db8::a dst=2001:db8::b proto=icmpv6 icmp_type=128 icmp_id=7\n\
                src=2001:db8::a dst=2001:db8::b proto=icmpv6 icmp_type=255\n\
                src=2001:db8::a dst=2001:db8::b proto=icmpv6 icmp_type=255 icmp_code=4\n\
                src=2001:db8::a dst=2001:db8::b proto=icmpv6 icmp_type=129 icmp_id=10\n";
    let out = trace_packets(v6, None, pkts).unwrap();
    let verdicts: Vec<Verdict> = out.iter().map(|(_, t)| t.verdict).collect();
    assert_eq!(
        verdicts,
        [
            Verdict::Accept,
            Verdict::Accept,
            Verdict::Drop,
            Verdict::Drop
        ]
    );
    assert_eq!(rule_steps(&out[0].1, "filter"), [2]);
    assert_eq!(rule_steps(&out[1].1, "filter"), [1]);
}

#[test]
fn bridged_group_frame_keeps_its_entry_when_forward_drops_it() {
    // Kernel 6.18: the qbr passes a multicast frame up to its own stack after the
    // flooded copy died in FORWARD, and br_nf_local_in confirms the entry, so the
    // next VRRP advert finds it (NEW, unreplied) and skips nat. A unicast frame
    // is not passed up: its entry dies with it and the next one meets nat again.
    let rules = "*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
                 -A PREROUTING -m physdev --physdev-in qvbB -j CT --zone 4097\nCOMMIT\n\
                 *nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
                 :POSTROUTING ACCEPT [0:0]\n-A PREROUTING -j ACCEPT\nCOMMIT\n\
                 *filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
                 -A FORWARD -m physdev --physdev-out tapB -j DROP\nCOMMIT\n";
    let ingress = "in=qbrB out=qbrB physdev_in=qvbB physdev_out=tapB smac=fa:16:3e:00:00:01";
    let pkts = [
        "dmac=01:00:5e:00:00:12 src=203.0.113.1 dst=224.0.0.18 proto=vrrp ttl=255 t=0",
        "dmac=01:00:5e:00:00:12 src=203.0.113.1 dst=224.0.0.18 proto=vrrp ttl=255 t=1",
        "dmac=33:33:00:00:00:12 src=2001:db8::1 dst=ff02::12 proto=vrrp ttl=255 t=2",
        "dmac=33:33:00:00:00:12 src=2001:db8::1 dst=ff02::12 proto=vrrp ttl=255 t=3",
        "dmac=fa:16:3e:00:00:02 src=203.0.113.1 dst=203.0.113.2 proto=vrrp ttl=255 t=4",
        "dmac=fa:16:3e:00:00:02 src=203.0.113.1 dst=203.0.113.2 proto=vrrp ttl=255 t=5",
    ]
    .map(|p| format!("{ingress} {p} path=bridged\n"))
    .concat();
    // The same tables twice: the second part is the ip6tables-save.
    let out = trace_packets(&format!("{rules}{rules}"), None, &pkts).unwrap();
    let nat: Vec<Vec<usize>> = out.iter().map(|(_, t)| rule_steps(t, "nat")).collect();
    assert_eq!(nat, [vec![1], vec![], vec![1], vec![], vec![1], vec![1]]);
    for (_, t) in &out {
        assert_eq!(
            (t.verdict, t.ctstate.as_str(), t.zone),
            (Verdict::Drop, "NEW", 4097)
        );
    }
}

#[test]
fn bridged_group_frame_dropped_in_prerouting_leaves_no_entry() {
    // A PREROUTING DROP frees the frame before the bridge floods or passes it up
    // (br_handle_frame_finish never runs), so nothing confirms the entry: the next
    // SYN of the flow creates it again and meets nat; the one after does not.
    let rules = "*mangle\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n\
                 :OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n\
                 -A PREROUTING -p tcp -m tcp --tcp-flags URG URG -j DROP\nCOMMIT\n\
                 *nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
                 :POSTROUTING ACCEPT [0:0]\n-A PREROUTING -j ACCEPT\nCOMMIT\n\
                 *filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n";
    let line = "in=qbrB out=qbrB physdev_in=qvbB physdev_out=tapB smac=fa:16:3e:00:00:01 \
                dmac=01:00:5e:00:00:fb src=203.0.113.1 dst=224.0.0.251 proto=tcp sport=40000 \
                dport=80 seq=1000 win=64240 path=bridged";
    let pkts = format!("{line} flags=SU t=0\n{line} flags=S t=1\n{line} flags=S t=2\n");
    let out = trace_packets(rules, None, &pkts).unwrap();
    let mangle: Vec<Vec<usize>> = out.iter().map(|(_, t)| rule_steps(t, "mangle")).collect();
    let nat: Vec<Vec<usize>> = out.iter().map(|(_, t)| rule_steps(t, "nat")).collect();
    assert_eq!(mangle, [vec![1], vec![], vec![]]);
    assert_eq!(nat, [vec![], vec![1], vec![]]);
    assert!(out.iter().all(|(_, t)| t.verdict == Verdict::Drop));
}
