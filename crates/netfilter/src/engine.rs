//! Moves a packet through the netfilter hooks the way the kernel does and records
//! a TRACE-like path.
//!
//! Hook order (kernel priorities, include/uapi/linux/netfilter_ipv4.h):
//! PREROUTING raw(-300), conntrack(-200), mangle(-150), nat(-100);
//! INPUT mangle, filter, nat; FORWARD mangle, filter;
//! OUTPUT raw, conntrack, mangle, nat, filter; POSTROUTING mangle, nat, then the
//! conntrack confirm (also after INPUT for local delivery).
//! The nat table only sees the packet that creates a conntrack entry.
//! A bridged frame to a group MAC keeps its new entry even when FORWARD drops it:
//! the bridge confirms it when passing the frame up (see `bridge_passes_up`).
//!
//! Two evaluators: [`Engine`] precompiles the ruleset (chain indices, parsed
//! matches, resolved sets); [`eval_naive`] walks the parsed text, resolving chains
//! and sets by name at every step. They must agree (a property test checks it).
//!
//! Unknown matches: a rule whose evaluation reaches a match the model does not
//! know is treated as NOT matching, and the rule is added to
//! [`PacketTrace::unknown`]. Unknown targets are treated as non-terminating
//! (like LOG) and also recorded.

use crate::ipset::IpsetStore;
use crate::ruleset::{
    AddrType, CtOpt, Family, IcmpSpec, MarkOp, MatchOpt, Part, PortDir, Rule, Ruleset, Rulesets,
    StateSet, Table, Target,
};
use crate::trace::{PacketTrace, StepKind, TraceStep};
use conntrack::{Conntrack, CtOutcome, CtState};
use ipnet::IpNet;
use packet::{proto, MacAddr, Packet, PathKind, Verdict};
use std::collections::HashMap;
use std::net::IpAddr;

/// A ruleset the engine cannot load (the kernel would refuse it too).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    #[error("{family:?} table {table}: chain loop through {chain}")]
    Loop {
        family: Family,
        table: String,
        chain: String,
    },
    #[error("{family:?} table {table}: jump to built-in chain {chain}")]
    JumpToBuiltin {
        family: Family,
        table: String,
        chain: String,
    },
}

/// The netfilter hooks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hook {
    Prerouting,
    Input,
    Forward,
    Output,
    Postrouting,
}

impl Hook {
    pub fn chain(self) -> &'static str {
        match self {
            Hook::Prerouting => "PREROUTING",
            Hook::Input => "INPUT",
            Hook::Forward => "FORWARD",
            Hook::Output => "OUTPUT",
            Hook::Postrouting => "POSTROUTING",
        }
    }
}

const BUILTINS: [&str; 5] = ["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"];

/// One step of the hook walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Table(Hook, &'static str),
    /// nat: only for the first packet of a connection.
    Nat(Hook),
    Track,
    Confirm,
}

fn steps(path: PathKind) -> Vec<Step> {
    use Hook::*;
    use Step::*;
    let pre = [
        Table(Prerouting, "raw"),
        Track,
        Table(Prerouting, "mangle"),
        Nat(Prerouting),
    ];
    let post = [Table(Postrouting, "mangle"), Nat(Postrouting), Confirm];
    let fwd = [Table(Forward, "mangle"), Table(Forward, "filter")];
    match path {
        PathKind::Bridged | PathKind::Routed => pre.into_iter().chain(fwd).chain(post).collect(),
        PathKind::LocalIn => pre
            .into_iter()
            .chain([
                Table(Input, "mangle"),
                Table(Input, "filter"),
                Nat(Input),
                Confirm,
            ])
            .collect(),
        PathKind::LocalOut => [
            Table(Output, "raw"),
            Track,
            Table(Output, "mangle"),
            Nat(Output),
            Table(Output, "filter"),
        ]
        .into_iter()
        .chain(post)
        .collect(),
    }
}

/// What the packet looks like at one hook: which devices are known there.
struct View<'p> {
    pkt: &'p Packet,
    in_dev: &'p str,
    out_dev: &'p str,
    phys_in: Option<&'p str>,
    phys_out: Option<&'p str>,
    /// The four names as 16-byte words for [`IfPat`] (kernel-style compare).
    in_bits: u128,
    out_bits: u128,
    phys_in_bits: u128,
    phys_out_bits: u128,
    /// br_netfilter info attached (a bridged frame).
    bridged: bool,
    mark: u32,
    /// iptables state bits (see [`StateSet`]).
    state: u8,
}

impl<'p> View<'p> {
    fn new(pkt: &'p Packet, hook: Hook) -> View<'p> {
        let (has_in, has_out) = match hook {
            Hook::Prerouting | Hook::Input => (true, false),
            Hook::Forward => (true, true),
            Hook::Output | Hook::Postrouting => (false, true),
        };
        let phys_in = if hook == Hook::Output {
            None
        } else {
            pkt.physdev_in.as_deref()
        };
        // The bridge decides the out port after PREROUTING.
        let phys_out = if matches!(hook, Hook::Forward | Hook::Postrouting) {
            pkt.physdev_out.as_deref()
        } else {
            None
        };
        let in_dev = if has_in {
            pkt.in_dev.as_deref().unwrap_or("")
        } else {
            ""
        };
        let out_dev = if has_out {
            pkt.out_dev.as_deref().unwrap_or("")
        } else {
            ""
        };
        View {
            pkt,
            in_dev,
            out_dev,
            phys_in,
            phys_out,
            in_bits: name_bits(in_dev),
            out_bits: name_bits(out_dev),
            phys_in_bits: name_bits(phys_in.unwrap_or("")),
            phys_out_bits: name_bits(phys_out.unwrap_or("")),
            bridged: phys_in.is_some() || phys_out.is_some(),
            mark: 0,
            state: StateSet::INVALID,
        }
    }
}

// ---------------------------------------------------------------- shared predicates

/// The first 16 bytes of an interface name (IFNAMSIZ), zero padded.
fn name_bits(s: &str) -> u128 {
    let mut b = [0u8; 16];
    let n = s.len().min(16);
    b[..n].copy_from_slice(&s.as_bytes()[..n]);
    u128::from_le_bytes(b)
}

/// A precompiled interface pattern: compared as one masked 16-byte word, like
/// the kernel's ifname_compare_aligned (names are at most 15 bytes + NUL).
#[derive(Clone, Debug)]
enum IfPat {
    Fast {
        name: u128,
        mask: u128,
        exact: bool,
    },
    /// Longer than a kernel name: plain string compare.
    Slow(String),
}

impl IfPat {
    fn new(p: &str) -> IfPat {
        let (body, wild) = match p.strip_suffix('+') {
            Some(b) => (b, true),
            None => (p, false),
        };
        // An exact name also compares its terminating NUL.
        let len = body.len() + usize::from(!wild);
        if len > 16 {
            return IfPat::Slow(p.to_string());
        }
        let mask = if len == 16 {
            u128::MAX
        } else {
            (1u128 << (len * 8)) - 1
        };
        IfPat::Fast {
            name: name_bits(body),
            mask,
            exact: !wild,
        }
    }

