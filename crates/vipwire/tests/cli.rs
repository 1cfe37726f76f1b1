//! CLI tests: run the real binary the way a user does and check output and exit codes.

use std::process::{Command, Output};

fn vipwire(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vipwire"))
        .args(args)
        .output()
        .expect("run vipwire")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn builtin_check_reproduces_the_field_report() {
    let o = vipwire(&["check"]);
    let out = stdout(&o);
    assert_eq!(
        o.status.code(),
        Some(1),
        "a drop must exit 1:\n{out}{}",
        stderr(&o)
    );
    // ping and VRRP pass, HTTP dies at the director's anti-spoof chain.
    // Flow rows read "VERDICT KIND FLOW".
    let verdict_of = |flow: &str| {
        out.lines()
            .find(|l| {
                l.split_whitespace()
                    .skip(2)
                    .collect::<Vec<_>>()
                    .join(" ")
                    .starts_with(flow)
            })
            .unwrap_or_else(|| panic!("no flow {flow}:\n{out}"))
            .split_whitespace()
            .next()
            .unwrap()
            .to_string()
    };
    assert_eq!(verdict_of("ping client-1"), "PASS");
    assert_eq!(verdict_of("VRRP director-1"), "PASS");
    assert_eq!(
        verdict_of("TCP client-1 -> 203.0.113.241:80 via director-1"),
        "DROP"
    );
    assert!(out.contains("neutron-openvswi-s236e03f1-b"), "{out}");
    assert!(
        out.contains("DR forwarding keeps the client's source IP"),
        "{out}"
    );
    assert!(
        out.contains("source 203.0.113.50 from fa:16:3e:54:84:88"),
        "{out}"
    );
}

#[test]
fn builtin_fix_reaches_the_reports_working_fix() {
    let o = vipwire(&["check", "--fix"]);
    let out = stdout(&o);
    assert_eq!(
        o.status.code(),
        Some(0),
        "fixed check must exit 0:\n{out}{}",
        stderr(&o)
    );
    assert!(
        out.contains("openstack port set --allowed-address ip-address=0.0.0.0/0 236e03f1-b8bc-4a4a-9a23-9f14bd36b719"),
        "{out}"
    );
    assert!(out.contains("Re-check with the change applied"), "{out}");
    let remedy = |name: &str| {
        out.lines()
            .find(|l| l.contains(name))
            .unwrap_or_else(|| panic!("no remedy {name}:\n{out}"))
            .to_string()
    };
    assert!(remedy("report 5.3 (1)").contains("[WORKS]"));
    assert!(remedy("report 5.3 (2)").contains("[FAILS]"));
    assert!(out.contains("rewrites only the destination MAC"), "{out}");
}

#[test]
fn check_json_is_machine_readable() {
    let o = vipwire(&["check", "--format", "json"]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("valid JSON");
    assert_eq!(v["passed"], false);
    let flows = v["check"]["flows"].as_array().expect("flows");
    assert!(flows.iter().any(|f| f["outcome"] == "DROP"));
    assert!(flows
        .iter()
        .any(|f| f["category"] == "vrrp" && f["outcome"] == "PASS"));
}

#[test]
fn bad_scenario_names_file_and_line_and_exits_2() {
    let dir = std::env::temp_dir().join(format!("vipwire-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("scenario.yaml");
    std::fs::write(
        &path,
        "neutron: n.json\ndirectors:\n  - port: a\n    keepalivd: x.conf\n",
    )
    .unwrap();
    let o = vipwire(&["check", path.to_str().unwrap()]);
    let err = stderr(&o);
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("scenario.yaml:4:"), "{err}");
    assert!(err.contains("keepalivd"), "{err}");
}

#[test]
fn yaml_syntax_error_names_file_line_and_column() {
    let dir = std::env::temp_dir().join(format!("vipwire-cli-syntax-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("scenario.yaml");
    // (text, where the YAML parser must point)
    let cases = [
        // `keepalived` is indented one column short of the list item's keys.
        (
            "neutron: n.json\ndirectors:\n  - port: a\n   keepalived: x.conf\n",
            "scenario.yaml:4:4: ",
        ),
        // A double-quoted scalar that is never closed: the quote opens at 3:11.
        (
            "neutron: n.json\ndirectors:\n  - port: \"a\n",
            "scenario.yaml:3:11: ",
        ),
    ];
    let mut failures = Vec::new();
    for (text, want) in cases {
        std::fs::write(&path, text).unwrap();
        let o = vipwire(&["check", path.to_str().unwrap()]);
        let err = stderr(&o);
        if o.status.code() != Some(2) || !err.contains(want) || err.trim_end().contains('\n') {
            failures.push(format!(
                "want exit 2 and one line with {want:?}, got {:?}:\n{err}",
                o.status.code()
            ));
        }
    }
    std::fs::remove_dir_all(&dir).ok();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn missing_file_exits_2() {
    let o = vipwire(&["check", "/nonexistent/scenario.yaml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("/nonexistent/scenario.yaml"));
}

#[test]
fn rules_prints_the_hosts_iptables_save() {
    let o = vipwire(&["rules", "--host", "compute-1"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(out.contains("*filter"), "{out}");
    assert!(out.contains("*raw"), "{out}");
    assert!(
        out.contains(":neutron-openvswi-s236e03f1-b - [0:0]"),
        "{out}"
    );
    // A host without ports gets no rules, as from the real agent; the warning
    // lists the known hosts in case of a typo.
    let o = vipwire(&["rules", "--host", "compute-9"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).is_empty());
    assert!(stderr(&o).contains("compute-1"));
}

#[test]
fn trace_reports_verdicts_in_text_and_json() {
    let dir = std::env::temp_dir().join(format!("vipwire-trace-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let rules = dir.join("rules.txt");
    let packets = dir.join("packets.txt");
    std::fs::write(
        &rules,
        "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n\
         -A FORWARD -m state --state RELATED,ESTABLISHED -j ACCEPT\n\
         -A FORWARD -p tcp -m tcp --dport 80 --tcp-flags FIN,SYN,RST,ACK SYN -j ACCEPT\nCOMMIT\n",
    )
    .unwrap();
    std::fs::write(
        &packets,
        "# SYN passes, the reply is ESTABLISHED, a stray ACK (conntrack picks it up as NEW) matches no rule: policy DROP\n\
         in=eth0 out=eth1 src=203.0.113.50 dst=198.51.100.8 proto=tcp sport=40000 dport=80 flags=S\n\
         in=eth1 out=eth0 src=198.51.100.8 dst=203.0.113.50 proto=tcp sport=80 dport=40000 flags=SA\n\
         in=eth0 out=eth1 src=203.0.113.50 dst=198.51.100.8 proto=tcp sport=40001 dport=80 flags=A\n",
    )
    .unwrap();
    let args = [
        "trace",
        "--rules",
        rules.to_str().unwrap(),
        "--packets",
        packets.to_str().unwrap(),
        "--format",
        "json",
    ];
    let o = vipwire(&args);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let lines: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    std::fs::remove_dir_all(&dir).ok();
    let verdicts: Vec<&str> = lines
        .iter()
        .map(|v| v["verdict"].as_str().unwrap())
        .collect();
    assert_eq!(verdicts, ["ACCEPT", "ACCEPT", "DROP"]);
    assert_eq!(lines[1]["ctstate"], "ESTABLISHED");
    assert!(!lines[0]["path"].as_array().unwrap().is_empty());
}

#[test]
fn fix_json_lists_commands_and_the_recheck() {
    let o = vipwire(&["check", "--fix", "--format", "json"]);
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("valid JSON");
    let changes = v["fix"]["changes"].as_array().expect("changes");
    assert_eq!(changes.len(), 2);
    assert!(changes[0]["command"]
        .as_str()
        .unwrap()
        .starts_with("openstack port set --allowed-address ip-address=0.0.0.0/0"));
    assert!(changes[0]["cost"]
        .as_str()
        .unwrap()
        .contains("ANY IPv4 source"));
    assert_eq!(v["fix"]["recheck"]["flows"][0]["outcome"], "PASS");
}

#[test]
fn bad_neutron_json_names_file_port_and_field() {
    let dir = std::env::temp_dir().join(format!("vipwire-neutron-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("neutron.json");
    std::fs::write(
        &path,
        r#"{"ports": [{"id": "3f2a0000-0000-4000-8000-000000000001", "name": "director-1",
            "mac_address": "fa:16:3e:00:00:01", "binding:host_id": "compute-1",
            "fixed_ips": [{"subnet_id": "s", "ip_address": "203.0.113.999"}]}]}"#,
    )
    .unwrap();
    let o = vipwire(&[
        "rules",
        "--neutron",
        path.to_str().unwrap(),
        "--host",
        "compute-1",
    ]);
    let err = stderr(&o);
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("neutron.json"), "{err}");
    assert!(err.contains("director-1"), "{err}");
    assert!(err.contains("fixed_ips[0].ip_address"), "{err}");
}

#[test]
fn rules_family_6_and_ipsets() {
    let o = vipwire(&["rules", "--host", "compute-1", "--family", "6"]);
    assert_eq!(o.status.code(), Some(0));
    let v6 = stdout(&o);
    assert!(v6.contains("*filter") && v6.contains("ipv6-icmp"), "{v6}");
    let o = vipwire(&["rules", "--host", "compute-1", "--ipsets"]);
    let sets = stdout(&o);
    assert!(
        sets.contains("create NIPv4") && sets.contains("add NIPv4"),
        "{sets}"
    );
    assert!(sets.contains("203.0.113.241"), "{sets}");
}

#[test]
fn mixed_lb_kinds_and_bad_keepalived_are_refused_with_file_and_line() {
    let dir = std::env::temp_dir().join(format!("vipwire-ka-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/lvs-dr");
    std::fs::copy(examples.join("neutron.json"), dir.join("neutron.json")).unwrap();
    let conf = std::fs::read_to_string(examples.join("keepalived-director-1.conf")).unwrap();
    // A DR and a NAT virtual server in one file: one method per scenario.
    let start = conf.find("virtual_server").unwrap();
    let nat_vs = conf[start..]
        .replace("203.0.113.241 80", "203.0.113.241 443")
        .replace("lb_kind DR", "lb_kind NAT");
    std::fs::write(dir.join("nat.conf"), format!("{conf}\n{nat_vs}")).unwrap();
    std::fs::write(
        dir.join("typo.conf"),
        conf.replace("lb_algo rr", "lb_algoo rr"),
    )
    .unwrap();
    let run_with = |conf: &str| {
        std::fs::write(
            dir.join("scenario.yaml"),
            format!(
                "neutron: neutron.json\ndirectors:\n  - port: director-1\n    keepalived: {conf}\n"
            ),
        )
        .unwrap();
        vipwire(&["check", dir.join("scenario.yaml").to_str().unwrap()])
    };
    let nat = run_with("nat.conf");
    let typo = run_with("typo.conf");
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(nat.status.code(), Some(2));
    assert!(stderr(&nat).contains("nat.conf:"), "{}", stderr(&nat));
    assert!(
        stderr(&nat).contains("one LVS forwarding method per scenario"),
        "{}",
        stderr(&nat)
    );
    assert_eq!(typo.status.code(), Some(2));
    assert!(stderr(&typo).contains("typo.conf:"), "{}", stderr(&typo));
    assert!(stderr(&typo).contains("lb_algoo"), "{}", stderr(&typo));
}

#[test]
fn cloud_trace_delivers_by_mac_and_names_the_deciding_rule() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let neutron = format!("{root}/examples/lvs-dr/neutron.json");
    let frames = format!("{root}/examples/trace/field-report-frames.txt");
    let o = vipwire(&[
        "trace",
        "--neutron",
        &neutron,
        "--packets",
        &frames,
        "--format",
        "json",
        "--fail-on-drop",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let lines: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 6);
    assert_eq!(lines[0]["verdict"], "delivered");
    assert_eq!(lines[0]["to"][0], "director-1");
    assert_eq!(lines[1]["verdict"], "dropped");
    assert_eq!(lines[1]["drop"]["decided_by"][0]["kind"], "spoof-drop");
    assert_eq!(lines[1]["drop"]["side"], "egress");
    assert_eq!(lines[2]["to"][0], "client-1");
    assert_eq!(lines[3]["verdict"], "dropped");
    assert!(lines[3]["drop"]["place"]
        .as_str()
        .unwrap()
        .contains("ARP spoofing protection"));
    // Neighbour discovery: its own link-local passes, a foreign target does not.
    assert_eq!(lines[4]["verdict"], "delivered", "{}", lines[4]);
    assert_eq!(lines[5]["verdict"], "dropped");
    assert!(lines[5]["drop"]["place"]
        .as_str()
        .unwrap()
        .contains("NA spoofing protection"));
}

#[test]
fn cloud_trace_errors_name_file_line_and_field() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let neutron = format!("{root}/examples/lvs-dr/neutron.json");
    let dir = std::env::temp_dir().join(format!("vw-cloudtrace-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let frames = dir.join("f.txt");
    std::fs::write(
        &frames,
        "# x\nfrom=nobody src=203.0.113.1 dst=203.0.113.2 proto=tcp\n",
    )
    .unwrap();
    let o = vipwire(&[
        "trace",
        "--neutron",
        &neutron,
        "--packets",
        frames.to_str().unwrap(),
    ]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("f.txt:2: from: no port with id or name \"nobody\""),
        "{}",
        stderr(&o)
    );
}
