//! The field report's path through a real-looking iptables_hybrid compute host:
//! the director's forwarded SYN dies in its anti-spoof chain, VRRP passes.

use conntrack::Conntrack;
use netfilter::{eval_naive, format_trace, trace_packets, Engine, IpsetStore, Rulesets, StepKind};
use packet::{parse_packets, Verdict};

const RULES: &str = include_str!("fixtures/hybrid-host.iptables-save");
const SETS: &str = include_str!("fixtures/hybrid-host.ipset-save");

const PACKETS: &str = "\
# client SYN reaches the director's port (OVS side -> VM)
in=qbr11111111-22 out=qbr11111111-22 physdev_in=qvb11111111-22 physdev_out=tap11111111-22 smac=fa:16:3e:00:00:01 src=198.51.100.20 dst=203.0.113.241 proto=tcp sport=40000 dport=80 flags=S t=0
# the director forwards it in DR mode: same IPs, its own MAC (VM -> OVS side)
in=qbr11111111-22 out=qbr11111111-22 physdev_in=tap11111111-22 physdev_out=qvb11111111-22 smac=fa:16:3e:aa:bb:cc src=198.51.100.20 dst=203.0.113.241 proto=tcp sport=40000 dport=80 flags=S t=0.001
# VRRP advert from the director's own IP and MAC
in=qbr11111111-22 out=qbr11111111-22 physdev_in=tap11111111-22 physdev_out=qvb11111111-22 smac=fa:16:3e:aa:bb:cc src=203.0.113.5 dst=224.0.0.18 proto=vrrp ttl=255 t=0.5
# ping from a remote-group member to the real server
in=qbr22222222-33 out=qbr22222222-33 physdev_in=qvb22222222-33 physdev_out=tap22222222-33 src=203.0.113.5 dst=203.0.113.8 proto=icmp icmp_type=8 icmp_id=7 t=1
# port 22 from outside to the real server: not allowed
in=qbr22222222-33 out=qbr22222222-33 physdev_in=qvb22222222-33 physdev_out=tap22222222-33 src=198.51.100.20 dst=203.0.113.8 proto=tcp sport=40001 dport=22 flags=S t=2
";

#[test]
fn fixture_round_trips() {
    let rs = Rulesets::parse(RULES).unwrap();
    assert_eq!(rs.v4.to_string(), RULES);
    assert!(rs.v6.tables().next().is_none());
    assert_eq!(IpsetStore::parse(SETS).unwrap().to_string(), SETS);
}

#[test]
fn dr_forward_dropped_by_anti_spoof_vrrp_passes() {
    let out = trace_packets(RULES, Some(SETS), PACKETS).unwrap();
    let v: Vec<Verdict> = out.iter().map(|(_, t)| t.verdict).collect();
    assert_eq!(
        v,
        [
            Verdict::Accept,
            Verdict::Drop,
            Verdict::Accept,
            Verdict::Accept,
            Verdict::Drop
        ]
    );
    let syn_in = &out[0].1;
    assert_eq!(syn_in.zone, 4097);
    assert_eq!(syn_in.ctstate, "NEW");
    let fwd = &out[1].1;
    let d = fwd.drop_step().unwrap();
    assert_eq!(d.chain, "neutron-openvswi-s11111111-2");
    assert_eq!(d.rule_num, 3);
    assert_eq!(fwd.zone, 4097);
    // Before the drop: raw zone rule, nat accept, FORWARD jumps, o-chain jump to s.
    let first = &fwd.path[0];
    assert_eq!(
        (first.table.as_str(), first.chain.as_str(), first.kind),
        ("raw", "PREROUTING", StepKind::Rule)
    );
    assert!(fwd
        .path
        .iter()
        .any(|s| s.table == "raw" && s.rule_text.ends_with("-j CT --zone 4097")));
    // Only the first CT rule ran (the kernel ignores a second CT on the same skb),
    // but every matching rule is traced.
    let vrrp = &out[2].1;
    assert!(vrrp
        .path
        .iter()
        .any(|s| s.chain == "neutron-openvswi-s11111111-2" && s.rule_num == 2));
    assert!(vrrp
        .path
        .iter()
        .any(|s| s.rule_text == "-A neutron-openvswi-sg-chain -j ACCEPT"));
    // A NEW packet also crosses the nat POSTROUTING chains, ending in the policy.
    let last = vrrp.path.last().unwrap();
    assert_eq!(
        (last.table.as_str(), last.kind, last.rule_text.as_str()),
        ("nat", StepKind::Policy, "ACCEPT")
    );
    let denied = out[4].1.drop_step().unwrap();
    assert_eq!(denied.chain, "neutron-openvswi-sg-fallback");
    let shown = format_trace(fwd);
    println!("{shown}");
    assert!(shown.contains("  raw:neutron-openvswi-PREROUTING:rule:3  -A neutron-openvswi-PREROUTING -m physdev --physdev-in tap11111111-22"), "{shown}");
    assert!(
        shown.ends_with("verdict: DROP (ctstate NEW, zone 4097)\n"),
        "{shown}"
    );
}

#[test]
fn naive_agrees_on_fixture() {
    let rs = Rulesets::parse(RULES).unwrap();
    let sets = IpsetStore::parse(SETS).unwrap();
    let eng = Engine::new(&rs, &sets).unwrap();
    let (mut c1, mut c2) = (Conntrack::new(), Conntrack::new());
    for (p, path) in parse_packets(PACKETS).unwrap() {
        let a = eng.eval(&mut c1, &p, path);
        let b = eval_naive(&rs.v4, &sets, &mut c2, &p, path, &[]);
        assert_eq!(a, b, "{}", p.to_kv());
    }
}