    /// For an exact name: the only device word that matches.
    fn exact_bits(&self) -> Option<u128> {
        match self {
            IfPat::Fast {
                name, exact: true, ..
            } => Some(*name),
            _ => None,
        }
    }

    fn matches(&self, bits: u128, dev: &str) -> bool {
        match self {
            IfPat::Fast { name, mask, .. } => (bits ^ name) & mask == 0,
            IfPat::Slow(p) => iface_matches(p, dev),
        }
    }
}

/// iptables interface name match: a trailing `+` is a prefix wildcard.
pub fn iface_matches(pattern: &str, dev: &str) -> bool {
    match pattern.strip_suffix('+') {
        Some(prefix) => dev.starts_with(prefix),
        None => pattern == dev,
    }
}

fn has_ports(p: u8) -> bool {
    matches!(
        p,
        proto::TCP | proto::UDP | proto::SCTP | proto::UDPLITE | proto::DCCP
    )
}

fn in_range(p: u16, r: (u16, u16)) -> bool {
    r.0 <= p && p <= r.1
}

fn icmp_matches(spec: &IcmpSpec, pkt: &Packet) -> bool {
    match spec.ty {
        None => true,
        Some(t) => t == pkt.icmp_type && spec.code.is_none_or(|c| c == pkt.icmp_code),
    }
}

fn state_bits(s: CtState) -> u8 {
    match s {
        CtState::New => StateSet::NEW,
        CtState::Established => StateSet::ESTABLISHED,
        CtState::Related => StateSet::RELATED,
        CtState::Invalid => StateSet::INVALID,
        CtState::Untracked => StateSet::UNTRACKED,
    }
}

/// iptables name of a conntrack state.
pub fn ctstate_name(s: CtState) -> &'static str {
    s.as_str()
}

/// Address type as the kernel's routing lookup would give it.
fn addr_type(ip: IpAddr, local: &[IpAddr]) -> AddrType {
    if ip.is_loopback() || local.contains(&ip) {
        return AddrType::Local;
    }
    match ip {
        // inet_addr_type: 0.0.0.0 and 255.255.255.255 are RTN_BROADCAST.
        IpAddr::V4(a) if a.is_broadcast() || a.is_unspecified() => AddrType::Broadcast,
        a if a.is_multicast() => AddrType::Multicast,
        _ => AddrType::Unicast,
    }
}

fn port_of(pkt: &Packet, src: bool) -> Option<(u8, u16)> {
    match pkt.proto {
        proto::ICMP | proto::ICMPV6 => Some((
            pkt.proto,
            u16::from(pkt.icmp_type) << 8 | u16::from(pkt.icmp_code),
        )),
        p if has_ports(p) => Some((p, if src { pkt.sport } else { pkt.dport })),
        _ => None,
    }
}

/// Result of one match: matched, not matched, or reached something unknown.
enum M {
    Yes,
    No,
    Unknown(String),
}

fn b(v: bool) -> M {
    if v {
        M::Yes
    } else {
        M::No
    }
}

/// physdev semantics, kernel net/netfilter/xt_physdev.c physdev_mt: without
/// bridge info an option matches only when negated; `--physdev-in` with no in
/// port is skipped; `--physdev-out` with no out port never matches.
fn physdev_opt(v: &View, which: PhysOpt, neg: bool) -> bool {
    if !v.bridged {
        return neg;
    }
    match which {
        PhysOpt::IsBridged => v.phys_out.is_some() != neg,
        PhysOpt::IsIn => v.phys_in.is_some() != neg,
        PhysOpt::IsOut => v.phys_out.is_some() != neg,
        PhysOpt::In(p) => match v.phys_in {
            Some(d) => p.matches(v.phys_in_bits, d) != neg,
            None => true,
        },
        PhysOpt::Out(p) => match v.phys_out {
            Some(d) => p.matches(v.phys_out_bits, d) != neg,
            None => false,
        },
    }
}

