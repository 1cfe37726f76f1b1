//! One rule line (`-A CHAIN ...`): the parser, which dispatches to the match
//! and target parsers, and the printer.

use super::*;

// ---------------------------------------------------------------- rule parser

pub(super) fn is_short_opt(t: &str) -> bool {
    t.len() == 2 && t.starts_with('-') && t != "--"
}

/// Tokens that end a module's or target's option list.
pub(super) fn ends_context(toks: &[Tok], i: usize) -> bool {
    let t = toks[i].text.as_str();
    if is_short_opt(t) || (t.starts_with("--") && is_base_long(t)) {
        return true;
    }
    if t == "!" {
        if let Some(n) = toks.get(i + 1) {
            return is_short_opt(&n.text) || is_base_long(&n.text);
        }
    }
    false
}

pub(super) fn is_base_long(t: &str) -> bool {
    matches!(
        t,
        "--source"
            | "--src"
            | "--destination"
            | "--dst"
            | "--in-interface"
            | "--out-interface"
            | "--protocol"
            | "--fragment"
            | "--match"
            | "--jump"
            | "--goto"
            | "--append"
    )
}

pub(super) fn short_of(t: &str) -> &str {
    match t {
        "--source" | "--src" => "-s",
        "--destination" | "--dst" => "-d",
        "--in-interface" => "-i",
        "--out-interface" => "-o",
        "--protocol" => "-p",
        "--fragment" => "-f",
        "--match" => "-m",
        "--jump" => "-j",
        "--goto" => "-g",
        "--append" => "-A",
        other => other,
    }
}

/// Parse one rule line (`-A CHAIN ...`, optionally prefixed by `[p:b]`).
pub fn parse_rule(line: &str, ln: usize) -> Result<Rule, ParseError> {
    let toks = tokenize(line, ln)?;
    let mut i = 0;
    let mut counters = None;
    if let Some(t) = toks.first() {
        if t.text.starts_with('[') {
            counters = Some(parse_counters(&t.text).ok_or_else(|| ParseError {
                line: ln,
                msg: format!("bad counters {:?}", t.text),
            })?);
            i = 1;
        }
    }
    match toks.get(i).map(|t| short_of(&t.text)) {
        Some("-A") => {}
        _ => return perr(ln, "rule must start with -A"),
    }
    let chain = match toks.get(i + 1) {
        Some(t) if !t.value.is_empty() => t.value.clone(),
        _ => return perr(ln, "-A without chain name"),
    };
    i += 2;
    let mut parts = Vec::new();
    let mut have_target = false;
    while i < toks.len() {
        let mut neg = false;
        if toks[i].text == "!" {
            neg = true;
            i += 1;
        }
        let Some(opt) = toks.get(i) else {
            return perr(ln, "`!` at end of rule");
        };
        let opt = short_of(&opt.text).to_string();
        let arg = |k: usize| -> Result<&Tok, ParseError> {
            toks.get(k).ok_or_else(|| ParseError {
                line: ln,
                msg: format!("{opt} needs an argument"),
            })
        };
        match opt.as_str() {
            "-s" | "-d" => {
                let a = arg(i + 1)?;
                let net = parse_net(&a.value).ok_or_else(|| ParseError {
                    line: ln,
                    msg: format!("bad address {:?}", a.value),
                })?;
                let v = a.val(net);
                parts.push(if opt == "-s" {
                    Part::Src(neg, v)
                } else {
                    Part::Dst(neg, v)
                });
                i += 2;
            }
            "-i" | "-o" => {
                let a = arg(i + 1)?.value.clone();
                parts.push(if opt == "-i" {
                    Part::InIface(neg, a)
                } else {
                    Part::OutIface(neg, a)
                });
                i += 2;
            }
            "-p" => {
                let a = arg(i + 1)?;
                let p = proto_number(&a.value).ok_or_else(|| ParseError {
                    line: ln,
                    msg: format!("unknown protocol {:?}", a.value),
                })?;
                parts.push(Part::Proto(neg, a.val(p)));
                i += 2;
            }
            "-f" => {
                parts.push(Part::Fragment(neg));
                i += 1;
            }
            "-m" => {
                if neg {
                    return perr(ln, "`!` before -m");
                }
                let name = arg(i + 1)?.value.clone();
                i += 2;
                let start = i;
                while i < toks.len() && !ends_context(&toks, i) {
                    i += 1;
                }
                let opts = parse_module_opts(&name, &toks[start..i], ln)?;
                parts.push(Part::Module(ModuleMatch { name, opts }));
            }
            "-j" | "-g" => {
                if neg {
                    return perr(ln, "`!` before target");
                }
                if have_target {
                    return perr(ln, "more than one target");
                }
                have_target = true;
                let name = arg(i + 1)?.value.clone();
                i += 2;
                let start = i;
                while i < toks.len() && !ends_context(&toks, i) {
                    i += 1;
                }
                let args: Vec<String> = toks[start..i].iter().map(|t| t.text.clone()).collect();
                if opt == "-g" {
                    if !args.is_empty() {
                        return perr(ln, "-g takes no options");
                    }
                    parts.push(Part::Goto(name));
                } else {
                    parts.push(Part::Jump(parse_target(&name, &toks[start..i], ln)?));
                }
            }
            other => return perr(ln, format!("unknown option {other:?}")),
        }
    }
    Ok(Rule {
        counters,
        chain,
        parts,
    })
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Part::Src(n, v) => write!(f, "{}-s {v}", neg_str(*n)),
            Part::Dst(n, v) => write!(f, "{}-d {v}", neg_str(*n)),
            Part::InIface(n, v) => write!(f, "{}-i {}", neg_str(*n), word(v)),
            Part::OutIface(n, v) => write!(f, "{}-o {}", neg_str(*n), word(v)),
            Part::Proto(n, v) => write!(f, "{}-p {v}", neg_str(*n)),
            Part::Fragment(n) => write!(f, "{}-f", neg_str(*n)),
            Part::Module(m) => write!(f, "{m}"),
            Part::Jump(t) => write!(f, "-j {t}"),
            Part::Goto(c) => write!(f, "-g {}", word(c)),
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(c) = &self.counters {
            write!(f, "{c} ")?;
        }
        write!(f, "-A {}", word(&self.chain))?;
        for p in &self.parts {
            write!(f, " {p}")?;
        }
        Ok(())
    }
}

impl Rule {
    /// The target part (`-j`), if any.
    pub fn target(&self) -> Option<&Target> {
        self.parts.iter().find_map(|p| match p {
            Part::Jump(t) => Some(t),
            _ => None,
        })
    }

    /// The goto chain (`-g`), if any.
    pub fn goto(&self) -> Option<&str> {
        self.parts.iter().find_map(|p| match p {
            Part::Goto(c) => Some(c.as_str()),
            _ => None,
        })
    }

    /// The rule text without counters, as the trace shows it.
    pub fn text(&self) -> String {
        let mut r = self.clone();
        r.counters = None;
        r.to_string()
    }
}
