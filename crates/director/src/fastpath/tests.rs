//! The fast path's program and its maps on the real kernel, through
//! BPF_PROG_TEST_RUN (root; skipped with a message otherwise): frames of an
//! established connection leave by XDP_TX with the real server's MAC, the
//! rest goes on to the classifier, and user space learns, refreshes and
//! forgets entries as the connection table says.

use super::*;
use crate::afxdp::{classifier_key, classifier_program, XdpProgram};
use crate::ebpf::{XDP_PASS, XDP_TX};
use lvs::sched::{scheduler_for, Dest};
use wire::ipv4::PROTO_TCP;
use wire::tcp::{ACK, FIN, SYN};

const DIR_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 5]);
const CLIENT_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 0x64]);
const RS_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 8]);
const VIP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 241);
const CLIENT: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 100);
const RS: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 8);
const XDP_REDIRECT: u32 = 4;

fn root() -> bool {
    // The effective uid, from /proc (no unsafe geteuid here).
    let st = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let ok = st
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .is_some_and(|l| l.split_whitespace().nth(2) == Some("0"));
    if !ok {
        eprintln!("SKIP: fast path BPF tests need root");
    }
    ok
}

fn frame(sport: u16, flags: u8, dst_mac: MacAddr) -> Vec<u8> {
    crate::dataplane::tests::frame(CLIENT, sport, VIP, 80, flags, dst_mac)
}

fn dr_service() -> Service {
    Service::new(
        IpAddr::V4(VIP),
        80,
        L4Proto::Tcp,
        LbKind::Dr,
        None,
        vec![Dest::new(IpAddr::V4(RS), 80, 1)],
        scheduler_for("rr").unwrap(),
    )
}

/// The fast path program over its maps (not attached), with the classifier's
/// key for VIP:80 and an empty XSKMAP (so a classified frame returns
/// XDP_PASS: bpf_redirect_map's fallback).
struct Bed {
    fast: FastPath,
    prog: XdpProgram,
    _keys: BpfMap,
    _xsk: BpfMap,
}

fn bed() -> Bed {
    let fast = FastPath::new(64, DIR_MAC).unwrap();
    let keys = BpfMap::create(crate::afxdp::BPF_MAP_TYPE_HASH, 8, 4, 4).unwrap();
    keys.update(
        &classifier_key(VIP, 80, PROTO_TCP, false),
        &1u32.to_ne_bytes(),
    )
    .unwrap();
    let xsk = BpfMap::create(17, 4, 4, 4).unwrap();
    let code = classifier_program(keys.fd(), xsk.fd(), Some(fast.fds())).unwrap();
    let prog = XdpProgram::load(&code, None).unwrap();
    Bed {
        fast,
        prog,
        _keys: keys,
        _xsk: xsk,
    }
}

fn run(b: &Bed, f: &[u8]) -> (u32, Vec<u8>) {
    let (r, out, _) = b.prog.test_run(f, None, 1, false).unwrap();
    (r, out)
}

/// The slow path's DR output for `f`: the real server's MAC, ours as source.
fn dr_out(f: &[u8]) -> Vec<u8> {
    let mut o = f.to_vec();
    o[0..6].copy_from_slice(&RS_MAC.0);
    o[6..12].copy_from_slice(&DIR_MAC.0);
    o
}

#[test]
fn frame_key_is_the_programs_key() {
    let f = frame(40000, ACK, DIR_MAC);
    let (k, ck) = frame_key(&f).unwrap();
    assert_eq!(&k[0..4], &CLIENT.octets());
    assert_eq!(&k[4..8], &VIP.octets());
    assert_eq!(&k[8..12], &[0x9c, 0x40, 0, 80]);
    assert_eq!(&k[12..], &[PROTO_TCP, 0, 0, 0]);
    assert_eq!(
        (ck.client, ck.cport, ck.vport),
        (IpAddr::V4(CLIENT), 40000, 80)
    );
    let mut opt = f.clone();
    opt[14] = 0x46;
    assert!(
        frame_key(&opt).is_none(),
        "IP options: not the program's frame"
    );
}

