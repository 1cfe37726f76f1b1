use super::*;
use crate::sched::scheduler_for;
use std::net::Ipv4Addr;

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const FIN: u8 = 0x01;

fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(198, 51, 100, last))
}
fn vip() -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(203, 0, 113, 241))
}
fn client(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, last))
}

fn service(kind: LbKind, sched: &str, persistence: Option<u64>) -> Service {
    let dests = [8, 10, 11, 13]
        .into_iter()
        .map(|l| Dest::new(ip(l), 80, 1))
        .collect();
    Service::new(
        vip(),
        80,
        L4Proto::Tcp,
        kind,
        persistence.map(Duration::from_secs),
        dests,
        scheduler_for(sched).unwrap(),
    )
}

fn pkt(c: u8, sport: u16, flags: u8) -> PacketMeta {
    PacketMeta {
        proto: L4Proto::Tcp,
        src: client(c),
        sport,
        dst: vip(),
        dport: 80,
        tcp_flags: flags,
    }
}

/// The connection key of the packets `pkt(c, sport, _)` open.
fn conn_key(c: u8, sport: u16) -> ConnKey {
    ConnKey {
        proto: L4Proto::Tcp,
        client: client(c),
        cport: sport,
        vaddr: vip(),
        vport: 80,
    }
}

