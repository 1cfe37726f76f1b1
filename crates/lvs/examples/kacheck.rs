//! Print vipwire's verdict on keepalived.conf files: `accept`, `config-error` or `error`.

fn main() {
    for arg in std::env::args().skip(1) {
        let verdict = match lvs::keepalived::parse_file(std::path::Path::new(&arg)) {
            Ok(c) if c.passes_keepalived_check() => "accept".to_string(),
            Ok(c) => format!("config-error\t{}", c.config_errors.join(" | ")),
            Err(e) => format!("error\t{e}"),
        };
        println!("{arg}\t{verdict}");
    }
}
