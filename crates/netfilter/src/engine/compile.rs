//! Loading a ruleset: chains resolved to indices, matches and targets
//! precompiled, per-device chain indices, loop checks; the kernel's
//! `translate_table` / `mark_source_chains` in `ip_tables.c` and `x_tables.c`.

use super::*;

// ---------------------------------------------------------------- compiled engine

#[derive(Clone, Debug)]
pub(super) enum CMatch {
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
pub(super) enum CTarget {
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
pub(super) struct CRule {
    pub(super) base: Vec<CMatch>,
    pub(super) mods: Vec<CMatch>,
    pub(super) target: CTarget,
    pub(super) text: String,
}

#[derive(Clone, Debug)]
pub(super) struct CChain {
    pub(super) name: String,
    /// Some for built-in chains.
    pub(super) policy: Option<String>,
    pub(super) rules: Vec<CRule>,
    pub(super) index: Option<ChainIndex>,
}

/// Device kinds a rule can be keyed on: `-i`, `-o`, `--physdev-in`, `--physdev-out`.
pub(super) const KEY_KINDS: usize = 4;

/// Per-chain dispatch: rules that require one exact device name (not negated,
/// no wildcard) are filed under that name, so a long chain of per-port rules is
/// narrowed to the few that can match. Rule order is kept by sorting.
#[derive(Clone, Debug, Default)]
pub(super) struct ChainIndex {
    unkeyed: Vec<u32>,
    keyed: [HashMap<u128, Vec<u32>>; KEY_KINDS],
}

impl ChainIndex {
    pub(super) fn build(rules: &[CRule]) -> ChainIndex {
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
    pub(super) fn candidates(&self, v: &View) -> Option<Vec<u32>> {
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
pub(super) struct CTable {
    pub(super) name: String,
    pub(super) chains: Vec<CChain>,
    pub(super) by_name: HashMap<String, usize>,
}

#[derive(Clone, Debug, Default)]
pub(super) struct Compiled {
    pub(super) tables: HashMap<String, CTable>,
}

pub(super) fn compile_opt(
    m: &str,
    o: &MatchOpt,
    sets: &IpsetStore,
    out: &mut Vec<CMatch>,
    rule: &str,
) {
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

pub(super) fn unknown_match_text(module: &str, opt: &str, rule: &str) -> String {
    if opt.is_empty() {
        format!("match -m {module}: {rule}")
    } else {
        format!("match -m {module} {opt}: {rule}")
    }
}

pub(super) fn target_unknown_text(t: &Target, rule: &str) -> String {
    format!("target {t}: {rule}")
}

pub(super) fn compile_table(
    t: &Table,
    sets: &IpsetStore,
    fam: Family,
) -> Result<CTable, EngineError> {
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

pub(super) fn compile_target(t: &Target, ct: &CTable, text: &str) -> CTarget {
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

pub(super) fn check_loops(t: &CTable, fam: Family) -> Result<(), EngineError> {
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
