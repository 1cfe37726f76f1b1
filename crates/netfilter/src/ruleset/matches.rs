//! Match modules (`-m NAME` and their options): the model, the option parser
//! and the printer; iptables' `libxt_*.c` match extensions.

use super::*;

/// `-m name` with its options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModuleMatch {
    pub name: String,
    pub opts: Vec<MatchOpt>,
}

impl ModuleMatch {
    /// True when the module and all its options are modelled.
    pub fn is_known(&self) -> bool {
        KNOWN_MODULES.contains(&self.name.as_str())
            && !self.opts.iter().any(|o| matches!(o, MatchOpt::Raw(_)))
    }
}

pub(super) const KNOWN_MODULES: &[&str] = &[
    "tcp",
    "udp",
    "icmp",
    "icmp6",
    "multiport",
    "state",
    "conntrack",
    "mac",
    "physdev",
    "set",
    "comment",
    "iprange",
    "addrtype",
    "mark",
];

/// Which ports a multiport option looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortDir {
    Src,
    Dst,
    Either,
}

/// Conntrack states as a bit set (`NEW`=1, `ESTABLISHED`=2, `RELATED`=4,
/// `INVALID`=8, `UNTRACKED`=16).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StateSet(pub u8);

impl StateSet {
    pub const NEW: u8 = 1;
    pub const ESTABLISHED: u8 = 2;
    pub const RELATED: u8 = 4;
    pub const INVALID: u8 = 8;
    pub const UNTRACKED: u8 = 16;

    /// Bit of one state name, as iptables spells it.
    pub fn bit(name: &str) -> Option<u8> {
        Some(match name {
            "NEW" => Self::NEW,
            "ESTABLISHED" => Self::ESTABLISHED,
            "RELATED" => Self::RELATED,
            "INVALID" => Self::INVALID,
            "UNTRACKED" => Self::UNTRACKED,
            _ => return None,
        })
    }
}

/// An address type of `-m addrtype`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddrType {
    Local,
    Unicast,
    Broadcast,
    Multicast,
}

/// ICMP type with optional code (`8/0`, `echo-request`, `any`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IcmpSpec {
    /// None for `any`: IPv4 type 255 with any code, which the kernel matches
    /// against every ICMP type and code.
    pub ty: Option<u8>,
    /// None: every code.
    pub code: Option<u8>,
}

/// One option of a match module, with its negation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MatchOpt {
    Sport(bool, Val<(u16, u16)>),
    Dport(bool, Val<(u16, u16)>),
    /// `--tcp-flags MASK COMP`
    TcpFlags(bool, Val<u8>, Val<u8>),
    Syn(bool),
    IcmpType(bool, Val<IcmpSpec>),
    Icmp6Type(bool, Val<IcmpSpec>),
    /// `--dports/--sports/--ports` (and the long `--destination-ports` forms).
    Multiport(bool, PortDir, String, Val<Vec<(u16, u16)>>),
    /// `--state` (state module) or `--ctstate` (conntrack module).
    State(bool, Val<StateSet>),
    MacSource(bool, Val<MacAddr>),
    PhysdevIn(bool, String),
    PhysdevOut(bool, String),
    PhysdevIsBridged(bool),
    PhysdevIsIn(bool),
    PhysdevIsOut(bool),
    /// `--match-set NAME src,dst` (true = src per dimension).
    MatchSet(bool, String, Val<Vec<bool>>),
    /// `--comment` value, as written (quotes included); `.value` is unquoted.
    Comment(Val<String>),
    SrcRange(bool, Val<(IpAddr, IpAddr)>),
    DstRange(bool, Val<(IpAddr, IpAddr)>),
    SrcType(bool, Val<Vec<AddrType>>),
    DstType(bool, Val<Vec<AddrType>>),
    /// `--mark V[/M]`
    Mark(bool, Val<(u32, u32)>),
    /// An option (or a whole module) the model does not know: raw tokens.
    Raw(Vec<String>),
}

