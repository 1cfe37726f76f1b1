//! TCP conntrack against the kernel's behaviour: the transition table over every
//! (state, direction, flags) cell, the half-seen DR flow, handshakes with and
//! without sequence numbers, RST, reopening, pickup, window checks and zones.

use conntrack::{Conntrack, CtConfig, CtOutcome, CtState, Direction};
use packet::{proto, tcp_flags as tf, Packet};
use std::net::IpAddr;

const CLIENT: &str = "203.0.113.10";
const VIP: &str = "192.0.2.241";
const CPORT: u16 = 40000;
const SPORT: u16 = 80;

const SYN: u8 = tf::SYN;
const SYNACK: u8 = tf::SYN | tf::ACK;
const FIN: u8 = tf::FIN | tf::ACK;
const ACK: u8 = tf::ACK;
const RST: u8 = tf::RST;
const PSHACK: u8 = tf::PSH | tf::ACK;

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

fn packet(src: &str, dst: &str, sport: u16, dport: u16, flags: u8, time: f64) -> Packet {
    let mut p = Packet::new(ip(src), ip(dst), proto::TCP);
    p.sport = sport;
    p.dport = dport;
    p.tcp_flags = flags;
    p.time = time;
    p
}

/// Client -> VIP (original direction of the flows below).
fn orig(flags: u8, t: f64) -> Packet {
    packet(CLIENT, VIP, CPORT, SPORT, flags, t)
}

/// VIP -> client.
fn reply(flags: u8, t: f64) -> Packet {
    packet(VIP, CLIENT, SPORT, CPORT, flags, t)
}

fn with_seq(mut p: Packet, seq: u32, ack: u32, len: u32) -> Packet {
    p.seq = seq;
    p.ack = ack;
    p.window = 64240;
    p.payload_len = len;
    p
}

/// Track and, like a packet that survives every hook, confirm.
fn pass(ct: &mut Conntrack, zone: u16, p: &Packet) -> CtOutcome {
    let o = ct.track(zone, p);
    ct.confirm(&o);
    o
}

/// L4 state name of the single entry of `zone`, or "gone".
fn state_of(ct: &Conntrack, zone: u16, now: f64) -> String {
    let e: Vec<_> = ct
        .entries(now)
        .into_iter()
        .filter(|e| e.zone == zone)
        .collect();
    match e.as_slice() {
        [] => "gone".to_string(),
        [one] => one.l4_state.unwrap_or("?").to_string(),
        many => format!("{} entries", many.len()),
    }
}

fn timeout_of(ct: &Conntrack, now: f64) -> f64 {
    ct.entries(now).first().map(|e| e.timeout).unwrap_or(-1.0)
}

// ---- the half-seen DR flow -------------------------------------------------

#[test]
fn dr_half_seen_syn_then_ack_is_invalid() {
    // Only the client->VIP direction crosses this zone: the real server answers
    // the client directly, so conntrack never sees the SYN/ACK.
    let mut ct = Conntrack::new();
    let o = pass(&mut ct, 4097, &orig(SYN, 0.0));
    assert_eq!(o.state, CtState::New);
    assert_eq!(o.l4_state(), Some("SYN_SENT"));
    let o = ct.track(4097, &orig(ACK, 0.1));
    assert_eq!(o.state, CtState::Invalid, "sSS + ACK(orig) -> sIV");
    assert!(o.reason().unwrap_or("").contains("invalid"), "{o:?}");
    // Invalid packets leave the entry alone.
    assert_eq!(state_of(&ct, 4097, 0.2), "SYN_SENT");
    let o = ct.track(4097, &orig(PSHACK, 0.2));
    assert_eq!(o.state, CtState::Invalid);
}

#[test]
fn dr_half_seen_with_real_sequence_numbers() {
    let mut ct = Conntrack::new();
    assert_eq!(
        pass(&mut ct, 1, &with_seq(orig(SYN, 0.0), 1000, 0, 0)).state,
        CtState::New
    );
    let o = ct.track(1, &with_seq(orig(ACK, 0.1), 1001, 5001, 0));
    assert_eq!(o.state, CtState::Invalid);
}

#[test]
fn syn_retransmit_stays_new_and_keeps_timeout() {
    let mut ct = Conntrack::new();
    pass(&mut ct, 7, &orig(SYN, 0.0));
    assert_eq!(timeout_of(&ct, 0.0), 120.0);
    let o = pass(&mut ct, 7, &orig(SYN, 3.0));
    assert_eq!(o.state, CtState::New);
    assert!(
        !o.is_unconfirmed(),
        "retransmit matches the confirmed entry"
    );
    assert_eq!(state_of(&ct, 7, 3.0), "SYN_SENT");
    // Kernel: a SYN retransmit without reply does not renew the timeout.
    assert_eq!(timeout_of(&ct, 3.0), 117.0);
    assert_eq!(ct.entries(3.0).len(), 1);
}

