//! One test per match and target: a FORWARD chain with policy DROP and the rule
//! under test, fed packets that must and must not match. Every case also runs
//! through the naive evaluator, which must agree.

use conntrack::Conntrack;
use netfilter::engine::{eval_naive, Engine};
use netfilter::{IpsetStore, PacketTrace, Rulesets, StepKind};
use packet::Verdict;
use packet::{Packet, PathKind};
use std::net::IpAddr;

const SETS: &str = "create S hash:net family inet hashsize 1024 maxelem 65536\n\
add S 198.51.100.0/24\n\
create P hash:ip,port family inet hashsize 1024 maxelem 65536\n\
add P 203.0.113.8,tcp:80\n";

fn run_all(rules: &str, pkts: &[&str], local: &[IpAddr]) -> Vec<PacketTrace> {
    let rs = Rulesets::parse(rules).unwrap_or_else(|e| panic!("{e}\n{rules}"));
    let sets = IpsetStore::parse(SETS).unwrap();
    let eng = Engine::new(&rs, &sets)
        .unwrap()
        .with_local_ips(local.to_vec());
    let indexed = eng.clone().with_index_threshold(0);
    let (mut c1, mut c2, mut c3) = (Conntrack::new(), Conntrack::new(), Conntrack::new());
    pkts.iter()
        .map(|kv| {
            let (p, path) = Packet::parse_kv_path(kv).unwrap();
            let path = path.unwrap_or_else(|| PathKind::default_for(&p));
            let a = eng.eval(&mut c1, &p, path);
            assert_eq!(
                a,
                indexed.eval(&mut c3, &p, path),
                "index changed the result for {kv}"
            );
            let b = eval_naive(
                rs.get(netfilter::ruleset::Family::of(&p.src)),
                &sets,
                &mut c2,
                &p,
                path,
                local,
            );
            assert_eq!(a, b, "engines disagree on {kv}");
            a
        })
        .collect()
}

/// Does `-A FORWARD <m> -j ACCEPT` accept each packet (policy DROP)?
fn accepts(m: &str, pkts: &[&str]) -> Vec<bool> {
    let rules = format!("*filter\n:FORWARD DROP [0:0]\n-A FORWARD {m} -j ACCEPT\nCOMMIT\n");
    run_all(&rules, pkts, &[])
        .iter()
        .map(|t| t.verdict == Verdict::Accept)
        .collect()
}

const TCP80: &str =
    "in=eth0 out=eth1 src=198.51.100.1 dst=203.0.113.8 proto=tcp sport=1234 dport=80 flags=S";
const TCP22: &str =
    "in=eth0 out=eth1 src=192.0.2.1 dst=203.0.113.8 proto=tcp sport=1234 dport=22 flags=A";
const UDP53: &str = "in=eth9 out=eth1 src=192.0.2.1 dst=203.0.113.9 proto=udp sport=5353 dport=53";
const PING: &str =
    "in=eth0 out=eth1 src=192.0.2.1 dst=203.0.113.8 proto=icmp icmp_type=8 icmp_code=0 icmp_id=1";

#[test]
fn addresses_and_negation() {
    assert_eq!(
        accepts("-s 198.51.100.0/24", &[TCP80, TCP22]),
        [true, false]
    );
    assert_eq!(
        accepts("! -s 198.51.100.0/24", &[TCP80, TCP22]),
        [false, true]
    );
    assert_eq!(accepts("-d 203.0.113.9/32", &[TCP80, UDP53]), [false, true]);
}

#[test]
fn interfaces_with_wildcard() {
    assert_eq!(accepts("-i eth0", &[TCP80, UDP53]), [true, false]);
    assert_eq!(accepts("-i eth+", &[TCP80, UDP53]), [true, true]);
    assert_eq!(accepts("! -i eth0 -o eth1", &[TCP80, UDP53]), [false, true]);
}

#[test]
fn protocol_names_numbers_negation() {
    assert_eq!(
        accepts("-p tcp", &[TCP80, UDP53, PING]),
        [true, false, false]
    );
    assert_eq!(
        accepts("-p 17", &[TCP80, UDP53, PING]),
        [false, true, false]
    );
    assert_eq!(
        accepts("! -p icmp", &[TCP80, UDP53, PING]),
        [true, true, false]
    );
}

