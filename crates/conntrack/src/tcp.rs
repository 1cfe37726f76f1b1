//! The TCP tracker: the kernel's state transition table, its special cases
//! (simultaneous open, reopening from TIME_WAIT/CLOSE, ignored packets, RST
//! checks) and window tracking (`tcp_in_window`).
//!
//! Facts from kernel v6.x net/netfilter/nf_conntrack_proto_tcp.c
//! (`tcp_conntracks`, `tcp_error`, `tcp_new`, `tcp_in_window`,
//! `nf_conntrack_tcp_packet`). TCP options are not modelled (no window scale,
//! no SACK): every packet behaves as if it carried none.
//!
//! "No-seq" mode: when the packet that created an entry has `seq == 0` and
//! `ack == 0`, the caller did not model sequence numbers. That entry then skips
//! `tcp_in_window` and the sequence-derived timeout tweaks (retransmission
//! count, zero window, unacknowledged data); every state-machine rule still applies.

use super::{CtConfig, Direction, L4Ctx, L4Verdict};
use packet::{tcp_flags as tf, Packet};

/// TCP conntrack states, in the kernel's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TcpState {
    None,
    SynSent,
    SynRecv,
    Established,
    FinWait,
    CloseWait,
    LastAck,
    TimeWait,
    Close,
    SynSent2,
}

impl TcpState {
    pub const ALL: [TcpState; 10] = [
        TcpState::None,
        TcpState::SynSent,
        TcpState::SynRecv,
        TcpState::Established,
        TcpState::FinWait,
        TcpState::CloseWait,
        TcpState::LastAck,
        TcpState::TimeWait,
        TcpState::Close,
        TcpState::SynSent2,
    ];

    /// Name as `conntrack -L` prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            TcpState::None => "NONE",
            TcpState::SynSent => "SYN_SENT",
            TcpState::SynRecv => "SYN_RECV",
            TcpState::Established => "ESTABLISHED",
            TcpState::FinWait => "FIN_WAIT",
            TcpState::CloseWait => "CLOSE_WAIT",
            TcpState::LastAck => "LAST_ACK",
            TcpState::TimeWait => "TIME_WAIT",
            TcpState::Close => "CLOSE",
            TcpState::SynSent2 => "SYN_SENT2",
        }
    }

    fn idx(self) -> usize {
        self as usize
    }
}

/// Which of RST/SYN/FIN/ACK decides the transition (`get_conntrack_index`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlagIndex {
    Syn,
    SynAck,
    Fin,
    Ack,
    Rst,
    None,
}

impl FlagIndex {
    pub fn of(flags: u8) -> Self {
        if flags & tf::RST != 0 {
            FlagIndex::Rst
        } else if flags & tf::SYN != 0 {
            if flags & tf::ACK != 0 {
                FlagIndex::SynAck
            } else {
                FlagIndex::Syn
            }
        } else if flags & tf::FIN != 0 {
            FlagIndex::Fin
        } else if flags & tf::ACK != 0 {
            FlagIndex::Ack
        } else {
            FlagIndex::None
        }
    }
}

/// Outcome of one table lookup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    To(TcpState),
    /// sIG: may be valid or not; pass it without touching the state.
    Ignore,
    /// sIV: truly invalid.
    Invalid,
}