#[derive(Clone, Copy)]
enum PhysOpt<'a> {
    IsBridged,
    IsIn,
    IsOut,
    In(Pat<'a>),
    Out(Pat<'a>),
}

/// An interface pattern as text (naive) or precompiled.
#[derive(Clone, Copy)]
enum Pat<'a> {
    Text(&'a str),
    Compiled(&'a IfPat),
}

impl Pat<'_> {
    fn matches(self, bits: u128, dev: &str) -> bool {
        match self {
            Pat::Text(p) => iface_matches(p, dev),
            Pat::Compiled(p) => p.matches(bits, dev),
        }
    }
}

fn set_key(pkt: &Packet, flags: &[bool]) -> (IpAddr, Option<(u8, u16)>) {
    let ip = if flags.first().copied().unwrap_or(true) {
        pkt.src
    } else {
        pkt.dst
    };
    let port = flags.get(1).and_then(|s| port_of(pkt, *s));
    (ip, port)
}

// ---------------------------------------------------------------- compiled engine

#[derive(Clone, Debug)]
enum CMatch {
    Src(bool, IpNet),
    Dst(bool, IpNet),
    In(bool, IfPat),
    Out(bool, IfPat),
    Proto(bool, Option<u8>),
    Fragment(bool),
    /// Module option that needs the packet's protocol to be this one.
    Sport(bool, (u16, u16), u8),
    Dport(bool, (u16, u16), u8),
    TcpFlags(bool, u8, u8),
    Icmp(bool, IcmpSpec, u8),
    Multiport(bool, PortDir, Vec<(u16, u16)>),
    State(bool, u8),
    Mac(bool, MacAddr),
    PhysIn(bool, IfPat),
    PhysOut(bool, IfPat),
    IsBridged(bool),
    IsIn(bool),
    IsOut(bool),
    Set(bool, usize, Vec<bool>),
    SrcRange(bool, IpAddr, IpAddr),
    DstRange(bool, IpAddr, IpAddr),
    SrcType(bool, Vec<AddrType>),
    DstType(bool, Vec<AddrType>),
    Mark(bool, u32, u32),
    Unknown(String),
}

#[derive(Clone, Debug)]
enum CTarget {
    Continue,
    Accept,
    Drop,
    Return,
    Jump(usize),
    Goto(usize),
    Ct {
        zone: Option<u16>,
        notrack: bool,
        unknown: Option<String>,
    },
    Mark(MarkOp),
    Unknown(String),
}

#[derive(Clone, Debug)]
struct CRule {
    base: Vec<CMatch>,
    mods: Vec<CMatch>,
    target: CTarget,
    text: String,
}

#[derive(Clone, Debug)]
struct CChain {
    name: String,
    /// Some for built-in chains.
    policy: Option<String>,
    rules: Vec<CRule>,
    index: Option<ChainIndex>,
}

/// Device kinds a rule can be keyed on: `-i`, `-o`, `--physdev-in`, `--physdev-out`.
const KEY_KINDS: usize = 4;

/// Per-chain dispatch: rules that require one exact device name (not negated,
/// no wildcard) are filed under that name, so a long chain of per-port rules is
/// narrowed to the few that can match. Rule order is kept by sorting.
#[derive(Clone, Debug, Default)]
struct ChainIndex {
    unkeyed: Vec<u32>,
    keyed: [HashMap<u128, Vec<u32>>; KEY_KINDS],
}

impl ChainIndex {
    fn build(rules: &[CRule]) -> ChainIndex {
        let mut ix = ChainIndex::default();
        for (i, r) in rules.iter().enumerate() {
            // Only matches evaluated before any unknown one may key the rule:
            // skipping the rule must not hide an unknown match it would reach.
            let key = r
                .base
                .iter()
                .chain(&r.mods)
                .take_while(|m| !matches!(m, CMatch::Unknown(_)))
                .find_map(|m| match m {
                    CMatch::In(false, p) => p.exact_bits().map(|b| (0, b)),
                    CMatch::Out(false, p) => p.exact_bits().map(|b| (1, b)),
                    CMatch::PhysIn(false, p) => p.exact_bits().map(|b| (2, b)),
                    CMatch::PhysOut(false, p) => p.exact_bits().map(|b| (3, b)),
                    _ => None,
                });
            match key {
                Some((k, b)) => ix.keyed[k].entry(b).or_default().push(i as u32),
                None => ix.unkeyed.push(i as u32),
            }
        }
        ix
    }

    /// Rules that can match, in order; None to scan the whole chain.
    fn candidates(&self, v: &View) -> Option<Vec<u32>> {
        // Without a physdev-in name a --physdev-in rule may still match (the
        // kernel skips that test): scan everything.
        if v.phys_in.is_none() && !self.keyed[2].is_empty() {
            return None;
        }
        let keys = [
            Some(v.in_bits),
            Some(v.out_bits),
            v.phys_in.map(|_| v.phys_in_bits),
            v.phys_out.map(|_| v.phys_out_bits),
        ];
        let mut out = self.unkeyed.clone();
        for (k, key) in keys.iter().enumerate() {
            if let Some(list) = key.and_then(|b| self.keyed[k].get(&b)) {
                out.extend_from_slice(list);
            }
        }
        out.sort_unstable();
        Some(out)
    }
}

#[derive(Clone, Debug, Default)]
struct CTable {
    name: String,
    chains: Vec<CChain>,
    by_name: HashMap<String, usize>,
}

#[derive(Clone, Debug, Default)]
struct Compiled {
    tables: HashMap<String, CTable>,
}

fn compile_opt(m: &str, o: &MatchOpt, sets: &IpsetStore, out: &mut Vec<CMatch>, rule: &str) {
    let p = match m {
        "tcp" => proto::TCP,
        "udp" => proto::UDP,
        "icmp" => proto::ICMP,
        "icmp6" => proto::ICMPV6,
        _ => 0,
    };
    let c = match o {
        MatchOpt::Sport(n, v) => CMatch::Sport(*n, v.value, p),
        MatchOpt::Dport(n, v) => CMatch::Dport(*n, v.value, p),
        MatchOpt::TcpFlags(n, mk, cp) => CMatch::TcpFlags(*n, mk.value, cp.value),
        MatchOpt::Syn(n) => CMatch::TcpFlags(*n, 0x17, 0x02),
        MatchOpt::IcmpType(n, v) => CMatch::Icmp(*n, v.value, proto::ICMP),
        MatchOpt::Icmp6Type(n, v) => CMatch::Icmp(*n, v.value, proto::ICMPV6),
        MatchOpt::Multiport(n, d, _, v) => CMatch::Multiport(*n, *d, v.value.clone()),
        MatchOpt::State(n, v) => CMatch::State(*n, v.value.0),
        MatchOpt::MacSource(n, v) => CMatch::Mac(*n, v.value),
        MatchOpt::PhysdevIn(n, v) => CMatch::PhysIn(*n, IfPat::new(v)),
        MatchOpt::PhysdevOut(n, v) => CMatch::PhysOut(*n, IfPat::new(v)),
        MatchOpt::PhysdevIsBridged(n) => CMatch::IsBridged(*n),
        MatchOpt::PhysdevIsIn(n) => CMatch::IsIn(*n),
        MatchOpt::PhysdevIsOut(n) => CMatch::IsOut(*n),
        MatchOpt::MatchSet(n, name, fl) => match sets.index_of(name) {
            Some(i) => CMatch::Set(*n, i, fl.value.clone()),
            None => CMatch::Unknown(format!("ipset {name} does not exist: {rule}")),
        },
        MatchOpt::Comment(_) => return,
        MatchOpt::SrcRange(n, v) => CMatch::SrcRange(*n, v.value.0, v.value.1),
        MatchOpt::DstRange(n, v) => CMatch::DstRange(*n, v.value.0, v.value.1),
        MatchOpt::SrcType(n, v) => CMatch::SrcType(*n, v.value.clone()),
        MatchOpt::DstType(n, v) => CMatch::DstType(*n, v.value.clone()),
        MatchOpt::Mark(n, v) => CMatch::Mark(*n, v.value.0, v.value.1),
        MatchOpt::Raw(t) => CMatch::Unknown(unknown_match_text(m, &t.join(" "), rule)),
    };
    out.push(c);
}

fn unknown_match_text(module: &str, opt: &str, rule: &str) -> String {
    if opt.is_empty() {
        format!("match -m {module}: {rule}")
    } else {
        format!("match -m {module} {opt}: {rule}")
    }
}

fn target_unknown_text(t: &Target, rule: &str) -> String {
    format!("target {t}: {rule}")
}

fn compile_table(t: &Table, sets: &IpsetStore, fam: Family) -> Result<CTable, EngineError> {
    let mut ct = CTable {
        name: t.name.clone(),
        ..Default::default()
    };
    for c in t.chains() {
        ct.by_name.insert(c.name.clone(), ct.chains.len());
        ct.chains.push(CChain {
            name: c.name.clone(),
            policy: c.policy.clone(),
            rules: Vec::new(),
            index: None,
        });
    }
    for r in t.rules() {
        let text = r.text();
        let mut base = Vec::new();
        let mut mods = Vec::new();
        let mut target = CTarget::Continue;
        for p in &r.parts {
            match p {
                Part::Src(n, v) => base.push(CMatch::Src(*n, v.value)),
                Part::Dst(n, v) => base.push(CMatch::Dst(*n, v.value)),
                Part::InIface(n, v) => base.push(CMatch::In(*n, IfPat::new(v))),
                Part::OutIface(n, v) => base.push(CMatch::Out(*n, IfPat::new(v))),
                Part::Proto(n, v) => base.push(CMatch::Proto(*n, v.value)),
                Part::Fragment(n) => base.push(CMatch::Fragment(*n)),
                Part::Module(m) => {
                    if m.opts.is_empty() && !m.is_known() {
                        mods.push(CMatch::Unknown(unknown_match_text(&m.name, "", &text)));
                    }
                    for o in &m.opts {
                        compile_opt(&m.name, o, sets, &mut mods, &text);
                    }
                }
                Part::Goto(c) => {
                    target = match ct.by_name.get(c) {
                        Some(&i) => CTarget::Goto(i),
                        None => CTarget::Unknown(format!("goto {c} (no such chain): {text}")),
                    }
                }
                Part::Jump(t) => target = compile_target(t, &ct, &text),
            }
        }
        if let CTarget::Jump(i) | CTarget::Goto(i) = target {
            if ct.chains[i].policy.is_some() || BUILTINS.contains(&ct.chains[i].name.as_str()) {
                return Err(EngineError::JumpToBuiltin {
                    family: fam,
                    table: t.name.clone(),
                    chain: ct.chains[i].name.clone(),
                });
            }
        }
        let Some(&ci) = ct.by_name.get(&r.chain) else {
            continue;
        };
        ct.chains[ci].rules.push(CRule {
            base,
            mods,
            target,
            text,
        });
    }
    check_loops(&ct, fam)?;
    Ok(ct)
}

fn compile_target(t: &Target, ct: &CTable, text: &str) -> CTarget {
    match t {
        Target::Accept => CTarget::Accept,
        Target::Drop | Target::Reject(_) => CTarget::Drop,
        Target::Return => CTarget::Return,
        Target::Chain(c) => match ct.by_name.get(c) {
            Some(&i) => CTarget::Jump(i),
            None => CTarget::Unknown(target_unknown_text(t, text)),
        },
        Target::Ct(opts) => {
            let mut zone = None;
            let mut notrack = false;
            let mut unknown = None;
            for o in opts {
                match o {
                    CtOpt::Zone(z) => zone = Some(z.value),
                    CtOpt::Notrack => notrack = true,
                    CtOpt::Raw(r) => unknown = Some(format!("CT option {}: {text}", r.join(" "))),
                }
            }
            CTarget::Ct {
                zone,
                notrack,
                unknown,
            }
        }
        Target::Notrack => CTarget::Ct {
            zone: None,
            notrack: true,
            unknown: None,
        },
        Target::Log(_) | Target::Trace => CTarget::Continue,
        Target::Mark(op) => CTarget::Mark(op.clone()),
        Target::Other(..) => CTarget::Unknown(target_unknown_text(t, text)),
    }
}

fn check_loops(t: &CTable, fam: Family) -> Result<(), EngineError> {
    // 0 = unvisited, 1 = on stack, 2 = done
    fn dfs(t: &CTable, i: usize, st: &mut [u8]) -> Option<usize> {
        st[i] = 1;
        for r in &t.chains[i].rules {
            if let CTarget::Jump(j) | CTarget::Goto(j) = r.target {
                match st[j] {
                    1 => return Some(j),
                    0 => {
                        if let Some(x) = dfs(t, j, st) {
                            return Some(x);
                        }
                    }
                    _ => {}
                }
            }
        }
        st[i] = 2;
        None
    }
    let mut st = vec![0u8; t.chains.len()];
    for i in 0..t.chains.len() {
        if st[i] == 0 {
            if let Some(c) = dfs(t, i, &mut st) {
                return Err(EngineError::Loop {
                    family: fam,
                    table: t.name.clone(),
                    chain: t.chains[c].name.clone(),
                });
            }
        }
    }
    Ok(())
}

/// Precompiled rulesets (IPv4 and IPv6) with their ipsets, ready to evaluate.
#[derive(Clone, Debug)]
pub struct Engine {
    v4: Compiled,
    v6: Compiled,
    ipsets: IpsetStore,
    local_ips: Vec<IpAddr>,
}

/// Chains with at least this many rules get a [`ChainIndex`].
const DEFAULT_INDEX_THRESHOLD: usize = 16;

impl Compiled {
    fn reindex(&mut self, threshold: usize) {
        for t in self.tables.values_mut() {
            for c in &mut t.chains {
                c.index = (c.rules.len() >= threshold).then(|| ChainIndex::build(&c.rules));
            }
        }
    }
}

/// A chain being walked: index, candidate rules (None: all), next position.
type Frame = (usize, Option<Vec<u32>>, usize);

/// What a table traversal decided.
enum TableVerdict {
    Accept,
    Drop,
}

/// Mutable per-packet state across tables.
struct Walk {
    path: Vec<TraceStep>,
    unknown: Vec<String>,
    /// CT template set in raw: (zone, notrack).
    ct_set: bool,
    zone: u16,
    notrack: bool,
}

impl Walk {
    fn unknown(&mut self, s: String) {
        if !self.unknown.contains(&s) {
            self.unknown.push(s);
        }
    }
}

impl Engine {
    /// Compile both families. `ipsets` is cloned into the engine.
    pub fn new(rules: &Rulesets, ipsets: &IpsetStore) -> Result<Engine, EngineError> {
        let compile = |r: &Ruleset, fam| -> Result<Compiled, EngineError> {
            let mut c = Compiled::default();
            for t in r.tables() {
                c.tables
                    .entry(t.name.clone())
                    .or_insert(compile_table(t, ipsets, fam)?);
            }
            Ok(c)
        };
        Ok(Engine {
            v4: compile(&rules.v4, Family::V4)?,
            v6: compile(&rules.v6, Family::V6)?,
            ipsets: ipsets.clone(),
            local_ips: Vec::new(),
        }
        .with_index_threshold(DEFAULT_INDEX_THRESHOLD))
    }

    /// Index chains with at least `n` rules by exact device name (0: every
    /// chain; `usize::MAX`: none). Results never depend on it, only speed.
    pub fn with_index_threshold(mut self, n: usize) -> Engine {
        self.v4.reindex(n);
        self.v6.reindex(n);
        self
    }

    /// The host's own addresses, for `-m addrtype` LOCAL.
    pub fn with_local_ips(mut self, ips: Vec<IpAddr>) -> Engine {
        self.local_ips = ips;
        self
    }

    /// Evaluate one packet; conntrack state carries over between calls.
    pub fn eval(&self, ct: &mut Conntrack, pkt: &Packet, path: PathKind) -> PacketTrace {
        let rules = if pkt.is_v6() { &self.v6 } else { &self.v4 };
        run_hooks(ct, pkt, path, |hook, table, view, walk| {
            let t = rules.tables.get(table)?;
            let &ci = t.by_name.get(hook.chain())?;
            Some(self.run_table(t, ci, view, walk))
        })
    }

    fn matches(&self, m: &CMatch, v: &View) -> M {
        let p = v.pkt;
        match m {
            CMatch::Src(n, net) => b(net.contains(&p.src) != *n),
            CMatch::Dst(n, net) => b(net.contains(&p.dst) != *n),
            CMatch::In(n, pat) => b(pat.matches(v.in_bits, v.in_dev) != *n),
            CMatch::Out(n, pat) => b(pat.matches(v.out_bits, v.out_dev) != *n),
            CMatch::Proto(n, pr) => b(pr.is_none_or(|x| x == p.proto) != *n),
            CMatch::Fragment(n) => b(*n),
            CMatch::Sport(n, r, pr) => b(p.proto == *pr && in_range(p.sport, *r) != *n),
            CMatch::Dport(n, r, pr) => b(p.proto == *pr && in_range(p.dport, *r) != *n),
            CMatch::TcpFlags(n, mk, cp) => {
                b(p.proto == proto::TCP && ((p.tcp_flags & mk) == *cp) != *n)
            }
            CMatch::Icmp(n, s, pr) => b(p.proto == *pr && icmp_matches(s, p) != *n),
            CMatch::Multiport(n, d, list) => {
                if !has_ports(p.proto) {
                    return M::No;
                }
                let hit = list.iter().any(|r| match d {
                    PortDir::Src => in_range(p.sport, *r),
                    PortDir::Dst => in_range(p.dport, *r),
                    PortDir::Either => in_range(p.sport, *r) || in_range(p.dport, *r),
                });
                b(hit != *n)
            }
            CMatch::State(n, s) => b((s & v.state != 0) != *n),
            CMatch::Mac(n, mac) => b((p.src_mac == Some(*mac)) != *n),
            CMatch::PhysIn(n, d) => b(physdev_opt(v, PhysOpt::In(Pat::Compiled(d)), *n)),
            CMatch::PhysOut(n, d) => b(physdev_opt(v, PhysOpt::Out(Pat::Compiled(d)), *n)),
            CMatch::IsBridged(n) => b(physdev_opt(v, PhysOpt::IsBridged, *n)),
            CMatch::IsIn(n) => b(physdev_opt(v, PhysOpt::IsIn, *n)),
            CMatch::IsOut(n) => b(physdev_opt(v, PhysOpt::IsOut, *n)),
            CMatch::Set(n, i, flags) => {
                let (ip, port) = set_key(p, flags);
                b(self.ipsets.contains_idx(*i, ip, port) != *n)
            }
            CMatch::SrcRange(n, a, z) => {
                b((p.src >= *a && p.src <= *z && same_fam(a, &p.src)) != *n)
            }
            CMatch::DstRange(n, a, z) => {
                b((p.dst >= *a && p.dst <= *z && same_fam(a, &p.dst)) != *n)
            }
            CMatch::SrcType(n, ts) => b(ts.contains(&addr_type(p.src, &self.local_ips)) != *n),
            CMatch::DstType(n, ts) => b(ts.contains(&addr_type(p.dst, &self.local_ips)) != *n),
            CMatch::Mark(n, val, mask) => b((v.mark & mask == *val) != *n),
            CMatch::Unknown(s) => M::Unknown(s.clone()),
        }
    }

    fn rule_matches(&self, r: &CRule, v: &View, walk: &mut Walk) -> bool {
        for m in r.base.iter().chain(&r.mods) {
            match self.matches(m, v) {
                M::Yes => {}
                M::No => return false,
                M::Unknown(s) => {
                    walk.unknown(s);
                    return false;
                }
            }
        }
        true
    }

    fn run_table(&self, t: &CTable, start: usize, v: &mut View, walk: &mut Walk) -> TableVerdict {
        // Frames: chain, its candidate rules (None: all), next position; a goto
        // replaces the top frame.
        let frame = |ci: usize, v: &View| -> Frame {
            let cand = t.chains[ci].index.as_ref().and_then(|ix| ix.candidates(v));
            (ci, cand, 0)
        };
        let mut stack: Vec<Frame> = vec![frame(start, v)];
        loop {
            let Some((ci, cand, pos)) = stack.last_mut() else {
                return TableVerdict::Accept;
            };
            let ci = *ci;
            let chain = &t.chains[ci];
            let ri = match cand {
                None => Some(*pos),
                Some(c) => c.get(*pos).map(|&r| r as usize),
            };
            *pos = pos.saturating_add(1);
            let Some((ri, rule)) = ri.and_then(|ri| chain.rules.get(ri).map(|r| (ri, r))) else {
                let n = chain.rules.len() + 1;
                if stack.len() == 1 {
                    return policy_step(
                        &t.name,
                        chain.name.as_str(),
                        chain.policy.as_deref(),
                        n,
                        walk,
                    );
                }
                walk.path.push(step(
                    &t.name,
                    &chain.name,
                    StepKind::Return,
                    n,
                    String::new(),
                ));
                stack.pop();
                continue;
            };
            let num = ri + 1;
            if !self.rule_matches(rule, v, walk) {
                continue;
            }
            walk.path.push(step(
                &t.name,
                &chain.name,
                StepKind::Rule,
                num,
                rule.text.clone(),
            ));
            match &rule.target {
                CTarget::Continue => {}
                CTarget::Accept => return TableVerdict::Accept,
                CTarget::Drop => return TableVerdict::Drop,
                CTarget::Return => {
                    if stack.len() == 1 {
                        let n = chain.rules.len() + 1;
                        return policy_step(
                            &t.name,
                            chain.name.as_str(),
                            chain.policy.as_deref(),
                            n,
                            walk,
                        );
                    }
                    stack.pop();
                }
                CTarget::Jump(j) => stack.push(frame(*j, v)),
                CTarget::Goto(j) => {
                    if stack.len() == 1 {
                        // Goto from a built-in chain: its end leads to the policy.
                        stack[0].1 = None;
                        stack[0].2 = usize::MAX;
                        stack.push(frame(*j, v));
                    } else {
                        let top = stack.len() - 1;
                        stack[top] = frame(*j, v);
                    }
                }
                CTarget::Ct {
                    zone,
                    notrack,
                    unknown,
                } => apply_ct(*zone, *notrack, unknown.clone(), v, walk),
                CTarget::Mark(op) => v.mark = op.apply(v.mark),
                CTarget::Unknown(s) => walk.unknown(s.clone()),
            }
        }
    }
}

fn same_fam(a: &IpAddr, b: &IpAddr) -> bool {
    a.is_ipv4() == b.is_ipv4()
}

fn step(table: &str, chain: &str, kind: StepKind, n: usize, text: String) -> TraceStep {
    TraceStep {
        table: table.to_string(),
        chain: chain.to_string(),
        kind,
        rule_num: n,
        rule_text: text,
    }
}

fn policy_step(
    table: &str,
    chain: &str,
    policy: Option<&str>,
    n: usize,
    walk: &mut Walk,
) -> TableVerdict {
    let pol = policy.unwrap_or("ACCEPT");
    walk.path
        .push(step(table, chain, StepKind::Policy, n, pol.to_string()));
    if pol == "DROP" {
        TableVerdict::Drop
    } else {
        TableVerdict::Accept
    }
}

/// CT/NOTRACK: the first CT target to run attaches the template; later ones are
/// ignored (kernel net/netfilter/xt_CT.c: skb already has a ct -> XT_CONTINUE).
fn apply_ct(
    zone: Option<u16>,
    notrack: bool,
    unknown: Option<String>,
    v: &mut View,
    walk: &mut Walk,
) {
    if let Some(u) = unknown {
        walk.unknown(u);
    }
    if walk.ct_set {
        return;
    }
    walk.ct_set = true;
    if notrack {
        walk.notrack = true;
        v.state = StateSet::UNTRACKED;
    } else {
        if let Some(z) = zone {
            walk.zone = z;
        }
        // A CT template is attached as IP_CT_NEW, so later raw rules see NEW
        // (net/netfilter/xt_CT.c, xt_ct_target: nf_ct_set(skb, ct, IP_CT_NEW)).
        v.state = StateSet::NEW;
    }
}

/// A bridge floods a frame to a group MAC (multicast or broadcast) and also
/// passes it up to its own stack, after the flooded copies went through FORWARD
/// and POSTROUTING (kernel net/bridge/br_input.c, br_handle_frame_finish:
/// br_flood, then br_pass_frame_up). At the bridge's LOCAL_IN, br_nf_local_in
/// confirms the still unconfirmed conntrack entry of a non-PACKET_HOST frame
/// (net/bridge/br_netfilter_hooks.c, since v6.8 commit 62e7151ae3eb). So the
/// entry survives a DROP in FORWARD or POSTROUTING; a PREROUTING DROP frees the
/// frame before it is flooded or passed up. Not modelled: a bridge in promiscuous
/// mode (br_nf_local_in then resets the ct) and multicast snooping with a querier.
fn bridge_passes_up(pkt: &Packet, path: PathKind) -> bool {
    path == PathKind::Bridged && pkt.dst_mac.is_some_and(|m| m.0[0] & 1 == 1)
}

/// Walk the hooks of `path`, calling `table` for each table traversal; shared by
/// both evaluators so they differ only in how a table is evaluated.
fn run_hooks<F>(ct: &mut Conntrack, pkt: &Packet, path: PathKind, mut table: F) -> PacketTrace
where
    F: FnMut(Hook, &str, &mut View, &mut Walk) -> Option<TableVerdict>,
{
    let mut walk = Walk {
        path: Vec::new(),
        unknown: Vec::new(),
        ct_set: false,
        zone: 0,
        notrack: false,
    };
    let mut mark = pkt.mark;
    let mut state = StateSet::INVALID;
    let mut outcome: Option<CtOutcome> = None;
    let mut ctstate = String::new();
    let mut ct_reason = None;
    let mut verdict = Verdict::Accept;
    for s in steps(path) {
        let (hook, name) = match s {
            Step::Track => {
                let o = if walk.notrack {
                    Conntrack::untracked(walk.zone)
                } else {
                    ct.track(walk.zone, pkt)
                };
                state = state_bits(o.state);
                ctstate = ctstate_name(o.state).to_string();
                ct_reason = o.reason().map(str::to_string);
                outcome = Some(o);
                continue;
            }
            Step::Confirm => {
                if let Some(o) = &outcome {
                    if o.state != CtState::Untracked {
                        ct.confirm(o);
                    }
                }
                continue;
            }
            Step::Nat(h) => {
                // TODO: NAT bindings (DNAT/SNAT rewriting) are not modelled; the nat
                // chains are only evaluated for their verdict and trace.
                // Only the packet that created the conntrack entry meets the nat
                // chains (nf_nat_inet_fn: nat bindings are set up once, while the
                // entry is unconfirmed); a NEW packet of an existing entry skips them.
                if !outcome.as_ref().is_some_and(|o| o.is_unconfirmed()) {
                    continue;
                }
                (h, "nat")
            }
            Step::Table(h, n) => (h, n),
        };
        let mut view = View::new(pkt, hook);
        view.mark = mark;
        view.state = match (&outcome, walk.notrack, walk.ct_set) {
            (None, true, _) => StateSet::UNTRACKED,
            (None, false, true) => StateSet::NEW,
            _ => state,
        };
        let r = table(hook, name, &mut view, &mut walk);
        mark = view.mark;
        if let Some(TableVerdict::Drop) = r {
            verdict = Verdict::Drop;
            if let Some(o) = &outcome {
                if o.state != CtState::Untracked {
                    if hook != Hook::Prerouting && bridge_passes_up(pkt, path) {
                        ct.confirm(o);
                    } else {
                        ct.discard(o);
                    }
                }
            }
            break;
        }
    }
    PacketTrace {
        verdict,
        path: walk.path,
        ctstate,
        ct_reason,
        zone: walk.zone,
        unknown: walk.unknown,
    }
}

// ---------------------------------------------------------------- naive evaluator

/// Reference evaluator: walks the parsed ruleset directly, finding each chain's
/// rules and each set by name every time. Slow on purpose (benchmark baseline,
/// test oracle). `rules` must be the ruleset of the packet's family.
pub fn eval_naive(
    rules: &Ruleset,
    ipsets: &IpsetStore,
    ct: &mut Conntrack,
    pkt: &Packet,
    path: PathKind,
    local_ips: &[IpAddr],
) -> PacketTrace {
    run_hooks(ct, pkt, path, |hook, table, view, walk| {
        let t = rules.table(table)?;
        t.chain(hook.chain())?;
        let n = Naive {
            t,
            ipsets,
            local_ips,
        };
        Some(match n.chain(hook.chain(), view, walk, 0) {
            NaiveEnd::Drop => TableVerdict::Drop,
            NaiveEnd::Accept => TableVerdict::Accept,
            NaiveEnd::FellOff => {
                let count = n.rules_of(hook.chain()).count();
                let pol = t.chain(hook.chain()).and_then(|c| c.policy.as_deref());
                policy_step(&t.name, hook.chain(), pol, count + 1, walk)
            }
        })
    })
}

enum NaiveEnd {
    Accept,
    Drop,
    /// Fell off the end or RETURNed (the caller decides what that means).
    FellOff,
}

struct Naive<'a> {
    t: &'a Table,
    ipsets: &'a IpsetStore,
    local_ips: &'a [IpAddr],
}