#[test]
fn tcp_udp_ports_and_flags() {
    assert_eq!(
        accepts("-p tcp -m tcp --dport 80", &[TCP80, TCP22]),
        [true, false]
    );
    assert_eq!(
        accepts("-p tcp -m tcp --dport 20:30", &[TCP80, TCP22]),
        [false, true]
    );
    assert_eq!(
        accepts("-p tcp -m tcp ! --dport 80", &[TCP80, TCP22]),
        [false, true]
    );
    assert_eq!(
        accepts("-p tcp -m tcp --sport 1234 --syn", &[TCP80, TCP22]),
        [true, false]
    );
    assert_eq!(
        accepts("-p tcp -m tcp --tcp-flags SYN,ACK ACK", &[TCP80, TCP22]),
        [false, true]
    );
    assert_eq!(
        accepts("-p udp -m udp --dport 53", &[UDP53, TCP80]),
        [true, false]
    );
}

#[test]
fn icmp_types() {
    let reply = "src=192.0.2.1 dst=203.0.113.8 proto=icmp icmp_type=0 icmp_id=1";
    assert_eq!(
        accepts("-p icmp -m icmp --icmp-type 8/0", &[PING, reply]),
        [true, false]
    );
    assert_eq!(
        accepts("-p icmp -m icmp --icmp-type echo-reply", &[PING, reply]),
        [false, true]
    );
    assert_eq!(
        accepts("-p icmp -m icmp --icmp-type any", &[PING, reply]),
        [true, true]
    );
    let ns = "src=2001:db8::1 dst=2001:db8::2 proto=icmpv6 icmp_type=135";
    let rules = "*filter\n:FORWARD DROP [0:0]\n-A FORWARD -p ipv6-icmp -m icmp6 --icmpv6-type 135 -j ACCEPT\nCOMMIT\n";
    let t = run_all(rules, &[ns], &[]);
    assert_eq!(t[0].verdict, Verdict::Accept);
}

/// IPv4 type 255 is the kernel's "any" whatever the code (xt_tcpudp.c
/// `icmp_type_code_match`), so `! 255/C` matches nothing; ICMPv6 type 255 is
/// only type 255. A type without code takes every code.
#[test]
fn icmp_type_255_and_codes() {
    let unreach = "src=192.0.2.1 dst=203.0.113.8 proto=icmp icmp_type=3 icmp_code=3";
    let t255 = "src=192.0.2.1 dst=203.0.113.8 proto=icmp icmp_type=255 icmp_code=9";
    let all = [PING, unreach, t255];
    for m in ["255", "255/0", "255/7", "255/255", "any"] {
        let rule = format!("-p icmp -m icmp --icmp-type {m}");
        assert_eq!(accepts(&rule, &all), [true, true, true], "{m}");
        let rule = format!("-p icmp -m icmp ! --icmp-type {m}");
        assert_eq!(accepts(&rule, &all), [false, false, false], "! {m}");
    }
    assert_eq!(
        accepts("-p icmp -m icmp --icmp-type 3", &all),
        [false, true, false]
    );
    assert_eq!(
        accepts("-p icmp -m icmp --icmp-type 3/0", &all),
        [false, false, false]
    );
    assert_eq!(
        accepts("-p icmp -m icmp --icmp-type 0/0", &all),
        [false, false, false]
    );
    let v6 = |t: u8, c: u8| {
        format!("src=2001:db8::1 dst=2001:db8::2 proto=icmpv6 icmp_type={t} icmp_code={c}")
    };
    let pkts = [v6(128, 0), v6(255, 0), v6(255, 4)];
    let pkts: Vec<&str> = pkts.iter().map(String::as_str).collect();
    for (m, want) in [
        ("255", [false, true, true]),
        ("255/0", [false, true, false]),
        ("! 255", [true, false, false]),
        ("128/0", [true, false, false]),
    ] {
        let (neg, m) = m.strip_prefix("! ").map_or(("", m), |r| ("! ", r));
        let rules = format!(
            "*filter\n:FORWARD DROP [0:0]\n-A FORWARD -p ipv6-icmp -m icmp6 {neg}--icmpv6-type {m} -j ACCEPT\nCOMMIT\n"
        );
        let got: Vec<bool> = run_all(&rules, &pkts, &[])
            .iter()
            .map(|t| t.verdict == Verdict::Accept)
            .collect();
        assert_eq!(got, want, "icmpv6 {neg}{m}");
    }
}

