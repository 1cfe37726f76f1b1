use super::*;
use lvs::sched::{scheduler_for, Dest};
use wire::ethernet::{MacAddr, VlanTag};
use wire::tcp::{TcpRepr, ACK, SYN};

const DIR_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 5]);
const CLIENT_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 0x64]);
const VIP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 241);
const CLIENT: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 100);
const DIR_IP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 5);

fn rs(i: u8) -> Ipv4Addr {
    Ipv4Addr::new(198, 51, 100, i)
}
fn rs_mac(i: u8) -> MacAddr {
    MacAddr([2, 0, 0, 0, 0, i])
}

fn fwd() -> Forwarder {
    let mut n = Neighbours::empty("eth0", DIR_MAC, DIR_IP);
    for i in [8, 10] {
        n.insert(rs(i), rs_mac(i));
    }
    n.insert(CLIENT, CLIENT_MAC);
    Forwarder::new(n, DIR_IP)
}

fn svc(kind: LbKind, port: u16) -> Service {
    Service::new(
        IpAddr::V4(VIP),
        80,
        L4Proto::Tcp,
        kind,
        None,
        vec![
            Dest::new(IpAddr::V4(rs(8)), port, 1),
            Dest::new(IpAddr::V4(rs(10)), port, 1),
        ],
        scheduler_for("rr").unwrap(),
    )
}

/// A TCP segment from the client with 3 bytes of payload (also used by the
/// fast path tests).
pub(crate) fn frame(
    src: Ipv4Addr,
    sport: u16,
    dst: Ipv4Addr,
    dport: u16,
    flags: u8,
    dst_mac: MacAddr,
) -> Vec<u8> {
    let mut f = vec![0u8; 14 + 20 + 20 + 3];
    EthernetRepr {
        dst: dst_mac,
        src: CLIENT_MAC,
        outer_vlan: None,
        vlan_tci: None,
        ethertype: ETHERTYPE_IPV4,
    }
    .emit(&mut f)
    .unwrap();
    Ipv4Repr {
        dscp_ecn: 0,
        ident: 9,
        dont_frag: true,
        more_frags: false,
        frag_offset: 0,
        ttl: 64,
        protocol: PROTO_TCP,
        src,
        dst,
        options: vec![],
        payload_len: 23,
    }
    .emit(&mut f[14..])
    .unwrap();
    TcpRepr {
        src_port: sport,
        dst_port: dport,
        seq: 1,
        ack: 0,
        flags,
        window: 100,
        urgent: 0,
        options: vec![],
    }
    .emit(src, dst, b"abc", &mut f[34..])
    .unwrap();
    f
}

fn run(f: &mut Forwarder, svcs: &mut [Service], fr: &[u8], partial: bool) -> (Action, Vec<u8>) {
    let mut out = vec![0u8; 2000];
    let a = f.process(Duration::ZERO, fr, partial, true, svcs, &mut out);
    let n = if let Action::Send(n) = a { n } else { 0 };
    out.truncate(n);
    (a, out)
}

#[test]
fn dr_rewrites_only_macs_and_rotates() {
    let mut f = fwd();
    let mut svcs = vec![svc(LbKind::Dr, 80)];
    let syn = frame(CLIENT, 40000, VIP, 80, SYN, DIR_MAC);
    let (a, out) = run(&mut f, &mut svcs, &syn, false);
    assert_eq!(a, Action::Send(syn.len()));
    assert_eq!(&out[0..6], &rs_mac(8).0);
    assert_eq!(&out[6..12], &DIR_MAC.0);
    assert_eq!(&out[12..], &syn[12..], "L3 and L4 unchanged");
    let syn2 = frame(CLIENT, 40001, VIP, 80, SYN, DIR_MAC);
    let (_, out2) = run(&mut f, &mut svcs, &syn2, false);
    assert_eq!(&out2[0..6], &rs_mac(10).0);
    // Same connection sticks to its server.
    let ack = frame(CLIENT, 40000, VIP, 80, ACK, DIR_MAC);
    let (_, out3) = run(&mut f, &mut svcs, &ack, false);
    assert_eq!(&out3[0..6], &rs_mac(8).0);
    assert_eq!(svcs[0].dests[0].active, 1);
}

