//! keepalived's line preprocessor (Check mode): conditional lines, parameters
//! and sequences, as keepalived 2.2.7 lib/parser.c (read_line) applies them to
//! each line before it is split into words. Documented in keepalived.conf(5),
//! "ADVANCED CONFIGURATION".
//!
//! - `@ID rest` keeps `rest` only when the config id is ID; `@^ID rest` only
//!   when it is not. A line with nothing after the id is dropped.
//! - `$NAME=VALUE` (no space before `=`) defines a parameter; a value ending in
//!   `\` continues on the next lines (a multiline definition).
//! - `$NAME` followed by a blank, `,`, `)` or the line end, and `${NAME}`
//!   anywhere, are replaced by the value, again and again (the value may name
//!   other parameters; it is expanded when used, not when defined). Undefined
//!   names stay as written. A multiline value expands to several lines and
//!   only when the reference ends the line.
//! - Predefined: `_PWD` (directory of the current file), `_INSTANCE` (the
//!   config id), `_RANDOM [MIN [MAX]]`, `_HASH` (`#`), `_BANG` (`!`).
//! - `~SEQ(VAR, START, STEP, END) rest` repeats `rest` with `$VAR` set to each
//!   value (`~SEQx` in hex); `~LST(VAR, V1, V2, ...)` and
//!   `~LST({A, B}, {1, 2}, {3, 4})` repeat it over listed values.
//!
//! Comments are removed first (keepalived's decomment: `#` or `!` outside
//! double quotes; `\#` and `\!` outside quotes stand for the character).
//!
//! Not like keepalived: redefining a multiline parameter while its lines are
//! being expanded (a value whose own line is `$SAME=`) makes keepalived read
//! freed memory; here the expansion finishes with the old lines.

use std::collections::VecDeque;

/// Parameter expansions of one line beyond which we give up (keepalived
/// itself loops forever on `$A=$A`-style definitions).
const MAX_STEPS: usize = 10_000;

#[derive(Debug)]
struct Def {
    name: String,
    /// One entry per line of a multiline definition.
    lines: Vec<String>,
    multiline: bool,
}

/// What one logical line turned into.
enum Item {
    Line(String),
    Set(String, String),
}

/// Preprocessor state across the lines (and included files) of one parse.
#[derive(Debug)]
pub(crate) struct Preproc {
    config_id: Option<String>,
    defs: Vec<Def>,
    /// Index into `defs` of a multiline definition still being read.
    pending: Option<usize>,
    /// `@ID` ids left out because no config id was given: (id, file, line)
    /// where first seen.
    pub skipped_ids: Vec<(String, String, usize)>,
    /// What keepalived reports as a configuration error (bad `~SEQ`, ...),
    /// as "file:line: message".
    pub config_errors: Vec<String>,
    /// Notes for `warnings` (`_RANDOM` fixed to its minimum, ...).
    pub warnings: Vec<String>,
    /// The file and line being processed, for messages.
    src: String,
    lno: usize,
}

impl Preproc {
    pub(crate) fn new(config_id: Option<String>) -> Preproc {
        Preproc {
            config_id,
            defs: Vec::new(),
            pending: None,
            skipped_ids: Vec::new(),
            config_errors: Vec::new(),
            warnings: Vec::new(),
            src: String::new(),
            lno: 0,
        }
    }

    fn at(&self, msg: String) -> String {
        format!("{}:{}: {msg}", self.src, self.lno)
    }

