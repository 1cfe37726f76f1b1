//! `ipset save` text: model, parser, printer and membership test.
//!
//! Supported types: `hash:net`, `hash:ip`, `hash:ip,port`, `hash:net,port`,
//! `bitmap:ip`. Other types and unknown entry forms are kept as text (printed
//! back) but never match. Each set keeps an index by prefix length so a lookup
//! costs one hash probe per distinct prefix length.

use crate::ruleset::{proto_number, Family, ParseError};
use ipnet::IpNet;
use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;

fn perr<T>(line: usize, msg: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError {
        line,
        msg: msg.into(),
    })
}

/// Set type from the `create` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SetType {
    HashNet,
    HashIp,
    HashIpPort,
    HashNetPort,
    BitmapIp,
    Other(String),
}

impl SetType {
    fn parse(s: &str) -> SetType {
        match s {
            "hash:net" => SetType::HashNet,
            "hash:ip" => SetType::HashIp,
            "hash:ip,port" => SetType::HashIpPort,
            "hash:net,port" => SetType::HashNetPort,
            "bitmap:ip" => SetType::BitmapIp,
            o => SetType::Other(o.to_string()),
        }
    }

    pub fn name(&self) -> &str {
        match self {
            SetType::HashNet => "hash:net",
            SetType::HashIp => "hash:ip",
            SetType::HashIpPort => "hash:ip,port",
            SetType::HashNetPort => "hash:net,port",
            SetType::BitmapIp => "bitmap:ip",
            SetType::Other(s) => s,
        }
    }

    fn has_port(&self) -> bool {
        matches!(self, SetType::HashIpPort | SetType::HashNetPort)
    }
}

/// The element of one `add` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Elem {
    /// An address or network (hash:ip with a CIDR adds every address in it).
    Net(IpNet),
    /// `a-b` address range.
    Range(IpAddr, IpAddr),
    /// Address/network with `proto:port` (ICMP: port = type << 8 | code).
    NetPort(IpNet, u8, u16),
    /// Not understood: never matches.
    Other,
}

/// One `add SET ELEM [options]` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The element as written.
    pub text: String,
    pub elem: Elem,
    /// Options after the element, as written (`timeout 30`, `nomatch`, ...).
    pub opts: Vec<String>,
}

impl Entry {
    pub fn nomatch(&self) -> bool {
        self.opts.iter().any(|o| o == "nomatch")
    }
}

/// One set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpSet {
    pub name: String,
    pub kind: SetType,
    pub family: Family,
    /// Options after the type on the `create` line, as written.
    pub create_opts: Vec<String>,
    pub entries: Vec<Entry>,
}

/// Key in the lookup index: family-tagged address bits plus proto/port.
type Key = (u8, u128, u8, u16);

fn bits(ip: IpAddr) -> (u8, u128) {
    match ip {
        IpAddr::V4(a) => (4, u32::from(a) as u128),
        IpAddr::V6(a) => (6, u128::from(a)),
    }
}

fn mask(fam: u8, prefix: u8) -> u128 {
    let width = if fam == 4 { 32 } else { 128 };
    if prefix == 0 {
        0
    } else {
        let m = u128::MAX << (128 - prefix as u32);
        m >> (128 - width)
    }
}

/// Lookup index for one set: per prefix length (longest first), key -> nomatch.
#[derive(Clone, Debug, Default)]
struct SetIndex {
    by_prefix: Vec<(u8, HashMap<Key, bool>)>,
    ranges: Vec<(u128, u128, u8, bool)>,
}