#[test]
fn multiport() {
    let m = "-p tcp -m multiport --dports 22,1000:2000";
    assert_eq!(accepts(m, &[TCP80, TCP22]), [false, true]);
    assert_eq!(
        accepts("-p tcp -m multiport --sports 1234", &[TCP80]),
        [true]
    );
    assert_eq!(
        accepts("-p tcp -m multiport --ports 80", &[TCP80, TCP22]),
        [true, false]
    );
}

#[test]
fn state_and_ctstate() {
    let syn =
        "src=192.0.2.1 dst=203.0.113.8 proto=tcp sport=1000 dport=80 flags=S seq=1 win=1000 t=0";
    let synack = "src=203.0.113.8 dst=192.0.2.1 proto=tcp sport=80 dport=1000 flags=SA seq=50 ack=2 win=1000 t=0.1";
    let stray = "src=192.0.2.9 dst=203.0.113.8 proto=tcp sport=1 dport=80 flags=FA seq=9 ack=9 win=1000 t=0.2";
    let rules = "*filter\n:FORWARD DROP [0:0]\n-A FORWARD -m state --state NEW -j ACCEPT\n-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\nCOMMIT\n";
    let t = run_all(rules, &[syn, synack, stray], &[]);
    assert_eq!(t[0].ctstate, "NEW");
    assert_eq!(t[0].verdict, Verdict::Accept);
    assert_eq!(t[1].ctstate, "ESTABLISHED");
    assert_eq!(t[1].path[0].rule_num, 2);
    assert_eq!(t[2].verdict, Verdict::Drop, "{:?}", t[2]);
}

#[test]
fn mac_source() {
    let with = "src=192.0.2.1 dst=203.0.113.8 proto=udp smac=fa:16:3e:aa:bb:cc";
    let other = "src=192.0.2.1 dst=203.0.113.8 proto=udp smac=fa:16:3e:aa:bb:cd";
    assert_eq!(
        accepts("-m mac --mac-source FA:16:3E:AA:BB:CC", &[with, other]),
        [true, false]
    );
    assert_eq!(
        accepts("-m mac ! --mac-source fa:16:3e:aa:bb:cc", &[with, other]),
        [false, true]
    );
}

#[test]
fn physdev() {
    let br =
        "in=qbr1 out=qbr1 physdev_in=tap1 physdev_out=qvb1 src=192.0.2.1 dst=203.0.113.8 proto=udp";
    let routed = "in=eth0 out=eth1 src=192.0.2.1 dst=203.0.113.8 proto=udp";
    assert_eq!(
        accepts("-m physdev --physdev-in tap+", &[br, routed]),
        [true, false]
    );
    assert_eq!(
        accepts(
            "-m physdev --physdev-out qvb1 --physdev-is-bridged",
            &[br, routed]
        ),
        [true, false]
    );
    assert_eq!(
        accepts("-m physdev ! --physdev-in tap1", &[br, routed]),
        [false, true]
    );
    assert_eq!(
        accepts("-m physdev --physdev-is-in --physdev-is-out", &[br]),
        [true]
    );
    assert_eq!(
        accepts("-m physdev ! --physdev-is-bridged", &[br, routed]),
        [false, true]
    );
    // Sent by the host onto a bridge: no in port, so --physdev-in is skipped
    // (matches) once the frame has bridge info, in POSTROUTING.
    let rules = "*mangle\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -m physdev --physdev-in tap9 -j DROP\nCOMMIT\n";
    let local_out = "out=qbr1 physdev_out=tap1 src=192.0.2.1 dst=203.0.113.8 proto=udp path=out";
    assert_eq!(run_all(rules, &[local_out], &[])[0].verdict, Verdict::Drop);
    // The out port is unknown in PREROUTING: physdev-out never matches there.
    let rules = "*raw\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -m physdev --physdev-out qvb1 -j DROP\nCOMMIT\n";
    assert_eq!(run_all(rules, &[br], &[])[0].verdict, Verdict::Accept);
}

#[test]
fn ipset_match() {
    assert_eq!(
        accepts("-m set --match-set S src", &[TCP80, TCP22]),
        [true, false]
    );
    assert_eq!(
        accepts("-m set ! --match-set S src", &[TCP80, TCP22]),
        [false, true]
    );
    assert_eq!(
        accepts("-m set --match-set P dst,dst", &[TCP80, TCP22]),
        [true, false]
    );
    // A set that does not exist: not matching, reported.
    let rules =
        "*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -m set --match-set NOPE src -j DROP\nCOMMIT\n";
    let t = run_all(rules, &[TCP80], &[]);
    assert_eq!(t[0].verdict, Verdict::Accept);
    assert_eq!(t[0].unknown.len(), 1);
}

