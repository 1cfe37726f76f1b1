//! Scheduler tests: pinned pick sequences per kernel scheduler.
//!
//! Expected sh/dh/mh values come from an independent Python model of the same
//! kernel code (hash_32, the bucket fill, hsiphash SipHash-1-3, Maglev fill):
//! tests/ref/sched_ref.py.

use super::*;
use std::net::Ipv4Addr;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn dests(weights: &[u32]) -> Vec<Dest> {
    let addrs = [
        "203.0.113.8",
        "203.0.113.10",
        "203.0.113.11",
        "203.0.113.13",
    ];
    weights
        .iter()
        .enumerate()
        .map(|(i, w)| Dest::new(ip(addrs[i % 4]), 80 + (i / 4) as u16, *w))
        .collect()
}

fn key(src: &str) -> ConnKey {
    ConnKey {
        src: ip(src),
        sport: 40000,
        dst: ip("203.0.113.241"),
        dport: 80,
    }
}

fn run(s: &mut dyn Scheduler, servers: &[Dest], n: usize) -> String {
    let k = key("198.51.100.1");
    (0..n)
        .map(|_| match s.pick(servers, &k) {
            Some(i) => (b'A' + i as u8) as char,
            None => '-',
        })
        .collect()
}

#[test]
fn rr_skips_quiesced_and_follows_removal() {
    // ip_vs_rr.c
    let mut rr = Rr::default();
    let mut s = dests(&[1, 1, 0, 1]);
    assert_eq!(run(&mut rr, &s, 6), "ABDABD");
    assert_eq!(run(&mut rr, &s, 2), "AB");
    // Cursor on B; B removed -> cursor moves to A, so D is next.
    s.remove(1);
    assert_eq!(run(&mut rr, &s, 3), "CAC"); // C is now the old D
    s[2].overloaded = true;
    s[0].set_weight(0);
    assert_eq!(run(&mut rr, &s, 1), "-");
}

#[test]
fn wrr_kernel_sequence() {
    // ip_vs_wrr.c: weights 4,3,2 -> AABABCABC per 9 picks.
    let mut w = Wrr::default();
    let s = dests(&[4, 3, 2]);
    assert_eq!(run(&mut w, &s, 18), "AABABCABCAABABCABC");
    // gcd 2: mw = 4 - (2 - 1) = 3, di = 2.
    let mut w = Wrr::default();
    assert_eq!(run(&mut w, &dests(&[2, 4]), 6), "BABBAB");
    let mut w = Wrr::default();
    assert_eq!(run(&mut w, &dests(&[0, 0]), 2), "--");
}

#[test]
fn wrr_overloaded_and_weight_change() {
    let mut w = Wrr::default();
    let mut s = dests(&[4, 3, 2]);
    assert_eq!(run(&mut w, &s, 3), "AAB");
    s[0].overloaded = true;
    assert_eq!(run(&mut w, &s, 4), "BCBC");
    s[1].overloaded = true;
    s[2].overloaded = true;
    assert_eq!(run(&mut w, &s, 1), "-");
    // A weight change resets the walk to the list head (dest_changed).
    let mut s = dests(&[1, 1, 1]);
    let mut w = Wrr::default();
    assert_eq!(run(&mut w, &s, 2), "AB");
    s[2].set_weight(2);
    assert_eq!(run(&mut w, &s, 4), "ABCC");
}

#[test]
fn lc_overhead_and_ties() {
    // ip_vs_lc.c: active*256 + inactive; strict '<' keeps the first on ties.
    let mut s = dests(&[1, 1, 0, 5]);
    s[0].active = 1; // 256
    s[1].inactive = 300; // 300
    s[2].inactive = 0; // quiesced
    s[3].active = 1; // 256, tie with A
    assert_eq!(Lc.pick(&s, &key("198.51.100.1")), Some(0));
    s[0].inactive = 1;
    assert_eq!(Lc.pick(&s, &key("198.51.100.1")), Some(3));
}

#[test]
fn wlc_cross_multiplication() {
    // ip_vs_wlc.c: replace when loh * w_dest > doh * w_least.
    let mut s = dests(&[1, 3]);
    s[0].active = 1; // 256 / 1
    s[1].active = 2; // 512 / 3
    assert_eq!(Wlc.pick(&s, &key("198.51.100.1")), Some(1));
    s[1].active = 3; // 768 / 3 == 256 / 1: tie keeps the first
    assert_eq!(Wlc.pick(&s, &key("198.51.100.1")), Some(0));
    // A weight-0 server first is skipped when seeding; later it cannot win.
    let s = dests(&[0, 2, 0]);
    assert_eq!(Wlc.pick(&s, &key("198.51.100.1")), Some(1));
}