const MAX_DEPTH: usize = 256;

impl<'a> Naive<'a> {
    fn rules_of(&self, chain: &'a str) -> impl Iterator<Item = &'a Rule> + 'a {
        self.t.rules().filter(move |r| r.chain == chain)
    }

    fn is_chain(&self, name: &str) -> bool {
        self.t.chains().any(|c| c.name == name)
    }

    fn chain(&self, name: &str, v: &mut View, walk: &mut Walk, depth: usize) -> NaiveEnd {
        if depth > MAX_DEPTH {
            walk.unknown(format!("chain nesting deeper than {MAX_DEPTH} at {name}"));
            return NaiveEnd::Drop;
        }
        let rules: Vec<&Rule> = self.t.rules().filter(|r| r.chain == name).collect();
        let builtin = depth == 0;
        for (i, r) in rules.iter().enumerate() {
            if !self.rule_matches(r, v, walk) {
                continue;
            }
            let text = r.text();
            walk.path.push(step(
                &self.t.name,
                name,
                StepKind::Rule,
                i + 1,
                text.clone(),
            ));
            if let Some(g) = r.goto() {
                if self.is_chain(g) {
                    return match self.chain(g, v, walk, depth + 1) {
                        NaiveEnd::FellOff if builtin => NaiveEnd::FellOff,
                        e => e,
                    };
                }
                walk.unknown(format!("goto {g} (no such chain): {text}"));
                continue;
            }
            match r.target() {
                None | Some(Target::Log(_)) | Some(Target::Trace) => {}
                Some(Target::Accept) => return NaiveEnd::Accept,
                Some(Target::Drop) | Some(Target::Reject(_)) => return NaiveEnd::Drop,
                Some(Target::Return) => return NaiveEnd::FellOff,
                Some(Target::Chain(c)) if self.is_chain(c) => {
                    match self.chain(c, v, walk, depth + 1) {
                        NaiveEnd::FellOff => {}
                        e => return e,
                    }
                }
                Some(Target::Ct(opts)) => {
                    let mut zone = None;
                    let mut notrack = false;
                    let mut unknown = None;
                    for o in opts {
                        match o {
                            CtOpt::Zone(z) => zone = Some(z.value),
                            CtOpt::Notrack => notrack = true,
                            CtOpt::Raw(raw) => {
                                unknown = Some(format!("CT option {}: {text}", raw.join(" ")))
                            }
                        }
                    }
                    apply_ct(zone, notrack, unknown, v, walk);
                }
                Some(Target::Notrack) => apply_ct(None, true, None, v, walk),
                Some(Target::Mark(op)) => v.mark = op.apply(v.mark),
                Some(t) => walk.unknown(target_unknown_text(t, &text)),
            }
        }
        if !builtin {
            walk.path.push(step(
                &self.t.name,
                name,
                StepKind::Return,
                rules.len() + 1,
                String::new(),
            ));
        }
        NaiveEnd::FellOff
    }

