//! The field report on a real kernel: one compute-host namespace plumbed the way
//! Nova and the OVS agent plumb `iptables_hybrid` ports (VM `eth0` == `tap` --
//! `qbr` (bridge-netfilter on) -- `qvb` == `qvo` -- `br-int`), one namespace per
//! VM, and the host's iptables and ipsets loaded from rules vipwire rendered.
//!
//! `br-int` is a Linux bridge standing in for OVS, with bridge-netfilter off, so
//! a frame meets iptables only on the `qbr` crossings, as on a real host
//! (docs/conformance-kernel.md, "Kernel facts the lab had to respect").

use std::io::Write;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use neutron::firewall::iptables_hybrid::HostRules;
use neutron::model::Cloud;

use crate::netns::{veth, Netns};

/// A Linux bridge in `h` without STP, forward delay or multicast snooping;
/// `nf_call` turns on this bridge's br_netfilter hooks (the host-wide sysctls
/// are off here, and either one enables them: br_nf_pre_routing in
/// net/bridge/br_netfilter_hooks.c). Neutron's qbr bridges call iptables; br-int not.
fn add_bridge(h: &Netns, name: &str, nf_call: bool) -> Result<()> {
    let nf = if nf_call { "1" } else { "0" };
    h.exec(&[
        "ip",
        "link",
        "add",
        name,
        "type",
        "bridge",
        "nf_call_iptables",
        nf,
        "nf_call_ip6tables",
        nf,
        "stp_state",
        "0",
        "forward_delay",
        "0",
        "mcast_snooping",
        "0",
    ])?;
    Ok(())
}

/// A copy of `cloud` with every VM port bound to `host` (network-owned ports,
/// such as router interfaces, keep their host). Chain and device names depend
/// only on port ids, so the rules of each port are the same text as on its own
/// host; only the conntrack zone numbers differ.
pub fn one_host(cloud: &Cloud, host: &str) -> Cloud {
    let mut c = cloud.clone();
    for p in &mut c.ports {
        if !p.device_owner.starts_with("network:") {
            p.host_id = host.to_string();
        }
    }
    c
}

