//! Tokeniser for keepalived.conf: comments, quoting, braces and `include`.
//!
//! keepalived's rules (keepalived.conf(5), "DESCRIPTION" and "Quoted strings"):
//! `#` and `!` start a comment anywhere outside quotes; `"`/`'` quote parts of a
//! word and are removed; `{` and `}` delimit blocks. `include GLOB` is expanded
//! relative to the directory of the file that contains it. In Check mode each
//! line first goes through [`super::preproc`] (`@ID`, `$NAME`, `~SEQ`), so an
//! `include` may use parameters, as in keepalived.

use std::path::{Path, PathBuf};

use super::error::ConfigError;
use super::preproc::Preproc;
use super::{ParseOptions, Strictness, Unmodelled};

/// Deepest include nesting we follow (guards against include loops).
const MAX_INCLUDE_DEPTH: usize = 16;

/// One word of the configuration with the place it came from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub text: String,
    /// True for a bare `{` or `}` (a quoted "{" is a plain word).
    pub brace: bool,
    /// Index into [`Tokens::sources`].
    pub file: usize,
    pub line: usize,
    /// Unique id of the physical line, so a statement ends at a line end.
    pub lid: usize,
}

/// All tokens of a configuration, includes expanded in place.
#[derive(Debug, Default)]
pub(crate) struct Tokens {
    pub toks: Vec<Token>,
    pub sources: Vec<String>,
    pub warnings: Vec<String>,
    /// keepalived configuration errors found while reading lines (bad `~SEQ`).
    pub config_errors: Vec<String>,
    /// Lines left out for want of a config id (Check mode).
    pub unmodelled: Vec<Unmodelled>,
    next_lid: usize,
    pre: Option<Preproc>,
}

impl Tokens {
    pub(crate) fn lex(
        text: &str,
        source: &str,
        base_dir: Option<&Path>,
        opts: &ParseOptions,
    ) -> Result<Tokens, ConfigError> {
        let mut t = Tokens::default();
        if opts.strictness == Strictness::Check {
            t.pre = Some(Preproc::new(opts.config_id.clone()));
        }
        t.lex_into(text, source, base_dir, 0)?;
        if let Some(p) = t.pre.take() {
            t.warnings.extend(p.warnings);
            t.config_errors.extend(p.config_errors);
            for (id, source, line) in p.skipped_ids {
                t.unmodelled.push(Unmodelled {
                    source,
                    line,
                    keyword: format!("@{id}"),
                    what: format!(
                        "lines for config id {id} are left out: no config id was given \
                         (keepalived's -i, ParseOptions.config_id)"
                    ),
                });
            }
        }
        Ok(t)
    }