    /// Process physical line `raw` (line number `line`) of file `source` in
    /// directory `pwd`: the lines to split into words. A line nothing applies
    /// to comes back exactly as written.
    pub(crate) fn line(
        &mut self,
        raw: &str,
        source: &str,
        line: usize,
        pwd: &str,
    ) -> Result<Vec<String>, String> {
        self.src = source.to_string();
        self.lno = line;
        let text = decomment(raw);
        if let Some(d) = self.pending {
            // lib/parser.c: a blank line, or one not ending in '\', ends the
            // multiline definition; each line is one line of the value.
            match text.strip_suffix('\\') {
                _ if text.is_empty() => self.pending = None,
                Some(part) if part.trim_end().is_empty() => {}
                Some(part) => self.defs[d].lines.push(part.trim_end().to_string()),
                None => {
                    self.defs[d].lines.push(text);
                    self.pending = None;
                }
            }
            return Ok(Vec::new());
        }
        let starts = text.starts_with('@') || text.starts_with('$') || text.starts_with('~');
        if !starts && !text.contains('$') {
            return Ok(vec![raw.to_string()]);
        }
        let mut queue: VecDeque<Item> = VecDeque::from([Item::Line(text.clone())]);
        let mut out = Vec::new();
        let mut steps = 0;
        let mut first = true;
        while let Some(item) = queue.pop_front() {
            steps += 1;
            if steps > MAX_STEPS {
                return Err("parameter or sequence expansion does not end".into());
            }
            match item {
                Item::Set(n, v) => {
                    self.set(&n, vec![v], false);
                }
                Item::Line(l) => self.logical(l, pwd, first, &mut queue, &mut out)?,
            }
            first = false;
        }
        if out.len() == 1 && out[0] == text {
            out = vec![raw.to_string()];
        }
        Ok(out)
    }

    fn set(&mut self, name: &str, lines: Vec<String>, multiline: bool) -> usize {
        if let Some(i) = self.defs.iter().position(|d| d.name == name) {
            self.defs[i].lines = lines;
            self.defs[i].multiline = multiline;
            return i;
        }
        self.defs.push(Def {
            name: name.to_string(),
            lines,
            multiline,
        });
        self.defs.len() - 1
    }

    /// One logical line (after decomment): conditional, definition, sequence,
    /// substitution; results go to `out`, further lines to the front of `queue`.
    fn logical(
        &mut self,
        mut l: String,
        pwd: &str,
        physical: bool,
        queue: &mut VecDeque<Item>,
        out: &mut Vec<String>,
    ) -> Result<(), String> {
        for _ in 0..MAX_STEPS {
            if l.is_empty() {
                return Ok(());
            }
            if let Some(rest) = l.strip_prefix('@') {
                let (neg, rest) = match rest.strip_prefix('^') {
                    Some(r) => (true, r),
                    None => (false, rest),
                };
                // Something must follow the id, else the line is dropped.
                let Some(end) = rest.find([' ', '\t']) else {
                    return Ok(());
                };
                let id = &rest[..end];
                let matches = self.config_id.as_deref() == Some(id);
                if matches == neg {
                    if self.config_id.is_none()
                        && !neg
                        && !self.skipped_ids.iter().any(|(i, _, _)| i == id)
                    {
                        self.skipped_ids
                            .push((id.to_string(), self.src.clone(), self.lno));
                    }
                    return Ok(());
                }
                l = rest[end..].trim_start_matches([' ', '\t']).to_string();
                continue;
            }
            if let Some((name, value)) = definition(&l) {
                match value.strip_suffix('\\') {
                    Some(first) if physical => {
                        let first = first.trim_end();
                        let lines = if first.is_empty() {
                            Vec::new()
                        } else {
                            vec![first.to_string()]
                        };
                        let d = self.set(name, lines, true);
                        self.pending = Some(d);
                    }
                    _ => {
                        self.set(name, vec![value.to_string()], false);
                    }
                }
                return Ok(());
            }
            if l.starts_with("~SEQ") || l.starts_with("~LST") {
                let expanded = if l.starts_with("~SEQ") {
                    self.seq(&l, pwd)
                } else {
                    lst(&l)
                };
                match expanded {
                    Ok(items) => {
                        for it in items.into_iter().rev() {
                            queue.push_front(it);
                        }
                    }
                    Err(m) => {
                        let m = self.at(m);
                        self.config_errors.push(m);
                    }
                }
                return Ok(());
            }
            if l.starts_with('~') || !l.contains('$') {
                out.push(l);
                return Ok(());
            }
            let Some((new, more)) = self.replace(&l, pwd)? else {
                out.push(l);
                return Ok(());
            };
            for m in more.into_iter().rev() {
                queue.push_front(Item::Line(m));
            }
            l = decomment(&new);
            if !(l.starts_with('@') || l.contains('$')) {
                out.push(l);
                return Ok(());
            }
        }
        Err("parameter expansion does not end".into())
    }

