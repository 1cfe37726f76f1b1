//! The sync core: when a master sends, and what a backup's table holds after
//! applying it (then forwarding a mid-connection packet to the same server).

use super::*;
use crate::conn::{DropReason, PacketMeta, Verdict};
use crate::sched::{scheduler_for, Dest};
use std::net::Ipv4Addr;

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const FIN: u8 = 0x01;

fn ip(a: u8, b: u8) -> IpAddr {
    {
        let _ = a;
        IpAddr::V4(Ipv4Addr::new(198, 51, 100, b))
    }
}

fn service(kind: LbKind, persistence: Option<u64>) -> Service {
    let dests = [8, 10, 11, 13]
        .into_iter()
        .map(|l| Dest::new(ip(0, l), 80, 1))
        .collect();
    Service::new(
        ip(0, 241),
        80,
        L4Proto::Tcp,
        kind,
        persistence.map(Duration::from_secs),
        dests,
        scheduler_for("rr").unwrap(),
    )
}

fn pkt(c: u8, sport: u16, flags: u8) -> PacketMeta {
    PacketMeta {
        proto: L4Proto::Tcp,
        src: ip(0, c),
        sport,
        dst: ip(0, 241),
        dport: 80,
        tcp_flags: flags,
    }
}

fn s(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[test]
fn master_sends_at_threshold_then_every_period_and_on_close() {
    let mut m = service(LbKind::Dr, None);
    m.sync_master = true;
    m.input(s(0), &pkt(100, 40000, SYN));
    m.input(s(0), &pkt(100, 40000, ACK)); // ESTABLISHED, 2 packets
    assert!(m.take_sync().is_empty());
    m.input(s(0), &pkt(100, 40000, ACK)); // third packet
    let r = m.take_sync();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].state, TcpState::Established.number());
    assert_eq!((r[0].daddr, r[0].dport, r[0].cport), (ip(0, 8), 80, 40000));
    assert!(r[0].no_output && !r[0].inactive && !r[0].template);
    assert_eq!(r[0].timeout, s(900));
    for _ in 4..53 {
        m.input(s(1), &pkt(100, 40000, ACK));
    }
    assert!(m.take_sync().is_empty());
    m.input(s(1), &pkt(100, 40000, ACK)); // 53rd
    assert_eq!(m.take_sync().len(), 1);
    // FIN: FIN_WAIT (input only) is sent at once.
    m.input(s(2), &pkt(100, 40000, FIN | ACK));
    let r = m.take_sync();
    assert_eq!(r[0].state, TcpState::FinWait.number());
    assert!(r[0].inactive);
    // Not a master: nothing recorded.
    let mut b = service(LbKind::Dr, None);
    for f in [SYN, ACK, ACK, ACK] {
        b.input(s(0), &pkt(100, 1, f));
    }
    assert!(b.take_sync().is_empty());
}

#[test]
fn backup_forwards_a_synced_connection_to_the_same_server() {
    let mut m = service(LbKind::Dr, None);
    m.sync_master = true;
    // Two clients: rr gives .8 then .10.
    for c in [100, 101] {
        for f in [SYN, ACK, ACK] {
            m.input(s(0), &pkt(c, 40000, f));
        }
    }
    let recs = m.take_sync();
    assert_eq!(recs.len(), 2);
    let mut b = service(LbKind::Dr, None);
    // The backup's own rr would start at .8 for the first new client: apply
    // in reverse order to show the table, not the scheduler, decides.
    for r in recs.iter().rev() {
        assert_eq!(b.apply_sync(s(5), r), Applied::Added);
    }
    assert_eq!(b.dests[0].active + b.dests[1].active, 2);
    assert_eq!(
        b.input(s(6), &pkt(101, 40000, ACK)),
        Verdict::Forward {
            dest: 1,
            new: false
        }
    );
    assert_eq!(
        b.input(s(6), &pkt(100, 40000, ACK)),
        Verdict::Forward {
            dest: 0,
            new: false
        }
    );
    // Without sync the same packet is dropped (IPVS schedules only on SYN).
    let mut cold = service(LbKind::Dr, None);
    assert_eq!(
        cold.input(s(6), &pkt(100, 40000, ACK)),
        Verdict::Drop(DropReason::NotSyn)
    );
    // Applying again updates; expiry follows the synced timeout.
    assert_eq!(b.apply_sync(s(7), &recs[0]), Applied::Updated);
    // (the other connection's last packet was at 6 s)
    assert_eq!(b.expire(s(905)), 0);
    assert_eq!(b.expire(s(906)), 1);
    assert_eq!(b.expire(s(907)), 1);
}

