//! Connection tracking as the kernel does it (v6.x `net/netfilter/nf_conntrack_*`):
//! one [`Conntrack`] per network namespace, a separate table per zone, entries
//! created unconfirmed by [`Conntrack::track`] (`nf_conntrack_in`) and inserted
//! by [`Conntrack::confirm`] (`nf_conntrack_confirm`) once the packet survived
//! every hook.
//!
//! Trackers: TCP (state table + window tracking, see [`tcp`]), UDP/UDP-Lite,
//! ICMP/ICMPv6 (echo-style queries, errors RELATED to the connection they quote,
//! ND/MLD untracked), GRE v0, and the generic tracker for everything else.
//! Time is the packet's `time` in seconds; an entry whose timeout has passed is
//! gone at the next lookup, as in the kernel.
//!
//! Not modelled: helpers and expectations (so no RELATED data connections),
//! NAT, SCTP/DCCP state machines (they use the generic tracker with ports).
//!
//! # Who uses it: zones
//!
//! This is the kernel's table, not iptables': iptables (`-m conntrack`,
//! `-j CT`), OVS (the `ct()` action of the kernel datapath) and OVN (which
//! programs OVS) all track in it. It takes only [`packet::Packet`]s; the
//! caller picks the zone of each packet, and entries in different zones never
//! see each other. Neutron's firewall drivers key zones differently:
//! - iptables_hybrid: one zone per port (`CONNTRACK_ZONE_PER_PORT`). The
//!   agent's raw table sets `-j CT --zone N` for the frames of each port's qbr
//!   bridge and tap (`Set zone for ...`; Neutron `ip_conntrack`, zones from
//!   4097); the netfilter engine passes the zone its raw-table walk chose.
//! - OVS native firewall (future): one zone per network: its flows run
//!   `ct(zone=NXM_NX_REG6[0..15])` with the register loaded from the port's
//!   local VLAN tag on br-int.
//! - OVN (future): one zone per logical port, assigned by ovn-controller.

#![forbid(unsafe_code)]

pub mod tcp;
pub mod tuple;

pub use tcp::TcpState;
pub use tuple::{CtTuple, L4Key};

use packet::{proto, Packet};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use tcp::TcpConn;

/// The conntrack state the `state`/`conntrack` matches see.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CtState {
    New,
    Established,
    Related,
    Invalid,
    Untracked,
}

impl CtState {
    /// Name as iptables prints it (`--ctstate NEW`).
    pub fn as_str(&self) -> &'static str {
        match self {
            CtState::New => "NEW",
            CtState::Established => "ESTABLISHED",
            CtState::Related => "RELATED",
            CtState::Invalid => "INVALID",
            CtState::Untracked => "UNTRACKED",
        }
    }
}

impl fmt::Display for CtState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which tuple of its connection a packet matched.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    Original,
    Reply,
}

/// What conntrack decided for one packet (the skb's ct + ctinfo).
#[derive(Clone, Debug)]
pub struct CtOutcome {
    pub state: CtState,
    pub dir: Direction,
    pub zone: u16,
    entry: Option<u64>,
    unconfirmed: bool,
    l4_state: Option<&'static str>,
    reason: Option<String>,
}

impl CtOutcome {
    fn invalid(zone: u16, reason: impl Into<String>) -> Self {
        CtOutcome {
            state: CtState::Invalid,
            dir: Direction::Original,
            zone,
            entry: None,
            unconfirmed: false,
            l4_state: None,
            reason: Some(reason.into()),
        }
    }

    /// Why the packet is INVALID, or why the tracker ignored it (kernel log text).
    pub fn reason(&self) -> Option<&str> {
        self.reason.as_deref()
    }

    /// The L4 state after this packet (TCP: "SYN_SENT", ...), if tracked by TCP.
    pub fn l4_state(&self) -> Option<&'static str> {
        self.l4_state
    }

    /// True when this packet created an entry that `confirm` will insert.
    pub fn is_unconfirmed(&self) -> bool {
        self.unconfirmed
    }
}