#[test]
fn not_master_other_mac_and_not_syn() {
    let mut f = fwd();
    let mut svcs = vec![svc(LbKind::Dr, 80)];
    let syn = frame(CLIENT, 40000, VIP, 80, SYN, DIR_MAC);
    let mut out = vec![0u8; 2000];
    assert_eq!(
        f.process(Duration::ZERO, &syn, false, false, &mut svcs, &mut out),
        Action::Drop(DropWhy::NotMaster)
    );
    let other = frame(CLIENT, 40000, VIP, 80, SYN, rs_mac(8));
    assert_eq!(run(&mut f, &mut svcs, &other, false).0, Action::Ignore);
    let ack = frame(CLIENT, 40000, VIP, 80, ACK, DIR_MAC);
    assert_eq!(
        run(&mut f, &mut svcs, &ack, false).0,
        Action::Drop(DropWhy::Table(DropReason::NotSyn))
    );
    let other_port = frame(CLIENT, 40000, VIP, 81, SYN, DIR_MAC);
    assert_eq!(run(&mut f, &mut svcs, &other_port, false).0, Action::Ignore);
    assert_eq!(run(&mut f, &mut svcs, &syn[..20], false).0, Action::Ignore);
}

#[test]
fn unknown_neighbour_asks_for_arp() {
    let mut f = Forwarder::new(Neighbours::empty("eth0", DIR_MAC, DIR_IP), DIR_IP);
    let mut svcs = vec![svc(LbKind::Dr, 80)];
    let syn = frame(CLIENT, 40000, VIP, 80, SYN, DIR_MAC);
    assert_eq!(
        run(&mut f, &mut svcs, &syn, false).0,
        Action::NeedArp(rs(8).into())
    );
}

#[test]
fn nat_rewrites_both_ways_with_valid_checksums() {
    let mut f = fwd();
    let mut svcs = vec![svc(LbKind::Nat, 8080)];
    let syn = frame(CLIENT, 40000, VIP, 80, SYN, DIR_MAC);
    let (_, out) = run(&mut f, &mut svcs, &syn, false);
    assert_eq!(ipv4::dst(&out[14..]), rs(8));
    assert_eq!(u16::from_be_bytes([out[36], out[37]]), 8080);
    assert!(Ipv4Repr::parse(&out[14..]).unwrap().1.checksum_ok);
    assert!(wire::tcp::verify(CLIENT, rs(8), &out[34..]));
    // The real server's SYN-ACK goes back with the VIP as source.
    let mut reply = frame(rs(8), 8080, CLIENT, 40000, SYN | ACK, DIR_MAC);
    reply[6..12].copy_from_slice(&rs_mac(8).0);
    let (a, back) = run(&mut f, &mut svcs, &reply, false);
    assert!(matches!(a, Action::Send(_)));
    assert_eq!(&back[0..6], &CLIENT_MAC.0);
    assert_eq!(ipv4::src(&back[14..]), VIP);
    assert_eq!(u16::from_be_bytes([back[34], back[35]]), 80);
    assert!(wire::tcp::verify(VIP, CLIENT, &back[34..]));
    // A packet from the server to a client it has no connection with is not ours.
    let stray = frame(rs(8), 8080, CLIENT, 1, ACK, DIR_MAC);
    assert_eq!(run(&mut f, &mut svcs, &stray, false).0, Action::Ignore);
}

#[test]
fn partial_checksum_is_completed() {
    let mut f = fwd();
    let mut svcs = vec![svc(LbKind::Dr, 80)];
    let good = frame(CLIENT, 40000, VIP, 80, SYN, DIR_MAC);
    let mut partial = good.clone();
    partial[50] = 0x12;
    partial[51] = 0x34;
    let (_, out) = run(&mut f, &mut svcs, &partial, true);
    assert_eq!(&out[12..], &good[12..]);
}

