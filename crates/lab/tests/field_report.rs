//! The field report, reproduced on the real kernel and fixed as vipwire proposes.
//!
//! The built-in scenario (examples/lvs-dr) is rendered into Neutron's
//! iptables_hybrid rules and loaded into a compute-host namespace with the
//! hybrid plumbing per port; VMs for director-1, rs-1..rs-4 and client-1 hang
//! off it. The director is `vipwire director` (DR, rr, user-space forwarding,
//! VIP added by hand in place of VRRP); real servers have the VIP on lo and
//! answer HTTP with their names.
//!
//! Phase 1: ping to the VIP works, HTTP hangs, and the packet counter of the
//! rule `vipwire check` names (the last rule of director-1's
//! `neutron-openvswi-s...` chain, DROP) goes up in the real kernel.
//! Phase 2: the change `vipwire check --fix` proposes is applied to the cloud,
//! the rules are rendered and loaded again, and curl gets a real server's answer.
//!
//! Simplification: the report's two compute hosts become one (every VM port
//! bound to compute-1). Chain and device names depend only on port ids, so the
//! drop chain is the same text; only conntrack zone numbers differ.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use check::fix::{find_fix, with_changes, Change};
use check::Scenario;
use lab::field::{self, one_host, ComputeHost};
use lab::netns::skip_unless;
use lab::topo::{self, HttpServer};
use neutron::firewall::iptables_hybrid::{port_chain, render_host};

const VIP: &str = "203.0.113.241";
const HOST: &str = "compute-1";
const DIRECTOR: &str = "director-1";
const CLIENT: &str = "client-1";
const REAL_SERVERS: [&str; 4] = ["rs-1", "rs-2", "rs-3", "rs-4"];

#[test]
fn field_report_reproduced_and_fixed_on_the_real_kernel() -> Result<()> {
    if skip_unless(
        "field_report_reproduced_and_fixed_on_the_real_kernel",
        &[
            "ip",
            "curl",
            "iptables-restore",
            "ip6tables-restore",
            "iptables-save",
            "ipset",
        ],
    ) {
        return Ok(());
    }
    topo::in_scratch_dir("fr-", topo::log_files, run)
}

