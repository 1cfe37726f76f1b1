//! `vipwire check --os-cloud/--vip` before any network: every way of asking
//! wrongly exits 2 with a message that says what to do. (The reads from real
//! Keystone and Neutron are tested in conformance/cloud/.)

use std::path::PathBuf;
use std::process::{Command, Output};

/// A fresh empty folder used as both HOME and the working directory, so no
/// clouds.yaml of the machine is found.
fn empty_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("vipwire-cloud-cli-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn vipwire_in(dir: &PathBuf, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_vipwire"));
    c.args(args)
        .current_dir(dir)
        .env("HOME", dir)
        .env_remove("XDG_CONFIG_HOME");
    for (k, _) in std::env::vars() {
        if k.starts_with("OS_") {
            c.env_remove(k);
        }
    }
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run vipwire")
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn no_clouds_yaml_anywhere() {
    let d = empty_dir("none");
    let o = vipwire_in(
        &d,
        &["check", "--os-cloud", "prod", "--vip", "203.0.113.241"],
        &[],
    );
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    assert!(
        err(&o).contains("cloud \"prod\": no clouds.yaml found (searched"),
        "{}",
        err(&o)
    );
}

#[test]
fn no_cloud_named_and_no_openrc() {
    let d = empty_dir("nocloud");
    let o = vipwire_in(&d, &["check", "--vip", "203.0.113.241"], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("pass --os-cloud NAME"), "{}", err(&o));
}

#[test]
fn unknown_cloud_lists_the_known_ones_and_os_cloud_is_read() {
    let d = empty_dir("unknown");
    std::fs::write(
        d.join("clouds.yaml"),
        "clouds:\n  lab:\n    auth_type: none\n    network_endpoint_override: http://127.0.0.1:9/\n",
    )
    .unwrap();
    let o = vipwire_in(
        &d,
        &["check", "--os-cloud", "prod", "--vip", "203.0.113.241"],
        &[],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("is not in"), "{}", err(&o));
    assert!(err(&o).contains("(clouds there: lab)"), "{}", err(&o));
    // OS_CLOUD picks `lab`; nothing listens on port 9 of loopback.
    let o = vipwire_in(
        &d,
        &["check", "--vip", "203.0.113.241"],
        &[("OS_CLOUD", "lab")],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        err(&o).contains("cloud \"lab\": GET http://127.0.0.1:9/v2.0/extensions: cannot reach"),
        "{}",
        err(&o)
    );
}

#[test]
fn password_missing_says_where_it_may_live() {
    let d = empty_dir("nopw");
    std::fs::write(
        d.join("clouds.yaml"),
        "clouds:\n  prod:\n    auth:\n      auth_url: http://127.0.0.1:9/v3\n      username: u\n      project_name: p\n",
    )
    .unwrap();
    let o = vipwire_in(
        &d,
        &["check", "--os-cloud", "prod", "--vip", "203.0.113.241"],
        &[],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        err(&o).contains(
            "auth.password is missing; set it in clouds.yaml, secure.yaml or OS_PASSWORD"
        ),
        "{}",
        err(&o)
    );
}

#[test]
fn os_cloud_needs_a_vip_and_excludes_a_scenario_file() {
    let d = empty_dir("usage");
    let o = vipwire_in(&d, &["check", "--os-cloud", "prod"], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("--os-cloud needs --vip IP"), "{}", err(&o));
    let o = vipwire_in(
        &d,
        &[
            "check",
            "s.yaml",
            "--os-cloud",
            "prod",
            "--vip",
            "203.0.113.241",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("not both"), "{}", err(&o));
}

#[test]
fn apply_needs_fix_and_a_cloud() {
    let d = empty_dir("apply");
    let o = vipwire_in(&d, &["check", "--apply", "--yes"], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("go with --fix"), "{}", err(&o));
    let o = vipwire_in(&d, &["check", "--fix", "--apply", "--yes"], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        err(&o).contains("--apply changes a running cloud: give --os-cloud NAME and --vip IP"),
        "{}",
        err(&o)
    );
}

#[test]
fn undo_file_that_is_not_one() {
    let d = empty_dir("undo");
    std::fs::write(d.join("u.json"), "{\"not\": 1").unwrap();
    let o = vipwire_in(
        &d,
        &["check", "--os-cloud", "prod", "--undo", "u.json"],
        &[],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("not a vipwire undo file"), "{}", err(&o));
}

#[test]
fn fix_format_offline_prints_only_the_fix() {
    let d = empty_dir("fixformat");
    let o = vipwire_in(&d, &["check", "--fix", "--fix-format", "terraform"], &[]);
    // The built-in example's fix passes its re-check.
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.starts_with("# vipwire check --fix: the change as Terraform"),
        "{out}"
    );
    assert_eq!(
        out.matches("resource \"openstack_networking_port_v2\"")
            .count(),
        2
    );
    assert!(out.contains("    ip_address = \"0.0.0.0/0\"\n"), "{out}");
    // The report went to stderr.
    assert!(
        err(&o).contains("Smallest persistent Neutron change"),
        "{}",
        err(&o)
    );
    let o = vipwire_in(&d, &["check", "--fix", "--fix-format", "json"], &[]);
    let calls: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(calls.as_array().unwrap().len(), 2);
    assert!(calls
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["method"] == "PUT"));
    // --format json without --fix-format is the check report, as before.
    let o = vipwire_in(&d, &["check", "--fix", "--format", "json"], &[]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert!(v.get("check").is_some() && v.get("fix").is_some());
}
