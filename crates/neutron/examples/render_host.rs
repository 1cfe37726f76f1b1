//! Renders one host of a Neutron JSON file with the iptables_hybrid driver:
//! `cargo run -p neutron --example render_host -- FILE HOST OUTDIR [legacy]`
//! writes OUTDIR/iptables.txt, ip6tables.txt and ipset.txt.

use std::path::Path;
use std::process::ExitCode;

use neutron::firewall::iptables_hybrid::{render_host_with, RenderOptions};
use neutron::firewall::SaveFlavor;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [file, host, out, rest @ ..] = args.as_slice() else {
        eprintln!("usage: render_host FILE HOST OUTDIR [legacy]");
        return ExitCode::from(2);
    };
    let flavor = if rest.first().is_some_and(|a| a == "legacy") {
        SaveFlavor::Legacy
    } else {
        SaveFlavor::Nft
    };
    let cloud = match neutron::load_file(Path::new(file)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let r = match render_host_with(&cloud, host, &RenderOptions { flavor }) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{file}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let out = Path::new(out);
    let write = |name: &str, text: &str| std::fs::write(out.join(name), text);
    if let Err(e) = std::fs::create_dir_all(out)
        .and_then(|_| write("iptables.txt", &r.iptables_save))
        .and_then(|_| write("ip6tables.txt", &r.ip6tables_save))
        .and_then(|_| write("ipset.txt", &r.ipset_save))
    {
        eprintln!("{}: {e}", out.display());
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