#[test]
fn comment_iprange_addrtype_mark() {
    assert_eq!(
        accepts("-m comment --comment \"any thing\"", &[TCP80]),
        [true]
    );
    assert_eq!(
        accepts(
            "-m iprange --src-range 192.0.2.0-192.0.2.5",
            &[TCP80, TCP22]
        ),
        [false, true]
    );
    assert_eq!(
        accepts(
            "-m iprange ! --dst-range 203.0.113.9-203.0.113.9",
            &[TCP80, UDP53]
        ),
        [true, false]
    );
    let local: IpAddr = "203.0.113.8".parse().unwrap();
    let rules = "*filter\n:FORWARD DROP [0:0]\n-A FORWARD -m addrtype --dst-type LOCAL -j ACCEPT\n-A FORWARD -m addrtype --dst-type MULTICAST,BROADCAST -j ACCEPT\nCOMMIT\n";
    let vrrp = "src=192.0.2.1 dst=224.0.0.18 proto=vrrp";
    let t = run_all(rules, &[TCP80, UDP53, vrrp], &[local]);
    let v: Vec<_> = t.iter().map(|t| t.verdict).collect();
    assert_eq!(v, [Verdict::Accept, Verdict::Drop, Verdict::Accept]);
    let marked = "src=192.0.2.1 dst=203.0.113.8 proto=udp mark=0x13";
    assert_eq!(
        accepts("-m mark --mark 0x3/0xf", &[marked, UDP53]),
        [true, false]
    );
}

#[test]
fn unknown_match_is_not_matching_and_reported() {
    let rules = "*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -p tcp -m hashlimit --hashlimit-upto 5/sec -j DROP\nCOMMIT\n";
    let t = run_all(rules, &[TCP80, UDP53], &[]);
    assert_eq!(t[0].verdict, Verdict::Accept);
    assert_eq!(t[0].unknown.len(), 1, "{:?}", t[0]);
    assert!(t[0].unknown[0].contains("hashlimit"));
    // Not reached (udp fails -p tcp first): not reported.
    assert!(t[1].unknown.is_empty());
}

#[test]
fn targets_reject_return_goto_log_trace_unknown() {
    let rules = "*filter\n:FORWARD ACCEPT [0:0]\n:A - [0:0]\n:B - [0:0]\n\
-A FORWARD -j LOG --log-prefix \"fw \"\n-A FORWARD -j TRACE\n-A FORWARD -j A\n-A FORWARD -j REJECT --reject-with icmp-port-unreachable\n\
-A A -p udp -g B\n-A A -p tcp -j RETURN\n-A A -j SNAT --to-source 192.0.2.1\n\
-A B -p udp -m udp --dport 53 -j ACCEPT\nCOMMIT\n";
    let t = run_all(rules, &[TCP80, UDP53, PING], &[]);
    // tcp: LOG, TRACE, jump A, RETURN, REJECT.
    let kinds: Vec<_> = t[0]
        .path
        .iter()
        .map(|s| (s.chain.as_str(), s.kind, s.rule_num))
        .collect();
    assert_eq!(
        kinds,
        [
            ("FORWARD", StepKind::Rule, 1),
            ("FORWARD", StepKind::Rule, 2),
            ("FORWARD", StepKind::Rule, 3),
            ("A", StepKind::Rule, 2),
            ("FORWARD", StepKind::Rule, 4)
        ]
    );
    assert_eq!(t[0].verdict, Verdict::Drop);
    assert_eq!(t[1].verdict, Verdict::Accept);
    assert_eq!(t[1].path.last().unwrap().chain, "B");
    // icmp: A's SNAT (unknown target, non-terminating), falls off A, REJECT.
    assert_eq!(t[2].unknown.len(), 1);
    assert!(t[2]
        .path
        .iter()
        .any(|s| s.chain == "A" && s.kind == StepKind::Return && s.rule_num == 4));
    assert_eq!(t[2].verdict, Verdict::Drop);
}

