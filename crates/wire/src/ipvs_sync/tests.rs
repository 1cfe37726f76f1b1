//! Byte vectors for the IPVS sync v1 format, built by hand from the layout in
//! the module doc (kernel ip_vs_sync.c), plus a proptest round trip.

use super::*;
use proptest::prelude::*;
use std::net::Ipv6Addr;

fn v4(a: [u8; 4]) -> IpAddr {
    IpAddr::from(a)
}

/// One DR connection, ESTABLISHED, 900 s: 198.51.100.100:40000 ->
/// 198.51.100.241:80 -> rs 198.51.100.8:80.
fn dr_conn() -> SyncConn {
    SyncConn {
        protocol: 6,
        flags: flags::DROUTE | flags::NOOUTPUT,
        state: tcp_state::ESTABLISHED,
        cport: 40000,
        vport: 80,
        dport: 80,
        fwmark: 0,
        timeout: 900,
        caddr: v4([198, 51, 100, 100]),
        vaddr: v4([198, 51, 100, 241]),
        daddr: v4([198, 51, 100, 8]),
        options: vec![],
    }
}

#[rustfmt::skip]
const DR_ENTRY: [u8; 36] = [
    0x00, 0x06, 0x00, 0x24,             // type v4, TCP, ver 0 | size 36
    0x00, 0x00, 0x00, 0x83,             // flags DROUTE|NOOUTPUT
    0x00, 0x01, 0x9c, 0x40,             // state ESTABLISHED, cport 40000
    0x00, 0x50, 0x00, 0x50,             // vport 80, dport 80
    0x00, 0x00, 0x00, 0x00,             // fwmark
    0x00, 0x00, 0x03, 0x84,             // timeout 900
    198, 51, 100, 100,                  // caddr
    198, 51, 100, 241,                  // vaddr
    198, 51, 100, 8,                    // daddr
];

#[test]
fn one_v4_entry_bytes() {
    let m = SyncMessage {
        syncid: 51,
        conns: vec![dr_conn()],
    };
    let b = m.emit().unwrap();
    let mut want = vec![0x00, 51, 0x00, 44, 1, 1, 0, 0];
    want.extend_from_slice(&DR_ENTRY);
    assert_eq!(b, want);
    assert_eq!(SyncMessage::parse(&want).unwrap(), m);
}

#[test]
fn template_with_seq_option_then_padding() {
    // A persistence template (cport 0, TEMPLATE) with a sequence option
    // (36 + 2 + 24 = 62 bytes), then the DR entry after 2 bytes of padding.
    let mut t = dr_conn();
    t.flags = flags::TEMPLATE | flags::DROUTE;
    t.state = 0;
    t.cport = 0;
    t.timeout = 300;
    t.options = vec![SyncOption::Seq {
        in_seq: SeqData {
            init_seq: 0x01020304,
            delta: 5,
            previous_delta: 6,
        },
        out_seq: SeqData {
            init_seq: 0xa0b0c0d0,
            delta: 7,
            previous_delta: 8,
        },
    }];
    let m = SyncMessage {
        syncid: 7,
        conns: vec![t, dr_conn()],
    };
    let b = m.emit().unwrap();
    assert_eq!(b.len(), 8 + 62 + 2 + 36);
    assert_eq!(&b[..8], &[0, 7, 0, 108, 2, 1, 0, 0]);
    // first entry: size 62, flags 0x1003, timeout 300
    assert_eq!(&b[8..12], &[0, 6, 0, 62]);
    assert_eq!(&b[12..16], &[0, 0, 0x10, 0x03]);
    assert_eq!(&b[28..32], &[0, 0, 1, 44]);
    // option header and data
    assert_eq!(&b[44..46], &[OPT_SEQ_DATA, 24]);
    assert_eq!(&b[46..58], &[1, 2, 3, 4, 0, 0, 0, 5, 0, 0, 0, 6]);
    assert_eq!(
        &b[58..70],
        &[0xa0, 0xb0, 0xc0, 0xd0, 0, 0, 0, 7, 0, 0, 0, 8]
    );
    // padding, then the second entry at offset 72
    assert_eq!(&b[70..72], &[0, 0]);
    assert_eq!(&b[72..], &DR_ENTRY);
    assert_eq!(SyncMessage::parse(&b).unwrap(), m);
}

