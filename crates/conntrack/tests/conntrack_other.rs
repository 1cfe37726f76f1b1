//! UDP, ICMP/ICMPv6 and generic conntrack against the kernel's behaviour:
//! NEW/ESTABLISHED, stream timeouts, echo queries, RELATED errors, untracked
//! neighbour discovery, expiry by packet time and zone separation.

use conntrack::{Conntrack, CtOutcome, CtState, Direction, L4Key};
use packet::{proto, InnerHeader, Packet};
use std::net::IpAddr;

const A: &str = "203.0.113.10";
const B: &str = "192.0.2.241";
const ROUTER: &str = "198.51.100.1";
const A6: &str = "2001:db8::10";
const B6: &str = "2001:db8::241";

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

fn base(src: &str, dst: &str, p: u8, time: f64) -> Packet {
    let mut p = Packet::new(ip(src), ip(dst), p);
    p.time = time;
    p
}

fn udp(src: &str, dst: &str, sport: u16, dport: u16, time: f64) -> Packet {
    let mut p = base(src, dst, proto::UDP, time);
    p.sport = sport;
    p.dport = dport;
    p
}

fn icmp(src: &str, dst: &str, kind: u8, id: u16, time: f64) -> Packet {
    let v6 = src.contains(':');
    let mut p = base(src, dst, if v6 { proto::ICMPV6 } else { proto::ICMP }, time);
    p.icmp_type = kind;
    p.icmp_id = id;
    p
}

fn icmp_error(src: &str, dst: &str, kind: u8, inner: InnerHeader, time: f64) -> Packet {
    let mut p = icmp(src, dst, kind, 0, time);
    p.inner = Some(inner);
    p
}

fn inner(src: &str, dst: &str, p: u8, sport: u16, dport: u16) -> InnerHeader {
    InnerHeader {
        src: ip(src),
        dst: ip(dst),
        proto: p,
        sport,
        dport,
    }
}

fn pass(ct: &mut Conntrack, zone: u16, p: &Packet) -> CtOutcome {
    let o = ct.track(zone, p);
    ct.confirm(&o);
    o
}

// ---- UDP --------------------------------------------------------------------

#[test]
fn udp_new_until_reply_then_established() {
    let mut ct = Conntrack::new();
    let o = pass(&mut ct, 0, &udp(A, B, 5000, 53, 0.0));
    assert_eq!((o.state, o.dir), (CtState::New, Direction::Original));
    assert_eq!(ct.entries(0.0)[0].timeout, 30.0);
    // More from the originator without an answer: still NEW.
    assert_eq!(
        pass(&mut ct, 0, &udp(A, B, 5000, 53, 0.5)).state,
        CtState::New
    );
    let o = pass(&mut ct, 0, &udp(B, A, 53, 5000, 0.6));
    assert_eq!((o.state, o.dir), (CtState::Established, Direction::Reply));
    // The first reply itself still gets the unreplied timeout.
    let e = &ct.entries(0.6)[0];
    assert!(e.seen_reply && !e.assured);
    assert_eq!(e.timeout, 30.0);
    assert_eq!(
        pass(&mut ct, 0, &udp(A, B, 5000, 53, 1.0)).state,
        CtState::Established
    );
    assert_eq!(ct.entries(1.0)[0].timeout, 30.0, "within 2 s of creation");
    // Still active after 2 s: a stream, 120 s and assured.
    pass(&mut ct, 0, &udp(B, A, 53, 5000, 3.0));
    let e = &ct.entries(3.0)[0];
    assert!(e.assured);
    assert_eq!(e.timeout, 120.0);
    assert!(
        e.to_string()
            .starts_with("udp      17 120 src=203.0.113.10"),
        "{e}"
    );
}

#[test]
fn udp_entry_expires_by_packet_time() {
    let mut ct = Conntrack::new();
    pass(&mut ct, 0, &udp(A, B, 5000, 53, 0.0));
    assert_eq!(ct.entries(29.9).len(), 1);
    assert!(ct.entries(30.0).is_empty(), "timeout reached means gone");
    // The late answer finds nothing and starts its own connection.
    let o = pass(&mut ct, 0, &udp(B, A, 53, 5000, 31.0));
    assert_eq!((o.state, o.dir), (CtState::New, Direction::Original));
    let e = ct.entries(31.0);
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].orig.src, ip(B));
}

#[test]
fn udp_zones_are_separate_tables() {
    let mut ct = Conntrack::new();
    pass(&mut ct, 1, &udp(A, B, 5000, 53, 0.0));
    let o = pass(&mut ct, 2, &udp(B, A, 53, 5000, 0.1));
    assert_eq!(o.state, CtState::New, "zone 2 never saw the query");
    let o = pass(&mut ct, 1, &udp(B, A, 53, 5000, 0.2));
    assert_eq!(o.state, CtState::Established);
    let zones: Vec<u16> = ct.entries(0.2).iter().map(|e| e.zone).collect();
    assert_eq!(zones, vec![1, 2]);
}