    /// Replace parameters in `l`. None when nothing was replaced; else the new
    /// line and the further lines of multiline values.
    #[allow(clippy::type_complexity)]
    fn replace(&mut self, l: &str, pwd: &str) -> Result<Option<(String, Vec<String>)>, String> {
        let mut s: Vec<char> = l.chars().collect();
        let mut more: Vec<String> = Vec::new();
        let mut found = false;
        let mut pos = 0;
        let mut steps = 0;
        while pos + 1 < s.len() {
            if s[pos] != '$' {
                pos += 1;
                continue;
            }
            let Some(r) = reference(&s[pos + 1..]) else {
                pos += 1;
                continue;
            };
            let ends_line = pos + 1 + r.len == s.len();
            let Some(value) = self.value(&r, ends_line, pwd) else {
                pos += 1;
                continue;
            };
            steps += 1;
            if steps > MAX_STEPS {
                return Err("parameter expansion does not end".into());
            }
            found = true;
            let (first, rest) = match value.split_first() {
                Some((f, r)) => (f.clone(), r.to_vec()),
                None => (String::new(), Vec::new()),
            };
            // A later multiline value's lines come before an earlier one's rest.
            if !rest.is_empty() {
                more = rest.into_iter().chain(more).collect();
            }
            s.splice(pos..pos + 1 + r.len, first.chars());
            // The replacement is scanned again (recursive expansion), except
            // after a value starting with '~' (lib/parser.c replace_param).
            if first.trim_start_matches([' ', '\t']).starts_with('~') {
                break;
            }
        }
        Ok(found.then(|| (s.into_iter().collect(), more)))
    }

    /// The value of reference `r`, or None if it is not replaced.
    fn value(&mut self, r: &Ref, ends_line: bool, pwd: &str) -> Option<Vec<String>> {
        if let Some(d) = self.defs.iter().find(|d| d.name == r.name) {
            // A multiline value only where the reference ends the line; user
            // definitions take no parameters.
            if (d.multiline && !ends_line) || r.params.is_some() {
                return None;
            }
            return Some(if d.lines.is_empty() {
                vec![String::new()]
            } else {
                d.lines.clone()
            });
        }
        let v = match (r.name.as_str(), &r.params) {
            ("_PWD", None) => pwd.to_string(),
            ("_INSTANCE", None) => self.config_id.clone()?,
            ("_HASH", None) => "#".into(),
            ("_BANG", None) => "!".into(),
            ("_RANDOM", p) => {
                let nums: Vec<u64> = p
                    .as_deref()
                    .unwrap_or("")
                    .split_whitespace()
                    .filter_map(|n| n.parse().ok())
                    .collect();
                if nums.len() > 2 {
                    return None;
                }
                let min = nums.first().copied().unwrap_or(0);
                let w = self.at(format!(
                    "${{_RANDOM}} is a random number in keepalived; {min} (its minimum) is used"
                ));
                self.warnings.push(w);
                min.to_string()
            }
            _ => return None,
        };
        Some(vec![v])
    }

