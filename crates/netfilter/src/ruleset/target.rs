//! Targets (`-j NAME` and their options): the model, the parser and the
//! printer; iptables' `libxt_*.c` target extensions (`CT`, `MARK`, ...).

use super::*;

/// What `-j` does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Accept,
    Drop,
    Return,
    /// `--reject-with` kept as text; REJECT counts as DROP for the verdict.
    Reject(Option<String>),
    /// `-j CHAIN` (a user chain, or an unknown target without options: the
    /// engine decides with the table's chain list).
    Chain(String),
    /// `CT` with its options.
    Ct(Vec<CtOpt>),
    Notrack,
    /// `LOG` with its options as raw tokens.
    Log(Vec<String>),
    Mark(MarkOp),
    Trace,
    /// Any other target: name and raw option tokens.
    Other(String, Vec<String>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CtOpt {
    Zone(Val<u16>),
    Notrack,
    Raw(Vec<String>),
}

/// A MARK target operation: `(value, mask)` with its text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MarkOp {
    /// `--set-xmark V/M`: mark = (mark & !M) ^ V.
    SetXmark(Val<(u32, u32)>),
    /// `--set-mark V[/M]`: mark = (mark & !M) | V.
    SetMark(Val<(u32, u32)>),
    And(Val<u32>),
    Or(Val<u32>),
    Xor(Val<u32>),
}

impl MarkOp {
    /// Apply to a packet mark.
    pub fn apply(&self, mark: u32) -> u32 {
        match self {
            MarkOp::SetXmark(v) => (mark & !v.value.1) ^ v.value.0,
            MarkOp::SetMark(v) => (mark & !v.value.1) | v.value.0,
            MarkOp::And(v) => mark & v.value,
            MarkOp::Or(v) => mark | v.value,
            MarkOp::Xor(v) => mark ^ v.value,
        }
    }
}

pub(super) fn parse_target(name: &str, toks: &[Tok], ln: usize) -> Result<Target, ParseError> {
    let raw = || toks.iter().map(|t| t.text.clone()).collect::<Vec<_>>();
    let other = || Target::Other(name.to_string(), raw());
    let t = match name {
        "ACCEPT" | "DROP" | "RETURN" | "NOTRACK" | "TRACE" if !toks.is_empty() => other(),
        "ACCEPT" => Target::Accept,
        "DROP" => Target::Drop,
        "RETURN" => Target::Return,
        "NOTRACK" => Target::Notrack,
        "TRACE" => Target::Trace,
        "REJECT" => match toks {
            [] => Target::Reject(None),
            [o, v] if o.text == "--reject-with" => Target::Reject(Some(v.text.clone())),
            _ => other(),
        },
        "LOG" => Target::Log(raw()),
        "CT" => {
            let mut opts = Vec::new();
            let mut i = 0;
            while i < toks.len() {
                match toks[i].text.as_str() {
                    "--notrack" => {
                        opts.push(CtOpt::Notrack);
                        i += 1;
                    }
                    "--zone"
                        if toks
                            .get(i + 1)
                            .and_then(|z| z.value.parse::<u16>().ok())
                            .is_some() =>
                    {
                        let z = &toks[i + 1];
                        opts.push(CtOpt::Zone(z.val(z.value.parse().unwrap_or(0))));
                        i += 2;
                    }
                    _ => {
                        let mut j = i + 1;
                        while j < toks.len() && !toks[j].text.starts_with("--") {
                            j += 1;
                        }
                        opts.push(CtOpt::Raw(
                            toks[i..j].iter().map(|t| t.text.clone()).collect(),
                        ));
                        i = j;
                    }
                }
            }
            Target::Ct(opts)
        }
        "MARK" => {
            let op = match toks {
                [o, v] => {
                    let val2 = |d: u32| parse_mark(&v.value, d).map(|m| v.val(m));
                    let val1 = || parse_u32(&v.value).map(|m| v.val(m));
                    match o.text.as_str() {
                        "--set-xmark" => val2(u32::MAX).map(MarkOp::SetXmark),
                        "--set-mark" => val2(u32::MAX).map(MarkOp::SetMark),
                        "--and-mark" => val1().map(MarkOp::And),
                        "--or-mark" => val1().map(MarkOp::Or),
                        "--xor-mark" => val1().map(MarkOp::Xor),
                        _ => None,
                    }
                }
                _ => None,
            };
            match op {
                Some(op) => Target::Mark(op),
                None => other(),
            }
        }
        _ if toks.is_empty() => Target::Chain(name.to_string()),
        _ => other(),
    };
    if name.is_empty() {
        return perr(ln, "empty target name");
    }
    Ok(t)
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let join = |f: &mut fmt::Formatter<'_>, name: &str, args: &[String]| {
            f.write_str(name)?;
            for a in args {
                write!(f, " {a}")?;
            }
            Ok(())
        };
        match self {
            Target::Accept => f.write_str("ACCEPT"),
            Target::Drop => f.write_str("DROP"),
            Target::Return => f.write_str("RETURN"),
            Target::Notrack => f.write_str("NOTRACK"),
            Target::Trace => f.write_str("TRACE"),
            Target::Reject(None) => f.write_str("REJECT"),
            Target::Reject(Some(w)) => write!(f, "REJECT --reject-with {w}"),
            Target::Chain(c) => f.write_str(&word(c)),
            Target::Log(a) => join(f, "LOG", a),
            Target::Other(n, a) => join(f, &word(n), a),
            Target::Ct(opts) => {
                f.write_str("CT")?;
                for o in opts {
                    match o {
                        CtOpt::Zone(z) => write!(f, " --zone {z}")?,
                        CtOpt::Notrack => f.write_str(" --notrack")?,
                        CtOpt::Raw(t) => write!(f, " {}", t.join(" "))?,
                    }
                }
                Ok(())
            }
            Target::Mark(op) => match op {
                MarkOp::SetXmark(v) => write!(f, "MARK --set-xmark {v}"),
                MarkOp::SetMark(v) => write!(f, "MARK --set-mark {v}"),
                MarkOp::And(v) => write!(f, "MARK --and-mark {v}"),
                MarkOp::Or(v) => write!(f, "MARK --or-mark {v}"),
                MarkOp::Xor(v) => write!(f, "MARK --xor-mark {v}"),
            },
        }
    }
}