    fn lex_into(
        &mut self,
        text: &str,
        source: &str,
        base_dir: Option<&Path>,
        depth: usize,
    ) -> Result<(), ConfigError> {
        let file = self.sources.len();
        self.sources.push(source.to_string());
        // `${_PWD}`: the directory of the file being read.
        let pwd = match base_dir {
            Some(d) => std::fs::canonicalize(d).unwrap_or_else(|_| d.to_path_buf()),
            None => std::env::current_dir().unwrap_or_default(),
        };
        let pwd = pwd.display().to_string();
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let syntax = |message: String| ConfigError::Syntax {
                file: source.to_string(),
                line,
                message,
            };
            let lines = match self.pre.as_mut() {
                Some(p) => p.line(raw, source, line, &pwd).map_err(syntax)?,
                None => {
                    director_refuses(raw, source, line)?;
                    vec![raw.to_string()]
                }
            };
            for l in lines {
                let words = split_line(&l).map_err(syntax)?;
                if words.is_empty() {
                    continue;
                }
                self.next_lid += 1;
                let lid = self.next_lid;
                if !words[0].1 && words[0].0 == "include" {
                    self.include(&words, source, line, base_dir, depth)?;
                    continue;
                }
                for (text, quoted) in words {
                    let brace = !quoted && (text == "{" || text == "}");
                    self.toks.push(Token {
                        text,
                        brace,
                        file,
                        line,
                        lid,
                    });
                }
            }
        }
        Ok(())
    }

    fn include(
        &mut self,
        words: &[(String, bool)],
        source: &str,
        line: usize,
        base_dir: Option<&Path>,
        depth: usize,
    ) -> Result<(), ConfigError> {
        let syntax = |message: String| ConfigError::Syntax {
            file: source.to_string(),
            line,
            message,
        };
        if words.len() != 2 {
            return Err(syntax(
                "\"include\" takes exactly one file name or pattern".into(),
            ));
        }
        if depth >= MAX_INCLUDE_DEPTH {
            return Err(syntax(format!(
                "includes nested deeper than {MAX_INCLUDE_DEPTH} (include loop?)"
            )));
        }
        let pattern = Path::new(&words[1].0);
        let full = match base_dir {
            Some(dir) if pattern.is_relative() => dir.join(pattern),
            _ => pattern.to_path_buf(),
        };
        let files = glob(&full);
        if files.is_empty() {
            // keepalived 2.2.7 logs "Config files missing" but `-t` still passes.
            self.warnings.push(format!(
                "{source}:{line}: include \"{}\" matched no file",
                words[1].0
            ));
        }
        for f in files {
            let text = std::fs::read_to_string(&f).map_err(|e| ConfigError::Io {
                path: f.display().to_string(),
                source: e,
            })?;
            let dir = f.parent().map(Path::to_path_buf);
            self.lex_into(&text, &f.display().to_string(), dir.as_deref(), depth + 1)?;
        }
        Ok(())
    }
}

/// Director mode: keepalived's preprocessor lines (`@ID`, `$NAME`, `~SEQ`)
/// are refused wherever they are, naming their first word.
fn director_refuses(raw: &str, source: &str, line: usize) -> Result<(), ConfigError> {
    let text = super::preproc::decomment(raw);
    let reason = match text.chars().next() {
        Some('@') => "conditional configuration (@ID lines) is not supported by the director",
        Some('$') => "parameter substitution ($NAME) is not supported by the director",
        Some('~') => "sequences (~SEQ, ~LST) are not supported by the director",
        _ => return Ok(()),
    };
    let keyword = text
        .split([' ', '\t', '(', '='])
        .next()
        .unwrap_or("")
        .to_string();
    Err(ConfigError::Unsupported {
        file: source.to_string(),
        line,
        keyword,
        context: "configuration".into(),
        reason: reason.into(),
    })
}

/// Split one line into words, dropping comments. Returns (word, had_quotes).
fn split_line(raw: &str) -> Result<Vec<(String, bool)>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quoted = false;
    let mut quote: Option<char> = None;
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if let Some(q) = quote {
            if c == q {
                quote = None;
            } else if c == '\\' && q == '"' {
                match chars.next() {
                    Some('n') => cur.push('\n'),
                    Some('t') => cur.push('\t'),
                    Some('r') => cur.push('\r'),
                    Some(other) => cur.push(other),
                    None => cur.push('\\'),
                }
            } else {
                cur.push(c);
            }
            continue;
        }
        match c {
            '#' | '!' => break,
            '"' | '\'' => {
                quote = Some(c);
                quoted = true;
                in_word = true;
            }
            '{' | '}' => {
                if in_word {
                    out.push((std::mem::take(&mut cur), quoted));
                }
                in_word = false;
                quoted = false;
                out.push((c.to_string(), false));
            }
            c if c.is_whitespace() => {
                if in_word {
                    out.push((std::mem::take(&mut cur), quoted));
                }
                in_word = false;
                quoted = false;
            }
            c => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err("unterminated quoted string".into());
    }
    if in_word {
        out.push((cur, quoted));
    }
    Ok(out)
}