/// Run `args` in `ns` with `input` on stdin; error (with stderr) on non-zero exit.
pub fn exec_stdin(ns: &Netns, args: &[&str], input: &str) -> Result<String> {
    let (prog, rest) = args.split_first().context("empty command")?;
    let mut child = ns
        .command(prog)
        .args(rest)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("[{}] spawning {}", ns.name(), args.join(" ")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "[{}] `{}` failed ({}): {}",
            ns.name(),
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// One ICMP echo from inside `ns` to `dst` (a raw socket, so no `ping` binary is
/// needed): true when the matching echo reply arrives within `timeout`.
pub fn ping(ns: &Netns, dst: Ipv4Addr, timeout: Duration) -> Result<bool> {
    let path = ns.path();
    std::thread::spawn(move || -> Result<bool> {
        crate::topo::enter(&path)?;
        echo(dst, timeout)
    })
    .join()
    .map_err(|_| anyhow::anyhow!("ping thread panicked"))?
}

fn echo(dst: Ipv4Addr, timeout: Duration) -> Result<bool> {
    // SAFETY: plain socket(2); the fd is owned (and closed) by `OwnedFd` below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_ICMP) };
    if fd < 0 {
        bail!("raw ICMP socket: {}", std::io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let id = (std::process::id() & 0xffff) as u16;
    let seq = 1u16;
    let mut req = vec![8u8, 0, 0, 0];
    req.extend_from_slice(&id.to_be_bytes());
    req.extend_from_slice(&seq.to_be_bytes());
    req.extend_from_slice(b"vipwire field report");
    let sum = inet_checksum(&req);
    req[2..4].copy_from_slice(&sum.to_be_bytes());
    // SAFETY: zeroed sockaddr_in is valid; fields set below.
    let mut to: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    to.sin_family = libc::AF_INET as libc::sa_family_t;
    to.sin_addr.s_addr = u32::from(dst).to_be();
    // SAFETY: `req` and `to` outlive the call; lengths match the buffers.
    let sent = unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            req.as_ptr().cast(),
            req.len(),
            0,
            (&to as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    if sent < 0 {
        bail!("sendto {dst}: {}", std::io::Error::last_os_error());
    }
    let t0 = Instant::now();
    let mut buf = [0u8; 1500];
    while let Some(left) = timeout.checked_sub(t0.elapsed()) {
        let mut pfd = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = left.as_millis().clamp(1, i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd.
        if unsafe { libc::poll(&mut pfd, 1, ms) } <= 0 {
            continue;
        }
        // SAFETY: `buf` is writable for its whole length.
        let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n <= 0 {
            continue;
        }
        // A raw IPv4 socket returns the IP header too.
        let pkt = &buf[..n as usize];
        let ihl = usize::from(pkt[0] & 0x0f) * 4;
        if pkt.len() < ihl + 8 || pkt[12..16] != dst.octets() {
            continue;
        }
        let icmp = &pkt[ihl..];
        if icmp[0] == 0 && icmp[4..6] == id.to_be_bytes() && icmp[6..8] == seq.to_be_bytes() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The Internet checksum (RFC 1071).
fn inet_checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// One hybrid-plugged VM: its namespace and the port it stands for.
#[derive(Debug)]
pub struct Vm {
    pub name: String,
    pub port_id: String,
    pub ip: String,
    pub ns: Netns,
}

/// The compute host and its VMs. Dropping it deletes every namespace (the VM
/// ends of the veths go with them).
#[derive(Debug)]
pub struct ComputeHost {
    pub vms: Vec<Vm>,
    pub ns: Netns,
}

impl ComputeHost {
    /// Build host namespace `host_ns` and, for each port named in `ports` (port
    /// names of `cloud`), a VM namespace `<vm_prefix><name>` whose `eth0` has the
    /// port's MAC and its first fixed IPv4 address with the subnet's prefix
    /// length. Device names come from `rules.ports` (Neutron's names).
    pub fn new(
        host_ns: &str,
        vm_prefix: &str,
        cloud: &Cloud,
        rules: &HostRules,
        ports: &[&str],
    ) -> Result<ComputeHost> {
        let ns = Netns::new(host_ns)?;
        let mut host = ComputeHost {
            vms: Vec::new(),
            ns,
        };
        let h = &host.ns;
        // The namespace switches stay off; only the qbr bridges turn
        // bridge-netfilter on (the per-bridge option is OR-ed with the sysctl,
        // kernel net/bridge/br_netfilter_hooks.c). IPv6 off: no DAD/RS noise.
        for (k, v) in [
            ("net.bridge.bridge-nf-call-iptables", "0"),
            ("net.bridge.bridge-nf-call-ip6tables", "0"),
            ("net.bridge.bridge-nf-call-arptables", "0"),
            ("net.ipv6.conf.all.disable_ipv6", "1"),
            ("net.ipv6.conf.default.disable_ipv6", "1"),
        ] {
            h.sysctl(k, v)?;
        }
        add_bridge(h, "br-int", false)?;
        h.exec(&["ip", "link", "set", "br-int", "multicast", "off", "up"])?;
        // A local address, so that `-m addrtype` sees VM addresses as UNICAST
        // (without a local table every address is BROADCAST,
        // net/ipv4/fib_frontend.c __inet_dev_addr_type).
        h.exec(&["ip", "addr", "add", "192.0.2.254/32", "dev", "br-int"])?;

        for name in ports {
            let port = cloud
                .port(name)
                .with_context(|| format!("port {name:?} not in the cloud"))?;
            let plumb = rules
                .ports
                .iter()
                .find(|p| p.port_id == port.id)
                .with_context(|| format!("port {name}: not bound to the rendered host"))?;
            let fixed = port
                .fixed_ips
                .iter()
                .find(|f| f.ip_address.is_ipv4())
                .with_context(|| format!("port {name}: no fixed IPv4 address"))?;
            let len = cloud
                .subnet(&fixed.subnet_id)
                .map(|s| s.cidr.prefix_len())
                .unwrap_or(24);
            let vm = Netns::new(&format!("{vm_prefix}{name}"))?;
            for k in ["all", "default"] {
                vm.sysctl(&format!("net.ipv6.conf.{k}.disable_ipv6"), "1")?;
            }
            veth(h, &plumb.tap, &vm, "eth0")?;
            veth(h, &plumb.qvb, h, &plumb.qvo)?;
            add_bridge(h, &plumb.qbr, true)?;
            h.exec(&["ip", "link", "set", &plumb.tap, "master", &plumb.qbr])?;
            h.exec(&["ip", "link", "set", &plumb.qvb, "master", &plumb.qbr])?;
            h.exec(&["ip", "link", "set", &plumb.qvo, "master", "br-int"])?;
            for dev in [&plumb.tap, &plumb.qvb, &plumb.qvo, &plumb.qbr] {
                // No IGMP from the host's own devices through the qbr crossings.
                h.exec(&["ip", "link", "set", dev, "multicast", "off", "up"])?;
            }
            vm.exec(&["ip", "link", "set", "eth0", "down"])?;
            vm.exec(&["ip", "link", "set", "eth0", "address", &port.mac_address])?;
            let ip = fixed.ip_address.to_string();
            vm.addr("eth0", &format!("{ip}/{len}"))?;
            host.vms.push(Vm {
                name: name.to_string(),
                port_id: port.id.clone(),
                ip,
                ns: vm,
            });
        }
        Ok(host)
    }

    /// The VM of port `name`.
    pub fn vm(&self, name: &str) -> Result<&Netns> {
        self.vms
            .iter()
            .find(|v| v.name == name)
            .map(|v| &v.ns)
            .with_context(|| format!("no VM for port {name}"))
    }

    /// Replace the host's rules and sets with `rules` (as the agent's full
    /// resync would), then flush conntrack.
    pub fn load(&self, rules: &HostRules) -> Result<()> {
        let empty: String = ["raw", "mangle", "nat", "filter"]
            .iter()
            .map(|t| format!("*{t}\nCOMMIT\n"))
            .collect();
        exec_stdin(&self.ns, &["iptables-restore"], &empty)?;
        exec_stdin(&self.ns, &["ip6tables-restore"], &empty)?;
        // Sets can go only once no rule refers to them.
        let _ = self.ns.exec_output(&["ipset", "destroy"]);
        if !rules.ipset_save.trim().is_empty() {
            exec_stdin(&self.ns, &["ipset", "restore"], &rules.ipset_save)?;
        }
        exec_stdin(&self.ns, &["iptables-restore"], &rules.iptables_save)?;
        if !rules.ip6tables_save.trim().is_empty() {
            exec_stdin(&self.ns, &["ip6tables-restore"], &rules.ip6tables_save)?;
        }
        let _ = self.ns.exec_output(&["conntrack", "-F"]);
        Ok(())
    }

    /// The rules of filter chain `chain` as the kernel holds them now, in
    /// order: packet counter and text (`-A chain ...`) of each.
    pub fn filter_chain(&self, chain: &str) -> Result<Vec<(u64, String)>> {
        let save = self.ns.exec(&["iptables-save", "-c", "-t", "filter"])?;
        let rules = chain_rules(&save, chain);
        if rules.is_empty() {
            bail!("chain {chain} has no rules in the host's filter table");
        }
        Ok(rules)
    }
}

/// In `iptables-save -c` text, the packet count and text of each `-A chain` rule.
pub fn chain_rules(save: &str, chain: &str) -> Vec<(u64, String)> {
    let prefix = format!("-A {chain} ");
    save.lines()
        .filter_map(|l| {
            let (counts, rest) = l.strip_prefix('[')?.split_once("] ")?;
            let packets = counts.split(':').next()?.parse().ok()?;
            rest.starts_with(&prefix)
                .then(|| (packets, rest.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_of_an_echo_request() {
        // Echo request id 0x1234 seq 1, no payload: sum 0x0800+0x1234+0x0001.
        let pkt = [8, 0, 0, 0, 0x12, 0x34, 0, 1];
        assert_eq!(inet_checksum(&pkt), !0x1a35u16);
        let mut with = pkt;
        with[2..4].copy_from_slice(&inet_checksum(&pkt).to_be_bytes());
        assert_eq!(inet_checksum(&with), 0);
    }

    #[test]
    fn chain_rules_reads_counters_of_one_chain_in_order() {
        let save = "*filter\n:neutron-openvswi-sX - [0:0]\n\
            [0:0] -A neutron-openvswi-oX -j neutron-openvswi-sX\n\
            [5:300] -A neutron-openvswi-sX -s 203.0.113.5/32 -j RETURN\n\
            [0:0] -A neutron-openvswi-sXY -j DROP\n\
            [3:180] -A neutron-openvswi-sX -j DROP\nCOMMIT\n";
        assert_eq!(
            chain_rules(save, "neutron-openvswi-sX"),
            vec![
                (
                    5,
                    "-A neutron-openvswi-sX -s 203.0.113.5/32 -j RETURN".to_string()
                ),
                (3, "-A neutron-openvswi-sX -j DROP".to_string()),
            ]
        );
        assert!(chain_rules(save, "neutron-openvswi-sZ").is_empty());
    }
}