#[test]
fn v6_entry_bytes() {
    let c = SyncConn {
        protocol: 17,
        flags: flags::MASQ,
        state: 0,
        cport: 5353,
        vport: 53,
        dport: 5300,
        fwmark: 9,
        timeout: 300,
        caddr: IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
        vaddr: IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2)),
        daddr: IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 3)),
        options: vec![
            SyncOption::PeName(b"sip".to_vec()),
            SyncOption::PeData(vec![1, 2]),
        ],
    };
    let m = SyncMessage {
        syncid: 0,
        conns: vec![c],
    };
    let b = m.emit().unwrap();
    assert_eq!(b.len(), 8 + 72 + 5 + 4);
    assert_eq!(&b[8..12], &[TYPE_INET6, 17, 0, 81]);
    assert_eq!(&b[24..28], &[0, 0, 0, 9]);
    assert_eq!(&b[32..34], &[0x20, 0x01]);
    assert_eq!(b[47], 1);
    assert_eq!(&b[80..], &[3, 3, b's', b'i', b'p', 2, 2, 1, 2]);
    assert_eq!(SyncMessage::parse(&b).unwrap(), m);
}

#[test]
fn rejects() {
    let good = SyncMessage {
        syncid: 1,
        conns: vec![dr_conn()],
    }
    .emit()
    .unwrap();
    // header too short
    assert!(SyncMessage::parse(&good[..7]).is_err());
    // truncated datagram: size no longer matches
    assert!(SyncMessage::parse(&good[..40]).is_err());
    // truncated with the size patched: entry runs past the end
    let mut t = good[..40].to_vec();
    t[3] = 40;
    assert!(SyncMessage::parse(&t).is_err());
    // version 0 header (first byte = count) and unknown versions
    let mut b = good.clone();
    b[0] = 1;
    assert!(SyncMessage::parse(&b).is_err());
    let mut b = good.clone();
    b[5] = 2;
    assert!(matches!(
        SyncMessage::parse(&b),
        Err(ParseError::Invalid {
            field: "version",
            value: 2,
            ..
        })
    ));
    let mut b = good.clone();
    b[7] = 1; // spare
    assert!(SyncMessage::parse(&b).is_err());
    // entry version nibble
    let mut b = good.clone();
    b[10] |= 0x10;
    assert!(SyncMessage::parse(&b).is_err());
    // unknown address type
    let mut b = good.clone();
    b[8] = 2;
    assert!(SyncMessage::parse(&b).is_err());
    // entry size smaller than the fixed part
    let mut b = good.clone();
    b[11] = 20;
    assert!(SyncMessage::parse(&b).is_err());
    // count larger than what is there
    let mut b = good.clone();
    b[4] = 2;
    assert!(SyncMessage::parse(&b).is_err());
}

#[test]
fn options_rules() {
    let mut c = dr_conn();
    c.options = vec![SyncOption::Optional {
        kind: 0x45,
        data: vec![9],
    }];
    let b = SyncMessage {
        syncid: 1,
        conns: vec![c.clone()],
    }
    .emit()
    .unwrap();
    assert_eq!(SyncMessage::parse(&b).unwrap().conns[0], c);
    // the same type without the optional bit is mandatory and unknown
    let mut m = b.clone();
    m[44] = 0x05;
    assert!(SyncMessage::parse(&m).is_err());
    // zero-length option
    let mut m = b.clone();
    m[45] = 0;
    assert!(SyncMessage::parse(&m).is_err());
    // sequence option of the wrong length
    c.options = vec![SyncOption::PeData(vec![0; 20])];
    let mut m = SyncMessage {
        syncid: 1,
        conns: vec![c.clone()],
    }
    .emit()
    .unwrap();
    m[44] = OPT_SEQ_DATA;
    assert!(SyncMessage::parse(&m).is_err());
    // twice the same option
    c.options = vec![SyncOption::PeName(vec![1]), SyncOption::PeName(vec![2])];
    let m = SyncMessage {
        syncid: 1,
        conns: vec![c.clone()],
    }
    .emit()
    .unwrap();
    assert!(SyncMessage::parse(&m).is_err());
    // emit refuses an empty option and mixed families
    c.options = vec![SyncOption::PeData(vec![])];
    assert!(SyncMessage {
        syncid: 1,
        conns: vec![c.clone()]
    }
    .emit()
    .is_err());
    c.options = vec![];
    c.daddr = IpAddr::V6(Ipv6Addr::LOCALHOST);
    assert!(SyncMessage {
        syncid: 1,
        conns: vec![c]
    }
    .emit()
    .is_err());
}