#[test]
fn sed_and_nq_count_active_plus_one() {
    // ip_vs_sed.c / ip_vs_nq.c: overhead = activeconns + 1, inactive ignored.
    let mut s = dests(&[1, 3]);
    s[0].inactive = 1000;
    s[1].active = 2; // (2+1)/3 == (0+1)/1: tie, first stays
    assert_eq!(Sed.pick(&s, &key("198.51.100.1")), Some(0));
    s[1].active = 1; // 2/3 < 1
    assert_eq!(Sed.pick(&s, &key("198.51.100.1")), Some(1));
    // wlc would see A's 1000 inactive connections; sed does not.
    s[1].active = 2;
    assert_eq!(Wlc.pick(&s, &key("198.51.100.1")), Some(1));
    // nq: the first idle server wins outright, even at a lower weight.
    let mut s = dests(&[5, 1, 1]);
    s[0].active = 1;
    s[1].active = 1;
    assert_eq!(Nq.pick(&s, &key("198.51.100.1")), Some(2));
    s[2].active = 1; // none idle: (1+1)/5 is least
    assert_eq!(Nq.pick(&s, &key("198.51.100.1")), Some(0));
}

#[test]
fn fo_highest_weight_first_on_ties() {
    // ip_vs_fo.c
    let mut s = dests(&[2, 5, 5, 1]);
    assert_eq!(Fo.pick(&s, &key("198.51.100.1")), Some(1));
    s[1].overloaded = true;
    assert_eq!(Fo.pick(&s, &key("198.51.100.1")), Some(2));
    assert_eq!(Fo.pick(&dests(&[0, 0]), &key("198.51.100.1")), None);
}

const CLIENTS: [&str; 6] = [
    "198.51.100.1",
    "198.51.100.2",
    "198.51.100.3",
    "198.51.100.200",
    "192.0.2.77",
    "2001:db8::1",
];

fn picks(s: &mut dyn Scheduler, servers: &[Dest], keys: &[ConnKey]) -> Vec<Option<usize>> {
    keys.iter().map(|k| s.pick(servers, k)).collect()
}

#[test]
fn sh_buckets_and_weights() {
    // ip_vs_sh.c (current kernels hash with hash_32; 256 buckets).
    let keys: Vec<_> = CLIENTS.iter().map(|c| key(c)).collect();
    let sh = Sh::new(HashFlavor::Hash32);
    let b: Vec<_> = keys.iter().map(|k| sh.bucket(k)).collect();
    assert_eq!(b, [96, 194, 35, 99, 58, 63]);
    let mut sh = Sh::new(HashFlavor::Hash32);
    let s = dests(&[1, 1, 1, 1]);
    let want = [0, 2, 3, 3, 2, 3].map(Some).to_vec();
    assert_eq!(picks(&mut sh, &s, &keys), want);
    // Weighted fill 3,1,0,2: AAABCDD AAABC...; C has weight 0 -> no pick.
    let s = dests(&[3, 1, 0, 2]);
    assert_eq!(
        picks(&mut sh, &s, &keys),
        [3, 3, 0, 0, 0, 0].map(Some).to_vec()
    );
    let mut s = dests(&[1, 1, 1, 1]);
    s[2].set_weight(0);
    let got = picks(&mut sh, &s, &keys);
    assert_eq!(got, vec![Some(0), None, Some(3), Some(3), None, Some(3)]);
    // Original multiplier 2654435761 & 255.
    let mut legacy = Sh::new(HashFlavor::Legacy);
    let s = dests(&[1, 1, 1, 1]);
    assert_eq!(
        picks(&mut legacy, &s, &keys),
        [1, 2, 3, 0, 1, 1].map(Some).to_vec()
    );
}