#[test]
fn tun_encapsulates_in_ipip() {
    let mut f = fwd();
    let mut svcs = vec![svc(LbKind::Tun, 80)];
    let syn = frame(CLIENT, 40000, VIP, 80, SYN, DIR_MAC);
    let (a, out) = run(&mut f, &mut svcs, &syn, false);
    assert_eq!(a, Action::Send(syn.len() + 20));
    assert_eq!(&out[0..6], &rs_mac(8).0);
    let (outer, info) = Ipv4Repr::parse(&out[14..]).unwrap();
    assert_eq!((outer.src, outer.dst, outer.protocol), (DIR_IP, rs(8), 4));
    assert!(info.checksum_ok && outer.dont_frag);
    assert_eq!(outer.ttl, 64);
    assert_eq!(ipv4::decapsulate_ipip(&out[14..]).unwrap(), &syn[14..]);
}

#[test]
fn oversized_tcp_is_split_and_each_part_forwarded() {
    let mut f = fwd();
    let mut svcs = vec![svc(LbKind::Nat, 8080)];
    // Open the connection, then a 4000-byte reply segment from the server.
    run(
        &mut f,
        &mut svcs,
        &frame(CLIENT, 40000, VIP, 80, SYN, DIR_MAC),
        false,
    );
    let big = oversized_reply();
    assert!(split_oversized(&big[..1514], 1500).is_none(), "fits");
    let parts = split_oversized(&big, 1500).unwrap();
    assert_eq!(parts.len(), 3);
    for p in &parts {
        assert!(p.len() <= 1514);
        let (a, out) = run(&mut f, &mut svcs, p, false);
        assert!(matches!(a, Action::Send(_)), "{a:?}");
        assert_eq!(ipv4::src(&out[14..]), VIP);
        assert!(wire::tcp::verify(VIP, CLIENT, &out[34..]));
    }
}

/// `f` (an untagged frame) with VLAN tags after the MACs.
fn with_tags(f: &[u8], outer_vlan: Option<VlanTag>, vlan_tci: Option<u16>) -> Vec<u8> {
    let (eth, l3) = EthernetRepr::parse(f).unwrap();
    let eth = EthernetRepr {
        outer_vlan,
        vlan_tci,
        ..eth
    };
    let mut out = vec![0u8; eth.header_len()];
    eth.emit(&mut out).unwrap();
    out.extend_from_slice(&f[l3..]);
    out
}

/// Untagged, 802.1Q, QinQ (802.1ad S-tag + C-tag), stacked 802.1Q; and where
/// the IPv4 header starts in each.
const TAGGINGS: [(Option<VlanTag>, Option<u16>, usize); 4] = [
    (None, None, 14),
    (None, Some(100), 18),
    (
        Some(VlanTag {
            tpid: ethernet::ETHERTYPE_QINQ,
            tci: 1000,
        }),
        Some(100),
        22,
    ),
    (
        Some(VlanTag {
            tpid: ethernet::ETHERTYPE_VLAN,
            tci: 7,
        }),
        Some(9),
        22,
    ),
];

#[test]
fn dr_forwards_tagged_frames_with_their_tags() {
    for (outer, tci, l3) in TAGGINGS {
        let mut f = fwd();
        let mut svcs = vec![svc(LbKind::Dr, 80)];
        let syn = with_tags(&frame(CLIENT, 40000, VIP, 80, SYN, DIR_MAC), outer, tci);
        let (a, out) = run(&mut f, &mut svcs, &syn, false);
        assert_eq!(a, Action::Send(syn.len()), "tags {outer:?} {tci:?}");
        let (eth, off) = EthernetRepr::parse(&out).unwrap();
        assert_eq!((eth.dst, eth.src), (rs_mac(8), DIR_MAC));
        assert_eq!((eth.outer_vlan, eth.vlan_tci, off), (outer, tci, l3));
        assert_eq!(&out[12..], &syn[12..], "tags, L3 and L4 unchanged");
    }
}

