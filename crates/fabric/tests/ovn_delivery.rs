//! Every frame a real OVN chassis delivered (conformance/ovn/expected/*/
//! frames.txt and delivery.jsonl, recorded by `scripts/conformance ovn
//! --packets K`) reaches exactly the same ports through `vipwire trace
//! --driver ovn`'s delivery, frame by frame in order (conntrack and MAC
//! learning carry across frames).

use neutron::firewall::FirewallDriver;
use std::path::Path;

#[test]
fn every_recorded_real_delivery_is_reproduced() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../conformance/ovn/expected");
    let (mut clouds, mut frames) = (0, 0);
    let mut differ = Vec::new();
    for entry in std::fs::read_dir(&root).unwrap() {
        let dir = entry.unwrap().path();
        let (Ok(json), Ok(sent), Ok(real)) = (
            std::fs::read_to_string(dir.join("neutron.json")),
            std::fs::read_to_string(dir.join("frames.txt")),
            std::fs::read_to_string(dir.join("delivery.jsonl")),
        ) else {
            continue;
        };
        clouds += 1;
        let cloud = neutron::load::load_json(&json, &dir.display().to_string()).unwrap();
        // vipwire names a port by its name, else its id (deliver.rs).
        let label = |id: &str| {
            cloud
                .port(id)
                .filter(|p| !p.name.is_empty())
                .map(|p| p.name.clone())
                .unwrap_or_else(|| id.to_string())
        };
        let sends = fabric::deliver::parse_sends(&cloud, &sent).unwrap();
        let mut backend = fabric::build(&cloud, FirewallDriver::Ovn).unwrap();
        let got = fabric::deliver::deliver_all(&cloud, backend.as_mut(), &sends);
        let real: Vec<serde_json::Value> = real
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(got.len(), real.len(), "{}", dir.display());
        for (i, (g, r)) in got.iter().zip(&real).enumerate() {
            frames += 1;
            let mut want: Vec<String> = r["delivered_to"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| label(x.as_str().unwrap()))
                .collect();
            want.sort();
            let mut have = g.to.clone();
            have.sort();
            if want != have {
                differ.push(format!(
                    "{} frame {}: real {want:?}, vipwire {have:?}",
                    dir.display(),
                    i + 1
                ));
            }
        }
    }
    assert!(clouds >= 5, "only {clouds} recorded clouds with frames");
    assert!(
        differ.is_empty(),
        "{} of {frames} frames differ:\n{}",
        differ.len(),
        differ.join("\n")
    );
}
