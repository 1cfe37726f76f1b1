//! The naive evaluator: walks the parsed text, resolving chains and sets by name
//! at every step (benchmark baseline, test oracle for [`Engine`]).

use super::*;

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

pub(super) enum NaiveEnd {
    Accept,
    Drop,
    /// Fell off the end or RETURNed (the caller decides what that means).
    FellOff,
}

pub(super) struct Naive<'a> {
    t: &'a Table,
    ipsets: &'a IpsetStore,
    local_ips: &'a [IpAddr],
}

pub(super) const MAX_DEPTH: usize = 256;

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
