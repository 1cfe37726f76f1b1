//! Whole iptables-save files: tables, chain declarations and rules, parsed
//! and printed, and the IPv4/IPv6 pair the engine uses.

use super::*;

impl fmt::Display for ChainDecl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            ":{} {}",
            self.name,
            self.policy.as_deref().unwrap_or("-")
        )?;
        if let Some(c) = &self.counters {
            write!(f, " {c}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "*{}", self.name)?;
        for l in &self.body {
            match l {
                TableLine::Chain(c) => writeln!(f, "{c}")?,
                TableLine::Rule(r) => writeln!(f, "{r}")?,
                TableLine::Comment(c) => writeln!(f, "{c}")?,
                TableLine::Blank => writeln!(f)?,
            }
        }
        if self.committed {
            writeln!(f, "COMMIT")?;
        }
        Ok(())
    }
}

impl fmt::Display for Ruleset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for l in &self.lines {
            match l {
                TopLine::Comment(c) => writeln!(f, "{c}")?,
                TopLine::Blank => writeln!(f)?,
                TopLine::Table(t) => write!(f, "{t}")?,
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------- file parser

impl FromStr for Ruleset {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        Ruleset::parse(s)
    }
}

impl Ruleset {
    /// Parse iptables-save text. Lines are trimmed of trailing whitespace; tokens
    /// are re-joined by one space when printed.
    pub fn parse(text: &str) -> Result<Ruleset, ParseError> {
        let mut lines = Vec::new();
        let mut cur: Option<Table> = None;
        for (idx, raw) in text.lines().enumerate() {
            let ln = idx + 1;
            let line = raw.trim();
            if let Some(t) = cur.as_mut() {
                if line.is_empty() {
                    t.body.push(TableLine::Blank);
                } else if line.starts_with('#') {
                    t.body.push(TableLine::Comment(line.to_string()));
                } else if line == "COMMIT" {
                    let mut t = cur.take().expect("table open");
                    t.committed = true;
                    lines.push(TopLine::Table(t));
                } else if let Some(rest) = line.strip_prefix(':') {
                    let parts: Vec<&str> = rest.split_whitespace().collect();
                    let (name, policy, counters) = match parts.as_slice() {
                        [n, p] => (*n, *p, None),
                        [n, p, c] => (
                            *n,
                            *p,
                            Some(parse_counters(c).ok_or_else(|| ParseError {
                                line: ln,
                                msg: format!("bad counters {c:?}"),
                            })?),
                        ),
                        _ => return perr(ln, "chain line must be `:NAME POLICY [p:b]`"),
                    };
                    if t.body
                        .iter()
                        .any(|l| matches!(l, TableLine::Chain(c) if c.name == name))
                    {
                        return perr(ln, format!("chain {name} declared twice"));
                    }
                    t.body.push(TableLine::Chain(ChainDecl {
                        name: name.to_string(),
                        policy: (policy != "-").then(|| policy.to_string()),
                        counters,
                    }));
                } else if line.starts_with('*') {
                    return perr(
                        ln,
                        format!("table {} opened before COMMIT of {}", line, t.name),
                    );
                } else {
                    let rule = parse_rule(line, ln)?;
                    if !t
                        .body
                        .iter()
                        .any(|l| matches!(l, TableLine::Chain(c) if c.name == rule.chain))
                    {
                        return perr(ln, format!("rule for undeclared chain {}", rule.chain));
                    }
                    t.body.push(TableLine::Rule(rule));
                }
            } else if line.is_empty() {
                lines.push(TopLine::Blank);
            } else if line.starts_with('#') {
                lines.push(TopLine::Comment(line.to_string()));
            } else if let Some(name) = line.strip_prefix('*') {
                if name.is_empty() || name.contains(char::is_whitespace) {
                    return perr(ln, "bad table line");
                }
                cur = Some(Table {
                    name: name.to_string(),
                    body: Vec::new(),
                    committed: false,
                });
            } else {
                return perr(ln, format!("expected `*table` or comment, got {line:?}"));
            }
        }
        if let Some(t) = cur {
            lines.push(TopLine::Table(t));
        }
        Ok(Ruleset { lines })
    }

    pub fn tables(&self) -> impl Iterator<Item = &Table> {
        self.lines.iter().filter_map(|l| match l {
            TopLine::Table(t) => Some(t),
            _ => None,
        })
    }

    /// The first table with this name.
    pub fn table(&self, name: &str) -> Option<&Table> {
        self.tables().find(|t| t.name == name)
    }