/// One entry for display and tests.
#[derive(Clone, Debug, PartialEq)]
pub struct CtEntryView {
    pub zone: u16,
    pub orig: CtTuple,
    pub reply: CtTuple,
    /// TCP state name ("SYN_SENT", ...); `None` for other protocols.
    pub l4_state: Option<&'static str>,
    /// Seconds until the entry expires.
    pub timeout: f64,
    pub seen_reply: bool,
    pub assured: bool,
}

impl fmt::Display for CtEntryView {
    /// One line as `conntrack -L` prints it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = self.orig.proto;
        write!(
            f,
            "{:<8} {} {} ",
            tuple::proto_name(p),
            p,
            self.timeout.max(0.0) as u64
        )?;
        if let Some(s) = self.l4_state {
            write!(f, "{s} ")?;
        }
        write!(f, "{} ", self.orig)?;
        if !self.seen_reply {
            f.write_str("[UNREPLIED] ")?;
        }
        write!(f, "{} ", self.reply)?;
        if self.assured {
            f.write_str("[ASSURED] ")?;
        }
        f.write_str("mark=0 ")?;
        if self.zone != 0 {
            write!(f, "zone={} ", self.zone)?;
        }
        f.write_str("use=1")
    }
}

/// TCP timeouts in seconds (`nf_conntrack_tcp_timeout_*`).
#[derive(Clone, Debug, PartialEq)]
pub struct TcpTimeouts {
    pub syn_sent: f64,
    pub syn_recv: f64,
    pub established: f64,
    pub fin_wait: f64,
    pub close_wait: f64,
    pub last_ack: f64,
    pub time_wait: f64,
    pub close: f64,
    pub syn_sent2: f64,
    pub max_retrans: f64,
    pub unacknowledged: f64,
}

impl Default for TcpTimeouts {
    /// Kernel defaults, nf_conntrack_proto_tcp.c `tcp_timeouts`.
    fn default() -> Self {
        TcpTimeouts {
            syn_sent: 120.0,
            syn_recv: 60.0,
            established: 432_000.0,
            fin_wait: 120.0,
            close_wait: 60.0,
            last_ack: 30.0,
            time_wait: 120.0,
            close: 10.0,
            syn_sent2: 120.0,
            max_retrans: 300.0,
            unacknowledged: 300.0,
        }
    }
}

impl TcpTimeouts {
    fn for_state(&self, s: TcpState) -> f64 {
        match s {
            // timeouts[NONE] is set to SYN_SENT's by nf_conntrack_tcp_init_net.
            TcpState::None | TcpState::SynSent => self.syn_sent,
            TcpState::SynRecv => self.syn_recv,
            TcpState::Established => self.established,
            TcpState::FinWait => self.fin_wait,
            TcpState::CloseWait => self.close_wait,
            TcpState::LastAck => self.last_ack,
            TcpState::TimeWait => self.time_wait,
            TcpState::Close => self.close,
            TcpState::SynSent2 => self.syn_sent2,
        }
    }
}

/// The per-namespace conntrack sysctls that change tracking.
#[derive(Clone, Debug, PartialEq)]
pub struct CtConfig {
    /// `nf_conntrack_tcp_loose` (default 1): pick up connections from an ACK.
    pub tcp_loose: bool,
    /// `nf_conntrack_tcp_be_liberal` (default 0).
    pub tcp_be_liberal: bool,
    /// `nf_conntrack_tcp_ignore_invalid_rst` (default 0).
    pub tcp_ignore_invalid_rst: bool,
    /// `nf_conntrack_tcp_max_retrans` (default 3).
    pub tcp_max_retrans: u8,
    pub tcp: TcpTimeouts,
    /// `nf_conntrack_udp_timeout` (30) and `_stream` (120, kernel >= 5.19).
    pub udp_timeout: f64,
    pub udp_timeout_stream: f64,
    /// `nf_conntrack_icmp_timeout`, `nf_conntrack_icmpv6_timeout` (30).
    pub icmp_timeout: f64,
    pub icmpv6_timeout: f64,
    /// `nf_conntrack_gre_timeout` (30) and `_stream` (180).
    pub gre_timeout: f64,
    pub gre_timeout_stream: f64,
    /// `nf_conntrack_generic_timeout` (600).
    pub generic_timeout: f64,
}