#[test]
fn goto_returns_to_callers_caller() {
    let rules = "*filter\n:FORWARD DROP [0:0]\n:A - [0:0]\n:B - [0:0]\n\
-A FORWARD -j A\n-A FORWARD -j ACCEPT\n-A A -g B\n-A A -j DROP\n-A B -p tcp -j RETURN\nCOMMIT\n";
    let t = run_all(rules, &[TCP80, UDP53], &[]);
    // RETURN in B (reached by goto from A) goes back to FORWARD, skipping A's DROP.
    assert_eq!(t[0].verdict, Verdict::Accept);
    assert_eq!(t[1].verdict, Verdict::Accept);
    assert_eq!(t[1].path[2].kind, StepKind::Return);
    assert_eq!(t[1].path[2].chain, "B");
    // Goto from a built-in chain: the end of the target chain applies the policy.
    let rules =
        "*filter\n:FORWARD DROP [0:0]\n:B - [0:0]\n-A FORWARD -g B\n-A FORWARD -j ACCEPT\nCOMMIT\n";
    let t = run_all(rules, &[TCP80], &[]);
    assert_eq!(t[0].verdict, Verdict::Drop);
    assert_eq!(t[0].path.last().unwrap().kind, StepKind::Policy);
}

#[test]
fn ct_zone_notrack_and_mark_target() {
    let rules = "*raw\n:PREROUTING ACCEPT [0:0]\n\
-A PREROUTING -i eth0 -j CT --zone 7\n-A PREROUTING -i eth0 -j CT --zone 8\n-A PREROUTING -i eth9 -j CT --notrack\nCOMMIT\n\
*mangle\n:PREROUTING ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n-A PREROUTING -j MARK --set-xmark 0x5/0xff\nCOMMIT\n\
*filter\n:FORWARD DROP [0:0]\n-A FORWARD -m mark --mark 0x5 -m conntrack --ctstate NEW,UNTRACKED -j ACCEPT\nCOMMIT\n";
    let t = run_all(rules, &[TCP80, UDP53], &[]);
    assert_eq!(
        (t[0].zone, t[0].ctstate.as_str(), t[0].verdict),
        (7, "NEW", Verdict::Accept)
    );
    assert_eq!(
        (t[1].zone, t[1].ctstate.as_str(), t[1].verdict),
        (0, "UNTRACKED", Verdict::Accept)
    );
}

#[test]
fn nat_only_for_new_and_dropped_entries_forgotten() {
    let rules = "*nat\n:PREROUTING ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n-A PREROUTING -j LOG\nCOMMIT\n\
*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -p udp -m udp --dport 53 -m mark --mark 0x1 -j DROP\nCOMMIT\n";
    let q1 = "src=192.0.2.1 dst=203.0.113.9 proto=udp sport=5000 dport=53 t=0";
    let r1 = "src=203.0.113.9 dst=192.0.2.1 proto=udp sport=53 dport=5000 t=0.1";
    let dropped = "src=192.0.2.1 dst=203.0.113.9 proto=udp sport=5001 dport=53 mark=1 t=0.2";
    let again = "src=192.0.2.1 dst=203.0.113.9 proto=udp sport=5001 dport=53 t=0.3";
    let t = run_all(rules, &[q1, r1, dropped, again], &[]);
    assert!(t[0].path.iter().any(|s| s.table == "nat"));
    assert!(
        !t[1].path.iter().any(|s| s.table == "nat"),
        "reply is not NEW"
    );
    assert_eq!(t[2].verdict, Verdict::Drop);
    assert_eq!(
        t[3].ctstate, "NEW",
        "dropped packet's entry was never confirmed"
    );
}

#[test]
fn local_in_and_out_paths() {
    let rules = "*filter\n:INPUT DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\n-A OUTPUT -o lo -j DROP\nCOMMIT\n";
    let t = run_all(
        rules,
        &[
            &format!("{TCP22} path=in"),
            &format!("{TCP80} path=in"),
            "src=127.0.0.1 dst=127.0.0.1 proto=udp out=lo path=out",
        ],
        &[],
    );
    let v: Vec<_> = t.iter().map(|t| t.verdict).collect();
    assert_eq!(v, [Verdict::Accept, Verdict::Drop, Verdict::Drop]);
    assert_eq!(t[1].path.last().unwrap().chain, "INPUT");
}

#[test]
fn loops_are_refused() {
    let rs = Rulesets::parse(
        "*filter\n:FORWARD ACCEPT [0:0]\n:A - [0:0]\n:B - [0:0]\n-A A -j B\n-A B -g A\nCOMMIT\n",
    )
    .unwrap();
    assert!(Engine::new(&rs, &IpsetStore::default()).is_err());
}