#[test]
fn nat_rewrites_tagged_frames_both_ways() {
    for (outer, tci, l3) in TAGGINGS {
        let mut f = fwd();
        let mut svcs = vec![svc(LbKind::Nat, 8080)];
        let syn = with_tags(&frame(CLIENT, 40000, VIP, 80, SYN, DIR_MAC), outer, tci);
        let (a, out) = run(&mut f, &mut svcs, &syn, false);
        assert!(
            matches!(a, Action::Send(_)),
            "tags {outer:?} {tci:?}: {a:?}"
        );
        assert_eq!(&out[12..l3], &syn[12..l3], "tags kept");
        assert_eq!(ipv4::dst(&out[l3..]), rs(8));
        assert!(Ipv4Repr::parse(&out[l3..]).unwrap().1.checksum_ok);
        assert!(wire::tcp::verify(CLIENT, rs(8), &out[l3 + 20..]));
        let mut reply = with_tags(
            &frame(rs(8), 8080, CLIENT, 40000, SYN | ACK, DIR_MAC),
            outer,
            tci,
        );
        reply[6..12].copy_from_slice(&rs_mac(8).0);
        let (a, back) = run(&mut f, &mut svcs, &reply, false);
        assert!(matches!(a, Action::Send(_)), "{a:?}");
        assert_eq!(ipv4::src(&back[l3..]), VIP);
        assert!(wire::tcp::verify(VIP, CLIENT, &back[l3 + 20..]));
    }
}

#[test]
fn tun_keeps_the_tags_on_the_outer_frame() {
    for (outer, tci, l3) in TAGGINGS {
        let mut f = fwd();
        let mut svcs = vec![svc(LbKind::Tun, 80)];
        let plain = frame(CLIENT, 40000, VIP, 80, SYN, DIR_MAC);
        let syn = with_tags(&plain, outer, tci);
        let (a, out) = run(&mut f, &mut svcs, &syn, false);
        assert_eq!(a, Action::Send(syn.len() + 20), "tags {outer:?} {tci:?}");
        let (eth, off) = EthernetRepr::parse(&out).unwrap();
        assert_eq!((eth.dst, eth.src), (rs_mac(8), DIR_MAC));
        assert_eq!((eth.outer_vlan, eth.vlan_tci, off), (outer, tci, l3));
        let (o, info) = Ipv4Repr::parse(&out[l3..]).unwrap();
        assert_eq!((o.src, o.dst, o.protocol), (DIR_IP, rs(8), 4));
        assert!(info.checksum_ok && o.dont_frag);
        assert_eq!(ipv4::decapsulate_ipip(&out[l3..]).unwrap(), &plain[14..]);
    }
}

#[test]
fn tagged_partial_checksum_is_completed() {
    for (outer, tci, l3) in TAGGINGS {
        let mut f = fwd();
        let mut svcs = vec![svc(LbKind::Dr, 80)];
        let good = with_tags(&frame(CLIENT, 40000, VIP, 80, SYN, DIR_MAC), outer, tci);
        let mut partial = good.clone();
        let c = l3 + 20 + wire::tcp::CHECKSUM_OFFSET;
        partial[c..c + 2].copy_from_slice(&[0x12, 0x34]);
        let (_, out) = run(&mut f, &mut svcs, &partial, true);
        assert_eq!(&out[12..], &good[12..], "tags {outer:?} {tci:?}");
    }
}

#[test]
fn tagged_oversized_tcp_is_split_with_its_tags() {
    let big = oversized_reply();
    for (outer, tci, l3) in TAGGINGS {
        let tagged = with_tags(&big, outer, tci);
        let parts = split_oversized(&tagged, 1500).unwrap();
        assert_eq!(parts.len(), 3, "tags {outer:?} {tci:?}");
        for p in &parts {
            assert!(p.len() <= l3 + 1500);
            assert_eq!(&p[..l3], &tagged[..l3]);
            assert!(wire::tcp::verify(rs(8), CLIENT, &p[l3 + 20..]));
        }
    }
}

