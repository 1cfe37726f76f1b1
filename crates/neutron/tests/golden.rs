//! Golden tests: every `tests/golden/*.json` cloud rendered per host must equal
//! the files in `tests/golden/<case>/<host>.{iptables,ip6tables,ipset,ports}`.
//! Set `VIPWIRE_UPDATE_GOLDEN=1` to rewrite them (then review the diff).

use std::fs;
use std::path::{Path, PathBuf};

use neutron::firewall::iptables_hybrid::{render_all_hosts, HostRules};
use neutron::load_json;

fn cases() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut v: Vec<PathBuf> = fs::read_dir(&dir)
        .expect("golden dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    v.sort();
    v
}

pub fn ports_text(r: &HostRules) -> String {
    r.ports
        .iter()
        .map(|p| {
            format!(
                "{} tap={} qvb={} qvo={} qbr={} zone={}\n",
                p.port_id, p.tap, p.qvb, p.qvo, p.qbr, p.zone
            )
        })
        .collect()
}

#[test]
fn goldens_match() {
    let update = std::env::var_os("VIPWIRE_UPDATE_GOLDEN").is_some();
    let mut failures = Vec::new();
    let all = cases();
    assert!(all.len() >= 4, "golden cases missing");
    for case in all {
        let text = fs::read_to_string(&case).unwrap();
        let cloud = load_json(&text, &case.display().to_string()).unwrap();
        let hosts = render_all_hosts(&cloud).unwrap();
        assert!(!hosts.is_empty());
        let dir = case.with_extension("");
        if update {
            fs::create_dir_all(&dir).unwrap();
        }
        for (host, r) in &hosts {
            for (ext, got) in [
                ("iptables", r.iptables_save.clone()),
                ("ip6tables", r.ip6tables_save.clone()),
                ("ipset", r.ipset_save.clone()),
                ("ports", ports_text(r)),
            ] {
                let path = dir.join(format!("{host}.{ext}"));
                if update {
                    fs::write(&path, &got).unwrap();
                    continue;
                }
                let want = fs::read_to_string(&path).unwrap_or_default();
                if want != got {
                    failures.push(format!(
                        "{} differs:\n--- want\n{want}\n--- got\n{got}",
                        path.display()
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