/// The transition table, `[direction][flag index][old state]`.
/// Kernel v6.x nf_conntrack_proto_tcp.c, `tcp_conntracks`.
pub fn transition(dir: Direction, index: FlagIndex, old: TcpState) -> Next {
    use Next::{Ignore as IG, Invalid as IV};
    use TcpState::*;
    const NO: Next = Next::To(None);
    const SS: Next = Next::To(SynSent);
    const SR: Next = Next::To(SynRecv);
    const ES: Next = Next::To(Established);
    const FW: Next = Next::To(FinWait);
    const CW: Next = Next::To(CloseWait);
    const LA: Next = Next::To(LastAck);
    const TW: Next = Next::To(TimeWait);
    const CL: Next = Next::To(Close);
    const S2: Next = Next::To(SynSent2);
    let _ = NO;
    // Columns: NONE SYN_SENT SYN_RECV ESTABLISHED FIN_WAIT CLOSE_WAIT LAST_ACK TIME_WAIT CLOSE SYN_SENT2
    let row: [Next; 10] = match (dir, index) {
        (Direction::Original, FlagIndex::Syn) => [SS, SS, IG, IG, IG, IG, IG, SS, SS, S2],
        (Direction::Original, FlagIndex::SynAck) => [IV, IV, SR, IV, IV, IV, IV, IV, IV, SR],
        (Direction::Original, FlagIndex::Fin) => [IV, IV, FW, FW, LA, LA, LA, TW, CL, IV],
        (Direction::Original, FlagIndex::Ack) => [ES, IV, ES, ES, CW, CW, TW, TW, CL, IV],
        (Direction::Original, FlagIndex::Rst) => [IV, CL, CL, CL, CL, CL, CL, CL, CL, CL],
        (Direction::Reply, FlagIndex::Syn) => [IV, S2, IV, IV, IV, IV, IV, SS, IV, S2],
        (Direction::Reply, FlagIndex::SynAck) => [IV, SR, IG, IG, IG, IG, IG, IG, IG, SR],
        (Direction::Reply, FlagIndex::Fin) => [IV, IV, FW, FW, LA, LA, LA, TW, CL, IV],
        (Direction::Reply, FlagIndex::Ack) => [IV, IG, SR, ES, CW, CW, TW, TW, CL, IG],
        (Direction::Reply, FlagIndex::Rst) => [IV, CL, CL, CL, CL, CL, CL, CL, CL, CL],
        (_, FlagIndex::None) => [IV; 10],
    };
    row[old.idx()]
}

// Per-direction flags (kernel IP_CT_TCP_FLAG_* values).
const F_CLOSE_INIT: u8 = 0x04;
const F_BE_LIBERAL: u8 = 0x08;
const F_DATA_UNACK: u8 = 0x10;
const F_MAXACK_SET: u8 = 0x20;
const F_EXP_CHALLENGE_ACK: u8 = 0x40;
const F_SIMULTANEOUS_OPEN: u8 = 0x80;

/// Window-tracking data of one direction (`struct ip_ct_tcp_state`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Side {
    td_end: u32,
    td_maxend: u32,
    td_maxwin: u32,
    td_maxack: u32,
    td_scale: u8,
    flags: u8,
}

/// Per-connection TCP data (`struct ip_ct_tcp`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcpConn {
    pub state: TcpState,
    seen: [Side; 2],
    last_dir: usize,
    last_index: FlagIndex,
    last_seq: u32,
    last_ack: u32,
    last_end: u32,
    last_win: u16,
    last_wscale: u8,
    last_flags: u8,
    retrans: u8,
    /// Created by a packet with seq = ack = 0: skip sequence checks.
    pub no_seq: bool,
}

impl Default for TcpConn {
    fn default() -> Self {
        TcpConn {
            state: TcpState::None,
            seen: [Side::default(); 2],
            last_dir: 0,
            last_index: FlagIndex::None,
            last_seq: 0,
            last_ack: 0,
            last_end: 0,
            last_win: 0,
            last_wscale: 0,
            last_flags: 0,
            retrans: 0,
            no_seq: false,
        }
    }
}