#[test]
fn ipv4_packet_skips_the_tags() {
    for (outer, tci, l3) in TAGGINGS {
        let f = with_tags(&frame(CLIENT, 40000, VIP, 80, SYN, DIR_MAC), outer, tci);
        let ip = ipv4_packet(&f).unwrap();
        assert_eq!(ip, &f[l3..]);
        assert_eq!((ipv4::src(ip), ipv4::dst(ip)), (CLIENT, VIP));
    }
    let arp = wire::arp::ArpRepr::gratuitous(DIR_MAC, VIP).to_frame(MacAddr::BROADCAST);
    assert_eq!(ipv4_packet(&arp), None);
    assert_eq!(
        ipv4_packet(&frame(CLIENT, 1, VIP, 80, SYN, DIR_MAC)[..33]),
        None
    );
}

/// A 4000-byte TCP reply segment from rs-8 to the client: too big for one frame.
fn oversized_reply() -> Vec<u8> {
    let mut big = vec![0u8; 14 + 20 + 20 + 4000];
    big[..14].copy_from_slice(&frame(rs(8), 8080, CLIENT, 40000, ACK, DIR_MAC)[..14]);
    Ipv4Repr {
        dscp_ecn: 0,
        ident: 1,
        dont_frag: true,
        more_frags: false,
        frag_offset: 0,
        ttl: 64,
        protocol: PROTO_TCP,
        src: rs(8),
        dst: CLIENT,
        options: vec![],
        payload_len: 4020,
    }
    .emit(&mut big[14..])
    .unwrap();
    TcpRepr {
        src_port: 8080,
        dst_port: 40000,
        seq: 100,
        ack: 2,
        flags: ACK,
        window: 100,
        urgent: 0,
        options: vec![],
    }
    .emit(rs(8), CLIENT, &[7u8; 4000], &mut big[34..])
    .unwrap();
    big
}

mod ipv6 {
    //! The IPv6 data plane: DR and NAT on frames built with `wire`.
    use super::*;
    use std::net::Ipv6Addr;