impl Default for CtConfig {
    fn default() -> Self {
        CtConfig {
            tcp_loose: true,
            tcp_be_liberal: false,
            tcp_ignore_invalid_rst: false,
            tcp_max_retrans: 3,
            tcp: TcpTimeouts::default(),
            udp_timeout: 30.0,
            udp_timeout_stream: 120.0,
            icmp_timeout: 30.0,
            icmpv6_timeout: 30.0,
            gre_timeout: 30.0,
            gre_timeout_stream: 180.0,
            generic_timeout: 600.0,
        }
    }
}

/// Connection status the L4 trackers read and update.
pub(crate) struct L4Ctx {
    pub confirmed: bool,
    pub seen_reply: bool,
    pub assured: bool,
    /// Absolute expiry time; trackers refresh it.
    pub expires: f64,
    pub now: f64,
}

/// An L4 tracker's verdict (`nf_conntrack_handle_packet`).
#[derive(Debug)]
pub(crate) enum L4Verdict {
    /// In-state packet; the tracker updated the entry.
    Accept,
    /// NF_ACCEPT without touching the entry (TCP sIG, out-of-window ignore).
    Ignored(String),
    /// Accept, then delete the entry (TCP: only a RST came back).
    AcceptKill,
    /// -NF_ACCEPT: the packet gets no conntrack, ctstate INVALID.
    Invalid(String),
    /// TCP reopening a closed connection: delete the entry and look up again.
    Repeat,
}

#[derive(Clone, Debug)]
enum L4Data {
    Tcp(TcpConn),
    Udp { stream_ts: f64 },
    Icmp,
    Gre,
    Generic,
}

#[derive(Clone, Debug)]
struct Entry {
    zone: u16,
    tuples: [CtTuple; 2],
    seen_reply: bool,
    assured: bool,
    expires: f64,
    created: f64,
    l4: L4Data,
}

impl Entry {
    fn l4_state(&self) -> Option<&'static str> {
        match &self.l4 {
            L4Data::Tcp(t) => Some(t.state.as_str()),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, Default)]
struct Zone {
    entries: BTreeMap<u64, Entry>,
    index: HashMap<CtTuple, (u64, Direction)>,
}

impl Zone {
    fn remove(&mut self, id: u64) {
        if let Some(e) = self.entries.remove(&id) {
            for t in &e.tuples {
                if self.index.get(t).map(|x| x.0) == Some(id) {
                    self.index.remove(t);
                }
            }
        }
    }

    /// Find a live entry, dropping it if it has expired (`nf_ct_is_expired`).
    fn lookup(&mut self, t: &CtTuple, now: f64) -> Option<(u64, Direction)> {
        let &(id, dir) = self.index.get(t)?;
        let expired = self.entries.get(&id).is_none_or(|e| e.expires <= now);
        if expired {
            self.remove(id);
            return None;
        }
        Some((id, dir))
    }
}

/// The connection tracking table of one network namespace, all zones.
#[derive(Clone, Debug, Default)]
pub struct Conntrack {
    cfg: CtConfig,
    zones: BTreeMap<u16, Zone>,
    pending: HashMap<u64, Entry>,
    next_id: u64,
}

fn is_v4(pkt: &Packet) -> bool {
    pkt.src.is_ipv4()
}

/// ICMPv4 error types (`icmp_is_err`).
fn icmp_is_err(t: u8) -> bool {
    matches!(t, 3 | 4 | 5 | 11 | 12)
}

impl Conntrack {
    pub fn new() -> Self {
        Self::default()
    }

    /// A table with non-default sysctls.
    pub fn with_config(cfg: CtConfig) -> Self {
        Conntrack {
            cfg,
            ..Self::default()
        }
    }

    pub fn config(&self) -> &CtConfig {
        &self.cfg
    }

    /// The outcome for a packet that skips tracking (`-j CT --notrack`).
    pub fn untracked(zone: u16) -> CtOutcome {
        CtOutcome {
            state: CtState::Untracked,
            dir: Direction::Original,
            zone,
            entry: None,
            unconfirmed: false,
            l4_state: None,
            reason: None,
        }
    }