// ---- full connections -----------------------------------------------------

#[test]
fn handshake_data_fin_time_wait_with_sequence_numbers() {
    let mut ct = Conntrack::new();
    let (c, s) = (1000u32, 5000u32);
    let steps: Vec<(Packet, CtState, &str, f64)> = vec![
        (
            with_seq(orig(SYN, 0.0), c, 0, 0),
            CtState::New,
            "SYN_SENT",
            120.0,
        ),
        (
            with_seq(reply(SYNACK, 0.1), s, c + 1, 0),
            CtState::Established,
            "SYN_RECV",
            60.0,
        ),
        (
            with_seq(orig(ACK, 0.2), c + 1, s + 1, 0),
            CtState::Established,
            "ESTABLISHED",
            432_000.0,
        ),
        // Unacknowledged data caps the timeout at 300 s ...
        (
            with_seq(orig(PSHACK, 0.3), c + 1, s + 1, 100),
            CtState::Established,
            "ESTABLISHED",
            300.0,
        ),
        // ... until the peer acknowledges it.
        (
            with_seq(reply(ACK, 0.4), s + 1, c + 101, 0),
            CtState::Established,
            "ESTABLISHED",
            432_000.0,
        ),
        (
            with_seq(orig(FIN, 0.5), c + 101, s + 1, 0),
            CtState::Established,
            "FIN_WAIT",
            120.0,
        ),
        (
            with_seq(reply(ACK, 0.6), s + 1, c + 102, 0),
            CtState::Established,
            "CLOSE_WAIT",
            60.0,
        ),
        (
            with_seq(reply(FIN, 0.7), s + 1, c + 102, 0),
            CtState::Established,
            "LAST_ACK",
            30.0,
        ),
        (
            with_seq(orig(ACK, 0.8), c + 102, s + 2, 0),
            CtState::Established,
            "TIME_WAIT",
            120.0,
        ),
    ];
    for (i, (p, want, st, to)) in steps.iter().enumerate() {
        let o = pass(&mut ct, 3, p);
        assert_eq!(o.state, *want, "step {i}: {o:?}");
        assert_eq!(state_of(&ct, 3, p.time), *st, "step {i}");
        let left = timeout_of(&ct, p.time);
        assert!((left - to).abs() < 1e-6, "step {i}: timeout {left} != {to}");
    }
    let e = &ct.entries(1.0)[0];
    assert!(e.assured && e.seen_reply);
    assert_eq!(e.orig.src, ip(CLIENT));
    // TIME_WAIT lasts 120 s.
    assert_eq!(state_of(&ct, 3, 120.7), "TIME_WAIT");
    assert_eq!(state_of(&ct, 3, 120.8), "gone");
}

#[test]
fn handshake_without_sequence_numbers() {
    let mut ct = Conntrack::new();
    let seq = [
        (orig(SYN, 0.0), CtState::New, "SYN_SENT"),
        (reply(SYNACK, 0.1), CtState::Established, "SYN_RECV"),
        (orig(ACK, 0.2), CtState::Established, "ESTABLISHED"),
        (orig(PSHACK, 0.3), CtState::Established, "ESTABLISHED"),
        (reply(PSHACK, 0.4), CtState::Established, "ESTABLISHED"),
        (reply(FIN, 0.5), CtState::Established, "FIN_WAIT"),
        (orig(FIN, 0.6), CtState::Established, "LAST_ACK"),
        (reply(ACK, 0.7), CtState::Established, "TIME_WAIT"),
    ];
    for (i, (p, want, st)) in seq.iter().enumerate() {
        let o = pass(&mut ct, 0, p);
        assert_eq!(o.state, *want, "step {i}: {o:?}");
        assert_eq!(state_of(&ct, 0, p.time), *st, "step {i}");
    }
}

#[test]
fn established_timeout_is_five_days_in_no_seq_mode() {
    let mut ct = Conntrack::new();
    pass(&mut ct, 0, &orig(SYN, 0.0));
    pass(&mut ct, 0, &reply(SYNACK, 0.0));
    pass(&mut ct, 0, &orig(ACK, 0.0));
    for i in 1..10 {
        pass(&mut ct, 0, &orig(PSHACK, f64::from(i)));
    }
    assert_eq!(timeout_of(&ct, 9.0), 432_000.0);
    assert!(ct.entries(9.0)[0].assured);
}

// ---- RST ----------------------------------------------------------------------

