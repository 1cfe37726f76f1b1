//! The logical flows vipwire lists for the modelled stages equal, line for
//! line, what the real ovn-northd 23.03 derived from the real Neutron 29.0.0's
//! Northbound rows for every cloud under conformance/ovn/expected/ (recorded
//! by `scripts/conformance ovn`, normalised as docs/conformance-ovn.md says).

use std::path::Path;

#[test]
fn lflows_equal_the_real_northd_on_every_recorded_cloud() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../conformance/ovn/expected");
    let mut cases = 0;
    let mut differ = Vec::new();
    for entry in std::fs::read_dir(&root).unwrap() {
        let dir = entry.unwrap().path();
        let (Ok(want), Ok(json)) = (
            std::fs::read_to_string(dir.join("lflows.txt")),
            std::fs::read_to_string(dir.join("neutron.json")),
        ) else {
            continue;
        };
        cases += 1;
        let cloud = neutron::load::load_json(&json, &dir.display().to_string()).unwrap();
        let nb = neutron::firewall::ovn::Northbound::of(&cloud);
        let got = fabric::ovn::lflows::render(&cloud, &nb);
        if got != want {
            let first = got
                .lines()
                .zip(want.lines())
                .find(|(a, b)| a != b)
                .map(|(a, b)| format!("\n  vipwire: {a}\n  real:    {b}"))
                .unwrap_or_else(|| "\n  (one listing is longer)".into());
            differ.push(format!("{}{first}", dir.display()));
        }
    }
    assert!(cases >= 20, "only {cases} recorded clouds found");
    assert!(differ.is_empty(), "lflows differ:\n{}", differ.join("\n"));
}