#[test]
fn dh_hashes_the_destination() {
    // ip_vs_dh.c: one bucket per destination in turn, keyed by packet dst.
    let mut dh = Dh::new(HashFlavor::Hash32);
    let s = dests(&[1, 1, 1, 1]);
    let vips = [
        "203.0.113.241",
        "203.0.113.242",
        "203.0.113.243",
        "198.51.100.9",
    ];
    let keys: Vec<_> = vips
        .iter()
        .map(|v| ConnKey {
            dst: ip(v),
            ..key("192.0.2.1")
        })
        .collect();
    assert_eq!(picks(&mut dh, &s, &keys), [2, 3, 1, 2].map(Some).to_vec());
}

#[test]
fn mh_maglev_table() {
    // ip_vs_mh.c: 4093 slots, hsiphash keys 2654435761 / 2654446892.
    let keys: Vec<_> = CLIENTS.iter().map(|c| key(c)).collect();
    let slots: Vec<_> = keys.iter().map(Mh::slot).collect();
    assert_eq!(slots, [2374, 940, 473, 3310, 3263, 3457]);
    let mut mh = Mh::default();
    let s = dests(&[1, 1, 1, 1]);
    assert_eq!(
        picks(&mut mh, &s, &keys),
        [0, 0, 3, 2, 0, 1].map(Some).to_vec()
    );
    let count = |mh: &Mh, i: usize| mh.table().iter().filter(|s| **s == Some(i)).count();
    assert_eq!(
        (0..4).map(|i| count(&mh, i)).collect::<Vec<_>>(),
        [1024, 1023, 1023, 1023]
    );
    let s = dests(&[4, 2, 1, 1]);
    assert_eq!(
        picks(&mut mh, &s, &keys),
        [0, 0, 3, 2, 0, 0].map(Some).to_vec()
    );
    assert_eq!(
        (0..4).map(|i| count(&mh, i)).collect::<Vec<_>>(),
        [2048, 1023, 511, 511]
    );
    // Quiescing keeps the slots (last_weight): B's clients get nothing, others unchanged.
    let mut s = dests(&[1, 1, 1, 1]);
    s[1].set_weight(0);
    let got = picks(&mut mh, &s, &keys);
    assert_eq!(got, vec![Some(0), Some(0), Some(3), Some(2), Some(0), None]);
}

#[test]
fn factory() {
    for n in [
        "rr", "wrr", "lc", "wlc", "sed", "nq", "fo", "sh", "dh", "mh",
    ] {
        assert_eq!(scheduler_for(n).unwrap().name(), n);
    }
    assert_eq!(
        scheduler_for("ovf").unwrap_err(),
        SchedulerError::NotImplemented("ovf".into())
    );
    assert_eq!(
        scheduler_for("xx").unwrap_err(),
        SchedulerError::Unknown("xx".into())
    );
}

#[test]
fn overhead_formula() {
    let mut d = Dest::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 80, 1);
    d.active = 3;
    d.inactive = 7;
    assert_eq!(d.conn_overhead(), 3 * 256 + 7);
}

proptest::proptest! {
    #[test]
    fn picks_are_usable(
        ws in proptest::collection::vec((0u32..6, proptest::bool::ANY, 0u32..4, 0u32..4), 0..7),
        srcs in proptest::collection::vec(proptest::num::u32::ANY, 1..6),
    ) {
        let servers: Vec<Dest> = ws.iter().enumerate().map(|(i, (w, o, a, ina))| {
            let mut d = Dest::new(IpAddr::V4(Ipv4Addr::new(203, 0, 113, i as u8 + 1)), 80, *w);
            d.overloaded = *o;
            d.active = *a;
            d.inactive = *ina;
            d
        }).collect();
        let any_usable = servers.iter().any(|d| d.weight > 0 && !d.overloaded);
        for name in ["rr", "wrr", "lc", "wlc", "sed", "nq", "fo", "sh", "dh", "mh"] {
            let mut s = scheduler_for(name).unwrap();
            for src in &srcs {
                let k = ConnKey { src: IpAddr::V4(Ipv4Addr::from(*src)), ..key("198.51.100.1") };
                match s.pick(&servers, &k) {
                    Some(i) => {
                        proptest::prop_assert!(i < servers.len());
                        proptest::prop_assert!(servers[i].weight > 0 && !servers[i].overloaded, "{name} picked {i}");
                    }
                    None => {
                        // Scanning schedulers find a server whenever one is usable.
                        if ["rr", "wrr", "lc", "wlc", "sed", "nq", "fo"].contains(&name) {
                            proptest::prop_assert!(!any_usable, "{name} found nothing");
                        }
                    }
                }
            }
        }
    }
}
