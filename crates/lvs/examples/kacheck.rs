//! Print vipwire's verdict on keepalived.conf files: `accept`, `config-error` or `error`.
//!
//! `kacheck [--check] [--id CONFIG_ID] FILE...`: `--check` reads as `vipwire
//! check` does (Strictness::Check) and also prints what is not modelled.

use lvs::keepalived::{parse_file_with, ParseOptions, Strictness};

fn main() {
    let mut opts = ParseOptions::default();
    let mut args = std::env::args().skip(1);
    let mut files = Vec::new();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--check" => opts.strictness = Strictness::Check,
            "--id" => opts.config_id = args.next(),
            _ => files.push(a),
        }
    }
    for arg in files {
        let verdict = match parse_file_with(std::path::Path::new(&arg), &opts) {
            Ok(c) => {
                let mut v = if c.passes_keepalived_check() {
                    "accept".to_string()
                } else {
                    format!("config-error\t{}", c.config_errors.join(" | "))
                };
                for u in &c.unmodelled {
                    v.push_str(&format!("\n\tunmodelled: {u}"));
                }
                v
            }
            Err(e) => format!("error\t{e}"),
        };
        println!("{arg}\t{verdict}");
    }
}