fn before(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

fn after(a: u32, b: u32) -> bool {
    before(b, a)
}

/// seq + payload + 1 for SYN + 1 for FIN (`segment_seq_plus_len`).
fn seg_end(pkt: &Packet) -> u32 {
    pkt.seq
        .wrapping_add(pkt.payload_len)
        .wrapping_add(u32::from(pkt.tcp_flags & tf::SYN != 0))
        .wrapping_add(u32::from(pkt.tcp_flags & tf::FIN != 0))
}

/// Flag combinations `tcp_error` accepts (PSH, ECE, CWR ignored).
fn valid_flags(flags: u8) -> bool {
    let f = flags & (tf::FIN | tf::SYN | tf::RST | tf::ACK | tf::URG);
    const SYN: u8 = tf::SYN;
    const SYNURG: u8 = tf::SYN | tf::URG;
    const SYNACK: u8 = tf::SYN | tf::ACK;
    const RST: u8 = tf::RST;
    const RSTACK: u8 = tf::RST | tf::ACK;
    const FINACK: u8 = tf::FIN | tf::ACK;
    const FINACKURG: u8 = tf::FIN | tf::ACK | tf::URG;
    const ACK: u8 = tf::ACK;
    const ACKURG: u8 = tf::ACK | tf::URG;
    matches!(
        f,
        SYN | SYNURG | SYNACK | RST | RSTACK | FINACK | FINACKURG | ACK | ACKURG
    )
}

fn dir_idx(d: Direction) -> usize {
    match d {
        Direction::Original => 0,
        Direction::Reply => 1,
    }
}

/// `tcp_new`: may this packet create a connection? Sets up the original side.
fn tcp_new(tc: &mut TcpConn, pkt: &Packet, cfg: &CtConfig) -> Result<(), String> {
    let index = FlagIndex::of(pkt.tcp_flags);
    let no_seq = pkt.seq == 0 && pkt.ack == 0;
    match transition(Direction::Original, index, TcpState::None) {
        Next::To(TcpState::SynSent) => {
            *tc = TcpConn::default();
            let end = seg_end(pkt);
            let s = &mut tc.seen[0];
            s.td_end = end;
            s.td_maxwin = u32::from(pkt.window).max(1);
            s.td_maxend = end;
        }
        Next::To(_) if cfg.tcp_loose => {
            // Mid-stream pickup: history lost, take what the packet says and be liberal.
            *tc = TcpConn::default();
            let end = seg_end(pkt);
            let s = &mut tc.seen[0];
            s.td_end = end;
            s.td_maxwin = u32::from(pkt.window).max(1);
            s.td_maxend = end.wrapping_add(s.td_maxwin);
            tc.seen[0].flags = F_BE_LIBERAL; // kernel also sets SACK_PERM (not modelled)
            tc.seen[1].flags = F_BE_LIBERAL;
        }
        Next::To(_) => return Err("invalid new (nf_conntrack_tcp_loose=0)".into()),
        _ => return Err("invalid new".into()),
    }
    tc.no_seq = no_seq;
    tc.last_index = FlagIndex::None;
    Ok(())
}

/// What `tcp_in_window` decided.
enum Win {
    Accept,
    Ignore(String),
    Invalid(String),
}

fn init_sender(sender: &mut Side, receiver: &mut Side, end: u32, win: u32, dir: usize) {
    sender.td_end = end;
    sender.td_maxend = end;
    sender.td_maxwin = win.max(1);
    // No options modelled: neither side announced window scaling.
    sender.td_scale = 0;
    if dir == 1 {
        sender.td_scale = 0;
        receiver.td_scale = 0;
    }
}

fn max_ack_window(s: &Side) -> u32 {
    s.td_maxwin.max(66000)
}

/// `tcp_in_window` (be_liberal from the sysctl or the pickup flag).
fn in_window(tc: &mut TcpConn, dir: usize, index: FlagIndex, pkt: &Packet, cfg: &CtConfig) -> Win {
    let state = tc.state;
    let [s0, s1] = &mut tc.seen;
    let (sender, receiver) = if dir == 0 { (s0, s1) } else { (s1, s0) };
    let syn = pkt.tcp_flags & tf::SYN != 0;
    let ackf = pkt.tcp_flags & tf::ACK != 0;
    let rst = pkt.tcp_flags & tf::RST != 0;
    let mut seq = pkt.seq;
    let mut ack = pkt.ack;
    let mut sack = ack;
    let win_raw = pkt.window;
    let mut win = u32::from(win_raw);
    let mut end = seg_end(pkt);

    if sender.td_maxwin == 0 {
        if syn {
            init_sender(sender, receiver, end, win, dir);
            if !ackf {
                return Win::Accept; // simultaneous open
            }
        } else {
            sender.td_end = end;
            let swin = win << sender.td_scale;
            sender.td_maxwin = swin.max(1);
            sender.td_maxend = end.wrapping_add(sender.td_maxwin);
            if receiver.td_maxwin == 0 {
                receiver.td_end = sack;
                receiver.td_maxend = sack;
            } else if sack == receiver.td_end.wrapping_add(1) {
                receiver.td_end = receiver.td_end.wrapping_add(1); // keepalive reply
            }
        }
    } else if syn
        && after(end, sender.td_end)
        && (state == TcpState::SynSent || state == TcpState::SynRecv)
    {
        // Reinitialised connection (RFC 793): re-init this direction.
        init_sender(sender, receiver, end, win, dir);
        if dir == 1 && !ackf {
            return Win::Accept;
        }
    }

    if !ackf || (rst && ack == 0) {
        // No ACK: pretend it acks everything; RST|ACK with ack 0: broken stacks.
        ack = receiver.td_end;
        sack = ack;
    }
    if rst && seq == 0 && state == TcpState::SynSent {
        // RST answering a SYN.
        seq = sender.td_end;
        end = sender.td_end;
    }

    let liberal = sender.flags & F_BE_LIBERAL != 0 || cfg.tcp_be_liberal;
    let fail = |w: Win| if liberal { Win::Accept } else { w };

    if !before(seq, sender.td_maxend.wrapping_add(1)) {
        let overshot = end.wrapping_sub(sender.td_maxend).wrapping_add(1);
        let ack_ok = after(
            sack,
            receiver
                .td_end
                .wrapping_sub(max_ack_window(sender))
                .wrapping_sub(1),
        );
        let in_recv_win = receiver.td_maxwin != 0
            && after(
                end,
                sender
                    .td_end
                    .wrapping_sub(receiver.td_maxwin)
                    .wrapping_sub(1),
            );
        if in_recv_win
            && ack_ok
            && overshot <= receiver.td_maxwin
            && before(sack, receiver.td_end.wrapping_add(1))
        {
            sender.td_end = end;
            sender.flags |= F_DATA_UNACK;
            return fail(Win::Ignore(format!("{overshot} bytes more than expected")));
        }
        return fail(Win::Invalid(format!(
            "SEQ is over upper bound {} (over the window of the receiver)",
            sender.td_maxend.wrapping_add(1)
        )));
    }
    if !before(sack, receiver.td_end.wrapping_add(1)) {
        return fail(Win::Invalid(format!(
            "ACK is over upper bound {} (ACKed data not seen yet)",
            receiver.td_end.wrapping_add(1)
        )));
    }
    let in_recv_win = receiver.td_maxwin == 0
        || after(
            end,
            sender
                .td_end
                .wrapping_sub(receiver.td_maxwin)
                .wrapping_sub(1),
        );
    if !in_recv_win {
        return fail(Win::Ignore(
            "SEQ is under lower bound (already ACKed data retransmitted)".into(),
        ));
    }
    if !after(
        sack,
        receiver
            .td_end
            .wrapping_sub(max_ack_window(sender))
            .wrapping_sub(1),
    ) {
        return fail(Win::Ignore(
            "ignored ACK under lower bound (possible overly delayed)".into(),
        ));
    }

    if !syn {
        win <<= sender.td_scale;
    }
    let swin = win.wrapping_add(sack.wrapping_sub(ack));
    if sender.td_maxwin < swin {
        sender.td_maxwin = swin;
    }
    if after(end, sender.td_end) {
        sender.td_end = end;
        sender.flags |= F_DATA_UNACK;
    }
    if ackf {
        if sender.flags & F_MAXACK_SET == 0 {
            sender.td_maxack = ack;
            sender.flags |= F_MAXACK_SET;
        } else if after(ack, sender.td_maxack) {
            sender.td_maxack = ack;
        }
    }
    if receiver.td_maxwin != 0 && after(end, sender.td_maxend) {
        receiver.td_maxwin = receiver
            .td_maxwin
            .wrapping_add(end.wrapping_sub(sender.td_maxend));
    }
    if after(sack.wrapping_add(win), receiver.td_maxend.wrapping_sub(1)) {
        receiver.td_maxend = sack.wrapping_add(win);
        if win == 0 {
            receiver.td_maxend = receiver.td_maxend.wrapping_add(1);
        }
    }
    if ack == receiver.td_end {
        receiver.flags &= !F_DATA_UNACK;
    }

    if index == FlagIndex::Ack {
        if tc.last_dir == dir
            && tc.last_seq == seq
            && tc.last_ack == ack
            && tc.last_end == end
            && tc.last_win == win_raw
        {
            tc.retrans = tc.retrans.saturating_add(1);
        } else {
            tc.last_dir = dir;
            tc.last_seq = seq;
            tc.last_ack = ack;
            tc.last_end = end;
            tc.last_win = win_raw;
            tc.retrans = 0;
        }
    }
    Win::Accept
}

/// `nf_tcp_handle_invalid`: an out-of-window FIN/RST answering the peer's
/// FIN/RST shortens an assured connection's timeout to the "unack" value.
fn handle_invalid(tc: &mut TcpConn, dir: usize, index: FlagIndex, ctx: &mut L4Ctx, cfg: &CtConfig) {
    if !ctx.assured || !matches!(index, FlagIndex::Rst | FlagIndex::Fin) {
        return;
    }
    if tc.last_dir != dir && matches!(tc.last_index, FlagIndex::Fin | FlagIndex::Rst) {
        let remaining = ctx.expires - ctx.now;
        if remaining < 120.0 {
            return;
        }
        if remaining > cfg.tcp.unacknowledged {
            ctx.expires = ctx.now + cfg.tcp.unacknowledged;
        }
    } else {
        tc.last_index = index;
        tc.last_dir = dir;
    }
}

fn is_established(tc: &TcpConn, ctx: &L4Ctx) -> bool {
    tc.state == TcpState::Established && ctx.assured
}

/// How `packet` continues after the state-machine special cases.
enum Flow {
    CheckWindow,
    SkipWindow,
    Done(L4Verdict),
}

/// `nf_conntrack_tcp_packet` (with `tcp_error` and, for a new entry, `tcp_new`).
impl TcpConn {
    /// `nf_ct_set_tcp_be_liberal`: stop window checks in both directions.
    pub(crate) fn set_be_liberal(&mut self) {
        self.seen[0].flags |= F_BE_LIBERAL;
        self.seen[1].flags |= F_BE_LIBERAL;
    }
}

pub(crate) fn packet(
    tc: &mut TcpConn,
    ctx: &mut L4Ctx,
    dir: Direction,
    pkt: &Packet,
    cfg: &CtConfig,
) -> L4Verdict {
    if !valid_flags(pkt.tcp_flags) {
        return L4Verdict::Invalid("invalid tcp flag combination".into());
    }
    if !ctx.confirmed {
        if let Err(e) = tcp_new(tc, pkt, cfg) {
            return L4Verdict::Invalid(e);
        }
    }
    let d = dir_idx(dir);
    let mut old = tc.state;
    let index = FlagIndex::of(pkt.tcp_flags);
    let mut new = transition(dir, index, old);

    let flow = match new {
        Next::To(TcpState::SynSent) if old >= TcpState::TimeWait => {
            let close_init = (tc.seen[0].flags | tc.seen[1].flags) & F_CLOSE_INIT != 0;
            if close_init || (tc.last_dir == d && tc.last_index == FlagIndex::Rst) {
                // Reopen a closed/aborted connection: delete it, look up again.
                return L4Verdict::Repeat;
            }
            ignore(tc, d, index, pkt, &mut old, &mut new)
        }
        Next::Ignore => ignore(tc, d, index, pkt, &mut old, &mut new),
        Next::Invalid => {
            return L4Verdict::Invalid(format!(
                "packet (index {}) in dir {} invalid, state {}",
                index as u8,
                d,
                old.as_str()
            ))
        }
        Next::To(TcpState::TimeWait) => {
            // RFC 5961 challenge ACK after a SYN in LAST_ACK must not close.
            if old == TcpState::LastAck
                && index == FlagIndex::Ack
                && tc.last_dir != d
                && tc.last_index == FlagIndex::Syn
                && tc.last_flags & F_EXP_CHALLENGE_ACK != 0
            {
                tc.last_flags &= !F_EXP_CHALLENGE_ACK;
                Flow::Done(L4Verdict::Ignored("challenge-ack ignored".into()))
            } else {
                Flow::CheckWindow
            }
        }
        Next::To(TcpState::SynSent2) => {
            tc.last_flags |= F_SIMULTANEOUS_OPEN;
            Flow::CheckWindow
        }
        Next::To(TcpState::SynRecv) => {
            if d == 1 && index == FlagIndex::Ack && tc.last_flags & F_SIMULTANEOUS_OPEN != 0 {
                new = Next::To(TcpState::Established);
            }
            Flow::CheckWindow
        }
        Next::To(TcpState::Close) if index == FlagIndex::Rst => {
            rst_checks(tc, ctx, cfg, d, old, pkt, &mut new)
        }
        Next::To(_) => Flow::CheckWindow,
    };

    match flow {
        Flow::Done(v) => return v,
        Flow::CheckWindow if !tc.no_seq => match in_window(tc, d, index, pkt, cfg) {
            Win::Accept => {}
            Win::Ignore(why) => return L4Verdict::Ignored(why),
            Win::Invalid(why) => {
                handle_invalid(tc, d, index, ctx, cfg);
                return L4Verdict::Invalid(why);
            }
        },
        Flow::CheckWindow | Flow::SkipWindow => {}
    }

    // In-window from here on.
    let new = match new {
        Next::To(s) => s,
        _ => old, // unreachable: ignore/invalid returned above
    };
    tc.last_index = index;
    tc.last_dir = d;
    tc.state = new;
    if old != new && new == TcpState::FinWait {
        tc.seen[d].flags |= F_CLOSE_INIT;
    }

    let t = &cfg.tcp;
    let base = t.for_state(new);
    let unacked = (tc.seen[0].flags | tc.seen[1].flags) & F_DATA_UNACK != 0;
    let mut timeout = if !tc.no_seq && tc.retrans >= cfg.tcp_max_retrans && base > t.max_retrans {
        t.max_retrans
    } else if index == FlagIndex::Rst {
        t.close
    } else if !tc.no_seq && unacked && base > t.unacknowledged {
        t.unacknowledged
    } else if !tc.no_seq && tc.last_win == 0 && base > t.max_retrans {
        t.max_retrans
    } else {
        base
    };

    if !ctx.seen_reply {
        if pkt.tcp_flags & tf::RST != 0 {
            // Only a RST seen: forget the connection right away.
            return L4Verdict::AcceptKill;
        }
        if index == FlagIndex::Syn && old == TcpState::SynSent {
            // SYN retransmission does not renew the timeout.
            return L4Verdict::Accept;
        }
        if new == TcpState::Established && timeout > t.unacknowledged {
            timeout = t.unacknowledged; // picked up mid-stream, no reply yet
        }
    } else if !ctx.assured
        && (old == TcpState::SynRecv || old == TcpState::Established)
        && new == TcpState::Established
    {
        ctx.assured = true;
    }
    ctx.expires = ctx.now + timeout;
    L4Verdict::Accept
}

/// The sIG path (and SYN_SENT from TIME_WAIT/CLOSE that is not a reopen):
/// annotate the packet and let it pass untouched, unless it is a SYN/ACK
/// answering a SYN we ignored earlier, which puts us back in sync.
fn ignore(
    tc: &mut TcpConn,
    d: usize,
    index: FlagIndex,
    pkt: &Packet,
    old: &mut TcpState,
    new: &mut Next,
) -> Flow {
    let old_state = *old;
    let ack_matches = tc.no_seq || pkt.ack == tc.last_end;
    if index == FlagIndex::SynAck
        && tc.last_index == FlagIndex::Syn
        && tc.last_dir != d
        && ack_matches
    {
        *old = TcpState::SynSent;
        *new = Next::To(TcpState::SynRecv);
        let ld = tc.last_dir;
        let s = &mut tc.seen[ld];
        s.td_end = tc.last_end;
        s.td_maxend = tc.last_end;
        s.td_maxwin = u32::from(tc.last_win).max(1);
        s.td_scale = tc.last_wscale;
        tc.last_flags &= !F_EXP_CHALLENGE_ACK;
        s.flags = tc.last_flags;
        let me = &mut tc.seen[d];
        let liberal = me.flags & F_BE_LIBERAL;
        *me = Side {
            flags: liberal,
            ..Side::default()
        };
        return Flow::CheckWindow;
    }
    tc.last_index = index;
    tc.last_dir = d;
    tc.last_seq = pkt.seq;
    tc.last_end = seg_end(pkt);
    tc.last_win = pkt.window;
    if index == FlagIndex::Syn && d == 0 {
        // No options modelled: no window scale / SACK to remember.
        tc.last_flags = 0;
        tc.last_wscale = 0;
        if old_state == TcpState::LastAck {
            tc.last_flags |= F_EXP_CHALLENGE_ACK;
        }
    }
    if old_state == TcpState::SynSent && index == FlagIndex::Ack && d == 1 {
        tc.last_ack = pkt.ack; // possible challenge ACK answering the SYN
    }
    Flow::Done(L4Verdict::Ignored(format!(
        "packet (index {}) in dir {} ignored, state {}",
        index as u8,
        d,
        old_state.as_str()
    )))
}

/// RST checks before moving to CLOSE.
fn rst_checks(
    tc: &mut TcpConn,
    ctx: &L4Ctx,
    cfg: &CtConfig,
    d: usize,
    old: TcpState,
    pkt: &Packet,
    new: &mut Next,
) -> Flow {
    // Already closing: the tuple may be reused, skip all checks.
    if matches!(
        old,
        TcpState::FinWait
            | TcpState::LastAck
            | TcpState::TimeWait
            | TcpState::Close
            | TcpState::CloseWait
    ) {
        return Flow::SkipWindow;
    }
    let peer = tc.seen[1 - d];
    if peer.flags & F_MAXACK_SET != 0 && tc.last_index != FlagIndex::Syn {
        let seq = pkt.seq;
        if seq == 0 && !is_established(tc, ctx) {
            return Flow::CheckWindow; // answer to a SYN we let through
        }
        if before(seq, peer.td_maxack) && !cfg.tcp_ignore_invalid_rst {
            return Flow::Done(L4Verdict::Invalid("invalid rst".into()));
        }
        if !is_established(tc, ctx) || seq == peer.td_maxack {
            return Flow::CheckWindow;
        }
        if tc.last_index == FlagIndex::Ack && tc.last_dir == d && seq == tc.last_end {
            return Flow::CheckWindow; // RST following the sender's last segment
        }
        // Sequence does not match exactly: keep the state, allow a challenge ACK.
        *new = Next::To(old);
    }
    let ack_is_last_end = tc.no_seq || pkt.ack == tc.last_end;
    if ((ctx.seen_reply && tc.last_index == FlagIndex::Syn)
        || (!ctx.assured && tc.last_index == FlagIndex::Ack))
        && ack_is_last_end
    {
        // RST answering a SYN/ACK we let through while out of sync.
        return Flow::SkipWindow;
    }
    if old == TcpState::SynSent
        && tc.last_index == FlagIndex::Ack
        && tc.last_dir == 1
        && (tc.no_seq || pkt.seq == tc.last_ack)
    {
        return Flow::SkipWindow; // reset answering a challenge ACK
    }
    Flow::CheckWindow
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_index_priority_is_rst_syn_fin_ack() {
        assert_eq!(FlagIndex::of(tf::RST | tf::SYN | tf::ACK), FlagIndex::Rst);
        assert_eq!(FlagIndex::of(tf::SYN | tf::FIN), FlagIndex::Syn);
        assert_eq!(
            FlagIndex::of(tf::SYN | tf::ACK | tf::PSH),
            FlagIndex::SynAck
        );
        assert_eq!(FlagIndex::of(tf::FIN | tf::ACK), FlagIndex::Fin);
        assert_eq!(FlagIndex::of(tf::ACK | tf::PSH), FlagIndex::Ack);
        assert_eq!(FlagIndex::of(tf::PSH | tf::URG), FlagIndex::None);
    }

    #[test]
    fn sequence_comparison_wraps() {
        assert!(before(u32::MAX, 0));
        assert!(after(5, u32::MAX - 5));
        assert!(!before(7, 7) && !after(7, 7));
    }

    #[test]
    fn none_row_is_invalid_and_no_reply_creates() {
        for s in TcpState::ALL {
            for d in [Direction::Original, Direction::Reply] {
                assert_eq!(transition(d, FlagIndex::None, s), Next::Invalid);
            }
            assert_eq!(
                transition(Direction::Reply, FlagIndex::Rst, s) == Next::Invalid,
                s == TcpState::None
            );
        }
        // Only SYN and ACK leave NONE in the original direction.
        let from_none: Vec<_> = [
            FlagIndex::Syn,
            FlagIndex::SynAck,
            FlagIndex::Fin,
            FlagIndex::Ack,
            FlagIndex::Rst,
        ]
        .into_iter()
        .filter(|&i| transition(Direction::Original, i, TcpState::None) != Next::Invalid)
        .collect();
        assert_eq!(from_none, vec![FlagIndex::Syn, FlagIndex::Ack]);
    }

    #[test]
    fn valid_flag_table_matches_tcp_error() {
        let valid: Vec<u8> = (0..=0x3fu8).filter(|&f| valid_flags(f)).collect();
        // Every accepted combination, PSH (0x08) folded in.
        for f in &valid {
            assert!(valid_flags(f | tf::PSH | tf::ECE | tf::CWR));
        }
        let base: Vec<u8> = valid.into_iter().filter(|f| f & tf::PSH == 0).collect();
        assert_eq!(
            base,
            vec![0x02, 0x04, 0x10, 0x11, 0x12, 0x14, 0x22, 0x30, 0x31]
        );
    }
}