#[test]
fn pack_splits_by_maxlen() {
    let conns = vec![dr_conn(); 10];
    // 8 + 36*n <= 160 -> 4 per message
    let ms = pack(3, &conns, 160);
    assert_eq!(
        ms.iter().map(|m| m.conns.len()).collect::<Vec<_>>(),
        vec![4, 4, 2]
    );
    for m in &ms {
        assert!(m.emit().unwrap().len() <= 160);
    }
    let ms = pack(3, &vec![dr_conn(); 300], 60000);
    assert_eq!(
        ms.iter().map(|m| m.conns.len()).collect::<Vec<_>>(),
        vec![255, 45]
    );
}

fn arb_conn() -> impl Strategy<Value = SyncConn> {
    let v4a = any::<[u8; 4]>().prop_map(IpAddr::from);
    let v6a = any::<[u8; 16]>().prop_map(IpAddr::from);
    let addrs = prop_oneof![
        (v4a.clone(), v4a.clone(), v4a),
        (v6a.clone(), v6a.clone(), v6a),
    ];
    let seq = (any::<u32>(), any::<u32>(), any::<u32>()).prop_map(|(a, b, c)| SeqData {
        init_seq: a,
        delta: b,
        previous_delta: c,
    });
    let opt = prop_oneof![
        (seq.clone(), seq).prop_map(|(i, o)| SyncOption::Seq {
            in_seq: i,
            out_seq: o
        }),
        proptest::collection::vec(any::<u8>(), 1..40).prop_map(SyncOption::PeData),
        proptest::collection::vec(any::<u8>(), 1..16).prop_map(SyncOption::PeName),
        (0x44u8..0x80, proptest::collection::vec(any::<u8>(), 1..30))
            .prop_map(|(kind, data)| SyncOption::Optional { kind, data }),
    ];
    (
        any::<u8>(),
        any::<u32>(),
        any::<(u16, u16, u16, u16)>(),
        any::<(u32, u32)>(),
        addrs,
        proptest::collection::vec(opt, 0..3),
    )
        .prop_map(
            |(
                protocol,
                flags,
                (state, cport, vport, dport),
                (fwmark, timeout),
                (c, v, d),
                options,
            )| {
                // each known option at most once, as the receiver demands
                let mut seen = std::collections::HashSet::new();
                let options = options
                    .into_iter()
                    .filter(|o| {
                        seen.insert(std::mem::discriminant(o))
                            || matches!(o, SyncOption::Optional { .. })
                    })
                    .collect();
                SyncConn {
                    protocol,
                    flags,
                    state,
                    cport,
                    vport,
                    dport,
                    fwmark,
                    timeout,
                    caddr: c,
                    vaddr: v,
                    daddr: d,
                    options,
                }
            },
        )
}

proptest! {
    #[test]
    fn round_trip(syncid in any::<u8>(), conns in proptest::collection::vec(arb_conn(), 0..8)) {
        let m = SyncMessage { syncid, conns };
        let b = m.emit().unwrap();
        prop_assert_eq!(b.len(), m.wire_len());
        prop_assert_eq!(SyncMessage::parse(&b).unwrap(), m);
    }

    #[test]
    fn parse_never_panics(b in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = SyncMessage::parse(&b);
    }
}