#[test]
fn templates_travel_with_their_connections_and_keep_persistence() {
    let mut m = service(LbKind::Dr, Some(300));
    m.sync_master = true;
    for f in [SYN, ACK, ACK] {
        m.input(s(0), &pkt(100, 40000, f));
    }
    let recs = m.take_sync();
    assert_eq!(recs.len(), 2);
    assert!(recs[1].template);
    assert_eq!((recs[1].cport, recs[1].timeout), (0, s(300)));
    let mut b = service(LbKind::Dr, Some(300));
    // rr on the backup would pick .8 first anyway: move it on by one.
    b.input(s(0), &pkt(50, 1, SYN));
    for r in &recs {
        b.apply_sync(s(1), r);
    }
    // A new connection of the same client after failover: the template wins.
    assert_eq!(
        b.input(s(2), &pkt(100, 40001, SYN)),
        Verdict::Forward { dest: 0, new: true }
    );
}

#[test]
fn replace_stale_and_no_dest() {
    let mut b = service(LbKind::Nat, None);
    let mut r = SyncRecord {
        proto: L4Proto::Tcp,
        client: ip(0, 100),
        cport: 40000,
        vaddr: ip(0, 241),
        vport: 80,
        daddr: ip(0, 8),
        dport: 80,
        template: false,
        state: TcpState::Established.number(),
        no_output: false,
        inactive: false,
        timeout: s(900),
        method: LbKind::Nat,
    };
    assert_eq!(b.apply_sync(s(0), &r), Applied::Added);
    // NAT reply index is there: a reply from .8 is rewritten.
    let reply = PacketMeta {
        proto: L4Proto::Tcp,
        src: ip(0, 8),
        sport: 80,
        dst: ip(0, 100),
        dport: 40000,
        tcp_flags: ACK,
    };
    assert_eq!(b.output(s(1), &reply), Verdict::Reply { dest: 0 });
    // An inactive record for another server: the expiry of an old one.
    r.daddr = ip(0, 10);
    r.inactive = true;
    assert_eq!(b.apply_sync(s(1), &r), Applied::Stale);
    r.inactive = false;
    assert_eq!(b.apply_sync(s(1), &r), Applied::Replaced);
    assert_eq!((b.dests[0].active, b.dests[1].active), (0, 1));
    assert_eq!(b.output(s(1), &reply), Verdict::Drop(DropReason::NotOurs));
    r.daddr = ip(0, 99);
    assert_eq!(b.apply_sync(s(1), &r), Applied::NoDest);
    r.daddr = ip(0, 10);
    r.state = 11;
    assert_eq!(b.apply_sync(s(1), &r), Applied::NotOurs);
    r.state = 1;
    r.vport = 81;
    assert_eq!(b.apply_sync(s(1), &r), Applied::NotOurs);
}

#[test]
fn state_numbers_are_the_kernels() {
    assert_eq!(TcpState::None.number(), 0);
    assert_eq!(TcpState::Established.number(), 1);
    assert_eq!(TcpState::TimeWait.number(), 5);
    assert_eq!(TcpState::SynAck.number(), 10);
    for n in 0..11 {
        assert_eq!(TcpState::from_number(n).unwrap().number(), n);
    }
    assert_eq!(TcpState::from_number(11), None);
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever packets the master saw, a backup that applies the
        /// master's full table has every connection on the same real server
        /// in the same state, with the same per-server counts.
        #[test]
        fn backup_mirrors_master(
            pkts in proptest::collection::vec((0u8..4, 0u16..3, prop_oneof![Just(SYN), Just(ACK), Just(FIN | ACK)]), 1..60),
            persistence in proptest::option::of(60u64..600),
        ) {
            let mut m = service(LbKind::Dr, persistence);
            m.sync_master = true;
            for (i, (c, p, f)) in pkts.iter().enumerate() {
                m.input(s(i as u64), &pkt(100 + c, 40000 + p, *f));
            }
            let now = s(pkts.len() as u64);
            let mut b = service(LbKind::Dr, persistence);
            for r in m.sync_all() {
                prop_assert!(matches!(b.apply_sync(now, &r), Applied::Added | Applied::Updated));
            }
            prop_assert_eq!(b.conns().count(), m.conns().count());
            for (k, c) in m.conns() {
                let bc = b.conn(k).expect("synced connection");
                prop_assert_eq!((bc.dest, bc.state, bc.inactive), (c.dest, c.state, c.inactive));
            }
            for (dm, db) in m.dests.iter().zip(&b.dests) {
                prop_assert_eq!((dm.active, dm.inactive), (db.active, db.inactive));
            }
            prop_assert_eq!(b.templates().count(), m.templates().count());
            for ((p, a), t) in m.templates() {
                let bt = b.templates().find(|(k, _)| **k == (*p, *a)).map(|(_, t)| t.dest);
                prop_assert_eq!(bt, Some(t.dest));
            }
        }
    }
}