#[test]
fn established_frames_leave_by_xdp_tx_with_the_real_servers_mac() {
    if !root() {
        return;
    }
    let mut b = bed();
    let mut svcs = vec![dr_service()];
    let now = Duration::from_secs(1);
    let ack = frame(40000, ACK, DIR_MAC);
    // Forwarding off (not master): classified, to the slow path.
    assert_eq!(run(&b, &ack).0, XDP_PASS as u32);
    b.fast.set_forwarding(true).unwrap();
    // No entry yet: the slow path.
    assert_eq!(run(&b, &ack).0, XDP_PASS as u32);

    // The slow path sees SYN (SYN_RECV: not learnt), then the ACK (ESTABLISHED).
    let syn = frame(40000, SYN, DIR_MAC);
    svcs[0].input(now, &meta(&syn, SYN));
    assert!(
        !b.fast.learn(&syn, &dr_out(&syn), &svcs, 0),
        "SYN_RECV is not learnt"
    );
    svcs[0].input(now, &meta(&ack, ACK));
    assert!(b.fast.learn(&ack, &dr_out(&ack), &svcs, 0));
    assert!(!b.fast.learn(&ack, &dr_out(&ack), &svcs, 0), "learnt once");
    assert_eq!(b.fast.len(), 1);

    // Now the program forwards it: XDP_TX, MACs rewritten, L3/L4 untouched.
    let (r, out) = run(&b, &ack);
    assert_eq!(r, XDP_TX as u32);
    assert_eq!(&out[0..6], &RS_MAC.0);
    assert_eq!(&out[6..12], &DIR_MAC.0);
    assert_eq!(&out[12..], &ack[12..]);
    assert_eq!(b.fast.entry_packets(&ack), Some(1));

    // Not for the fast path: SYN, FIN, RST; another MAC; another flow.
    for flags in [SYN, FIN | ACK, 0x04] {
        assert_eq!(run(&b, &frame(40000, flags, DIR_MAC)).0, XDP_PASS as u32);
    }
    assert_eq!(run(&b, &frame(40000, ACK, RS_MAC)).0, XDP_PASS as u32);
    assert_eq!(run(&b, &frame(40001, ACK, DIR_MAC)).0, XDP_PASS as u32);
    assert_eq!(
        b.fast.entry_packets(&ack),
        Some(1),
        "only the one hit counted"
    );

    // Gate off again: back to the slow path.
    b.fast.set_forwarding(false).unwrap();
    assert_eq!(run(&b, &ack).0, XDP_PASS as u32);
    b.fast.set_forwarding(true).unwrap();

    // Refresh: the hit re-arms the connection; the MAC is still right.
    let later = Duration::from_secs(500);
    let before = svcs[0].conn(&frame_key(&ack).unwrap().1).unwrap().expires;
    let r = b.fast.refresh(later, &mut svcs, |_| Some(RS_MAC));
    assert_eq!(
        r,
        Refresh {
            packets: 1,
            removed: 0
        }
    );
    let after = svcs[0].conn(&frame_key(&ack).unwrap().1).unwrap().expires;
    assert!(after > before, "re-armed: {before:?} -> {after:?}");
    // A changed MAC for the real server: the entry goes.
    let r = b.fast.refresh(later, &mut svcs, |_| Some(CLIENT_MAC));
    assert_eq!(r.removed, 1);
    assert_eq!(run(&b, &ack).0, XDP_PASS as u32);
    assert!(b.fast.entry_packets(&ack).is_none());
}

#[test]
fn closing_connections_and_redirect_egress() {
    if !root() {
        return;
    }
    let mut b = bed();
    b.fast.set_forwarding(true).unwrap();
    let mut svcs = vec![dr_service()];
    let now = Duration::from_secs(1);
    let syn = frame(40002, SYN, DIR_MAC);
    let ack = frame(40002, ACK, DIR_MAC);
    svcs[0].input(now, &meta(&syn, SYN));
    svcs[0].input(now, &meta(&ack, ACK));
    // Egress ifindex 1 (lo): bpf_redirect, not XDP_TX.
    assert!(b.fast.learn(&ack, &dr_out(&ack), &svcs, 1));
    assert_eq!(run(&b, &ack).0, XDP_REDIRECT);
    // The slow path sees the client's FIN: FIN_WAIT, so the entry goes.
    svcs[0].input(now, &meta(&ack, FIN | ACK));
    let r = b.fast.refresh(now, &mut svcs, |_| Some(RS_MAC));
    assert_eq!(
        r,
        Refresh {
            packets: 1,
            removed: 1
        }
    );
    assert!(b.fast.is_empty());
    // clear() empties the kernel's map too.
    svcs[0].input(now, &meta(&frame(40003, SYN, DIR_MAC), SYN));
    let ack3 = frame(40003, ACK, DIR_MAC);
    svcs[0].input(now, &meta(&ack3, ACK));
    assert!(b.fast.learn(&ack3, &dr_out(&ack3), &svcs, 0));
    b.fast.clear().unwrap();
    assert!(b.fast.is_empty());
    assert_eq!(run(&b, &ack3).0, XDP_PASS as u32);
}

fn meta(f: &[u8], flags: u8) -> PacketMeta {
    let (_, k) = frame_key(f).unwrap();
    PacketMeta {
        proto: k.proto,
        src: k.client,
        sport: k.cport,
        dst: k.vaddr,
        dport: k.vport,
        tcp_flags: flags,
    }
}