    fn a(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }
    fn vip6() -> Ipv6Addr {
        a("2001:db8::100")
    }
    fn client6() -> Ipv6Addr {
        a("2001:db8::64")
    }
    fn rs6(i: u8) -> Ipv6Addr {
        Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, u16::from(i))
    }

    fn fwd6() -> Forwarder {
        let mut n = Neighbours::empty("eth0", DIR_MAC, DIR_IP);
        for i in [8, 10] {
            n.insert(rs6(i), rs_mac(i));
        }
        n.insert(client6(), CLIENT_MAC);
        Forwarder::new(n, DIR_IP)
    }

    fn svc6(kind: LbKind, port: u16) -> Service {
        Service::new(
            IpAddr::V6(vip6()),
            80,
            L4Proto::Tcp,
            kind,
            None,
            vec![
                Dest::new(IpAddr::V6(rs6(8)), port, 1),
                Dest::new(IpAddr::V6(rs6(10)), port, 1),
            ],
            scheduler_for("rr").unwrap(),
        )
    }

    /// An Ethernet + IPv6 + TCP frame with 3 bytes of payload and a good checksum.
    fn frame6(src: Ipv6Addr, sport: u16, dst: Ipv6Addr, dport: u16, flags: u8) -> Vec<u8> {
        let mut f = vec![0u8; 14 + 40 + 20 + 3];
        EthernetRepr::untagged(DIR_MAC, CLIENT_MAC, ETHERTYPE_IPV6)
            .emit(&mut f)
            .unwrap();
        Ipv6Repr {
            traffic_class: 0,
            flow_label: 0,
            payload_len: 23,
            next_header: PROTO_TCP,
            hop_limit: 64,
            src,
            dst,
        }
        .emit(&mut f[14..])
        .unwrap();
        let tcp = &mut f[54..];
        tcp[0..2].copy_from_slice(&sport.to_be_bytes());
        tcp[2..4].copy_from_slice(&dport.to_be_bytes());
        tcp[12] = 0x50;
        tcp[13] = flags;
        tcp[14] = 0xff;
        tcp[20..23].copy_from_slice(b"abc");
        wire::ipv6::fill_l4_checksum(&mut f[14..]).unwrap();
        f
    }

    fn ip_of(f: &[u8]) -> (Ipv6Repr, Vec<u8>) {
        let (r, l4) = Ipv6Repr::parse(&f[14..]).unwrap();
        (r, l4.to_vec())
    }

    #[test]
    fn dr_changes_only_the_macs() {
        let mut f = fwd6();
        let mut svcs = vec![svc6(LbKind::Dr, 80)];
        let mut out = vec![0u8; 2048];
        let inp = frame6(client6(), 40000, vip6(), 80, SYN);
        let Action::Send(n) = f.process(Duration::ZERO, &inp, false, true, &mut svcs, &mut out)
        else {
            panic!("not forwarded");
        };
        assert_eq!(&out[..6], &rs_mac(8).0);
        assert_eq!(&out[6..12], &DIR_MAC.0);
        assert_eq!(&out[12..n], &inp[12..]);
        // Not master: dropped.
        let r = f.process(Duration::ZERO, &inp, false, false, &mut svcs, &mut out);
        assert_eq!(r, Action::Drop(DropWhy::NotMaster));
    }

    #[test]
    fn nat_rewrites_both_ways_with_valid_checksums() {
        let mut f = fwd6();
        let mut svcs = vec![svc6(LbKind::Nat, 8080)];
        let mut out = vec![0u8; 2048];
        let inp = frame6(client6(), 40000, vip6(), 80, SYN);
        let Action::Send(n) = f.process(Duration::ZERO, &inp, false, true, &mut svcs, &mut out)
        else {
            panic!("not forwarded");
        };
        let (ip, l4) = ip_of(&out[..n]);
        assert_eq!((ip.src, ip.dst), (client6(), rs6(8)));
        assert_eq!(u16::from_be_bytes([l4[2], l4[3]]), 8080);
        assert!(wire::ipv6::l4_checksum_ok(&out[14..n]));
        assert_eq!(&out[..6], &rs_mac(8).0);
        // The real server's SYN-ACK goes back from VIP:80 to the client's MAC.
        let mut reply = frame6(rs6(8), 8080, client6(), 40000, SYN | ACK);
        reply[6..12].copy_from_slice(&rs_mac(8).0);
        let Action::Send(n) = f.process(Duration::ZERO, &reply, false, true, &mut svcs, &mut out)
        else {
            panic!("reply not rewritten");
        };
        let (ip, l4) = ip_of(&out[..n]);
        assert_eq!((ip.src, ip.dst), (vip6(), client6()));
        assert_eq!(u16::from_be_bytes([l4[0], l4[1]]), 80);
        assert!(wire::ipv6::l4_checksum_ok(&out[14..n]));
        assert_eq!(&out[..6], &CLIENT_MAC.0);
    }

    #[test]
    fn partial_checksum_completed_and_unknown_neighbour_solicited() {
        let mut f = fwd6();
        let mut svcs = vec![svc6(LbKind::Dr, 80)];
        let mut out = vec![0u8; 2048];
        let mut inp = frame6(client6(), 40001, vip6(), 80, SYN);
        inp[14 + 40 + 16] ^= 0x55; // as CHECKSUM_PARTIAL leaves it: not final
        let Action::Send(n) = f.process(Duration::ZERO, &inp, true, true, &mut svcs, &mut out)
        else {
            panic!("not forwarded");
        };
        assert!(wire::ipv6::l4_checksum_ok(&out[14..n]));
        let mut f = Forwarder::new(Neighbours::empty("eth0", DIR_MAC, DIR_IP), DIR_IP);
        let inp = frame6(client6(), 40002, vip6(), 80, SYN);
        let r = f.process(Duration::ZERO, &inp, false, true, &mut svcs, &mut out);
        assert!(matches!(r, Action::NeedArp(IpAddr::V6(_))), "{r:?}");
        // A neighbour advert for that real server teaches its MAC.
        let Action::NeedArp(IpAddr::V6(hop)) = r else {
            unreachable!()
        };
        let na = wire::icmpv6::unsolicited_na_frame(rs_mac(10), hop, false);
        assert_eq!(
            f.process(Duration::ZERO, &na, false, true, &mut svcs, &mut out),
            Action::Ignore
        );
        assert_eq!(f.neigh.lookup(hop), Some(rs_mac(10)));
    }
}
