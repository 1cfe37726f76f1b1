//! iptables-save / ip6tables-save text: model, parser and printer.
//!
//! Every value keeps the text it was read from, so printing a parsed ruleset gives
//! back the same text (tokens joined by one space, as iptables-save writes them).
//! Matches and targets the model does not know are kept as raw tokens and printed
//! back; the engine reports them when a packet reaches them.
//!
//! Accepted forms are those iptables-save writes: module options follow their
//! `-m NAME`, negation comes before the option (`! -s X`, `-m tcp ! --dport 22`).
//! The old `-s ! X` form is an error. Long option names (`--source`) are read
//! and printed in their short form.

mod icmp;
mod matches;
mod rule;
mod save;
mod target;
#[cfg(test)]
mod tests;
mod xtables;

use icmp::*;
pub use matches::*;
pub use rule::*;
pub use save::*;
pub use target::*;
pub use xtables::*;

use ipnet::IpNet;
use packet::MacAddr;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// A parse error with its 1-based line number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {msg}")]
pub struct ParseError {
    pub line: usize,
    pub msg: String,
}

fn perr<T>(line: usize, msg: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError {
        line,
        msg: msg.into(),
    })
}

/// Address family of a ruleset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    pub fn of(ip: &IpAddr) -> Family {
        match ip {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }
}

/// A value together with the text it was written as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Val<T> {
    pub value: T,
    pub text: String,
}

impl<T> fmt::Display for Val<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Packet/byte counters `[p:b]`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub packets: u64,
    pub bytes: u64,
}

impl fmt::Display for Counters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}:{}]", self.packets, self.bytes)
    }
}

fn parse_counters(s: &str) -> Option<Counters> {
    let inner = s.strip_prefix('[')?.strip_suffix(']')?;
    let (p, b) = inner.split_once(':')?;
    Some(Counters {
        packets: p.parse().ok()?,
        bytes: b.parse().ok()?,
    })
}

/// A whole iptables-save text (one family).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ruleset {
    pub lines: Vec<TopLine>,
}

/// A line outside a table, or a whole table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TopLine {
    /// `# ...` (text includes the `#`).
    Comment(String),
    Blank,
    Table(Table),
}

/// `*name` ... `COMMIT`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Table {
    pub name: String,
    pub body: Vec<TableLine>,
    /// False when the text ended before `COMMIT`.
    pub committed: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TableLine {
    Chain(ChainDecl),
    Rule(Rule),
    Comment(String),
    Blank,
}

/// `:NAME POLICY [p:b]`; user chains have policy `-` (None).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainDecl {
    pub name: String,
    pub policy: Option<String>,
    pub counters: Option<Counters>,
}

/// `[p:b] -A CHAIN parts...`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub counters: Option<Counters>,
    pub chain: String,
    /// Matches and target in the order they were written.
    pub parts: Vec<Part>,
}

/// One element of a rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Part {
    Src(bool, Val<IpNet>),
    Dst(bool, Val<IpNet>),
    InIface(bool, String),
    OutIface(bool, String),
    Proto(bool, Val<Option<u8>>),
    Fragment(bool),
    /// `-m name opts...`
    Module(ModuleMatch),
    /// `-j TARGET opts...`
    Jump(Target),
    /// `-g CHAIN`
    Goto(String),
}