#[test]
fn rst_moves_established_to_close_for_ten_seconds() {
    let mut ct = Conntrack::new();
    pass(&mut ct, 0, &orig(SYN, 0.0));
    pass(&mut ct, 0, &reply(SYNACK, 0.1));
    pass(&mut ct, 0, &orig(ACK, 0.2));
    let o = pass(&mut ct, 0, &reply(RST, 1.0));
    assert_eq!(o.state, CtState::Established);
    assert_eq!(state_of(&ct, 0, 1.0), "CLOSE");
    assert_eq!(timeout_of(&ct, 1.0), 10.0);
    assert_eq!(state_of(&ct, 0, 11.0), "gone");
}

#[test]
fn rst_answering_syn_deletes_the_entry() {
    // Connection refused: the only reply is a RST, the kernel kills the entry.
    let mut ct = Conntrack::new();
    pass(&mut ct, 0, &orig(SYN, 0.0));
    let o = pass(&mut ct, 0, &reply(RST | tf::ACK, 0.1));
    assert_eq!(o.state, CtState::Established, "reply direction");
    assert_eq!(state_of(&ct, 0, 0.1), "gone");
    // The retried SYN starts afresh.
    let o = pass(&mut ct, 0, &orig(SYN, 1.0));
    assert_eq!((o.state, o.is_unconfirmed()), (CtState::New, true));
}

#[test]
fn rst_with_seq_below_max_ack_is_invalid() {
    let mut ct = Conntrack::new();
    let (c, s) = (1000u32, 5000u32);
    pass(&mut ct, 0, &with_seq(orig(SYN, 0.0), c, 0, 0));
    pass(&mut ct, 0, &with_seq(reply(SYNACK, 0.1), s, c + 1, 0));
    pass(&mut ct, 0, &with_seq(orig(ACK, 0.2), c + 1, s + 1, 0));
    pass(&mut ct, 0, &with_seq(orig(PSHACK, 0.3), c + 1, s + 1, 10));
    pass(&mut ct, 0, &with_seq(reply(ACK, 0.4), s + 1, c + 11, 0));
    // A RST from the client with a sequence number the server already acked past.
    let o = ct.track(0, &with_seq(orig(RST, 0.5), c + 5, 0, 0));
    assert_eq!(o.state, CtState::Invalid);
    assert_eq!(o.reason(), Some("invalid rst"));
    assert_eq!(state_of(&ct, 0, 0.5), "ESTABLISHED");
    // The exact sequence number closes it.
    let o = pass(&mut ct, 0, &with_seq(orig(RST, 0.6), c + 11, 0, 0));
    assert_eq!(o.state, CtState::Established);
    assert_eq!(state_of(&ct, 0, 0.6), "CLOSE");
}

// ---- reopening ------------------------------------------------------------------

fn to_time_wait(ct: &mut Conntrack) {
    for p in [
        orig(SYN, 0.0),
        reply(SYNACK, 0.1),
        orig(ACK, 0.2),
        orig(FIN, 0.3),
        reply(FIN, 0.4),
        orig(ACK, 0.5),
    ] {
        pass(ct, 0, &p);
    }
    assert_eq!(state_of(ct, 0, 0.5), "TIME_WAIT");
}

#[test]
fn syn_in_time_wait_reopens() {
    let mut ct = Conntrack::new();
    to_time_wait(&mut ct);
    let o = ct.track(0, &orig(SYN, 5.0));
    assert_eq!((o.state, o.is_unconfirmed()), (CtState::New, true));
    ct.confirm(&o);
    assert_eq!(state_of(&ct, 0, 5.0), "SYN_SENT");
    let e = &ct.entries(5.0)[0];
    assert!(!e.seen_reply && !e.assured);
    assert_eq!(e.timeout, 120.0);
}

#[test]
fn syn_from_server_in_time_wait_reopens_reversed() {
    let mut ct = Conntrack::new();
    to_time_wait(&mut ct);
    let o = pass(&mut ct, 0, &reply(SYN, 5.0));
    assert_eq!(o.state, CtState::New);
    let e = &ct.entries(5.0)[0];
    assert_eq!(e.orig.src, ip(VIP), "server is now the originator");
    assert_eq!(e.l4_state, Some("SYN_SENT"));
}

#[test]
fn syn_after_own_rst_reopens_but_not_after_peer_rst() {
    let mut ct = Conntrack::new();
    pass(&mut ct, 0, &orig(SYN, 0.0));
    pass(&mut ct, 0, &reply(SYNACK, 0.1));
    pass(&mut ct, 0, &orig(ACK, 0.2));
    pass(&mut ct, 0, &orig(RST, 0.3));
    let o = pass(&mut ct, 0, &orig(SYN, 0.4));
    assert_eq!(o.state, CtState::New);
    assert_eq!(state_of(&ct, 0, 0.4), "SYN_SENT");

    // Server resets, client's new SYN finds CLOSE without CLOSE_INIT: ignored.
    let mut ct = Conntrack::new();
    pass(&mut ct, 0, &orig(SYN, 0.0));
    pass(&mut ct, 0, &reply(SYNACK, 0.1));
    pass(&mut ct, 0, &orig(ACK, 0.2));
    pass(&mut ct, 0, &reply(RST, 0.3));
    let o = pass(&mut ct, 0, &orig(SYN, 0.4));
    assert_eq!(o.state, CtState::Established, "ignored, seen reply");
    assert!(o.reason().unwrap_or("").contains("ignored"));
    assert_eq!(state_of(&ct, 0, 0.4), "CLOSE");
}