impl SetIndex {
    fn build(set: &IpSet) -> SetIndex {
        let mut map: HashMap<u8, HashMap<Key, bool>> = HashMap::new();
        let mut ranges = Vec::new();
        for e in &set.entries {
            let nm = e.nomatch();
            match &e.elem {
                Elem::Net(n) => {
                    let (f, b) = bits(n.network());
                    map.entry(n.prefix_len())
                        .or_default()
                        .insert((f, b & mask(f, n.prefix_len()), 0, 0), nm);
                }
                Elem::NetPort(n, p, port) => {
                    let (f, b) = bits(n.network());
                    map.entry(n.prefix_len())
                        .or_default()
                        .insert((f, b & mask(f, n.prefix_len()), *p, *port), nm);
                }
                Elem::Range(a, b) => {
                    let (f, x) = bits(*a);
                    let (_, y) = bits(*b);
                    ranges.push((x, y, f, nm));
                }
                Elem::Other => {}
            }
        }
        let mut by_prefix: Vec<_> = map.into_iter().collect();
        by_prefix.sort_by_key(|e| std::cmp::Reverse(e.0));
        SetIndex { by_prefix, ranges }
    }

    fn lookup(&self, ip: IpAddr, pp: (u8, u16)) -> bool {
        let (f, b) = bits(ip);
        for (plen, m) in &self.by_prefix {
            if let Some(nomatch) = m.get(&(f, b & mask(f, *plen), pp.0, pp.1)) {
                return !nomatch;
            }
        }
        self.ranges
            .iter()
            .any(|(x, y, rf, nm)| *rf == f && (*x..=*y).contains(&b) && !nm)
    }
}

/// A line of the saved text, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
enum SaveLine {
    Create(usize),
    Add(usize, usize),
    Comment(String),
    Blank,
}

/// All sets of one `ipset save`.
#[derive(Clone, Debug, Default)]
pub struct IpsetStore {
    sets: Vec<IpSet>,
    by_name: HashMap<String, usize>,
    index: Vec<SetIndex>,
    lines: Vec<SaveLine>,
}

impl PartialEq for IpsetStore {
    fn eq(&self, o: &Self) -> bool {
        self.sets == o.sets && self.lines == o.lines
    }
}

fn parse_elem(kind: &SetType, s: &str) -> Elem {
    let net = |t: &str| -> Option<IpNet> {
        t.parse::<IpNet>()
            .ok()
            .or_else(|| t.parse::<IpAddr>().ok().map(IpNet::from))
    };
    match kind {
        SetType::HashNet | SetType::HashIp | SetType::BitmapIp => {
            if let Some(n) = net(s) {
                return Elem::Net(n);
            }
            if let Some((a, b)) = s.split_once('-') {
                if let (Ok(a), Ok(b)) = (a.parse::<IpAddr>(), b.parse::<IpAddr>()) {
                    if a.is_ipv4() == b.is_ipv4() {
                        return Elem::Range(a, b);
                    }
                }
            }
            Elem::Other
        }
        SetType::HashIpPort | SetType::HashNetPort => {
            let Some((a, pp)) = s.split_once(',') else {
                return Elem::Other;
            };
            let Some(n) = net(a) else {
                return Elem::Other;
            };
            let (proto, port) = match pp.split_once(':') {
                Some((p, port)) => (p, port),
                None => ("tcp", pp),
            };
            let Some(Some(pn)) = proto_number(proto) else {
                return Elem::Other;
            };
            let port = if pn == 1 || pn == 58 {
                match port.split_once('/') {
                    Some((t, c)) => match (t.parse::<u8>(), c.parse::<u8>()) {
                        (Ok(t), Ok(c)) => Some(u16::from(t) << 8 | u16::from(c)),
                        _ => None,
                    },
                    None => None,
                }
            } else {
                port.parse::<u16>().ok()
            };
            match port {
                Some(p) => Elem::NetPort(n, pn, p),
                None => Elem::Other,
            }
        }
        SetType::Other(_) => Elem::Other,
    }
}