    /// `~SEQ(VAR, [START,] [STEP,] END) text` or `~SEQx(...)`.
    fn seq(&mut self, l: &str, pwd: &str) -> Result<Vec<Item>, String> {
        let bad = || format!("Invalid ~SEQ definition '{l}'");
        let rest = &l[4..];
        let (hex, rest) = match rest.strip_prefix('x') {
            Some(r) => (true, r),
            None => (false, rest),
        };
        let rest = rest.trim_start_matches([' ', '\t']);
        let rest = rest.strip_prefix('(').ok_or_else(bad)?;
        let close = rest.find(')').ok_or_else(bad)?;
        let (inside, text) = (&rest[..close], &rest[close + 1..]);
        let mut parts = inside.splitn(2, ',');
        let var = parts.next().unwrap_or("").trim_matches([' ', '\t']);
        let nums = parts.next().ok_or_else(bad)?;
        if var.is_empty() {
            return Err(bad());
        }
        // The numbers may be parameters themselves.
        let nums = match self.replace(nums, pwd)? {
            Some((n, more)) if more.is_empty() => n,
            Some(_) => return Err(format!("~SEQ parameter is multiline definition '{l}'")),
            None => nums.to_string(),
        };
        let vals: Vec<i64> = nums
            .split(',')
            .map(|n| parse_c_long(n.trim_matches([' ', '\t'])).ok_or_else(bad))
            .collect::<Result<_, _>>()?;
        let (start, step, end) = match vals.as_slice() {
            [end] => (
                if *end < 0 { -1 } else { 1 },
                if *end < 1 { -1 } else { 1 },
                *end,
            ),
            [start, end] => (*start, if start <= end { 1 } else { -1 }, *end),
            [start, step, end] => {
                if *step == 0 || (start < end && *step < 0) || (start > end && *step > 0) {
                    return Err(format!("Invalid ~SEQ values '{l}'"));
                }
                (*start, *step, *end)
            }
            _ => return Err(bad()),
        };
        if hex && (start < 0 || end < 0) {
            return Err(format!("~SEQx is only valid for positive numbers '{l}'"));
        }
        let text = text.trim_start_matches([' ', '\t']).to_string();
        let mut items = Vec::new();
        let mut v = start;
        loop {
            if (step > 0 && v > end) || (step < 0 && v < end) {
                break;
            }
            if items.len() > 2 * MAX_STEPS {
                return Err(format!("~SEQ with too many values '{l}'"));
            }
            let s = if hex { format!("{v:x}") } else { v.to_string() };
            items.push(Item::Set(var.to_string(), s));
            items.push(Item::Line(text.clone()));
            v += step;
        }
        Ok(items)
    }
}

/// `~LST(VAR, V1, V2, ...) text` or `~LST({A, B}, {1, 2}, {3, 4}) text`.
fn lst(l: &str) -> Result<Vec<Item>, String> {
    let bad = || format!("Invalid ~LST specification '{l}'");
    let rest = l[4..].trim_start_matches([' ', '\t']);
    let rest = rest.strip_prefix('(').ok_or_else(bad)?;
    let close = rest.find(')').ok_or_else(bad)?;
    let (inside, text) = (&rest[..close], &rest[close + 1..]);
    // Split at top-level commas, keeping `{...}` groups together.
    let mut groups: Vec<Vec<String>> = Vec::new();
    let mut chars = inside.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ' ' || *c == '\t') {
            chars.next();
        }
        let mut g = Vec::new();
        if chars.peek() == Some(&'{') {
            chars.next();
            let mut cur = String::new();
            loop {
                match chars.next() {
                    Some('}') => break,
                    Some(',') => g.push(std::mem::take(&mut cur)),
                    Some(c) => cur.push(c),
                    None => return Err(bad()),
                }
            }
            g.push(cur);
            while chars.peek().is_some_and(|c| *c == ' ' || *c == '\t') {
                chars.next();
            }
            match chars.next() {
                Some(',') | None => {}
                Some(_) => return Err(bad()),
            }
        } else {
            let mut cur = String::new();
            for c in chars.by_ref() {
                if c == ',' {
                    break;
                }
                cur.push(c);
            }
            g.push(cur);
        }
        groups.push(
            g.into_iter()
                .map(|v| v.trim_matches([' ', '\t']).to_string())
                .collect(),
        );
        if chars.peek().is_none() {
            break;
        }
    }
    let mut groups = groups.into_iter();
    let vars = groups.next().filter(|v| !v.is_empty()).ok_or_else(bad)?;
    let text = text.trim_start_matches([' ', '\t']).to_string();
    let mut items = Vec::new();
    let mut any = false;
    for set in groups {
        if set.len() > vars.len() {
            return Err(format!("~LST specification has too many values '{l}'"));
        }
        any = true;
        for (i, var) in vars.iter().enumerate() {
            // Missing values are blank.
            items.push(Item::Set(
                var.clone(),
                set.get(i).cloned().unwrap_or_default(),
            ));
        }
        items.push(Item::Line(text.clone()));
    }
    if !any {
        return Err(bad());
    }
    Ok(items)
}

/// A `$NAME` or `${NAME [PARAMS]}` reference: name, parameters, length after `$`.
struct Ref {
    name: String,
    params: Option<String>,
    len: usize,
}