fn s(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[test]
fn rr_new_connections_rotate_and_packets_stick() {
    let mut svc = service(LbKind::Dr, "rr", None);
    let mut picks = vec![];
    for port in 1000..1006 {
        match svc.input(s(0), &pkt(1, port, SYN)) {
            Verdict::Forward { dest, new: true } => picks.push(dest),
            v => panic!("{v:?}"),
        }
    }
    assert_eq!(picks, vec![0, 1, 2, 3, 0, 1]);
    assert_eq!(
        svc.input(s(1), &pkt(1, 1002, ACK)),
        Verdict::Forward {
            dest: 2,
            new: false
        }
    );
}

#[test]
fn dr_counters_follow_input_only_states() {
    let mut svc = service(LbKind::Dr, "wlc", None);
    svc.input(s(0), &pkt(1, 1000, SYN));
    let key = conn_key(1, 1000);
    let c = svc.conn(&key).unwrap().clone();
    assert_eq!(c.state, ConnState::Tcp(TcpState::SynRecv));
    assert!(c.no_output);
    assert_eq!(c.expires, s(60));
    assert_eq!((svc.dests[0].active, svc.dests[0].inactive), (0, 1));
    svc.input(s(1), &pkt(1, 1000, ACK));
    assert_eq!((svc.dests[0].active, svc.dests[0].inactive), (1, 0));
    assert_eq!(svc.conn(&key).unwrap().expires, s(901));
    // wlc now avoids the busy server.
    match svc.input(s(2), &pkt(2, 1000, SYN)) {
        Verdict::Forward { dest, .. } => assert_ne!(dest, 0),
        v => panic!("{v:?}"),
    }
    // Client FIN: input-only table gives FIN_WAIT (120 s), counted inactive.
    svc.input(s(3), &pkt(1, 1000, FIN | ACK));
    let c = svc.conn(&key).unwrap();
    assert_eq!(c.state, ConnState::Tcp(TcpState::FinWait));
    assert_eq!(c.expires, s(123));
    assert_eq!((svc.dests[0].active, svc.dests[0].inactive), (0, 1));
    // Client 2's SYN_RECV (60 s from t=2) went first.
    assert_eq!(svc.expire(s(62)), 1);
    assert_eq!(svc.expire(s(122)), 0);
    assert_eq!(svc.expire(s(123)), 1);
    assert_eq!((svc.dests[0].active, svc.dests[0].inactive), (0, 0));
}

#[test]
fn only_syn_schedules() {
    let mut svc = service(LbKind::Dr, "rr", None);
    assert_eq!(
        svc.input(s(0), &pkt(1, 1000, ACK)),
        Verdict::Drop(DropReason::NotSyn)
    );
    assert_eq!(
        svc.input(s(0), &pkt(1, 1000, SYN | 0x04)),
        Verdict::Drop(DropReason::NotSyn)
    );
    let mut other = pkt(1, 1000, SYN);
    other.dport = 81;
    assert_eq!(svc.input(s(0), &other), Verdict::Drop(DropReason::NotOurs));
}

#[test]
fn quiesced_and_down_servers_get_no_new_connections() {
    let mut svc = service(LbKind::Dr, "rr", None);
    svc.set_up(1, false);
    svc.set_up(2, false);
    let picks: Vec<_> = (0..4)
        .map(|i| match svc.input(s(0), &pkt(1, 2000 + i, SYN)) {
            Verdict::Forward { dest, .. } => dest,
            v => panic!("{v:?}"),
        })
        .collect();
    assert_eq!(picks, vec![0, 3, 0, 3]);
    svc.set_up(0, false);
    svc.set_up(3, false);
    assert_eq!(
        svc.input(s(0), &pkt(1, 3000, SYN)),
        Verdict::Drop(DropReason::NoDest)
    );
    // Existing connections keep their server.
    assert_eq!(
        svc.input(s(0), &pkt(1, 2000, ACK)),
        Verdict::Forward {
            dest: 0,
            new: false
        }
    );
    svc.set_up(1, true);
    assert_eq!(svc.dests[1].weight, 1);
}

#[test]
fn nat_replies_found_and_leave_input_only() {
    let mut svc = service(LbKind::Nat, "rr", None);
    assert!(matches!(
        svc.input(s(0), &pkt(1, 1000, SYN)),
        Verdict::Forward { dest: 0, new: true }
    ));
    let reply = PacketMeta {
        proto: L4Proto::Tcp,
        src: ip(8),
        sport: 80,
        dst: client(1),
        dport: 1000,
        tcp_flags: SYN | ACK,
    };
    assert_eq!(svc.output(s(0), &reply), Verdict::Reply { dest: 0 });
    let mut stranger = reply;
    stranger.dport = 999;
    assert_eq!(
        svc.output(s(0), &stranger),
        Verdict::Drop(DropReason::NotOurs)
    );
    svc.input(s(1), &pkt(1, 1000, ACK));
    svc.input(s(2), &pkt(1, 1000, FIN | ACK));
    let key = conn_key(1, 1000);
    let c = svc.conn(&key).unwrap();
    assert!(!c.no_output);
    // Normal input table: client FIN -> CLOSE_WAIT.
    assert_eq!(c.state, ConnState::Tcp(TcpState::CloseWait));
    svc.expire(s(1000));
    assert_eq!(
        svc.output(s(1000), &reply),
        Verdict::Drop(DropReason::NotOurs)
    );
}

#[test]
fn persistence_keeps_client_on_one_server_until_timeout() {
    let mut svc = service(LbKind::Dr, "rr", Some(50));
    let first = match svc.input(s(0), &pkt(1, 1000, SYN)) {
        Verdict::Forward { dest, .. } => dest,
        v => panic!("{v:?}"),
    };
    for port in 1001..1005 {
        assert_eq!(
            svc.input(s(1), &pkt(1, port, SYN)),
            Verdict::Forward {
                dest: first,
                new: true
            }
        );
    }
    // Another client is scheduled normally.
    assert_eq!(
        svc.input(s(1), &pkt(2, 1000, SYN)),
        Verdict::Forward { dest: 1, new: true }
    );
    // Template lives while it controls connections (SYN_RECV: 60 s)...
    svc.expire(s(55));
    assert_eq!(svc.templates().count(), 2);
    // ... and goes once they are gone and its own timeout passed.
    svc.expire(s(62));
    assert_eq!(svc.templates().count(), 0);
    assert_eq!(
        svc.input(s(63), &pkt(1, 2000, SYN)),
        Verdict::Forward { dest: 2, new: true }
    );
}

#[test]
fn persistence_skips_down_server() {
    let mut svc = service(LbKind::Dr, "rr", Some(300));
    svc.input(s(0), &pkt(1, 1000, SYN));
    svc.set_up(0, false);
    assert_eq!(
        svc.input(s(1), &pkt(1, 1001, SYN)),
        Verdict::Forward { dest: 1, new: true }
    );
}

#[test]
fn udp_conns_are_inactive_with_300s() {
    let dests = vec![Dest::new(ip(8), 53, 1)];
    let mut svc = Service::new(
        vip(),
        53,
        L4Proto::Udp,
        LbKind::Dr,
        None,
        dests,
        scheduler_for("rr").unwrap(),
    );
    let p = PacketMeta {
        proto: L4Proto::Udp,
        src: client(1),
        sport: 5000,
        dst: vip(),
        dport: 53,
        tcp_flags: 0,
    };
    assert_eq!(svc.input(s(0), &p), Verdict::Forward { dest: 0, new: true });
    assert_eq!((svc.dests[0].active, svc.dests[0].inactive), (0, 1));
    svc.input(s(100), &p);
    assert_eq!(svc.expire(s(399)), 0);
    assert_eq!(svc.expire(s(400)), 1);
    assert_eq!(svc.dests[0].inactive, 0);
}
