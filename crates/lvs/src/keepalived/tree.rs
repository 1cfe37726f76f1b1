//! Statement tree: `keyword args... [{ statements }]`, one statement per line.

use super::error::ConfigError;
use super::lexer::{Token, Tokens};

/// Deepest block nesting accepted (keepalived's own grammar needs 4).
const MAX_DEPTH: usize = 32;

#[derive(Debug, Clone)]
pub(crate) struct Stmt {
    pub keyword: String,
    pub args: Vec<String>,
    pub block: Option<Vec<Stmt>>,
    pub file: usize,
    pub line: usize,
}

pub(crate) fn build(t: &Tokens) -> Result<Vec<Stmt>, ConfigError> {
    let mut pos = 0;
    parse_block(t, &mut pos, 0, None)
}

fn syntax(t: &Tokens, tok: &Token, message: String) -> ConfigError {
    ConfigError::Syntax {
        file: t.sources[tok.file].clone(),
        line: tok.line,
        message,
    }
}

/// Parse statements until the matching `}` (when `opener` is set) or the end.
fn parse_block(
    t: &Tokens,
    pos: &mut usize,
    depth: usize,
    opener: Option<&Token>,
) -> Result<Vec<Stmt>, ConfigError> {
    let toks = &t.toks;
    let mut out = Vec::new();
    loop {
        let Some(tok) = toks.get(*pos) else {
            return match opener {
                Some(o) => Err(syntax(
                    t,
                    o,
                    format!("block opened here by \"{}\" is never closed", o.text),
                )),
                None => Ok(out),
            };
        };
        if tok.brace && tok.text == "}" {
            *pos += 1;
            return match opener {
                Some(_) => Ok(out),
                None => Err(syntax(t, tok, "extra '}' found".into())),
            };
        }
        if tok.brace {
            return Err(syntax(t, tok, "'{' without a keyword before it".into()));
        }
        *pos += 1;
        let mut args = Vec::new();
        while let Some(a) = toks.get(*pos) {
            if a.lid != tok.lid || a.brace {
                break;
            }
            args.push(a.text.clone());
            *pos += 1;
        }
        let mut block = None;
        if let Some(b) = toks.get(*pos) {
            if b.brace && b.text == "{" {
                if depth + 1 > MAX_DEPTH {
                    return Err(syntax(t, b, "blocks nested too deeply".into()));
                }
                *pos += 1;
                block = Some(parse_block(t, pos, depth + 1, Some(tok))?);
            }
        }
        out.push(Stmt {
            keyword: tok.text.clone(),
            args,
            block,
            file: tok.file,
            line: tok.line,
        });
    }
}
