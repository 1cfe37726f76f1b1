//! `vipwire check --format html|svg|dot` and `--pcap FILE` end to end on the
//! built-in scenario, both backends: exit codes kept, outputs of the right
//! kind, the drop drawn and named, the pcap written.

use std::process::Command;

fn vipwire(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vipwire"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn drawn_formats_keep_the_exit_code_and_name_the_rule() {
    for (driver, rule) in [
        ("iptables_hybrid", "neutron-openvswi-s236e03f1-b rule 3"),
        ("ovn", "ls_in_apply_port_sec, priority=50"),
    ] {
        let (code, html) = vipwire(&["check", "--driver", driver, "--format", "html"]);
        assert_eq!(code, 1);
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains(rule), "{driver}");
        for external in ["<link", " src=", "href=\"http", "@import", "url(http"] {
            assert!(
                !html.contains(external),
                "{driver}: {external} in a self-contained page"
            );
        }
        assert!(!html.contains("<script"), "the page needs no script");
        let (code, svg) = vipwire(&["check", "--driver", driver, "--format", "svg"]);
        assert_eq!(code, 1);
        assert!(svg.starts_with("<?xml") && svg.contains(r#"class="leg drop""#));
        let (code, dot) = vipwire(&["check", "--driver", driver, "--format", "dot"]);
        assert_eq!(code, 1);
        assert!(dot.starts_with("digraph vipwire {") && dot.contains(rule));
        let (code, fixed) = vipwire(&["check", "--driver", driver, "--fix", "--format", "html"]);
        assert_eq!(code, 0, "{driver}: the fix passes");
        assert!(fixed.contains("<h3>Before</h3>") && fixed.contains("<h3>After</h3>"));
    }
}

#[test]
fn pcap_is_written_beside_any_format() {
    let path = std::env::temp_dir().join(format!("vipwire-cli-{}.pcapng", std::process::id()));
    let p = path.to_str().unwrap();
    let (code, text) = vipwire(&["check", "--pcap", p]);
    assert_eq!(code, 1);
    assert!(text.contains("DROP"));
    let file = std::fs::read(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    assert_eq!(
        &file[..4],
        &[0x0a, 0x0d, 0x0d, 0x0a],
        "a pcapng section header"
    );
    assert!(String::from_utf8_lossy(&file).contains("DROPPED at port director-1 egress"));
}