    /// Family guessed from the content: a `Generated by ip6tables-save` comment,
    /// an IPv6 address, or an icmp6 match make it V6.
    pub fn family(&self) -> Family {
        for l in &self.lines {
            match l {
                TopLine::Comment(c) if c.contains("ip6tables-save") => return Family::V6,
                TopLine::Comment(c) if c.contains("iptables-save") => return Family::V4,
                _ => {}
            }
        }
        for t in self.tables() {
            for r in t.rules() {
                for p in &r.parts {
                    match p {
                        Part::Src(_, v) | Part::Dst(_, v) if v.value.addr().is_ipv6() => {
                            return Family::V6
                        }
                        Part::Module(m) if m.name == "icmp6" => return Family::V6,
                        _ => {}
                    }
                }
            }
        }
        Family::V4
    }
}

impl Table {
    pub fn chains(&self) -> impl Iterator<Item = &ChainDecl> {
        self.body.iter().filter_map(|l| match l {
            TableLine::Chain(c) => Some(c),
            _ => None,
        })
    }

    pub fn rules(&self) -> impl Iterator<Item = &Rule> {
        self.body.iter().filter_map(|l| match l {
            TableLine::Rule(r) => Some(r),
            _ => None,
        })
    }

    pub fn chain(&self, name: &str) -> Option<&ChainDecl> {
        self.chains().find(|c| c.name == name)
    }
}

/// IPv4 and IPv6 rulesets, as the engine uses them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rulesets {
    pub v4: Ruleset,
    pub v6: Ruleset,
}

impl Rulesets {
    /// Parse a text that holds an iptables-save, an ip6tables-save, or both one
    /// after the other. A new part starts at a `# Generated by` comment or when a
    /// table name repeats; each part's family comes from [`Ruleset::family`].
    /// Two parts of the same family are an error.
    pub fn parse(text: &str) -> Result<Rulesets, ParseError> {
        let all = Ruleset::parse(text)?;
        let mut parts: Vec<Ruleset> = vec![Ruleset::default()];
        let mut seen: Vec<String> = Vec::new();
        // Which tool wrote the current part: Some(true) for ip6tables-save.
        let mut tool: Option<bool> = None;
        for l in all.lines {
            let new_tool = match &l {
                TopLine::Comment(c) if c.starts_with("# Generated by") => {
                    Some(c.contains("ip6tables-save"))
                }
                _ => None,
            };
            let start_new = match (&l, new_tool) {
                (_, Some(t)) => tool.is_some_and(|cur| cur != t) && !seen.is_empty(),
                (TopLine::Table(t), None) => seen.contains(&t.name),
                _ => false,
            };
            if start_new {
                let prev = parts.last_mut().expect("non-empty");
                // A `# Generated by` header just before belongs to the new part.
                let mut carried = Vec::new();
                while matches!(prev.lines.last(), Some(TopLine::Comment(c)) if c.starts_with("# Generated by"))
                {
                    carried.push(prev.lines.pop().expect("checked"));
                }
                carried.reverse();
                parts.push(Ruleset { lines: carried });
                seen.clear();
                tool = None;
            }
            if let Some(t) = new_tool {
                tool = Some(t);
            }
            if let TopLine::Table(t) = &l {
                seen.push(t.name.clone());
            }
            parts.last_mut().expect("non-empty").lines.push(l);
        }
        let mut out = Rulesets::default();
        let (mut got4, mut got6) = (false, false);
        for p in parts {
            if p.tables().next().is_none() && parts_is_trivial(&p) {
                continue;
            }
            match p.family() {
                Family::V4 if !got4 => {
                    got4 = true;
                    out.v4 = p;
                }
                Family::V6 if !got6 => {
                    got6 = true;
                    out.v6 = p;
                }
                // A second unmarked part: take it as the other family.
                Family::V4 if !got6 => {
                    got6 = true;
                    out.v6 = p;
                }
                _ => {
                    return perr(0, "more than one ruleset of the same family in the text");
                }
            }
        }
        Ok(out)
    }

    pub fn get(&self, fam: Family) -> &Ruleset {
        match fam {
            Family::V4 => &self.v4,
            Family::V6 => &self.v6,
        }
    }
}

pub(super) fn parts_is_trivial(p: &Ruleset) -> bool {
    p.lines
        .iter()
        .all(|l| matches!(l, TopLine::Blank | TopLine::Comment(_)))
}