    /// `nf_conntrack_in`: find the entry for `pkt` in `zone` (either direction)
    /// or create an unconfirmed one, run the L4 tracker and return the ctstate
    /// the rules will see.
    pub fn track(&mut self, zone: u16, pkt: &Packet) -> CtOutcome {
        if let Some(out) = self.icmp_error(zone, pkt) {
            return out;
        }
        let tuple = CtTuple::from_packet(pkt);
        let now = pkt.time;
        // At most one repeat: after a reopen the lookup misses.
        for _ in 0..2 {
            let found = self
                .zones
                .get_mut(&zone)
                .and_then(|z| z.lookup(&tuple, now));
            let Some((id, dir)) = found else {
                return self.track_new(zone, tuple, pkt);
            };
            let cfg = &self.cfg;
            let Some(z) = self.zones.get_mut(&zone) else {
                break;
            };
            let Some(e) = z.entries.get_mut(&id) else {
                break;
            };
            // ctinfo from resolve_normal_ct: reply packets and anything after
            // a reply are ESTABLISHED, else NEW (no expectations modelled).
            let state = if dir == Direction::Reply || e.seen_reply {
                CtState::Established
            } else {
                CtState::New
            };
            let mut ctx = L4Ctx {
                confirmed: true,
                seen_reply: e.seen_reply,
                assured: e.assured,
                expires: e.expires,
                now,
            };
            let verdict = run_l4(&mut e.l4, &mut ctx, dir, pkt, cfg);
            e.assured = ctx.assured;
            e.expires = ctx.expires;
            let l4_state = e.l4_state();
            let mut out = CtOutcome {
                state,
                dir,
                zone,
                entry: Some(id),
                unconfirmed: false,
                l4_state,
                reason: None,
            };
            match verdict {
                L4Verdict::Accept | L4Verdict::Ignored(_) => {
                    if let L4Verdict::Ignored(why) = verdict {
                        out.reason = Some(why);
                    }
                    if dir == Direction::Reply {
                        e.seen_reply = true;
                    }
                    return out;
                }
                L4Verdict::AcceptKill => {
                    z.remove(id);
                    out.entry = None;
                    out.reason = Some("only a RST was seen: entry deleted".into());
                    return out;
                }
                L4Verdict::Invalid(why) => return CtOutcome::invalid(zone, why),
                L4Verdict::Repeat => z.remove(id),
            }
        }
        CtOutcome::invalid(zone, "reopen did not create a new entry")
    }

    /// `init_conntrack` + first run of the tracker on an unconfirmed entry.
    fn track_new(&mut self, zone: u16, tuple: CtTuple, pkt: &Packet) -> CtOutcome {
        let Some(reply) = tuple.invert() else {
            return CtOutcome::invalid(zone, "no reply tuple (cannot create a conntrack)");
        };
        let l4 = match pkt.proto {
            proto::TCP => L4Data::Tcp(TcpConn::default()),
            proto::UDP | proto::UDPLITE => L4Data::Udp { stream_ts: 0.0 },
            proto::ICMP | proto::ICMPV6 => L4Data::Icmp,
            proto::GRE => L4Data::Gre,
            _ => L4Data::Generic,
        };
        let mut e = Entry {
            zone,
            tuples: [tuple, reply],
            seen_reply: false,
            assured: false,
            expires: pkt.time,
            created: pkt.time,
            l4,
        };
        let mut ctx = L4Ctx {
            confirmed: false,
            seen_reply: false,
            assured: false,
            expires: pkt.time,
            now: pkt.time,
        };
        let verdict = run_l4(&mut e.l4, &mut ctx, Direction::Original, pkt, &self.cfg);
        match verdict {
            L4Verdict::Accept | L4Verdict::Ignored(_) => {
                e.assured = ctx.assured;
                e.expires = ctx.expires;
                let id = self.next_id;
                self.next_id += 1;
                let l4_state = e.l4_state();
                self.pending.insert(id, e);
                CtOutcome {
                    state: CtState::New,
                    dir: Direction::Original,
                    zone,
                    entry: Some(id),
                    unconfirmed: true,
                    l4_state,
                    reason: match verdict {
                        L4Verdict::Ignored(w) => Some(w),
                        _ => None,
                    },
                }
            }
            L4Verdict::Invalid(why) => CtOutcome::invalid(zone, why),
            L4Verdict::AcceptKill | L4Verdict::Repeat => {
                CtOutcome::invalid(zone, "tracker refused a new entry")
            }
        }
    }