// ---- creation rules -------------------------------------------------------------

#[test]
fn ack_without_entry_is_picked_up_with_loose() {
    let mut ct = Conntrack::new();
    let o = pass(&mut ct, 0, &with_seq(orig(PSHACK, 0.0), 777, 888, 20));
    assert_eq!(o.state, CtState::New, "picked-up ACK is NEW for the rules");
    assert_eq!(state_of(&ct, 0, 0.0), "ESTABLISHED");
    assert_eq!(timeout_of(&ct, 0.0), 300.0, "capped until a reply");
    // The picked-up connection is liberal: odd numbers from the peer pass.
    let o = pass(&mut ct, 0, &with_seq(reply(ACK, 0.1), 123_456, 797, 0));
    assert_eq!(o.state, CtState::Established);
    let o = pass(&mut ct, 0, &with_seq(orig(ACK, 0.2), 797, 123_456, 0));
    assert_eq!(o.state, CtState::Established);
    assert!(ct.entries(0.2)[0].assured);
}

#[test]
fn ack_without_entry_is_invalid_without_loose() {
    let mut ct = Conntrack::with_config(CtConfig {
        tcp_loose: false,
        ..CtConfig::default()
    });
    let o = ct.track(0, &orig(ACK, 0.0));
    assert_eq!(o.state, CtState::Invalid);
    assert_eq!(ct.pending_len(), 0);
    assert_eq!(ct.track(0, &orig(SYN, 0.0)).state, CtState::New);
}

#[test]
fn only_syn_or_ack_create_entries() {
    for flags in [SYNACK, FIN, RST, RST | tf::ACK] {
        let mut ct = Conntrack::new();
        let o = ct.track(0, &orig(flags, 0.0));
        assert_eq!(o.state, CtState::Invalid, "flags {flags:#x}");
        ct.confirm(&o);
        assert!(ct.entries(0.0).is_empty());
    }
}

#[test]
fn bad_flag_combinations_are_invalid() {
    // tcp_error: only SYN, SYN|ACK, RST, RST|ACK, FIN|ACK, ACK (+URG/PSH/ECE/CWR).
    for flags in [
        0,
        tf::FIN,
        tf::SYN | tf::FIN,
        tf::SYN | tf::RST,
        tf::URG,
        tf::FIN | tf::PSH | tf::URG,
    ] {
        let mut ct = Conntrack::new();
        let o = ct.track(0, &orig(flags, 0.0));
        assert_eq!(o.state, CtState::Invalid, "flags {flags:#x}");
        assert_eq!(o.reason(), Some("invalid tcp flag combination"));
    }
    let mut ct = Conntrack::new();
    assert_eq!(
        ct.track(0, &orig(SYN | tf::ECE | tf::CWR, 0.0)).state,
        CtState::New
    );
}

// ---- window tracking ---------------------------------------------------------------

fn established_with_seq(ct: &mut Conntrack) {
    pass(ct, 0, &with_seq(orig(SYN, 0.0), 1000, 0, 0));
    pass(ct, 0, &with_seq(reply(SYNACK, 0.1), 5000, 1001, 0));
    pass(ct, 0, &with_seq(orig(ACK, 0.2), 1001, 5001, 0));
    pass(ct, 0, &with_seq(orig(PSHACK, 0.3), 1001, 5001, 100));
    pass(ct, 0, &with_seq(reply(ACK, 0.4), 5001, 1101, 0));
}

#[test]
fn segment_beyond_the_window_is_invalid() {
    let mut ct = Conntrack::new();
    established_with_seq(&mut ct);
    let o = ct.track(0, &with_seq(orig(PSHACK, 1.0), 1101 + 1_000_000, 5001, 10));
    assert_eq!(o.state, CtState::Invalid);
    assert!(o.reason().unwrap_or("").contains("SEQ is over upper bound"));
    let o = ct.track(0, &with_seq(orig(ACK, 1.0), 1101, 5001 + 100_000, 0));
    assert_eq!(o.state, CtState::Invalid);
    assert!(o.reason().unwrap_or("").contains("ACK is over upper bound"));
}

