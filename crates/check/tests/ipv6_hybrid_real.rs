//! check's IPv6 verdicts on iptables_hybrid against the real kernel: the
//! rules vipwire renders for one compute host (ip6tables, ipset) loaded into a
//! host namespace with Neutron's hybrid plumbing per port (VM `eth0` == `tap`
//! -- `qbr` (bridge-netfilter on) -- `qvb` == `qvo` -- `br-int`), real
//! keepalived 2.2.7 in lb-1 holding the IPv6 VIP of
//! examples/vip-failover-v6, and real traffic: lb-1's VRRPv3 adverts at lb-2,
//! its unsolicited neighbour advertisements at client-1, and client-1's HTTP
//! connection to the VIP (neighbour solicitation, the holder's answer, TCP).
//! Each flow's outcome must agree with check's, before and after `--fix`,
//! and for a predicted drop the packet counter of the rule check names must
//! rise. The agent's ND protection (OpenFlow table 24) is not emulated: on
//! this path ip6tables decides first. Needs root, keepalived, tcpdump, curl,
//! ip6tables and ipset; without them it prints SKIP.

mod common;

use check::fix::{find_fix, with_changes};
use check::simulate::{CheckReport, Outcome};
use check::{run, Scenario};
use common::{master_conf, root, root_with, sh, tcpdump_lines as read};
use neutron::firewall::iptables_hybrid::render_host;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::Duration;

const HOST: &str = "compute-1";
const VIP: &str = "2001:db8:10::241";