    fn rule_matches(&self, r: &Rule, v: &View, walk: &mut Walk) -> bool {
        let p = v.pkt;
        let text = r.text();
        // Base matches (the ipt_ip part) first, like the kernel.
        for part in &r.parts {
            let ok = match part {
                Part::Src(n, a) => a.value.contains(&p.src) != *n,
                Part::Dst(n, a) => a.value.contains(&p.dst) != *n,
                Part::InIface(n, i) => iface_matches(i, v.in_dev) != *n,
                Part::OutIface(n, i) => iface_matches(i, v.out_dev) != *n,
                Part::Proto(n, pr) => pr.value.is_none_or(|x| x == p.proto) != *n,
                Part::Fragment(n) => *n,
                _ => true,
            };
            if !ok {
                return false;
            }
        }
        for part in &r.parts {
            let Part::Module(m) = part else { continue };
            if m.opts.is_empty() && !m.is_known() {
                walk.unknown(unknown_match_text(&m.name, "", &text));
                return false;
            }
            for o in &m.opts {
                match self.opt(&m.name, o, v, &text) {
                    M::Yes => {}
                    M::No => return false,
                    M::Unknown(s) => {
                        walk.unknown(s);
                        return false;
                    }
                }
            }
        }
        true
    }

    fn opt(&self, module: &str, o: &MatchOpt, v: &View, text: &str) -> M {
        let p = v.pkt;
        let proto_ok = match module {
            "tcp" => p.proto == proto::TCP,
            "udp" => p.proto == proto::UDP,
            "icmp" => p.proto == proto::ICMP,
            "icmp6" => p.proto == proto::ICMPV6,
            _ => true,
        };
        let r = match o {
            MatchOpt::Sport(n, r) => proto_ok && in_range(p.sport, r.value) != *n,
            MatchOpt::Dport(n, r) => proto_ok && in_range(p.dport, r.value) != *n,
            MatchOpt::TcpFlags(n, mk, cp) => {
                p.proto == proto::TCP && ((p.tcp_flags & mk.value) == cp.value) != *n
            }
            MatchOpt::Syn(n) => p.proto == proto::TCP && ((p.tcp_flags & 0x17) == 0x02) != *n,
            MatchOpt::IcmpType(n, s) => p.proto == proto::ICMP && icmp_matches(&s.value, p) != *n,
            MatchOpt::Icmp6Type(n, s) => {
                p.proto == proto::ICMPV6 && icmp_matches(&s.value, p) != *n
            }
            MatchOpt::Multiport(n, d, _, list) => {
                has_ports(p.proto)
                    && list.value.iter().any(|r| match d {
                        PortDir::Src => in_range(p.sport, *r),
                        PortDir::Dst => in_range(p.dport, *r),
                        PortDir::Either => in_range(p.sport, *r) || in_range(p.dport, *r),
                    }) != *n
            }
            MatchOpt::State(n, s) => (s.value.0 & v.state != 0) != *n,
            MatchOpt::MacSource(n, m) => (p.src_mac == Some(m.value)) != *n,
            MatchOpt::PhysdevIn(n, d) => physdev_opt(v, PhysOpt::In(Pat::Text(d)), *n),
            MatchOpt::PhysdevOut(n, d) => physdev_opt(v, PhysOpt::Out(Pat::Text(d)), *n),
            MatchOpt::PhysdevIsBridged(n) => physdev_opt(v, PhysOpt::IsBridged, *n),
            MatchOpt::PhysdevIsIn(n) => physdev_opt(v, PhysOpt::IsIn, *n),
            MatchOpt::PhysdevIsOut(n) => physdev_opt(v, PhysOpt::IsOut, *n),
            MatchOpt::MatchSet(n, name, fl) => {
                let (ip, port) = set_key(p, &fl.value);
                match self.ipsets.contains_naive(name, ip, port) {
                    Some(hit) => hit != *n,
                    None => return M::Unknown(format!("ipset {name} does not exist: {text}")),
                }
            }
            MatchOpt::Comment(_) => true,
            MatchOpt::SrcRange(n, r) => {
                let (a, z) = r.value;
                (same_fam(&a, &p.src) && a <= p.src && p.src <= z) != *n
            }
            MatchOpt::DstRange(n, r) => {
                let (a, z) = r.value;
                (same_fam(&a, &p.dst) && a <= p.dst && p.dst <= z) != *n
            }
            MatchOpt::SrcType(n, t) => t.value.contains(&addr_type(p.src, self.local_ips)) != *n,
            MatchOpt::DstType(n, t) => t.value.contains(&addr_type(p.dst, self.local_ips)) != *n,
            MatchOpt::Mark(n, m) => (v.mark & m.value.1 == m.value.0) != *n,
            MatchOpt::Raw(t) => return M::Unknown(unknown_match_text(module, &t.join(" "), text)),
        };
        b(r)
    }
}