/// The reference starting after a `$`, if it is one keepalived replaces.
fn reference(s: &[char]) -> Option<Ref> {
    let braces = s.first() == Some(&'{');
    let start = usize::from(braces);
    let first = *s.get(start)?;
    if !(first.is_ascii_alphabetic() || first == '_') {
        return None;
    }
    let mut i = start + 1;
    while i < s.len() && (s[i].is_ascii_alphanumeric() || s[i] == '_') {
        i += 1;
    }
    let name: String = s[start..i].iter().collect();
    if braces {
        // Parameters: digits and spaces, not ending in a space.
        let p0 = i;
        while i < s.len() && (s[i] == ' ' || s[i].is_ascii_digit()) {
            i += 1;
        }
        if s.get(i) != Some(&'}') {
            return None;
        }
        let raw: String = s[p0..i].iter().collect();
        let params = if raw.trim().is_empty() {
            if !raw.is_empty() {
                return None;
            }
            None
        } else {
            if raw.ends_with(' ') {
                return None;
            }
            Some(raw.trim().to_string())
        };
        return Some(Ref {
            name,
            params,
            len: i + 1,
        });
    }
    match s.get(i) {
        None | Some(' ' | '\t' | ',' | ')') => Some(Ref {
            name,
            params: None,
            len: i,
        }),
        _ => None,
    }
}

/// `$NAME=VALUE` (name `[A-Za-z_][A-Za-z0-9_]*`, `=` right after it).
fn definition(l: &str) -> Option<(&str, &str)> {
    let rest = l.strip_prefix('$')?;
    let eq = rest.find('=')?;
    let name = &rest[..eq];
    let mut cs = name.chars();
    let ok = cs
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && cs.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !ok {
        return None;
    }
    Some((name, rest[eq + 1..].trim_start_matches([' ', '\t'])))
}

/// keepalived's decomment: leading blanks, comments outside double quotes
/// (`\#` and `\!` outside quotes are the plain characters) and trailing blanks
/// removed; a trailing `\` (continuation) kept.
pub(crate) fn decomment(raw: &str) -> String {
    let s = raw.trim_start_matches([' ', '\t']);
    let mut out = String::with_capacity(s.len());
    let mut quote = false;
    let mut cont = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                quote = !quote;
                out.push(c);
            }
            '\\' => match chars.next() {
                Some(n @ ('#' | '!')) if !quote => out.push(n),
                Some(n) => {
                    out.push('\\');
                    out.push(n);
                }
                None => cont = true,
            },
            '#' | '!' if !quote => break,
            _ => out.push(c),
        }
    }
    let mut out = out.trim_end_matches([' ', '\t', '\r', '\n']).to_string();
    if cont {
        out.push('\\');
    }
    out
}