    /// `nf_conntrack_handle_icmp`: errors become RELATED to the quoted
    /// connection (or INVALID); ICMPv6 ND/MLD are untracked. `None`: track
    /// the packet normally.
    fn icmp_error(&mut self, zone: u16, pkt: &Packet) -> Option<CtOutcome> {
        let v4 = is_v4(pkt);
        if pkt.proto == proto::ICMP && v4 {
            if pkt.icmp_type > 18 {
                return Some(CtOutcome::invalid(zone, "invalid icmp type"));
            }
            if !icmp_is_err(pkt.icmp_type) {
                return None;
            }
        } else if pkt.proto == proto::ICMPV6 && !v4 {
            // MLD query/report/done, RS, RA, NS, NA, MLDv2 report: no conntrack.
            if matches!(pkt.icmp_type, 130..=136 | 143) {
                return Some(Self::untracked(zone));
            }
            if pkt.icmp_type >= 128 {
                return None;
            }
        } else {
            return None;
        }
        // nf_conntrack_inet_error
        let Some(inner) = &pkt.inner else {
            return Some(CtOutcome::invalid(zone, "icmp error without quoted header"));
        };
        let Some(want) = CtTuple::from_inner(inner).invert() else {
            return Some(CtOutcome::invalid(zone, "quoted header has no reply tuple"));
        };
        let found = self
            .zones
            .get_mut(&zone)
            .and_then(|z| z.lookup(&want, pkt.time).map(|x| (x, z)));
        let Some(((id, dir), z)) = found else {
            return Some(CtOutcome::invalid(
                zone,
                "icmp error quotes no known connection",
            ));
        };
        let e = z.entries.get(&id)?;
        let ct_daddr = e.tuples[match dir {
            Direction::Original => 0,
            Direction::Reply => 1,
        }]
        .dst;
        if ct_daddr != pkt.dst {
            return Some(CtOutcome::invalid(
                zone,
                format!("outer daddr {} != inner {}", pkt.dst, ct_daddr),
            ));
        }
        Some(CtOutcome {
            state: CtState::Related,
            dir,
            zone,
            entry: Some(id),
            unconfirmed: false,
            l4_state: e.l4_state(),
            reason: None,
        })
    }

    /// `nf_conntrack_confirm`: insert the entry this packet created. On a clash
    /// with an entry confirmed meanwhile the existing one is kept.
    pub fn confirm(&mut self, outcome: &CtOutcome) {
        if !outcome.unconfirmed {
            return;
        }
        let Some(id) = outcome.entry else { return };
        let Some(e) = self.pending.remove(&id) else {
            return;
        };
        let z = self.zones.entry(e.zone).or_default();
        let clash = e.tuples.iter().any(|t| z.lookup(t, e.created).is_some());
        if clash {
            return;
        }
        z.index.insert(e.tuples[0], (id, Direction::Original));
        z.index.insert(e.tuples[1], (id, Direction::Reply));
        z.entries.insert(id, e);
    }

    /// What the Open vSwitch kernel datapath's `ct()` adds after its lookup
    /// (net/openvswitch/conntrack.c `__ovs_ct_lookup`, Linux 5.11 and later,
    /// "Be liberal for tcp packets so that out-of-window packets are not
    /// marked invalid"): a confirmed TCP connection that is ESTABLISHED and
    /// assured (`nf_conntrack_tcp_established`) stops window checking in both
    /// directions. OVN on the kernel datapath calls this after every lookup;
    /// iptables does not.
    pub fn ovs_after_lookup(&mut self, outcome: &CtOutcome) {
        if outcome.unconfirmed {
            return;
        }
        let Some(id) = outcome.entry else { return };
        let Some(e) = self
            .zones
            .get_mut(&outcome.zone)
            .and_then(|z| z.entries.get_mut(&id))
        else {
            return;
        };
        if let L4Data::Tcp(tc) = &mut e.l4 {
            if tc.state == tcp::TcpState::Established && e.assured {
                tc.set_be_liberal();
            }
        }
    }

