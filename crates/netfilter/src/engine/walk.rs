//! The compiled evaluator: [`Engine`] walks precompiled chains the way
//! `ipt_do_table` in the kernel's `ip_tables.c` does.

use super::*;

/// Precompiled rulesets (IPv4 and IPv6) with their ipsets, ready to evaluate.
#[derive(Clone, Debug)]
pub struct Engine {
    v4: Compiled,
    v6: Compiled,
    ipsets: IpsetStore,
    local_ips: Vec<IpAddr>,
}

/// Chains with at least this many rules get a [`ChainIndex`].
pub(super) const DEFAULT_INDEX_THRESHOLD: usize = 16;

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
pub(super) type Frame = (usize, Option<Vec<u32>>, usize);

/// What a table traversal decided.
pub(super) enum TableVerdict {
    Accept,
    Drop,
}

/// Mutable per-packet state across tables.
pub(super) struct Walk {
    pub(super) path: Vec<TraceStep>,
    pub(super) unknown: Vec<String>,
    /// CT template set in raw: (zone, notrack).
    pub(super) ct_set: bool,
    pub(super) zone: u16,
    pub(super) notrack: bool,
}

impl Walk {
    pub(super) fn unknown(&mut self, s: String) {
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
