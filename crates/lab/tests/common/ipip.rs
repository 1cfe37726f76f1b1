//! Shared by the TUN tests: user-space IPIP decapsulation on a real server
//! (this kernel has no ipip module), an AF_PACKET reader that strips the
//! outer header and re-injects the inner packet through a veth pair.

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use director::afpacket::{PacketRing, RingConfig};
use lab::netns::Netns;
use lab::topo;
use wire::ethernet::{EthernetRepr, ETHERTYPE_IPV4};

/// User-space IPIP decapsulation on the real server: frames for `rs_ip` with
/// protocol 4 on eth0 are stripped and sent into `dec0`, whose peer `dec1`
/// hands them to the real server's stack.
pub fn decapsulator(
    ns: &Netns,
    rs_ip: Ipv4Addr,
    stop: Arc<AtomicBool>,
    count: Arc<AtomicU64>,
) -> Result<std::thread::JoinHandle<()>> {
    ns.exec(&[
        "ip", "link", "add", "dec0", "type", "veth", "peer", "name", "dec1",
    ])?;
    ns.exec(&["ip", "link", "set", "dec0", "up"])?;
    ns.exec(&["ip", "link", "set", "dec1", "up"])?;
    for k in ["all", "default", "dec1", "eth0"] {
        ns.sysctl(&format!("net.ipv4.conf.{k}.rp_filter"), "0")?;
    }
    ns.sysctl("net.ipv4.conf.dec1.accept_local", "1")?;
    // Without an ipip module the kernel would answer "protocol unreachable".
    ns.exec(&["iptables", "-I", "INPUT", "-p", "4", "-j", "DROP"])?;
    let path = ns.path();
    let setup = || -> Result<(PacketRing, PacketRing, [u8; 6])> {
        let rx = PacketRing::open("eth0", RingConfig::default())?;
        let out = PacketRing::open("dec0", RingConfig::default())?;
        let mac = director::netif::mac_ioctl("dec1")?;
        Ok((rx, out, mac.0))
    };
    topo::spawn_in(
        path,
        "decapsulator",
        setup,
        move |(mut rxr, mut out, dec1_mac)| {
            while !stop.load(Ordering::Relaxed) {
                if !rxr.wait_rx(Duration::from_millis(50)).unwrap_or(false) {
                    continue;
                }
                let mut inner_frames = Vec::new();
                rxr.rx_block(|_, fr| {
                    let Ok((eth, off)) = EthernetRepr::parse(fr.data) else {
                        return;
                    };
                    if eth.ethertype != ETHERTYPE_IPV4 {
                        return;
                    }
                    let ip = &fr.data[off..];
                    if ip.len() < 20 || ip[9] != 4 || wire::ipv4::dst(ip) != rs_ip {
                        return;
                    }
                    if let Ok(inner) = wire::ipv4::decapsulate_ipip(ip) {
                        let mut f = vec![0u8; 14 + inner.len()];
                        f[0..6].copy_from_slice(&dec1_mac);
                        f[6..12].copy_from_slice(&eth.src.0);
                        f[12..14].copy_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
                        f[14..].copy_from_slice(inner);
                        inner_frames.push(f);
                    }
                });
                for f in inner_frames {
                    count.fetch_add(1, Ordering::Relaxed);
                    let _ = out.send_now(&f);
                }
            }
        },
    )
}