fn run(dir: &Path) -> Result<()> {
    let t0 = Instant::now();

    // vipwire's prediction and fix, on the scenario as the report has it.
    let sc = Scenario::builtin()?;
    let report = check::run(&sc)?;
    let director_id = sc.cloud.port(DIRECTOR).context("director-1")?.id.clone();
    let predicted = report
        .drops()
        .map(|(_, _, d)| d)
        .find(|d| d.port_id == director_id && d.dr_forward)
        .context("vipwire check predicts no drop of director-1's DR forwarding")?
        .clone();
    eprintln!(
        "vipwire check: DR SYN dropped at {} {} rule {}: {}",
        predicted.table, predicted.chain, predicted.rule_num, predicted.rule_text
    );
    assert_eq!(predicted.table, "filter");
    assert_eq!(predicted.chain, port_chain('s', &director_id));
    let fix = find_fix(&sc, &report)?;
    assert!(
        fix.recheck.passed(),
        "the proposed fix does not pass the check"
    );
    let changes: Vec<Change> = fix.changes.iter().map(|c| c.change.clone()).collect();
    for c in &fix.changes {
        eprintln!("vipwire check --fix: {}", c.command);
    }
    let fixed = with_changes(&sc, &changes);

    // The single-host simplification predicts the same drop.
    let flat = Scenario {
        cloud: one_host(&sc.cloud, HOST),
        ..sc.clone()
    };
    let flat_report = check::run(&flat)?;
    assert!(
        flat_report.drops().any(|(_, _, d)| d.port_id == director_id
            && d.dr_forward
            && d.chain == predicted.chain
            && d.rule_num == predicted.rule_num),
        "on one host vipwire check predicts another drop"
    );

    // The compute host, with the rules Neutron programs before the fix.
    let before_cloud = one_host(&sc.cloud, HOST);
    let before = render_host(&before_cloud, HOST)?;
    let mut ports = vec![DIRECTOR, CLIENT];
    ports.extend(REAL_SERVERS);
    let host = ComputeHost::new("fr-host", "fr-", &before_cloud, &before, &ports)?;
    host.load(&before)?;

    let mut servers = Vec::new();
    for name in REAL_SERVERS {
        let vm = host.vm(name)?;
        topo::dr_real_server(vm, VIP)?;
        servers.push(HttpServer::start(vm, 80, name)?);
    }
    // The director: the VIP by hand (what the VRRP master does), the report's
    // keepalived.conf for the service (its interface is the VM's eth0).
    let dvm = host.vm(DIRECTOR)?;
    dvm.exec(&["ip", "addr", "add", &format!("{VIP}/32"), "dev", "eth0"])?;
    let conf = check::scenario::builtin::KEEPALIVED_1;
    ensure!(conf.contains("interface eth0"), "director-1's conf changed");
    let bin = topo::vipwire_bin()?;
    let (_director, sock) = topo::start_forwarding_director(
        &bin,
        dvm,
        dir,
        DIRECTOR,
        conf,
        &["--external-vrrp", "--io", "packet"],
        Duration::from_secs(15),
    )?;
    let client = host.vm(CLIENT)?;

    // Phase 1: as in the report.
    let vip: std::net::Ipv4Addr = VIP.parse()?;
    let pinged = topo::wait_for(Duration::from_secs(5), || {
        field::ping(client, vip, Duration::from_secs(1))
            .ok()
            .filter(|ok| *ok)
    });
    assert!(pinged.is_some(), "client-1 cannot ping the VIP");
    let drop_rule = |rules: &[(u64, String)]| -> Result<(u64, String)> {
        rules
            .get(predicted.rule_num - 1)
            .cloned()
            .context("the predicted rule is not in the kernel")
    };
    let (n0, text) = drop_rule(&host.filter_chain(&predicted.chain)?)?;
    assert_eq!(text, predicted.rule_text, "the kernel's rule differs");
    let forwarded0 = forwarded(&bin, &sock)?;
    let hang = topo::curl(client, &format!("http://{VIP}/"), 3);
    assert!(
        hang.is_err(),
        "HTTP to the VIP answered before the fix: {hang:?}"
    );
    let (n1, _) = drop_rule(&host.filter_chain(&predicted.chain)?)?;
    let forwarded1 = forwarded(&bin, &sock)?;
    eprintln!(
        "phase 1: curl hung; director forwarded {} frame(s); {} DROP counter {n0} -> {n1}",
        forwarded1 - forwarded0,
        predicted.chain
    );
    assert!(
        forwarded1 > forwarded0,
        "the director forwarded nothing: the hang is not the report's"
    );
    assert!(
        n1 > n0,
        "the real kernel did not drop at {} rule {}",
        predicted.chain,
        predicted.rule_num
    );

    // Phase 2: vipwire's fix, rendered and loaded as the agent would.
    let after_cloud = one_host(&fixed.cloud, HOST);
    let after = render_host(&after_cloud, HOST)?;
    host.load(&after)?;
    let first = topo::wait_for(Duration::from_secs(10), || {
        topo::curl(client, &format!("http://{VIP}/"), 3).ok()
    })
    .context("HTTP to the VIP still hangs after the fix")?;
    let mut names = vec![first];
    for _ in 0..3 {
        names.push(topo::curl(client, &format!("http://{VIP}/"), 3)?);
    }
    eprintln!("phase 2: answers {names:?}");
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(sorted, REAL_SERVERS, "rr over the four real servers");
    let chain = host.filter_chain(&predicted.chain)?;
    let (drops, last) = chain.last().cloned().context("empty chain")?;
    assert!(last.ends_with("-j DROP"), "{last}");
    assert_eq!(drops, 0, "the fixed rules still drop the director's frames");
    eprintln!("field report reproduced and fixed in {:?}", t0.elapsed());
    Ok(())
}

/// The director's count of forwarded frames.
fn forwarded(bin: &Path, sock: &Path) -> Result<u64> {
    let s: serde_json::Value = serde_json::from_str(&topo::director_status(bin, sock)?)?;
    s["counters"]["forwarded"]
        .as_u64()
        .context("status has no counters.forwarded")
}