#[test]
fn udp_discard_forgets_unconfirmed() {
    let mut ct = Conntrack::new();
    let o = ct.track(0, &udp(A, B, 5000, 53, 0.0));
    ct.discard(&o);
    assert!(ct.entries(0.0).is_empty());
    assert_eq!(ct.track(0, &udp(A, B, 5000, 53, 0.1)).state, CtState::New);
}

// ---- ICMP ---------------------------------------------------------------------

#[test]
fn echo_request_then_reply() {
    let mut ct = Conntrack::new();
    let o = pass(&mut ct, 0, &icmp(A, B, 8, 77, 0.0));
    assert_eq!(o.state, CtState::New);
    let e = &ct.entries(0.0)[0];
    assert_eq!(e.timeout, 30.0);
    assert_eq!(
        e.reply.l4,
        L4Key::Icmp {
            id: 77,
            kind: 0,
            code: 0
        }
    );
    let o = pass(&mut ct, 0, &icmp(B, A, 0, 77, 0.1));
    assert_eq!((o.state, o.dir), (CtState::Established, Direction::Reply));
    // Another id is another flow; a reply for it is invalid.
    assert_eq!(ct.track(0, &icmp(B, A, 0, 78, 0.2)).state, CtState::Invalid);
}

#[test]
fn icmp_without_query_is_invalid() {
    let mut ct = Conntrack::new();
    // Echo reply with no request: can't create a conntrack with it.
    let o = ct.track(0, &icmp(B, A, 0, 1, 0.0));
    assert_eq!(o.state, CtState::Invalid);
    ct.confirm(&o);
    assert!(ct.entries(0.0).is_empty());
    // Router advertisement: no reply type, no conntrack.
    assert_eq!(ct.track(0, &icmp(B, A, 9, 0, 0.0)).state, CtState::Invalid);
    // Beyond the known types.
    assert_eq!(ct.track(0, &icmp(B, A, 40, 0, 0.0)).state, CtState::Invalid);
    // Timestamp request is a query and creates an entry.
    assert_eq!(ct.track(0, &icmp(A, B, 13, 1, 0.0)).state, CtState::New);
}

#[test]
fn icmp_error_quoting_a_tcp_connection_is_related() {
    let mut ct = Conntrack::new();
    let mut syn = base(A, B, proto::TCP, 0.0);
    syn.sport = 40000;
    syn.dport = 80;
    syn.tcp_flags = packet::tcp_flags::SYN;
    pass(&mut ct, 0, &syn);
    // A router on the way reports the destination unreachable to A.
    let q = inner(A, B, proto::TCP, 40000, 80);
    let o = pass(&mut ct, 0, &icmp_error(ROUTER, A, 3, q.clone(), 0.1));
    assert_eq!((o.state, o.dir), (CtState::Related, Direction::Reply));
    // RELATED does not touch the entry.
    let e = &ct.entries(0.1)[0];
    assert!(!e.seen_reply);
    assert_eq!(e.l4_state, Some("SYN_SENT"));
    // Same error sent to someone else: outer daddr != inner.
    let o = ct.track(0, &icmp_error(ROUTER, B, 3, q.clone(), 0.2));
    assert_eq!(o.state, CtState::Invalid);
    assert!(o.reason().unwrap_or("").contains("outer daddr"));
    // Same error in another zone: nothing to relate to.
    assert_eq!(
        ct.track(9, &icmp_error(ROUTER, A, 3, q, 0.2)).state,
        CtState::Invalid
    );
}

#[test]
fn icmp_error_without_connection_is_invalid() {
    let mut ct = Conntrack::new();
    let q = inner(A, B, proto::UDP, 5000, 53);
    let o = ct.track(0, &icmp_error(ROUTER, A, 11, q, 0.0));
    assert_eq!(o.state, CtState::Invalid);
    ct.confirm(&o);
    assert!(ct.entries(0.0).is_empty());
    // An error with no quoted header.
    assert_eq!(
        ct.track(0, &icmp(ROUTER, A, 3, 0, 0.0)).state,
        CtState::Invalid
    );
}

#[test]
fn icmp_errors_of_every_kind_relate_to_udp_and_ping() {
    let mut ct = Conntrack::new();
    pass(&mut ct, 0, &udp(A, B, 5000, 53, 0.0));
    for kind in [3, 4, 5, 11, 12] {
        let q = inner(A, B, proto::UDP, 5000, 53);
        let o = ct.track(0, &icmp_error(ROUTER, A, kind, q, 0.1));
        assert_eq!(o.state, CtState::Related, "type {kind}");
    }
    // An error about a ping, quoting the echo request (inner sport = echo id).
    pass(&mut ct, 0, &icmp(A, B, 8, 9, 0.0));
    let q = inner(A, B, proto::ICMP, 9, 0);
    let o = ct.track(0, &icmp_error(ROUTER, A, 11, q, 0.1));
    assert_eq!(o.state, CtState::Related, "time exceeded for a ping");
    // A reports B's datagram back to B: the quoted packet is the reply
    // direction, so the error travels in the original direction.
    let q = inner(B, A, proto::UDP, 53, 5000);
    let o = ct.track(0, &icmp_error(A, B, 3, q, 0.1));
    assert_eq!((o.state, o.dir), (CtState::Related, Direction::Original));
}

