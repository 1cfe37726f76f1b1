//! The readable output of `check` and `check --fix` on the examples, pinned:
//! a refactor (a new backend seam, provenance) must leave it unchanged.
//! `UPDATE_GOLDEN=1 cargo test -p check --test golden_output` rewrites the files
//! after an intended change; review the diff.

use check::fix::find_fix;
use check::report::{render_check, render_fix};
use check::{run, Scenario};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

const CASES: [(&str, &str); 22] = [
    // The field report on ML2/OVN (`firewall_driver: ovn`).
    ("lvs-dr-ovn", "examples/lvs-dr-ovn/scenario.yaml"),
    ("lvs-dr", "examples/lvs-dr/scenario.yaml"),
    ("lvs-dr-external", "examples/lvs-dr-external/scenario.yaml"),
    (
        "tenant-view",
        "examples/broken/tenant-view-host-null/scenario.yaml",
    ),
    (
        "arp-holder",
        "examples/broken/arp-holder-without-vip-pair/scenario.yaml",
    ),
    (
        "production-keepalived",
        "examples/broken/production-keepalived/scenario.yaml",
    ),
    (
        "vrrp-vrid-mismatch",
        "examples/broken/vrrp-vrid-mismatch/scenario.yaml",
    ),
    // The other load-balancer patterns, on both backends.
    ("vip-failover", "examples/vip-failover/scenario.yaml"),
    (
        "vip-failover-keepalived",
        "examples/vip-failover/scenario-keepalived.yaml",
    ),
    (
        "vip-failover-ovn",
        "examples/vip-failover-ovn/scenario.yaml",
    ),
    ("lvs-nat", "examples/lvs-nat/scenario.yaml"),
    ("lvs-nat-ovn", "examples/lvs-nat-ovn/scenario.yaml"),
    ("lvs-tun", "examples/lvs-tun/scenario.yaml"),
    ("lvs-tun-ovn", "examples/lvs-tun-ovn/scenario.yaml"),
    ("routed-prefixes", "examples/routed-prefixes/scenario.yaml"),
    // IPv6 VIPs and dual stack.
    ("lvs-dr-v6", "examples/lvs-dr-v6/scenario.yaml"),
    ("lvs-dr-v6-ovn", "examples/lvs-dr-v6-ovn/scenario.yaml"),
    ("vip-failover-v6", "examples/vip-failover-v6/scenario.yaml"),
    (
        "vip-failover-v6-ovn",
        "examples/vip-failover-v6-ovn/scenario.yaml",
    ),
    (
        "vip-failover-dual",
        "examples/vip-failover-v6/scenario-dual.yaml",
    ),
    (
        "vip-failover-dual-ovn",
        "examples/vip-failover-v6-ovn/scenario-dual.yaml",
    ),
    (
        "routed-prefixes-ovn",
        "examples/routed-prefixes-ovn/scenario.yaml",
    ),
];

#[test]
fn check_and_fix_output_is_unchanged() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut changed = Vec::new();
    for (name, path) in CASES {
        // Paths in the output are as the user typed them: relative to the root.
        std::env::set_current_dir(root()).unwrap();
        let sc = Scenario::load(Path::new(path)).unwrap();
        let report = run(&sc).unwrap();
        let fix = find_fix(&sc, &report).unwrap();
        let text = format!("{}{}", render_check(&report, false), render_fix(&fix));
        let file = root()
            .join("crates/check/tests/golden")
            .join(format!("{name}.txt"));
        if update {
            std::fs::write(&file, &text).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&file).unwrap_or_default();
        if want != text {
            changed.push(name);
        }
    }
    assert!(
        changed.is_empty(),
        "output changed for {changed:?}; if intended: UPDATE_GOLDEN=1 cargo test -p check --test golden_output"
    );
}