fn sh_in(cmd: &str, input: &str) {
    use std::io::Write;
    let mut c = Command::new("sh")
        .args(["-c", cmd])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = c.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{cmd}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The namespaces and processes of one run; stopped by PID and removed on drop.
struct Lab {
    host: String,
    vms: Vec<(String, String)>,
    children: Vec<Child>,
    pidfiles: Vec<PathBuf>,
    dir: PathBuf,
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.stop_processes();
        for ns in self
            .vms
            .iter()
            .map(|(_, ns)| ns.clone())
            .chain([self.host.clone()])
        {
            let _ = Command::new("ip").args(["netns", "del", &ns]).status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Lab {
    fn stop_processes(&mut self) {
        for f in self.pidfiles.drain(..) {
            if let Ok(pid) = std::fs::read_to_string(&f) {
                let _ = Command::new("kill").arg(pid.trim()).status();
            }
        }
        for mut c in self.children.drain(..) {
            let _ = Command::new("kill").arg(c.id().to_string()).status();
            let _ = c.wait();
        }
        sleep(Duration::from_millis(400));
    }

    fn vm(&self, port: &str) -> &str {
        &self.vms.iter().find(|(p, _)| p == port).unwrap().1
    }

    /// The host namespace and one VM per port with Neutron's hybrid wiring.
    fn new(sc: &Scenario, ports: &[&str]) -> Lab {
        let pid = std::process::id();
        let dir = std::env::temp_dir().join(format!("vw6hyb-{pid}"));
        std::fs::create_dir_all(&dir).unwrap();
        let host = format!("vw6h{pid}");
        let mut lab = Lab {
            host: host.clone(),
            vms: Vec::new(),
            children: Vec::new(),
            pidfiles: Vec::new(),
            dir,
        };
        sh(&format!("ip netns add {host}"));
        // Only the qbr bridges call ip6tables (the per-bridge option is OR-ed
        // with these sysctls, net/bridge/br_netfilter_hooks.c); the host's own
        // IPv6 is off, so its devices send nothing.
        for (k, v) in [
            ("net.bridge.bridge-nf-call-iptables", "0"),
            ("net.bridge.bridge-nf-call-ip6tables", "0"),
            ("net.bridge.bridge-nf-call-arptables", "0"),
            ("net.ipv6.conf.all.disable_ipv6", "1"),
            ("net.ipv6.conf.default.disable_ipv6", "1"),
        ] {
            sh(&format!("ip netns exec {host} sysctl -qw {k}={v}"));
        }
        sh(&format!(
            "ip -n {host} link add br-int type bridge mcast_snooping 0 && \
             ip -n {host} link set br-int up"
        ));
        let rules = render_host(&sc.cloud, HOST).unwrap();
        for (i, name) in ports.iter().enumerate() {
            let port = sc.cloud.ports.iter().find(|p| &p.name == name).unwrap();
            let plumb = rules.ports.iter().find(|p| p.port_id == port.id).unwrap();
            let v6 = port
                .fixed_ips
                .iter()
                .find(|f| f.ip_address.is_ipv6())
                .unwrap()
                .ip_address;
            let vm = format!("vw6v{i}{pid}");
            sh(&format!("ip netns add {vm}"));
            lab.vms.push((name.to_string(), vm.clone()));
            let (tap, qvb, qvo, qbr) = (&plumb.tap, &plumb.qvb, &plumb.qvo, &plumb.qbr);
            sh(&format!(
                "ip -n {host} link add {tap} type veth peer name eth0 netns {vm} && \
                 ip -n {host} link add {qvb} type veth peer name {qvo} && \
                 ip -n {host} link add {qbr} type bridge mcast_snooping 0 nf_call_iptables 1 \
                 nf_call_ip6tables 1 && \
                 ip -n {host} link set {tap} master {qbr} && \
                 ip -n {host} link set {qvb} master {qbr} && \
                 ip -n {host} link set {qvo} master br-int && \
                 for d in {tap} {qvb} {qvo} {qbr}; do ip -n {host} link set $d up; done && \
                 ip netns exec {vm} sysctl -qw net.ipv6.conf.eth0.accept_dad=0 && \
                 ip netns exec {vm} sysctl -qw net.ipv6.conf.eth0.router_solicitations=0 && \
                 ip -n {vm} link set eth0 address {mac} && \
                 ip -n {vm} addr add {v6}/64 dev eth0 nodad && \
                 ip -n {vm} link set lo up && ip -n {vm} link set eth0 up",
                mac = port.mac_address
            ));
        }
        lab
    }

    /// A full resync of the host's rules to `sc`'s cloud, conntrack flushed.
    fn load(&self, sc: &Scenario) {
        let rules = render_host(&sc.cloud, HOST).unwrap();
        let h = &self.host;
        let empty: String = ["raw", "mangle", "nat", "filter"]
            .iter()
            .map(|t| format!("*{t}\nCOMMIT\n"))
            .collect();
        sh_in(&format!("ip netns exec {h} iptables-restore"), &empty);
        sh_in(&format!("ip netns exec {h} ip6tables-restore"), &empty);
        let _ = Command::new("ip")
            .args(["netns", "exec", h, "ipset", "destroy"])
            .stderr(Stdio::null())
            .status();
        if !rules.ipset_save.trim().is_empty() {
            sh_in(
                &format!("ip netns exec {h} ipset restore"),
                &rules.ipset_save,
            );
        }
        sh_in(
            &format!("ip netns exec {h} iptables-restore"),
            &rules.iptables_save,
        );
        sh_in(
            &format!("ip netns exec {h} ip6tables-restore"),
            &rules.ip6tables_save,
        );
        let _ = Command::new("ip")
            .args(["netns", "exec", h, "conntrack", "-F"])
            .stderr(Stdio::null())
            .status();
    }

    /// The packet counter of filter rule `num` of `chain` (ip6tables), and
    /// its text.
    fn counter(&self, chain: &str, num: usize) -> (u64, String) {
        let save = sh(&format!(
            "ip netns exec {} ip6tables-save -c -t filter",
            self.host
        ));
        let prefix = format!("-A {chain} ");
        let rules: Vec<(u64, String)> = save
            .lines()
            .filter_map(|l| {
                let (counts, rest) = l.strip_prefix('[')?.split_once("] ")?;
                let n = counts.split(':').next()?.parse().ok()?;
                rest.starts_with(&prefix).then(|| (n, rest.to_string()))
            })
            .collect();
        rules[num - 1].clone()
    }

    fn capture(&mut self, port: &str, file: &Path) {
        let c = Command::new("ip")
            .args([
                "netns",
                "exec",
                self.vm(port),
                "tcpdump",
                "-i",
                "eth0",
                "-U",
                "-w",
            ])
            .arg(file)
            .arg("ip6")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.children.push(c);
    }

    fn spawn_in(&mut self, port: &str, args: &[&str]) {
        let c = Command::new("ip")
            .args(["netns", "exec", self.vm(port)])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.children.push(c);
    }

    /// keepalived in `port` with check's synthesised instance (MASTER).
    fn keepalived(&mut self, sc: &Scenario, port: &str, tag: &str) {
        let inst = &sc.directors[0].config.vrrp_instances[0];
        let conf = self.dir.join(format!("ka-{tag}.conf"));
        std::fs::write(&conf, master_conf(inst, VIP)).unwrap();
        let (p, r) = (
            self.dir.join(format!("k-{tag}.pid")),
            self.dir.join(format!("v-{tag}.pid")),
        );
        self.pidfiles.push(p.clone());
        sh(&format!(
            "ip netns exec {} keepalived --vrrp -D -f {} -p {} -r {}",
            self.vm(port),
            conf.display(),
            p.display(),
            r.display()
        ));
    }
}

fn count(lines: &[String], parts: &[&str]) -> usize {
    lines
        .iter()
        .filter(|l| parts.iter().all(|p| l.contains(p)))
        .count()
}

/// The outcome and (for a drop) the chain and rule number of a flow.
fn predicted(r: &CheckReport, name: &str) -> (Outcome, Option<(String, usize, String)>) {
    let f = r
        .flows
        .iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("flow {name}"));
    let d = f
        .packets
        .iter()
        .find_map(|p| p.drop.as_ref())
        .map(|d| (d.chain.clone(), d.rule_num, d.rule_text.clone()));
    (f.outcome, d)
}

/// One phase: keepalived starts in lb-1, captures at lb-2 and client-1,
/// client-1 connects to the VIP; each flow's real outcome against check's.
fn phase(lab: &mut Lab, sc: &Scenario, tag: &str) -> Vec<String> {
    let ftag = tag.replace(|c: char| !c.is_ascii_alphanumeric(), "-");
    lab.load(sc);
    let r = run(sc).unwrap();
    let lla = check::lifecycle::link_local(
        &sc.cloud
            .ports
            .iter()
            .find(|p| p.name == "lb-1")
            .unwrap()
            .mac_address,
    );
    let flows = [
        "VRRP lb-1 (as master) -> lb-2".to_string(),
        format!("lb-1 takes VIP {VIP} (master)"),
        format!("TCP client-1 -> [{VIP}]:443 served by lb-1"),
    ];
    let before: Vec<Option<(u64, String)>> = flows
        .iter()
        .map(|f| predicted(&r, f).1.map(|(c, n, _)| lab.counter(&c, n)))
        .collect();
    let (cap_lb2, cap_cl) = (
        lab.dir.join(format!("lb2-{ftag}.pcap")),
        lab.dir.join(format!("client-{ftag}.pcap")),
    );
    lab.capture("lb-2", &cap_lb2);
    lab.capture("client-1", &cap_cl);
    lab.spawn_in(
        "lb-1",
        &[
            "/usr/bin/python3",
            "-c",
            "import http.server as h, socket\n\
             class S(h.ThreadingHTTPServer): address_family = socket.AF_INET6\n\
             class H(h.BaseHTTPRequestHandler):\n\
             \x20def do_GET(self):\n\
             \x20 self.send_response(200); self.end_headers(); self.wfile.write(b'lb-1')\n\
             S(('::', 443), H).serve_forever()",
        ],
    );
    sleep(Duration::from_millis(800));
    lab.keepalived(sc, "lb-1", &ftag);
    // Master after 3 adverts' worth of Master_Down at most, NAs at once.
    sleep(Duration::from_millis(5000));
    let answer = Command::new("ip")
        .args([
            "netns",
            "exec",
            lab.vm("client-1"),
            "curl",
            "-s",
            "-m",
            "3",
            "-g",
        ])
        .arg(format!("http://[{VIP}]:443/"))
        .output()
        .unwrap();
    let answered = String::from_utf8_lossy(&answer.stdout).contains("lb-1");
    sleep(Duration::from_millis(500));
    lab.stop_processes();
    let (at_lb2, at_cl) = (read(&cap_lb2), read(&cap_cl));
    let adverts = count(&at_lb2, &[&format!("{lla} > ff02::12: VRRPv3")]);
    let unsolicited = count(
        &at_cl,
        &[&format!("{VIP} > ff02::1:"), "neighbor advertisement"],
    );
    let real = [adverts > 0, unsolicited > 0, answered];
    let mut out = Vec::new();
    for (i, f) in flows.iter().enumerate() {
        let (outcome, drop) = predicted(&r, f);
        let check_pass = outcome == Outcome::Pass;
        let mut line = format!(
            "{tag}: {f}: check {} kernel {}",
            if check_pass { "PASS" } else { "DROP" },
            if real[i] { "PASS" } else { "DROP" }
        );
        let mut agree = check_pass == real[i];
        if let (Some((chain, num, text)), Some((n0, ktext))) = (&drop, &before[i]) {
            let (n1, _) = lab.counter(chain, *num);
            line += &format!(" ({chain} rule {num}: counter {n0} -> {n1})");
            agree &= n1 > *n0 && ktext == text;
        }
        line += if agree { " AGREE" } else { " DISAGREE" };
        out.push(line);
    }
    out.push(format!(
        "{tag}: seen: {adverts} adverts at lb-2, {unsolicited} unsolicited NAs at client-1, \
         answer {answered}"
    ));
    out
}

#[test]
fn ipv6_vip_failover_verdicts_agree_with_the_kernel_before_and_after_the_fix() {
    if !root_with(&[
        "keepalived",
        "tcpdump",
        "curl",
        "ip",
        "ip6tables-restore",
        "ipset",
        "conntrack",
        "/usr/bin/python3",
    ]) {
        println!("SKIP: needs root, keepalived, tcpdump, curl, ip6tables, ipset, conntrack");
        return;
    }
    // One compute host for the three ports the flows need.
    let mut sc = Scenario::load(&root().join("examples/vip-failover-v6/scenario.yaml")).unwrap();
    let ports = ["lb-1", "lb-2", "client-1"];
    for p in sc.cloud.ports.iter_mut() {
        if ports.contains(&p.name.as_str()) {
            p.host_id = HOST.into();
        }
    }
    let first = run(&sc).unwrap();
    let fix = find_fix(&sc, &first).unwrap();
    let changes: Vec<_> = fix.changes.iter().map(|c| c.change.clone()).collect();
    let fixed = with_changes(&sc, &changes);
    let mut lab = Lab::new(&sc, &ports);
    let mut lines = phase(&mut lab, &sc, "before");
    lines.extend(phase(&mut lab, &fixed, "after --fix"));
    for l in &lines {
        println!("{l}");
    }
    assert!(
        lines.iter().all(|l| !l.contains("DISAGREE")),
        "{}",
        lines.join("\n")
    );
    // Both phases really ran both ways: drops before, passes after.
    assert_eq!(lines.iter().filter(|l| l.contains("check DROP")).count(), 3);
    assert_eq!(lines.iter().filter(|l| l.contains("check PASS")).count(), 3);
}