#[test]
fn icmpv6_echo_errors_and_neighbour_discovery() {
    let mut ct = Conntrack::new();
    assert_eq!(
        pass(&mut ct, 0, &icmp(A6, B6, 128, 5, 0.0)).state,
        CtState::New
    );
    assert_eq!(
        pass(&mut ct, 0, &icmp(B6, A6, 129, 5, 0.1)).state,
        CtState::Established
    );
    // ND and MLD never get a conntrack.
    for kind in [130, 131, 132, 133, 134, 135, 136, 143] {
        let o = ct.track(0, &icmp(A6, B6, kind, 0, 0.2));
        assert_eq!(o.state, CtState::Untracked, "type {kind}");
    }
    // A reply without request, and other informational types: invalid.
    assert_eq!(
        ct.track(0, &icmp(B6, A6, 129, 6, 0.2)).state,
        CtState::Invalid
    );
    assert_eq!(
        ct.track(0, &icmp(B6, A6, 137, 0, 0.2)).state,
        CtState::Invalid
    );
    // Packet too big quoting a UDP flow: RELATED.
    pass(&mut ct, 0, &udp(A6, B6, 6000, 443, 0.3));
    let q = inner(A6, B6, proto::UDP, 6000, 443);
    let o = ct.track(0, &icmp_error("2001:db8::1", A6, 2, q, 0.4));
    assert_eq!(o.state, CtState::Related);
    let q = inner(A6, B6, proto::UDP, 6001, 443);
    assert_eq!(
        ct.track(0, &icmp_error("2001:db8::1", A6, 1, q, 0.4)).state,
        CtState::Invalid
    );
    assert_eq!(ct.entries(0.4).len(), 2);
}

// ---- generic ------------------------------------------------------------------

#[test]
fn vrrp_adverts_stay_new_with_generic_timeout() {
    let mut ct = Conntrack::new();
    for t in 0..5 {
        let o = pass(
            &mut ct,
            0,
            &base("192.0.2.5", "224.0.0.18", proto::VRRP, f64::from(t)),
        );
        assert_eq!(o.state, CtState::New, "no reply ever comes from a group");
    }
    let e = &ct.entries(4.0)[0];
    assert_eq!(e.timeout, 600.0);
    assert_eq!(e.orig.l4, L4Key::None);
    assert!(ct.entries(604.0).is_empty());
}

#[test]
fn generic_reply_is_established() {
    let mut ct = Conntrack::new();
    pass(&mut ct, 0, &base(A, B, 50, 0.0));
    let o = pass(&mut ct, 0, &base(B, A, 50, 1.0));
    assert_eq!((o.state, o.dir), (CtState::Established, Direction::Reply));
    assert_eq!(
        pass(&mut ct, 0, &base(A, B, 50, 2.0)).state,
        CtState::Established
    );
}

#[test]
fn gre_uses_its_own_timeouts() {
    let mut ct = Conntrack::new();
    pass(&mut ct, 0, &base(A, B, 47, 0.0));
    assert_eq!(ct.entries(0.0)[0].timeout, 30.0);
    pass(&mut ct, 0, &base(B, A, 47, 1.0));
    pass(&mut ct, 0, &base(A, B, 47, 2.0));
    let e = &ct.entries(2.0)[0];
    assert_eq!(e.timeout, 180.0);
    assert!(e.assured);
}

#[test]
fn untracked_outcome_and_flush() {
    let o = Conntrack::untracked(4097);
    assert_eq!((o.state, o.zone), (CtState::Untracked, 4097));
    assert_eq!(o.state.as_str(), "UNTRACKED");
    let mut ct = Conntrack::new();
    ct.confirm(&o);
    assert!(ct.entries(0.0).is_empty());
    pass(&mut ct, 0, &udp(A, B, 1, 2, 0.0));
    ct.flush();
    assert!(ct.entries(0.0).is_empty());
}

#[test]
fn view_follows_an_outcome_to_its_entry() {
    let mut ct = Conntrack::new();
    let o = ct.track(5, &udp(A, B, 5000, 53, 0.0));
    let v = ct.view(&o, 1.0).expect("pending entry");
    assert_eq!((v.zone, v.timeout, v.seen_reply), (5, 29.0, false));
    ct.confirm(&o);
    assert_eq!(ct.view(&o, 1.0).map(|v| v.orig.src), Some(ip(A)));
    let bad = ct.track(5, &icmp(B, A, 0, 1, 1.0));
    assert!(ct.view(&bad, 1.0).is_none(), "INVALID has no entry");
}