pub(super) fn parse_module_opts(
    module: &str,
    toks: &[Tok],
    ln: usize,
) -> Result<Vec<MatchOpt>, ParseError> {
    if !KNOWN_MODULES.contains(&module) {
        return Ok(if toks.is_empty() {
            vec![]
        } else {
            vec![MatchOpt::Raw(toks.iter().map(|t| t.text.clone()).collect())]
        });
    }
    let mut out = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        let start = i;
        let mut neg = false;
        if toks[i].text == "!" {
            neg = true;
            i += 1;
        }
        let Some(name) = toks.get(i).map(|t| t.text.as_str()) else {
            return perr(ln, format!("`!` at end of -m {module}"));
        };
        let a1 = toks.get(i + 1);
        // (option, takes argument) -> parsed option
        let parsed: Option<(MatchOpt, usize)> = match (module, name) {
            ("tcp" | "udp", "--sport" | "--source-port" | "--dport" | "--destination-port") => a1
                .and_then(|a| {
                    parse_port_range(&a.value).map(|r| {
                        let v = a.val(r);
                        let o = if matches!(name, "--dport" | "--destination-port") {
                            MatchOpt::Dport(neg, v)
                        } else {
                            MatchOpt::Sport(neg, v)
                        };
                        (o, 2)
                    })
                }),
            ("tcp", "--tcp-flags") => {
                let a2 = toks.get(i + 2);
                match (a1, a2) {
                    (Some(m), Some(c)) => {
                        match (parse_tcp_flag_list(&m.value), parse_tcp_flag_list(&c.value)) {
                            (Some(mv), Some(cv)) => {
                                Some((MatchOpt::TcpFlags(neg, m.val(mv), c.val(cv)), 3))
                            }
                            _ => None,
                        }
                    }
                    _ => None,
                }
            }
            ("tcp", "--syn") => Some((MatchOpt::Syn(neg), 1)),
            ("icmp", "--icmp-type") | ("icmp6", "--icmpv6-type") => a1.and_then(|a| {
                parse_icmp(&a.value, module == "icmp6").map(|s| {
                    let v = a.val(s);
                    let o = if module == "icmp" {
                        MatchOpt::IcmpType(neg, v)
                    } else {
                        MatchOpt::Icmp6Type(neg, v)
                    };
                    (o, 2)
                })
            }),
            (
                "multiport",
                "--dports" | "--destination-ports" | "--sports" | "--source-ports" | "--ports",
            ) => a1.and_then(|a| {
                let list: Option<Vec<(u16, u16)>> =
                    a.value.split(',').map(parse_port_range).collect();
                list.map(|l| {
                    let dir = match name {
                        "--dports" | "--destination-ports" => PortDir::Dst,
                        "--sports" | "--source-ports" => PortDir::Src,
                        _ => PortDir::Either,
                    };
                    (MatchOpt::Multiport(neg, dir, name.to_string(), a.val(l)), 2)
                })
            }),
            ("state", "--state") | ("conntrack", "--ctstate") => a1.and_then(|a| {
                let mut set = 0u8;
                for s in a.value.split(',') {
                    set |= StateSet::bit(s)?;
                }
                Some((MatchOpt::State(neg, a.val(StateSet(set))), 2))
            }),
            ("mac", "--mac-source") => a1.and_then(|a| {
                a.value
                    .parse::<MacAddr>()
                    .ok()
                    .map(|m| (MatchOpt::MacSource(neg, a.val(m)), 2))
            }),
            ("physdev", "--physdev-in") => {
                a1.map(|a| (MatchOpt::PhysdevIn(neg, a.value.clone()), 2))
            }
            ("physdev", "--physdev-out") => {
                a1.map(|a| (MatchOpt::PhysdevOut(neg, a.value.clone()), 2))
            }
            ("physdev", "--physdev-is-bridged") => Some((MatchOpt::PhysdevIsBridged(neg), 1)),
            ("physdev", "--physdev-is-in") => Some((MatchOpt::PhysdevIsIn(neg), 1)),
            ("physdev", "--physdev-is-out") => Some((MatchOpt::PhysdevIsOut(neg), 1)),
            ("set", "--match-set") => match (a1, toks.get(i + 2)) {
                (Some(n), Some(f)) => {
                    let flags: Option<Vec<bool>> = f
                        .value
                        .split(',')
                        .map(|d| match d {
                            "src" => Some(true),
                            "dst" => Some(false),
                            _ => None,
                        })
                        .collect();
                    flags
                        .filter(|v| v.len() <= 6)
                        .map(|fl| (MatchOpt::MatchSet(neg, n.value.clone(), f.val(fl)), 3))
                }
                _ => None,
            },
            ("comment", "--comment") if !neg => {
                a1.map(|a| (MatchOpt::Comment(a.val(a.value.clone())), 2))
            }
            ("iprange", "--src-range" | "--dst-range") => a1.and_then(|a| {
                parse_range(&a.value).map(|r| {
                    let v = a.val(r);
                    let o = if name == "--src-range" {
                        MatchOpt::SrcRange(neg, v)
                    } else {
                        MatchOpt::DstRange(neg, v)
                    };
                    (o, 2)
                })
            }),
            ("addrtype", "--src-type" | "--dst-type") => a1.and_then(|a| {
                parse_addrtypes(&a.value).map(|t| {
                    let v = a.val(t);
                    let o = if name == "--src-type" {
                        MatchOpt::SrcType(neg, v)
                    } else {
                        MatchOpt::DstType(neg, v)
                    };
                    (o, 2)
                })
            }),
            ("mark", "--mark") => a1.and_then(|a| {
                parse_mark(&a.value, u32::MAX).map(|m| (MatchOpt::Mark(neg, a.val(m)), 2))
            }),
            _ => None,
        };
        match parsed {
            Some((o, n)) => {
                out.push(o);
                i += n;
            }
            None => {
                // Unknown or malformed option: keep it and its arguments (up to the
                // next `--option` or `!`) as raw tokens.
                let mut j = i + 1;
                while j < toks.len() && !toks[j].text.starts_with("--") && toks[j].text != "!" {
                    j += 1;
                }
                out.push(MatchOpt::Raw(
                    toks[start..j].iter().map(|t| t.text.clone()).collect(),
                ));
                i = j;
            }
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------- printer

pub(super) fn neg_str(neg: bool) -> &'static str {
    if neg {
        "! "
    } else {
        ""
    }
}

impl fmt::Display for MatchOpt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MatchOpt::Sport(n, v) => write!(f, "{}--sport {v}", neg_str(*n)),
            MatchOpt::Dport(n, v) => write!(f, "{}--dport {v}", neg_str(*n)),
            MatchOpt::TcpFlags(n, m, c) => write!(f, "{}--tcp-flags {m} {c}", neg_str(*n)),
            MatchOpt::Syn(n) => write!(f, "{}--syn", neg_str(*n)),
            MatchOpt::IcmpType(n, v) => write!(f, "{}--icmp-type {v}", neg_str(*n)),
            MatchOpt::Icmp6Type(n, v) => write!(f, "{}--icmpv6-type {v}", neg_str(*n)),
            MatchOpt::Multiport(n, _, name, v) => write!(f, "{}{name} {v}", neg_str(*n)),
            MatchOpt::State(n, v) => write!(f, "{}--STATE {v}", neg_str(*n)),
            MatchOpt::MacSource(n, v) => write!(f, "{}--mac-source {v}", neg_str(*n)),
            MatchOpt::PhysdevIn(n, v) => write!(f, "{}--physdev-in {}", neg_str(*n), word(v)),
            MatchOpt::PhysdevOut(n, v) => write!(f, "{}--physdev-out {}", neg_str(*n), word(v)),
            MatchOpt::PhysdevIsBridged(n) => write!(f, "{}--physdev-is-bridged", neg_str(*n)),
            MatchOpt::PhysdevIsIn(n) => write!(f, "{}--physdev-is-in", neg_str(*n)),
            MatchOpt::PhysdevIsOut(n) => write!(f, "{}--physdev-is-out", neg_str(*n)),
            MatchOpt::MatchSet(n, name, fl) => {
                write!(f, "{}--match-set {} {fl}", neg_str(*n), word(name))
            }
            MatchOpt::Comment(v) => write!(f, "--comment {v}"),
            MatchOpt::SrcRange(n, v) => write!(f, "{}--src-range {v}", neg_str(*n)),
            MatchOpt::DstRange(n, v) => write!(f, "{}--dst-range {v}", neg_str(*n)),
            MatchOpt::SrcType(n, v) => write!(f, "{}--src-type {v}", neg_str(*n)),
            MatchOpt::DstType(n, v) => write!(f, "{}--dst-type {v}", neg_str(*n)),
            MatchOpt::Mark(n, v) => write!(f, "{}--mark {v}", neg_str(*n)),
            MatchOpt::Raw(t) => f.write_str(&t.join(" ")),
        }
    }
}

impl fmt::Display for ModuleMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "-m {}", word(&self.name))?;
        for o in &self.opts {
            let s = o.to_string();
            // `--state` vs `--ctstate` depends on the module.
            let s = if matches!(o, MatchOpt::State(..)) {
                let word = if self.name == "conntrack" {
                    "--ctstate"
                } else {
                    "--state"
                };
                s.replacen("--STATE", word, 1)
            } else {
                s
            };
            write!(f, " {s}")?;
        }
        Ok(())
    }
}