impl IpsetStore {
    /// Parse `ipset save` output.
    pub fn parse(text: &str) -> Result<IpsetStore, ParseError> {
        let mut st = IpsetStore::default();
        for (i, raw) in text.lines().enumerate() {
            let ln = i + 1;
            let line = raw.trim();
            if line.is_empty() {
                st.lines.push(SaveLine::Blank);
                continue;
            }
            if line.starts_with('#') {
                st.lines.push(SaveLine::Comment(line.to_string()));
                continue;
            }
            let toks: Vec<&str> = line.split_whitespace().collect();
            match toks.as_slice() {
                ["create", name, kind, opts @ ..] => {
                    if st.by_name.contains_key(*name) {
                        return perr(ln, format!("set {name} created twice"));
                    }
                    let mut family = Family::V4;
                    for w in opts.windows(2) {
                        if w[0] == "family" {
                            family = match w[1] {
                                "inet" => Family::V4,
                                "inet6" => Family::V6,
                                f => return perr(ln, format!("set {name}: unknown family {f}")),
                            };
                        }
                    }
                    st.by_name.insert(name.to_string(), st.sets.len());
                    st.lines.push(SaveLine::Create(st.sets.len()));
                    st.sets.push(IpSet {
                        name: name.to_string(),
                        kind: SetType::parse(kind),
                        family,
                        create_opts: opts.iter().map(|s| s.to_string()).collect(),
                        entries: Vec::new(),
                    });
                }
                ["add", name, elem, opts @ ..] => {
                    let Some(&idx) = st.by_name.get(*name) else {
                        return perr(ln, format!("add to unknown set {name}"));
                    };
                    let set = &mut st.sets[idx];
                    let e = parse_elem(&set.kind, elem);
                    let fam_ok = match &e {
                        Elem::Net(n) | Elem::NetPort(n, ..) => Family::of(&n.addr()) == set.family,
                        Elem::Range(a, _) => Family::of(a) == set.family,
                        Elem::Other => true,
                    };
                    if !fam_ok {
                        return perr(
                            ln,
                            format!("set {name}: element {elem} of the wrong family"),
                        );
                    }
                    set.entries.push(Entry {
                        text: elem.to_string(),
                        elem: e,
                        opts: opts.iter().map(|s| s.to_string()).collect(),
                    });
                    st.lines.push(SaveLine::Add(idx, set.entries.len() - 1));
                }
                _ => return perr(ln, format!("expected `create` or `add` line, got {line:?}")),
            }
        }
        st.index = st.sets.iter().map(SetIndex::build).collect();
        Ok(st)
    }

    pub fn sets(&self) -> &[IpSet] {
        &self.sets
    }

    pub fn get(&self, name: &str) -> Option<&IpSet> {
        self.by_name.get(name).map(|&i| &self.sets[i])
    }

    /// Index of a set for [`IpsetStore::contains_idx`].
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }

    /// Membership test. `port` is `(proto, port)` for the `,port` types (ICMP:
    /// `type << 8 | code`) and is ignored by the others. `None` if no such set.
    pub fn contains(&self, set: &str, ip: IpAddr, port: Option<(u8, u16)>) -> Option<bool> {
        self.index_of(set).map(|i| self.contains_idx(i, ip, port))
    }

    /// [`IpsetStore::contains`] by index (precompiled rules use this).
    pub fn contains_idx(&self, idx: usize, ip: IpAddr, port: Option<(u8, u16)>) -> bool {
        let (Some(set), Some(index)) = (self.sets.get(idx), self.index.get(idx)) else {
            return false;
        };
        if Family::of(&ip) != set.family {
            return false;
        }
        let pp = if set.kind.has_port() {
            match port {
                Some(p) => p,
                None => return false,
            }
        } else {
            (0, 0)
        };
        index.lookup(ip, pp)
    }

    /// Slow reference membership test: a linear scan of the entries.
    pub fn contains_naive(&self, set: &str, ip: IpAddr, port: Option<(u8, u16)>) -> Option<bool> {
        let s = self.sets.iter().find(|s| s.name == set)?;
        if Family::of(&ip) != s.family {
            return Some(false);
        }
        let pp = if s.kind.has_port() {
            match port {
                Some(p) => p,
                None => return Some(false),
            }
        } else {
            (0, 0)
        };
        // The most specific matching entry decides (a `nomatch` entry excludes).
        let mut best: Option<(u8, bool)> = None;
        let mut in_range = false;
        for e in &s.entries {
            let better = |l: u8| best.is_none_or(|(b, _)| l > b);
            match &e.elem {
                Elem::Net(n) if pp == (0, 0) && n.contains(&ip) && better(n.prefix_len()) => {
                    best = Some((n.prefix_len(), e.nomatch()));
                }
                Elem::NetPort(n, p, port)
                    if (*p, *port) == pp && n.contains(&ip) && better(n.prefix_len()) =>
                {
                    best = Some((n.prefix_len(), e.nomatch()));
                }
                Elem::Range(a, b)
                    if !e.nomatch() && Family::of(a) == Family::of(&ip) && *a <= ip && ip <= *b =>
                {
                    in_range = true;
                }
                _ => {}
            }
        }
        Some(match best {
            Some((_, nomatch)) => !nomatch,
            None => in_range,
        })
    }
}

