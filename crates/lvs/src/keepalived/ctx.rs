//! Reading context shared by every section of keepalived.conf: where a
//! statement is, the diagnostics (warnings, `keepalived -t` configuration
//! errors, what Check mode does not model), Director/Check refusals, and the
//! value readers with keepalived's number syntax (lib/parser.c,
//! read_unsigned_strvec and friends).

use std::net::IpAddr;

use super::error::ConfigError;
use super::keywords::*;
use super::lexer::Tokens;
use super::tree::Stmt;
use super::*;

pub(super) struct Ctx<'a> {
    sources: &'a [String],
    pub(super) warnings: Vec<String>,
    pub(super) config_errors: Vec<String>,
    pub(super) unmodelled: Vec<Unmodelled>,
    /// Every script met, for [`ScriptSecurity`].
    pub(super) scripts: Vec<ExternalScript>,
    strict: Strictness,
}

/// Where a statement is, for messages.
pub(super) struct At<'s> {
    pub(super) file: &'s str,
    pub(super) line: usize,
}

impl<'a> Ctx<'a> {
    /// Diagnostics start with the lexer's.
    pub(super) fn new(toks: &'a Tokens, strict: Strictness) -> Ctx<'a> {
        Ctx {
            sources: &toks.sources,
            warnings: toks.warnings.clone(),
            config_errors: toks.config_errors.clone(),
            unmodelled: toks.unmodelled.clone(),
            scripts: Vec::new(),
            strict,
        }
    }
}

impl Ctx<'_> {
    /// Reading for `vipwire check` ([`Strictness::Check`]).
    pub(super) fn check_mode(&self) -> bool {
        self.strict == Strictness::Check
    }

