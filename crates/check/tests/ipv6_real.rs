//! The IPv6 packets `check` models, against real keepalived 2.2.7 and the real
//! kernel in two network namespaces of our own: a member (lb-1's MAC and
//! address from examples/vip-failover-v6) runs keepalived with the instance
//! the check synthesised, a client (client-1) captures and then connects to
//! the VIP. Every packet the check predicts for lb-1's takeover and the
//! client's resolution of the VIP must appear on the wire with the same
//! addresses, hop limit and ND flags; a second member namespace with the VIP
//! on `lo` (a DR real server) must leave the client's solicitation unanswered.
//! Needs root, keepalived, tcpdump and curl; without them it prints SKIP.

mod common;

use check::lifecycle::{flows, Category, Payload};
use check::simulate::nd_packet;
use check::Scenario;
use common::{master_conf, root, root_with, sh, tcpdump_lines as read};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::Duration;

/// Our namespaces and processes; removed and stopped (by PID) on drop.
struct Lab {
    ns: Vec<String>,
    children: Vec<Child>,
    pidfiles: Vec<PathBuf>,
    dir: PathBuf,
}

impl Drop for Lab {
    fn drop(&mut self) {
        for f in &self.pidfiles {
            if let Ok(pid) = std::fs::read_to_string(f) {
                let _ = Command::new("kill").arg(pid.trim()).status();
            }
        }
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        sleep(Duration::from_millis(300));
        for n in &self.ns {
            let _ = Command::new("ip").args(["netns", "del", n]).status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Lab {
    fn new(tag: &str) -> Lab {
        let dir = std::env::temp_dir().join(format!("vw6real-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Lab {
            ns: Vec::new(),
            children: Vec::new(),
            pidfiles: Vec::new(),
            dir,
        }
    }

    /// Two namespaces joined by a veth pair, each end `eth0` with a MAC and
    /// an address (no DAD), up.
    fn pair(&mut self, a: (&str, &str, &str), b: (&str, &str, &str)) {
        let pid = std::process::id();
        let (va, vb) = (format!("v6a{pid}"), format!("v6b{pid}"));
        for (ns, ..) in [a, b] {
            sh(&format!("ip netns add {ns}"));
            self.ns.push(ns.to_string());
        }
        sh(&format!("ip link add {va} type veth peer name {vb}"));
        for ((ns, mac, addr), v) in [(a, &va), (b, &vb)] {
            sh(&format!(
                "ip link set {v} netns {ns} && ip -n {ns} link set {v} name eth0 && \
                 ip -n {ns} link set eth0 address {mac} && \
                 ip -n {ns} addr add {addr}/64 dev eth0 nodad && \
                 ip -n {ns} link set lo up && ip -n {ns} link set eth0 up"
            ));
        }
        // The kernel's link-local address and its DAD.
        sleep(Duration::from_millis(2500));
    }

    fn capture(&mut self, ns: &str, file: &Path) {
        let c = Command::new("ip")
            .args(["netns", "exec", ns, "tcpdump", "-i", "eth0", "-U", "-w"])
            .arg(file)
            .arg("ip6")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.children.push(c);
        sleep(Duration::from_millis(800));
    }

    fn stop_capture(&mut self) {
        sleep(Duration::from_millis(500));
        if let Some(mut c) = self.children.pop() {
            let _ = Command::new("kill").arg(c.id().to_string()).status();
            let _ = c.wait();
        }
    }
}

fn seen(lines: &[String], parts: &[String]) -> bool {
    lines.iter().any(|l| parts.iter().all(|p| l.contains(p)))
}

#[test]
fn keepalived_and_the_kernel_send_the_ipv6_packets_check_models() {
    if !root_with(&["keepalived", "tcpdump", "curl", "ip"]) {
        println!("SKIP: needs root, keepalived, tcpdump, curl and ip");
        return;
    }
    let sc = Scenario::load(&root().join("examples/vip-failover-v6/scenario.yaml")).unwrap();
    let port = |name: &str| sc.cloud.ports.iter().find(|p| p.name == name).unwrap();
    let (lb, client) = (port("lb-1"), port("client-1"));
    let v6 = |p: &neutron::model::Port| {
        p.fixed_ips
            .iter()
            .map(|f| f.ip_address)
            .find(IpAddr::is_ipv6)
            .unwrap()
    };
    let inst = &sc.directors[0].config.vrrp_instances[0];
    let vip = inst.virtual_ipaddresses[0].addr();
    let fl = flows(&sc);

    // What check predicts.
    let advert = fl
        .iter()
        .find(|f| f.category == Category::Vrrp && f.steps[0].sender == lb.id)
        .unwrap();
    let Payload::Ip(adv) = &advert.steps[0].payload else {
        panic!("advert")
    };
    let take = fl
        .iter()
        .find(|f| f.category == Category::Arp && f.steps[0].sender == lb.id)
        .unwrap();
    let Payload::Arp(na) = &take.steps[0].payload else {
        panic!("NA")
    };
    let una = nd_packet(&sc, &take.steps[0], na);
    let served = fl
        .iter()
        .find(|f| f.category == Category::Service && f.steps[0].sender == client.id)
        .unwrap();
    let (Payload::Arp(ns_f), Payload::Arp(ans_f)) =
        (&served.steps[0].payload, &served.steps[1].payload)
    else {
        panic!("ND first")
    };
    let ns = nd_packet(&sc, &served.steps[0], ns_f);
    let ans = nd_packet(&sc, &served.steps[1], ans_f);

    // The real thing.
    let mut lab = Lab::new("member");
    let pid = std::process::id();
    let (lbns, cns) = (format!("vw6lb{pid}"), format!("vw6cl{pid}"));
    lab.pair(
        (&lbns, &lb.mac_address, &v6(lb).to_string()),
        (&cns, &client.mac_address, &v6(client).to_string()),
    );
    let conf = lab.dir.join("keepalived.conf");
    std::fs::write(&conf, master_conf(inst, &vip.to_string())).unwrap();
    let cap = lab.dir.join("member.pcap");
    lab.capture(&cns, &cap);
    let (pidf, vrrpf) = (lab.dir.join("k.pid"), lab.dir.join("v.pid"));
    lab.pidfiles.push(pidf.clone());
    sh(&format!(
        "ip netns exec {lbns} keepalived --vrrp -D -f {} -p {} -r {}",
        conf.display(),
        pidf.display(),
        vrrpf.display()
    ));
    sleep(Duration::from_millis(5000));
    let _ = Command::new("ip")
        .args(["netns", "exec", &cns, "curl", "-s", "-m", "2", "-g"])
        .arg(format!("http://[{vip}]:443/"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    lab.stop_capture();
    let lines = read(&cap);

    let hl = "hlim 255".to_string();
    assert!(
        seen(
            &lines,
            &[hl.clone(), format!("{} > {}: VRRPv3", adv.src, adv.dst)]
        ) && adv.ttl == 255,
        "VRRPv3 {} > {} hlim 255 not on the wire:\n{}",
        adv.src,
        adv.dst,
        lines.join("\n")
    );
    assert!(
        seen(
            &lines,
            &[
                hl.clone(),
                format!("{} > {}:", una.src, una.dst),
                format!("neighbor advertisement, length 32, tgt is {vip}, Flags [override]"),
            ]
        ) && una.icmp_type == 136,
        "unsolicited NA {} > {}:\n{}",
        una.src,
        una.dst,
        lines.join("\n")
    );
    assert!(
        seen(
            &lines,
            &[
                hl.clone(),
                format!("{} > {}:", ns.src, ns.dst),
                format!("neighbor solicitation, length 32, who has {vip}"),
            ]
        ),
        "NS {} > {}:\n{}",
        ns.src,
        ns.dst,
        lines.join("\n")
    );
    assert!(
        seen(
            &lines,
            &[
                hl,
                format!("{} > {}:", ans.src, ans.dst),
                format!("tgt is {vip}, Flags [solicited, override]"),
            ]
        ),
        "solicited NA {} > {}:\n{}",
        ans.src,
        ans.dst,
        lines.join("\n")
    );
    drop(lab);

    // A DR real server holds the VIP on lo: nobody answers for it on eth0,
    // while its own address is answered (the control).
    let mut lab = Lab::new("rs");
    let (rsns, cns) = (format!("vw6rs{pid}"), format!("vw6c2{pid}"));
    let rs_ip = "2001:db8:10::31";
    lab.pair(
        (&rsns, "fa:16:3e:4c:31:03", rs_ip),
        (&cns, &client.mac_address, &v6(client).to_string()),
    );
    sh(&format!("ip -n {rsns} addr add {vip}/128 dev lo"));
    let cap = lab.dir.join("rs.pcap");
    lab.capture(&cns, &cap);
    for target in [rs_ip.to_string(), vip.to_string()] {
        let _ = Command::new("ip")
            .args(["netns", "exec", &cns, "curl", "-s", "-m", "2", "-g"])
            .arg(format!("http://[{target}]:443/"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
    lab.stop_capture();
    let lines = read(&cap);
    assert!(
        seen(&lines, &[format!("tgt is {rs_ip}")]),
        "control: the real server answers for its own address:\n{}",
        lines.join("\n")
    );
    assert!(seen(&lines, &[format!("who has {vip}")]));
    assert!(
        !seen(&lines, &[format!("tgt is {vip}")]),
        "the VIP on lo was advertised on eth0:\n{}",
        lines.join("\n")
    );
}