/// Expand `*`, `?` and `[...]` in any component of `pattern`; sorted, files only.
fn glob(pattern: &Path) -> Vec<PathBuf> {
    let mut bases: Vec<PathBuf> = vec![PathBuf::new()];
    let comps: Vec<_> = pattern.components().collect();
    for (i, comp) in comps.iter().enumerate() {
        let part = comp.as_os_str().to_string_lossy();
        let last = i + 1 == comps.len();
        let mut next = Vec::new();
        for b in &bases {
            if part.contains(['*', '?', '[']) {
                let dir = if b.as_os_str().is_empty() {
                    PathBuf::from(".")
                } else {
                    b.clone()
                };
                let Ok(rd) = std::fs::read_dir(&dir) else {
                    continue;
                };
                let mut names: Vec<String> = rd
                    .filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| !n.starts_with('.') || part.starts_with('.'))
                    .filter(|n| wildcard_match(&part, n))
                    .collect();
                names.sort();
                next.extend(names.into_iter().map(|n| b.join(n)));
            } else {
                next.push(b.join(comp.as_os_str()));
            }
        }
        if !last {
            next.retain(|p| p.is_dir());
        }
        bases = next;
    }
    bases.retain(|p| p.is_file());
    bases
}

/// Shell-style match of `name` against `pat` (`*`, `?`, `[abc]`, `[a-z]`, `[!x]`).
pub(crate) fn wildcard_match(pat: &str, name: &str) -> bool {
    let p: Vec<char> = pat.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // Iterative matcher with one backtrack point for the last `*`.
    let (mut pi, mut ni) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() {
            match p[pi] {
                '*' => {
                    star = Some((pi, ni));
                    pi += 1;
                    continue;
                }
                '?' => {
                    pi += 1;
                    ni += 1;
                    continue;
                }
                '[' => {
                    if let Some((ok, len)) = class_match(&p[pi..], n[ni]) {
                        if ok {
                            pi += len;
                            ni += 1;
                            continue;
                        }
                    } else if n[ni] == '[' {
                        pi += 1;
                        ni += 1;
                        continue;
                    }
                }
                c if c == n[ni] => {
                    pi += 1;
                    ni += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some((sp, sn)) => {
                pi = sp + 1;
                ni = sn + 1;
                star = Some((sp, sn + 1));
            }
            None => return false,
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Match a `[...]` class at the start of `p`; returns (matched, pattern length).
fn class_match(p: &[char], c: char) -> Option<(bool, usize)> {
    let mut i = 1;
    let negate = matches!(p.get(i), Some('!') | Some('^'));
    if negate {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    while i < p.len() {
        if p[i] == ']' && !first {
            return Some((matched != negate, i + 1));
        }
        first = false;
        if i + 2 < p.len() && p[i + 1] == '-' && p[i + 2] != ']' {
            if p[i] <= c && c <= p[i + 2] {
                matched = true;
            }
            i += 3;
        } else {
            if p[i] == c {
                matched = true;
            }
            i += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        split_line(s).unwrap().into_iter().map(|w| w.0).collect()
    }

    #[test]
    fn comments_quotes_braces() {
        assert_eq!(words("a b # c"), vec!["a", "b"]);
        assert_eq!(words("a!b c"), vec!["a"]);
        assert_eq!(words("x{y}"), vec!["x", "{", "y", "}"]);
        assert_eq!(
            words(r#"script "/bin/a # b" c"#),
            vec!["script", "/bin/a # b", "c"]
        );
        assert_eq!(words(r#"abcd" efg h "mnop"#), vec!["abcd efg h mnop"]);
        assert!(split_line("a \"b").is_err());
    }

    #[test]
    fn wildcards() {
        assert!(wildcard_match("*.conf", "a.conf"));
        assert!(!wildcard_match("*.conf", "a.conf.bak"));
        assert!(wildcard_match("a?c", "abc"));
        assert!(wildcard_match("[a-c]x", "bx"));
        assert!(!wildcard_match("[!a-c]x", "bx"));
        assert!(wildcard_match("*", ""));
    }
}