// ---------------------------------------------------------------- convenience

/// Error of [`trace_packets`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("rules: {0}")]
    Rules(crate::ruleset::ParseError),
    #[error("ipsets: {0}")]
    Ipsets(crate::ruleset::ParseError),
    #[error("packets: {0}")]
    Packets(#[from] packet::KvError),
    #[error("rules: {0}")]
    Load(#[from] EngineError),
}

/// Parse rules (iptables-save, optionally followed by ip6tables-save), ipsets and
/// packets, then evaluate the packets in order with one shared conntrack. Each
/// packet uses the ruleset of its family (an empty one, i.e. all ACCEPT, if the
/// text has none).
pub fn trace_packets(
    rules_text: &str,
    ipsets_text: Option<&str>,
    packets_text: &str,
) -> Result<Vec<(Packet, PacketTrace)>, Error> {
    let rules = Rulesets::parse(rules_text).map_err(Error::Rules)?;
    let sets = match ipsets_text {
        Some(t) => IpsetStore::parse(t).map_err(Error::Ipsets)?,
        None => IpsetStore::default(),
    };
    let pkts = packet::parse_packets(packets_text)?;
    let engine = Engine::new(&rules, &sets)?;
    let mut ct = Conntrack::new();
    Ok(pkts
        .into_iter()
        .map(|(p, path)| {
            let t = engine.eval(&mut ct, &p, path);
            (p, t)
        })
        .collect())
}

/// Human-readable trace:
/// ```text
///   raw:PREROUTING:rule:1  -A PREROUTING -m physdev ... -j CT --zone 4097
///   filter:neutron-openvswi-s11111111-2:rule:3  -A ... -j DROP
/// verdict: DROP (ctstate NEW, zone 4097)
/// ```
pub fn format_trace(trace: &PacketTrace) -> String {
    let mut s = String::new();
    for st in &trace.path {
        let kind = match st.kind {
            StepKind::Rule => "rule",
            StepKind::Return => "return",
            StepKind::Policy => "policy",
        };
        s.push_str(&format!(
            "  {}:{}:{}:{}",
            st.table, st.chain, kind, st.rule_num
        ));
        if !st.rule_text.is_empty() {
            s.push_str("  ");
            s.push_str(&st.rule_text);
        }
        s.push('\n');
    }
    for u in &trace.unknown {
        s.push_str(&format!("  unknown: {u}\n"));
    }
    let v = match trace.verdict {
        Verdict::Accept => "ACCEPT",
        Verdict::Drop => "DROP",
    };
    let cts = if trace.ctstate.is_empty() {
        "none"
    } else {
        trace.ctstate.as_str()
    };
    let why = trace
        .ct_reason
        .as_deref()
        .map(|r| format!(": {r}"))
        .unwrap_or_default();
    s.push_str(&format!(
        "verdict: {v} (ctstate {cts}{why}, zone {})\n",
        trace.zone
    ));
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn masked_name_compare_equals_string_compare(
            dev in "[ab0-]{0,18}",
            pat in "[ab0-]{0,18}\\+?",
        ) {
            let fast = IfPat::new(&pat).matches(name_bits(&dev), &dev);
            prop_assert_eq!(fast, iface_matches(&pat, &dev), "{} vs {}", pat, dev);
        }
    }

    #[test]
    fn name_patterns() {
        let m = |p: &str, d: &str| IfPat::new(p).matches(name_bits(d), d);
        assert!(m("tap11111111-22", "tap11111111-22"));
        assert!(!m("tap11111111-2", "tap11111111-22"));
        assert!(m("tap+", "tap11111111-22"));
        assert!(m("+", ""));
        assert!(!m("eth0", ""));
    }
}