#[test]
fn old_retransmission_is_ignored_not_invalid() {
    let mut ct = Conntrack::new();
    established_with_seq(&mut ct);
    pass(&mut ct, 0, &with_seq(orig(FIN, 0.5), 1101, 5001, 0));
    // Far-behind data: ignored (accepted untouched), state stays FIN_WAIT.
    let o = pass(
        &mut ct,
        0,
        &with_seq(orig(PSHACK, 1.0), 1101u32.wrapping_sub(200_000), 5001, 10),
    );
    assert_eq!(o.state, CtState::Established);
    assert!(o.reason().unwrap_or("").contains("under lower bound"));
    assert_eq!(state_of(&ct, 0, 1.0), "FIN_WAIT");
    // A normal in-window retransmission is accepted.
    let o = pass(&mut ct, 0, &with_seq(orig(PSHACK, 1.1), 1001, 5001, 100));
    assert_eq!((o.state, o.reason()), (CtState::Established, None));
}

#[test]
fn be_liberal_accepts_out_of_window() {
    let mut ct = Conntrack::with_config(CtConfig {
        tcp_be_liberal: true,
        ..CtConfig::default()
    });
    established_with_seq(&mut ct);
    let o = ct.track(0, &with_seq(orig(PSHACK, 1.0), 1101 + 1_000_000, 5001, 10));
    assert_eq!(o.state, CtState::Established);
}

// ---- simultaneous open, zones, discard ---------------------------------------------------

#[test]
fn simultaneous_open() {
    let mut ct = Conntrack::new();
    let steps = [
        (orig(SYN, 0.0), "SYN_SENT"),
        (reply(SYN, 0.1), "SYN_SENT2"),
        (orig(SYNACK, 0.2), "SYN_RECV"),
        (reply(ACK, 0.3), "ESTABLISHED"),
    ];
    for (p, st) in steps {
        let o = pass(&mut ct, 0, &p);
        assert_ne!(o.state, CtState::Invalid, "{st}");
        assert_eq!(state_of(&ct, 0, p.time), st);
    }
}

#[test]
fn zones_are_independent() {
    let mut ct = Conntrack::new();
    pass(&mut ct, 4097, &orig(SYN, 0.0));
    // Same reply in another zone: no entry there, and SYN/ACK cannot create one.
    assert_eq!(ct.track(4098, &reply(SYNACK, 0.1)).state, CtState::Invalid);
    let o = pass(&mut ct, 4097, &reply(SYNACK, 0.1));
    assert_eq!(
        (o.state, o.dir, o.zone),
        (CtState::Established, Direction::Reply, 4097)
    );
    // The same SYN in zone 4098 is a new connection.
    let o = pass(&mut ct, 4098, &orig(SYN, 0.2));
    assert_eq!(o.state, CtState::New);
    assert_eq!(state_of(&ct, 4097, 0.2), "SYN_RECV");
    assert_eq!(state_of(&ct, 4098, 0.2), "SYN_SENT");
}

#[test]
fn discarded_syn_leaves_no_entry() {
    let mut ct = Conntrack::new();
    let o = ct.track(0, &orig(SYN, 0.0));
    assert!(o.is_unconfirmed());
    assert_eq!(ct.pending_len(), 1);
    ct.discard(&o);
    assert_eq!(ct.pending_len(), 0);
    assert!(ct.entries(0.0).is_empty());
    // A dropped packet's changes to a confirmed entry stay.
    pass(&mut ct, 0, &orig(SYN, 1.0));
    let o = ct.track(0, &reply(SYNACK, 1.1));
    ct.discard(&o);
    assert_eq!(state_of(&ct, 0, 1.1), "SYN_RECV");
}

#[test]
fn unconfirmed_entries_are_invisible_and_clash_on_confirm() {
    let mut ct = Conntrack::new();
    let a = ct.track(0, &orig(SYN, 0.0));
    let b = ct.track(0, &orig(SYN, 0.0));
    assert!(a.is_unconfirmed() && b.is_unconfirmed());
    ct.confirm(&a);
    ct.confirm(&b);
    assert_eq!(ct.entries(0.0).len(), 1);
    assert_eq!(ct.pending_len(), 0);
}

#[test]
fn entry_prints_like_conntrack_l() {
    let mut ct = Conntrack::new();
    pass(&mut ct, 4097, &orig(SYN, 0.0));
    assert_eq!(
        ct.entries(0.0)[0].to_string(),
        "tcp      6 120 SYN_SENT src=203.0.113.10 dst=192.0.2.241 sport=40000 dport=80 \
         [UNREPLIED] src=192.0.2.241 dst=203.0.113.10 sport=80 dport=40000 mark=0 zone=4097 use=1"
    );
}

// ---- the transition table, cell by cell -----------------------------------------