    pub(super) fn at<'s>(&'s self, s: &Stmt) -> At<'s> {
        At {
            file: self.sources.get(s.file).map(String::as_str).unwrap_or("?"),
            line: s.line,
        }
    }

    pub(super) fn unknown(&self, s: &Stmt, context: &str) -> ConfigError {
        let at = self.at(s);
        ConfigError::UnknownKeyword {
            file: at.file.into(),
            line: at.line,
            keyword: s.keyword.clone(),
            context: context.into(),
        }
    }

    pub(super) fn unsupported(&self, s: &Stmt, context: &str, reason: &str) -> ConfigError {
        let at = self.at(s);
        ConfigError::Unsupported {
            file: at.file.into(),
            line: at.line,
            keyword: s.keyword.clone(),
            context: context.into(),
            reason: reason.into(),
        }
    }

    pub(super) fn invalid(
        &self,
        s: &Stmt,
        context: &str,
        message: impl Into<String>,
    ) -> ConfigError {
        let at = self.at(s);
        ConfigError::InvalidValue {
            file: at.file.into(),
            line: at.line,
            keyword: s.keyword.clone(),
            context: context.into(),
            message: message.into(),
        }
    }

    pub(super) fn missing(&self, s: &Stmt, context: &str, keyword: &str) -> ConfigError {
        let at = self.at(s);
        ConfigError::Missing {
            file: at.file.into(),
            line: at.line,
            keyword: keyword.into(),
            context: context.into(),
        }
    }

    pub(super) fn warn(&mut self, s: &Stmt, msg: impl AsRef<str>) {
        let at = self.at(s);
        let w = format!("{}:{}: {}", at.file, at.line, msg.as_ref());
        self.warnings.push(w);
    }

    /// A known keyword vipwire does not model: a warning. Blocks of such
    /// keywords are keepalived value blocks (one value per line), so a nested
    /// `{` there is an error, as it is for keepalived.
    pub(super) fn ignored(&mut self, s: &Stmt, context: &str) -> Result<(), ConfigError> {
        if let Some(inner) = s
            .block
            .as_deref()
            .and_then(|b| b.iter().find(|i| i.block.is_some()))
        {
            return Err(self.invalid(inner, &s.keyword, "unexpected '{' in a list of values"));
        }
        let msg = format!(
            "keyword \"{}\" in {context} is accepted but not modelled",
            s.keyword
        );
        self.warn(s, msg);
        Ok(())
    }

    /// A keyword the director cannot run: [`ConfigError::Unsupported`] in
    /// Director mode; in Check mode `reason` goes to `unmodelled` (or to
    /// `warnings` for [`Note::Warning`]) and parsing goes on.
    pub(super) fn refuse(
        &mut self,
        s: &Stmt,
        context: &str,
        reason: &str,
        note: Note,
    ) -> Result<(), ConfigError> {
        if !self.check_mode() {
            return Err(self.unsupported(s, context, reason));
        }
        match note {
            Note::Unmodelled => self.note(s, &s.keyword, reason),
            Note::Warning => {
                let msg = format!(
                    "keyword \"{}\" in {context} is accepted but not modelled: {reason}",
                    s.keyword
                );
                self.warn(s, msg);
            }
        }
        Ok(())
    }

    /// Record what vipwire check does not model.
    pub(super) fn note(&mut self, s: &Stmt, keyword: &str, what: impl Into<String>) {
        let at = self.at(s);
        let u = Unmodelled {
            source: at.file.to_string(),
            line: at.line,
            keyword: keyword.to_string(),
            what: what.into(),
        };
        self.unmodelled.push(u);
    }

    /// A known keyword: a warning, or in Check mode `unmodelled` when it is in
    /// `table` (keywords that change network behaviour).
    pub(super) fn ignored_or_unmodelled(
        &mut self,
        s: &Stmt,
        context: &str,
        table: &[(&str, &str)],
    ) -> Result<(), ConfigError> {
        match lookup(table, &s.keyword) {
            Some(what) if self.check_mode() => {
                self.note(s, &s.keyword, what);
                Ok(())
            }
            _ => self.ignored(s, context),
        }
    }

    /// A known keyword whose contents vipwire does not read (a whole block
    /// such as `SSL { }`): a warning, nested blocks allowed.
    pub(super) fn ignored_block(&mut self, s: &Stmt, context: &str) {
        let msg = format!(
            "keyword \"{}\" in {context} is accepted but not modelled",
            s.keyword
        );
        self.warn(s, msg);
    }

    /// Record a script (`words`: the command, then for notify scripts an
    /// optional user and group) for the host's script-security check.
    pub(super) fn script(
        &mut self,
        s: &Stmt,
        kind: ScriptKind,
        scope: ScriptScope,
        command: String,
        user: &[String],
    ) {
        let user = user.first().map(|u| (u.clone(), user.get(1).cloned()));
        let at = self.at(s);
        let (source, line) = (at.file.to_string(), at.line);
        self.scripts.push(ExternalScript {
            kind,
            scope,
            global: false,
            command,
            user,
            source,
            line,
        });
    }

    /// A `notify*`-style statement: `KEYWORD SCRIPT [USER [GROUP]]`.
    pub(super) fn notify_script(&mut self, s: &Stmt, scope: ScriptScope) {
        if let Some((cmd, user)) = s.args.split_first() {
            self.script(s, ScriptKind::Notify, scope, cmd.clone(), user);
        }
    }

    pub(super) fn config_error(&mut self, s: &Stmt, msg: impl AsRef<str>) {
        let at = self.at(s);
        let w = format!("{}:{}: {}", at.file, at.line, msg.as_ref());
        self.config_errors.push(w);
    }

    /// Exactly `n` arguments.
    pub(super) fn args<'s>(
        &self,
        s: &'s Stmt,
        ctx: &str,
        n: usize,
    ) -> Result<&'s [String], ConfigError> {
        if s.args.len() != n {
            return Err(self.invalid(
                s,
                ctx,
                format!("expected {n} value(s), found {}", s.args.len()),
            ));
        }
        Ok(&s.args)
    }

    pub(super) fn one<'s>(&self, s: &'s Stmt, ctx: &str) -> Result<&'s str, ConfigError> {
        Ok(&self.args(s, ctx, 1)?[0])
    }

    pub(super) fn no_block(&self, s: &Stmt, ctx: &str) -> Result<(), ConfigError> {
        if s.block.is_some() {
            return Err(self.invalid(s, ctx, "takes no { } block"));
        }
        Ok(())
    }

    pub(super) fn block<'s>(&self, s: &'s Stmt, ctx: &str) -> Result<&'s [Stmt], ConfigError> {
        s.block
            .as_deref()
            .ok_or_else(|| self.invalid(s, ctx, "needs a { } block"))
    }

    pub(super) fn uint(&self, s: &Stmt, ctx: &str, min: u64, max: u64) -> Result<u64, ConfigError> {
        self.no_block(s, ctx)?;
        let v = self.one(s, ctx)?;
        parse_uint(v, min, max).map_err(|m| self.invalid(s, ctx, m))
    }

    pub(super) fn int(
        &self,
        s: &Stmt,
        ctx: &str,
        v: &str,
        min: i64,
        max: i64,
    ) -> Result<i64, ConfigError> {
        let (neg, digits) = match v.strip_prefix('-') {
            Some(d) => (true, d),
            None => (false, v.strip_prefix('+').unwrap_or(v)),
        };
        let mag = parse_uint(digits, 0, i64::MAX as u64).map_err(|m| self.invalid(s, ctx, m))?;
        let n = if neg { -(mag as i64) } else { mag as i64 };
        if n < min || n > max {
            return Err(self.invalid(s, ctx, format!("{v} is outside {min}..={max}")));
        }
        Ok(n)
    }

    pub(super) fn float(
        &self,
        s: &Stmt,
        ctx: &str,
        min: f64,
        max: f64,
    ) -> Result<f64, ConfigError> {
        self.no_block(s, ctx)?;
        let v = self.one(s, ctx)?;
        parse_float(v, min, max).map_err(|m| self.invalid(s, ctx, m))
    }

    pub(super) fn ip(&self, s: &Stmt, ctx: &str, v: &str) -> Result<IpAddr, ConfigError> {
        v.parse::<IpAddr>()
            .map_err(|_| self.invalid(s, ctx, format!("\"{v}\" is not an IP address")))
    }

    pub(super) fn port(&self, s: &Stmt, ctx: &str, v: &str) -> Result<u16, ConfigError> {
        parse_uint(v, 0, 65535)
            .map(|p| p as u16)
            .map_err(|m| self.invalid(s, ctx, m))
    }

    pub(super) fn source(&self, s: &Stmt) -> String {
        self.sources.get(s.file).cloned().unwrap_or_default()
    }
}