impl fmt::Display for IpsetStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for l in &self.lines {
            match l {
                SaveLine::Create(i) => {
                    let s = &self.sets[*i];
                    write!(f, "create {} {}", s.name, s.kind.name())?;
                    for o in &s.create_opts {
                        write!(f, " {o}")?;
                    }
                    writeln!(f)?;
                }
                SaveLine::Add(i, j) => {
                    let s = &self.sets[*i];
                    let e = &s.entries[*j];
                    write!(f, "add {} {}", s.name, e.text)?;
                    for o in &e.opts {
                        write!(f, " {o}")?;
                    }
                    writeln!(f)?;
                }
                SaveLine::Comment(c) => writeln!(f, "{c}")?,
                SaveLine::Blank => writeln!(f)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "create NIPv4aaaa hash:net family inet hashsize 1024 maxelem 65536\n\
add NIPv4aaaa 203.0.113.5\n\
add NIPv4aaaa 198.51.100.0/24\n\
add NIPv4aaaa 198.51.100.128/25 nomatch\n\
create NIPv6aaaa hash:net family inet6 hashsize 1024 maxelem 65536\n\
add NIPv6aaaa 2001:db8::/64\n\
create svc hash:ip,port family inet hashsize 1024 maxelem 65536\n\
add svc 192.0.2.10,tcp:80\n\
add svc 192.0.2.10,udp:53\n\
create bm bitmap:ip range 192.0.2.0-192.0.2.255\n\
add bm 192.0.2.7\n\
add bm 192.0.2.20-192.0.2.29\n";

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn round_trip() {
        let st = IpsetStore::parse(TEXT).unwrap();
        assert_eq!(st.to_string(), TEXT);
        assert_eq!(st.sets().len(), 4);
    }

    #[test]
    fn membership() {
        let st = IpsetStore::parse(TEXT).unwrap();
        let cases = [
            ("NIPv4aaaa", "203.0.113.5", None, true),
            ("NIPv4aaaa", "203.0.113.6", None, false),
            ("NIPv4aaaa", "198.51.100.7", None, true),
            ("NIPv4aaaa", "198.51.100.200", None, false),
            ("NIPv6aaaa", "2001:db8::9", None, true),
            ("NIPv4aaaa", "2001:db8::9", None, false),
            ("svc", "192.0.2.10", Some((6, 80)), true),
            ("svc", "192.0.2.10", Some((17, 80)), false),
            ("svc", "192.0.2.10", Some((17, 53)), true),
            ("svc", "192.0.2.10", None, false),
            ("bm", "192.0.2.7", None, true),
            ("bm", "192.0.2.25", None, true),
            ("bm", "192.0.2.30", None, false),
        ];
        for (set, a, p, want) in cases {
            assert_eq!(st.contains(set, ip(a), p), Some(want), "{set} {a} {p:?}");
            assert_eq!(
                st.contains_naive(set, ip(a), p),
                Some(want),
                "naive {set} {a} {p:?}"
            );
        }
        assert_eq!(st.contains("nope", ip("192.0.2.1"), None), None);
    }

    #[test]
    fn errors() {
        assert_eq!(IpsetStore::parse("add x 1.2.3.4\n").unwrap_err().line, 1);
        assert_eq!(
            IpsetStore::parse("create x hash:net family inet\nadd x 2001:db8::1\n")
                .unwrap_err()
                .line,
            2
        );
        assert!(IpsetStore::parse("create x\n").is_err());
    }
}