/// Bring a fresh table to `state` (no sequence numbers).
fn reach(state: &str) -> Conntrack {
    let mut ct = Conntrack::new();
    let path: Vec<Packet> = match state {
        "SYN_SENT" => vec![orig(SYN, 0.0)],
        "SYN_SENT2" => vec![orig(SYN, 0.0), reply(SYN, 0.0)],
        "SYN_RECV" => vec![orig(SYN, 0.0), reply(SYNACK, 0.0)],
        "ESTABLISHED" => vec![orig(SYN, 0.0), reply(SYNACK, 0.0), orig(ACK, 0.0)],
        "FIN_WAIT" => vec![
            orig(SYN, 0.0),
            reply(SYNACK, 0.0),
            orig(ACK, 0.0),
            orig(FIN, 0.0),
        ],
        "CLOSE_WAIT" => vec![
            orig(SYN, 0.0),
            reply(SYNACK, 0.0),
            orig(ACK, 0.0),
            orig(FIN, 0.0),
            reply(ACK, 0.0),
        ],
        "LAST_ACK" => vec![
            orig(SYN, 0.0),
            reply(SYNACK, 0.0),
            orig(ACK, 0.0),
            orig(FIN, 0.0),
            reply(ACK, 0.0),
            reply(FIN, 0.0),
        ],
        "TIME_WAIT" => vec![
            orig(SYN, 0.0),
            reply(SYNACK, 0.0),
            orig(ACK, 0.0),
            orig(FIN, 0.0),
            reply(ACK, 0.0),
            reply(FIN, 0.0),
            orig(ACK, 0.0),
        ],
        "CLOSE" => vec![
            orig(SYN, 0.0),
            reply(SYNACK, 0.0),
            orig(ACK, 0.0),
            orig(RST, 0.0),
        ],
        other => panic!("no path to {other}"),
    };
    for p in &path {
        let o = pass(&mut ct, 0, p);
        assert_ne!(o.state, CtState::Invalid, "path to {state}");
    }
    assert_eq!(state_of(&ct, 0, 0.0), state, "reached");
    ct
}

/// Expected (ctstate, state after) for probes, in the order
/// orig SYN, SYN/ACK, FIN, ACK, RST, then reply SYN, SYN/ACK, FIN, ACK, RST.
/// Written from the kernel's tcp_conntracks table and nf_conntrack_tcp_packet:
/// IV -> INVALID, IG -> passes untouched with its ctinfo, SYN in TIME_WAIT/CLOSE
/// reopens when the close was ours, a RST with no reply seen kills the entry.
const CELLS: &[(&str, [&str; 10])] = &[
    (
        "SYN_SENT",
        [
            "NEW SYN_SENT",
            "INVALID SYN_SENT",
            "INVALID SYN_SENT",
            "INVALID SYN_SENT",
            "NEW gone",
            "ESTABLISHED SYN_SENT2",
            "ESTABLISHED SYN_RECV",
            "INVALID SYN_SENT",
            "ESTABLISHED SYN_SENT",
            "ESTABLISHED gone",
        ],
    ),
    (
        "SYN_SENT2",
        [
            "ESTABLISHED SYN_SENT2",
            "ESTABLISHED SYN_RECV",
            "INVALID SYN_SENT2",
            "INVALID SYN_SENT2",
            "ESTABLISHED CLOSE",
            "ESTABLISHED SYN_SENT2",
            "ESTABLISHED SYN_RECV",
            "INVALID SYN_SENT2",
            "ESTABLISHED SYN_SENT2",
            "ESTABLISHED CLOSE",
        ],
    ),
    (
        "SYN_RECV",
        [
            "ESTABLISHED SYN_RECV",
            "ESTABLISHED SYN_RECV",
            "ESTABLISHED FIN_WAIT",
            "ESTABLISHED ESTABLISHED",
            "ESTABLISHED CLOSE",
            "INVALID SYN_RECV",
            "ESTABLISHED SYN_RECV",
            "ESTABLISHED FIN_WAIT",
            "ESTABLISHED SYN_RECV",
            "ESTABLISHED CLOSE",
        ],
    ),
    (
        "ESTABLISHED",
        [
            "ESTABLISHED ESTABLISHED",
            "INVALID ESTABLISHED",
            "ESTABLISHED FIN_WAIT",
            "ESTABLISHED ESTABLISHED",
            "ESTABLISHED CLOSE",
            "INVALID ESTABLISHED",
            "ESTABLISHED ESTABLISHED",
            "ESTABLISHED FIN_WAIT",
            "ESTABLISHED ESTABLISHED",
            "ESTABLISHED CLOSE",
        ],
    ),
    (
        "FIN_WAIT",
        [
            "ESTABLISHED FIN_WAIT",
            "INVALID FIN_WAIT",
            "ESTABLISHED LAST_ACK",
            "ESTABLISHED CLOSE_WAIT",
            "ESTABLISHED CLOSE",
            "INVALID FIN_WAIT",
            "ESTABLISHED FIN_WAIT",
            "ESTABLISHED LAST_ACK",
            "ESTABLISHED CLOSE_WAIT",
            "ESTABLISHED CLOSE",
        ],
    ),
    (
        "CLOSE_WAIT",
        [
            "ESTABLISHED CLOSE_WAIT",
            "INVALID CLOSE_WAIT",
            "ESTABLISHED LAST_ACK",
            "ESTABLISHED CLOSE_WAIT",
            "ESTABLISHED CLOSE",
            "INVALID CLOSE_WAIT",
            "ESTABLISHED CLOSE_WAIT",
            "ESTABLISHED LAST_ACK",
            "ESTABLISHED CLOSE_WAIT",
            "ESTABLISHED CLOSE",
        ],
    ),
    (
        "LAST_ACK",
        [
            "ESTABLISHED LAST_ACK",
            "INVALID LAST_ACK",
            "ESTABLISHED LAST_ACK",
            "ESTABLISHED TIME_WAIT",
            "ESTABLISHED CLOSE",
            "INVALID LAST_ACK",
            "ESTABLISHED LAST_ACK",
            "ESTABLISHED LAST_ACK",
            "ESTABLISHED TIME_WAIT",
            "ESTABLISHED CLOSE",
        ],
    ),
    (
        "TIME_WAIT",
        [
            "NEW SYN_SENT",
            "INVALID TIME_WAIT",
            "ESTABLISHED TIME_WAIT",
            "ESTABLISHED TIME_WAIT",
            "ESTABLISHED CLOSE",
            "NEW SYN_SENT",
            "ESTABLISHED TIME_WAIT",
            "ESTABLISHED TIME_WAIT",
            "ESTABLISHED TIME_WAIT",
            "ESTABLISHED CLOSE",
        ],
    ),
    (
        "CLOSE",
        [
            "NEW SYN_SENT",
            "INVALID CLOSE",
            "ESTABLISHED CLOSE",
            "ESTABLISHED CLOSE",
            "ESTABLISHED CLOSE",
            "INVALID CLOSE",
            "ESTABLISHED CLOSE",
            "ESTABLISHED CLOSE",
            "ESTABLISHED CLOSE",
            "ESTABLISHED CLOSE",
        ],
    ),
];