/// C `strtol(s, &end, 0)` on a whole string: decimal, `0x` hex or `0` octal.
fn parse_c_long(s: &str) -> Option<i64> {
    let (neg, d) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let v = if let Some(h) = d.strip_prefix("0x").or_else(|| d.strip_prefix("0X")) {
        i64::from_str_radix(h, 16).ok()?
    } else if d.len() > 1 && d.starts_with('0') {
        i64::from_str_radix(&d[1..], 8).ok()?
    } else {
        d.parse().ok()?
    };
    Some(if neg { -v } else { v })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(p: &mut Preproc, text: &str) -> Vec<String> {
        let mut out = Vec::new();
        for (i, l) in text.lines().enumerate() {
            let lines = p.line(l, "k.conf", i + 1, "/etc/keepalived").unwrap();
            out.extend(lines.into_iter().filter(|l| !l.trim().is_empty()));
        }
        out
    }

    #[test]
    fn conditional_lines() {
        let text = "@main router_id a\n@backup router_id b\n@^main prio 1\n@main\n  @main x y\n";
        let mut p = Preproc::new(Some("main".into()));
        assert_eq!(run(&mut p, text), ["router_id a", "x y"]);
        let mut p = Preproc::new(Some("backup".into()));
        assert_eq!(run(&mut p, text), ["router_id b", "prio 1"]);
        let mut p = Preproc::new(None);
        assert_eq!(run(&mut p, text), ["prio 1"]);
        let ids: Vec<_> = p.skipped_ids.iter().map(|(i, _, _)| i.as_str()).collect();
        assert_eq!(ids, ["main", "backup"]);
    }

    #[test]
    fn parameters_are_expanded_when_used() {
        // The keepalived.conf(5) example.
        let text = "$ADDRESS_BASE=10.2.${ADDRESS_BASE_SUB}\n$ADDRESS_BASE_SUB=0\n\
                    ${ADDRESS_BASE}.100/32\n$ADDRESS_BASE_SUB=10\n${ADDRESS_BASE}.100/32\n\
                    a $UNDEF ${UNDEF} $ADDRESS_BASE_SUB/8 $ADDRESS_BASE_SUB\n";
        let mut p = Preproc::new(None);
        assert_eq!(
            run(&mut p, text),
            [
                "10.2.0.100/32",
                "10.2.10.100/32",
                // `$NAME` must be followed by a blank, ',' or ')' or end the line.
                "a $UNDEF ${UNDEF} $ADDRESS_BASE_SUB/8 10"
            ]
        );
    }

    #[test]
    fn conditional_definitions_and_predefined() {
        let text = "@main $PRIO=240\n@backup $PRIO=200\npriority $PRIO\n\
                    $IF_MAIN=@main\n$IF_MAIN weight 3\nscript \"${_PWD}/x ${_HASH}1\"\nid ${_INSTANCE}\n";
        let mut p = Preproc::new(Some("main".into()));
        assert_eq!(
            run(&mut p, text),
            [
                "priority 240",
                "weight 3",
                "script \"/etc/keepalived/x #1\"",
                "id main"
            ]
        );
    }

    #[test]
    fn multiline_definitions() {
        let text = "$RS= \\\nreal_server 10.0.${N}.1 80 { \\\n  weight 1 \\\n}\n\n$N=0\n$RS\n$N=1\n   $RS\n";
        let mut p = Preproc::new(None);
        assert_eq!(
            run(&mut p, text),
            [
                "real_server 10.0.0.1 80 {",
                "weight 1",
                "}",
                "real_server 10.0.1.1 80 {",
                "weight 1",
                "}"
            ]
        );
    }

    #[test]
    fn sequences_and_lists() {
        let mut p = Preproc::new(None);
        assert_eq!(
            run(&mut p, "~SEQ(S, 0, 3) ip 10.0.${S}.1\n"),
            ["ip 10.0.0.1", "ip 10.0.1.1", "ip 10.0.2.1", "ip 10.0.3.1"]
        );
        assert_eq!(
            run(&mut p, "~SEQx(S, 0x90, 0x10, 0xc0) fe80::${S}:1\n"),
            ["fe80::90:1", "fe80::a0:1", "fe80::b0:1", "fe80::c0:1"]
        );
        assert_eq!(run(&mut p, "~SEQ(S, 2) n ${S}\n"), ["n 1", "n 2"]);
        assert_eq!(
            run(&mut p, "~SEQ(A, 1, 2) ~SEQ(B, 5, 6) ${A}.${B}\n"),
            ["1.5", "1.6", "2.5", "2.6"]
        );
        assert_eq!(
            run(
                &mut p,
                "~LST({IP, IP1}, {10,1},{20,4}) 192.168.${IP}.${IP1}\n"
            ),
            ["192.168.10.1", "192.168.20.4"]
        );
        assert_eq!(run(&mut p, "~LST(V, a, b) x${V}\n"), ["xa", "xb"]);
        run(&mut p, "~SEQ(S, 1, -1, 5) x\n");
        assert_eq!(p.config_errors.len(), 1, "{:?}", p.config_errors);
    }

    #[test]
    fn plain_lines_untouched_and_loops_stop() {
        let mut p = Preproc::new(None);
        let raw = "  script \"kill -0 $(cat /run/x.pid)\" # c";
        assert_eq!(p.line(raw, "k", 1, "/").unwrap(), [raw]);
        run(&mut p, "$A=x $A\n");
        assert!(p.line("y $A", "k", 2, "/").is_err());
    }
}