/// Unsigned decimal integer (keepalived rejects signs and trailing junk).
pub(super) fn parse_uint(v: &str, min: u64, max: u64) -> Result<u64, String> {
    // keepalived reads numbers with strtoul: a leading '+' is fine.
    let v = v.strip_prefix('+').unwrap_or(v);
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("invalid number \"{v}\""));
    }
    let n: u64 = v
        .parse()
        .map_err(|_| format!("number \"{v}\" is too large"))?;
    if n < min || n > max {
        return Err(format!("{v} is outside {min}..={max}"));
    }
    Ok(n)
}

/// Decimal number of seconds, like keepalived's timer values ("0.92").
fn parse_float(v: &str, min: f64, max: f64) -> Result<f64, String> {
    let ok = !v.is_empty()
        && v.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && v.bytes().filter(|&b| b == b'.').count() <= 1
        && v.bytes().any(|b| b.is_ascii_digit());
    let n: f64 = if ok {
        v.parse().map_err(|_| format!("invalid number \"{v}\""))?
    } else {
        return Err(format!("invalid number \"{v}\""));
    };
    if !(min..=max).contains(&n) {
        return Err(format!("{v} is outside {min}..={max}"));
    }
    Ok(n)
}

pub(super) fn lookup<'a>(table: &'a [(&str, &str)], k: &str) -> Option<&'a str> {
    table.iter().find(|(n, _)| *n == k).map(|(_, r)| *r)
}

/// A `*_UNSUPPORTED` table entry: reason and Check-mode note.
pub(super) fn lookup3(
    table: &'static [(&'static str, &'static str, Note)],
    k: &str,
) -> Option<(&'static str, Note)> {
    table
        .iter()
        .find(|(n, _, _)| *n == k)
        .map(|(_, r, n)| (*r, *n))
}