    /// The packet was dropped: forget its unconfirmed entry. Confirmed entries
    /// keep whatever the tracker already changed, as in the kernel.
    pub fn discard(&mut self, outcome: &CtOutcome) {
        if outcome.unconfirmed {
            if let Some(id) = outcome.entry {
                self.pending.remove(&id);
            }
        }
    }

    /// Live entries at time `now`, by zone then creation order.
    pub fn entries(&self, now: f64) -> Vec<CtEntryView> {
        self.zones
            .values()
            .flat_map(|z| z.entries.values())
            .filter(|e| e.expires > now)
            .map(|e| entry_view(e, now))
            .collect()
    }

    /// The entry an outcome refers to (confirmed or still pending), for traces.
    pub fn view(&self, outcome: &CtOutcome, now: f64) -> Option<CtEntryView> {
        let id = outcome.entry?;
        let e = self.pending.get(&id).or_else(|| {
            self.zones
                .get(&outcome.zone)
                .and_then(|z| z.entries.get(&id))
        })?;
        Some(entry_view(e, now))
    }

    /// Entries created by packets not yet confirmed or discarded.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// `conntrack -F`: drop every entry of every zone.
    pub fn flush(&mut self) {
        self.zones.clear();
        self.pending.clear();
    }
}

fn entry_view(e: &Entry, now: f64) -> CtEntryView {
    CtEntryView {
        zone: e.zone,
        orig: e.tuples[0],
        reply: e.tuples[1],
        l4_state: e.l4_state(),
        timeout: e.expires - now,
        seen_reply: e.seen_reply,
        assured: e.assured,
    }
}

/// `nf_conntrack_handle_packet`: dispatch to the protocol tracker.
fn run_l4(
    l4: &mut L4Data,
    ctx: &mut L4Ctx,
    dir: Direction,
    pkt: &Packet,
    cfg: &CtConfig,
) -> L4Verdict {
    match l4 {
        L4Data::Tcp(tc) => tcp::packet(tc, ctx, dir, pkt, cfg),
        L4Data::Udp { stream_ts } => {
            // nf_conntrack_proto_udp.c, nf_conntrack_udp_packet.
            if !ctx.confirmed {
                *stream_ts = ctx.now + 2.0;
            }
            if ctx.seen_reply {
                // Still active 2 s after creation: a stream, assured.
                let stream = ctx.now > *stream_ts;
                let t = if stream {
                    cfg.udp_timeout_stream
                } else {
                    cfg.udp_timeout
                };
                ctx.expires = ctx.now + t;
                if stream {
                    ctx.assured = true;
                }
            } else {
                ctx.expires = ctx.now + cfg.udp_timeout;
            }
            L4Verdict::Accept
        }
        L4Data::Icmp => {
            // nf_conntrack_proto_icmp.c / icmpv6.c: only queries create entries.
            let v4 = is_v4(pkt);
            if (pkt.proto == proto::ICMP) != v4 {
                return L4Verdict::Invalid("icmp of the wrong family".into());
            }
            if !ctx.confirmed {
                let ok = if v4 {
                    matches!(pkt.icmp_type, 8 | 13 | 15 | 17)
                } else {
                    matches!(pkt.icmp_type, 128 | 139)
                };
                if !ok {
                    return L4Verdict::Invalid(format!(
                        "can't create new conn with type {}",
                        pkt.icmp_type
                    ));
                }
            }
            ctx.expires = ctx.now
                + if v4 {
                    cfg.icmp_timeout
                } else {
                    cfg.icmpv6_timeout
                };
            L4Verdict::Accept
        }
        L4Data::Gre => {
            // nf_conntrack_proto_gre.c: IPv4 only.
            if !is_v4(pkt) {
                return L4Verdict::Invalid("gre over ipv6 is not tracked".into());
            }
            if ctx.seen_reply {
                ctx.expires = ctx.now + cfg.gre_timeout_stream;
                ctx.assured = true;
            } else {
                ctx.expires = ctx.now + cfg.gre_timeout;
            }
            L4Verdict::Accept
        }
        L4Data::Generic => {
            ctx.expires = ctx.now + cfg.generic_timeout;
            L4Verdict::Accept
        }
    }
}