#[test]
fn transition_table_cell_by_cell() {
    let probes: [(bool, u8); 10] = [
        (true, SYN),
        (true, SYNACK),
        (true, FIN),
        (true, ACK),
        (true, RST),
        (false, SYN),
        (false, SYNACK),
        (false, FIN),
        (false, ACK),
        (false, RST),
    ];
    let mut failures = Vec::new();
    for (state, want) in CELLS {
        for (i, &(is_orig, flags)) in probes.iter().enumerate() {
            let mut ct = reach(state);
            let p = if is_orig {
                orig(flags, 1.0)
            } else {
                reply(flags, 1.0)
            };
            let o = pass(&mut ct, 0, &p);
            let got = format!("{} {}", o.state.as_str(), state_of(&ct, 0, 1.0));
            if got != want[i] {
                failures.push(format!(
                    "{state} + {} {flags:#04x}: got {got}, want {}",
                    if is_orig { "orig" } else { "reply" },
                    want[i]
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---- kernel special cases ---------------------------------------------------------

#[test]
fn challenge_ack_in_last_ack_does_not_close() {
    // RFC 5961: a SYN in LAST_ACK draws a challenge ACK that must not count as
    // the last ACK (kernel IP_CT_EXP_CHALLENGE_ACK).
    let mut ct = reach("LAST_ACK");
    let o = pass(&mut ct, 0, &orig(SYN, 1.0));
    assert_eq!(o.state, CtState::Established);
    assert_eq!(state_of(&ct, 0, 1.0), "LAST_ACK");
    let o = pass(&mut ct, 0, &reply(ACK, 1.1));
    assert_eq!(o.reason(), Some("challenge-ack ignored"));
    assert_eq!(state_of(&ct, 0, 1.1), "LAST_ACK");
    // Without the SYN the same ACK is the last ACK (the table takes it from
    // either direction).
    let mut ct = reach("LAST_ACK");
    pass(&mut ct, 0, &reply(ACK, 1.1));
    assert_eq!(state_of(&ct, 0, 1.1), "TIME_WAIT");
}

#[test]
fn syn_ack_answering_an_ignored_syn_resyncs() {
    // The client restarted and reuses the port: conntrack still holds the old
    // connection, ignores the SYN, and the server's SYN/ACK for it resyncs.
    let mut ct = Conntrack::new();
    established_with_seq(&mut ct);
    let o = pass(&mut ct, 0, &with_seq(orig(SYN, 2.0), 90_000, 0, 0));
    assert_eq!(o.state, CtState::Established);
    assert_eq!(state_of(&ct, 0, 2.0), "ESTABLISHED");
    let o = pass(&mut ct, 0, &with_seq(reply(SYNACK, 2.1), 70_000, 90_001, 0));
    assert_eq!((o.state, o.reason()), (CtState::Established, None));
    assert_eq!(state_of(&ct, 0, 2.1), "SYN_RECV");
    pass(&mut ct, 0, &with_seq(orig(ACK, 2.2), 90_001, 70_001, 0));
    assert_eq!(state_of(&ct, 0, 2.2), "ESTABLISHED");
    // A SYN/ACK acking something else stays ignored.
    let mut ct = Conntrack::new();
    established_with_seq(&mut ct);
    pass(&mut ct, 0, &with_seq(orig(SYN, 2.0), 90_000, 0, 0));
    let o = pass(&mut ct, 0, &with_seq(reply(SYNACK, 2.1), 70_000, 12_345, 0));
    assert!(o.reason().unwrap_or("").contains("ignored"));
    assert_eq!(state_of(&ct, 0, 2.1), "ESTABLISHED");
}

#[test]
fn repeated_retransmissions_shorten_the_timeout() {
    let mut ct = Conntrack::new();
    established_with_seq(&mut ct);
    // established_with_seq ended with reply ACK 5001/1101; repeat it.
    for (i, want) in [(1, 432_000.0), (2, 432_000.0), (3, 300.0)] {
        let t = 1.0 + f64::from(i);
        pass(&mut ct, 0, &with_seq(reply(ACK, t), 5001, 1101, 0));
        assert_eq!(timeout_of(&ct, t), want, "retransmission {i}");
    }
}

#[test]
fn out_of_window_fin_answering_fin_shortens_assured_timeout() {
    let mut ct = Conntrack::new();
    established_with_seq(&mut ct);
    let far = 1101 + 1_000_000;
    let o = ct.track(0, &with_seq(orig(FIN, 1.0), far, 5001, 0));
    assert_eq!(o.state, CtState::Invalid);
    assert!((timeout_of(&ct, 1.0) - 431_999.4).abs() < 1e-6, "untouched");
    let o = ct.track(0, &with_seq(reply(FIN, 1.1), 5001 + 1_000_000, 1101, 0));
    assert_eq!(o.state, CtState::Invalid);
    assert_eq!(timeout_of(&ct, 1.1), 300.0, "nf_tcp_handle_invalid");
    assert_eq!(state_of(&ct, 0, 1.1), "ESTABLISHED");
}

#[test]
fn sequence_numbers_wrap_around() {
    let mut ct = Conntrack::new();
    let c = u32::MAX - 50;
    let s = u32::MAX - 10;
    pass(&mut ct, 0, &with_seq(orig(SYN, 0.0), c, 0, 0));
    pass(
        &mut ct,
        0,
        &with_seq(reply(SYNACK, 0.1), s, c.wrapping_add(1), 0),
    );
    pass(
        &mut ct,
        0,
        &with_seq(orig(ACK, 0.2), c.wrapping_add(1), s.wrapping_add(1), 0),
    );
    let o = pass(
        &mut ct,
        0,
        &with_seq(
            orig(PSHACK, 0.3),
            c.wrapping_add(1),
            s.wrapping_add(1),
            1000,
        ),
    );
    assert_eq!((o.state, o.reason()), (CtState::Established, None));
    let o = pass(
        &mut ct,
        0,
        &with_seq(
            reply(PSHACK, 0.4),
            s.wrapping_add(1),
            c.wrapping_add(1001),
            500,
        ),
    );
    assert_eq!((o.state, o.reason()), (CtState::Established, None));
    let o = pass(
        &mut ct,
        0,
        &with_seq(orig(ACK, 0.5), c.wrapping_add(1001), s.wrapping_add(501), 0),
    );
    assert_eq!((o.state, o.reason()), (CtState::Established, None));
    assert_eq!(timeout_of(&ct, 0.5), 432_000.0);
}

/// The OVS kernel datapath marks an established, assured TCP connection
/// liberal after its lookup (`__ovs_ct_lookup`, Linux 5.11+): the
/// out-of-window segment iptables' conntrack calls INVALID then passes.
#[test]
fn ovs_datapath_turns_an_assured_connection_liberal() {
    for ovs in [false, true] {
        let mut ct = Conntrack::new();
        established_with_seq(&mut ct);
        let o = pass(&mut ct, 0, &with_seq(orig(ACK, 0.9), 1101, 5001, 0));
        if ovs {
            ct.ovs_after_lookup(&o);
        }
        let o = ct.track(0, &with_seq(orig(PSHACK, 1.0), 1101 + 1_000_000, 5001, 10));
        let want = if ovs {
            CtState::Established
        } else {
            CtState::Invalid
        };
        assert_eq!(o.state, want, "ovs datapath {ovs}");
    }
}
