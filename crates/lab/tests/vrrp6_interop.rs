//! vipwire's VRRP over IPv6 against real keepalived 2.2.7 (`keepalived
//! --vrrp`) in the same VRID, in network namespaces on a veth pair with
//! link-local addresses only (fe80::1, fe80::2; DAD off) and the VIP
//! 2001:db8::100/64: VRRPv3 to ff02::12 at 0.5 s. Election by priority both
//! ways and the equal-priority tie-break on the link-local address, takeover
//! after kill -9 both ways within 10% of Master_Down_Interval, preemption both
//! ways, priority-0 handover on SIGTERM, unicast peers (global addresses)
//! both ways, an excluded IPv6 VIP on an IPv4 instance. A pcap on the link
//! checks every advert and unsolicited neighbour advertisement with `wire`
//! (hop limit 255, ff02::12, link-local source, pseudo-header checksum; NA
//! override flag, target and link-layer option). Needs root, keepalived,
//! tcpdump and ip6tables; skips visibly otherwise. The tests run one at a
//! time (timing).

mod vrrp_lab;

use std::ffi::OsString;
use std::net::{IpAddr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use lab::netns::{skip_unless, Netns, Proc};
use vrrp_lab::*;
use wire::ethernet::{EthernetRepr, MacAddr};
use wire::ipv6::Ipv6Repr;

static SERIAL: Mutex<()> = Mutex::new(());

/// Not a test: the entry point of the vipwire node this binary re-executes.
#[test]
fn vrrp_child_entry() {
    let Some(conf) = std::env::var_os("VW_VRRP_CHILD") else {
        return;
    };
    let cfg = lvs::keepalived::parse_file(std::path::Path::new(&conf)).expect("config");
    director::vrrp::run_foreground(&cfg).expect("vrrp runner");
}

fn self_cmd() -> Vec<OsString> {
    let exe = std::env::current_exe().expect("test binary path");
    vec![
        exe.into(),
        "--exact".into(),
        "vrrp_child_entry".into(),
        "--nocapture".into(),
        "--test-threads=1".into(),
    ]
}

fn start(name: &str) -> Option<std::sync::MutexGuard<'static, ()>> {
    if skip_unless(name, &["ip", "ip6tables", "keepalived", "tcpdump"]) {
        return None;
    }
    Some(SERIAL.lock().unwrap_or_else(|e| e.into_inner()))
}

fn dump(nodes: &[&Node]) -> String {
    nodes
        .iter()
        .map(|n| format!("--- {} log:\n{}", n.kind, n.log_text()))
        .collect()
}

/// Wait until the VIP is on `owner`, then check it stays there alone for 1 s.
fn settles_on(owner: &Netns, other: &Netns, d: Duration) -> bool {
    vip6_becomes(owner, true, d)
        && (0..10).all(|_| {
            std::thread::sleep(Duration::from_millis(100));
            owner.has_addr(IFACE, VIP6) && !other.has_addr(IFACE, VIP6)
        })
}

const ADVERT: f64 = 0.5;

/// tcpdump writing every IPv6 frame of the link to a pcap file, flushed
/// per packet (-U) so it can be read while tcpdump runs.
struct Pcap {
    _proc: Proc,
    file: PathBuf,
}

/// One captured frame: capture time (s since the epoch) and bytes.
struct Frame {
    t: f64,
    bytes: Vec<u8>,
}

impl Pcap {
    fn start(ns: &Netns, dir: &Path) -> Result<Pcap> {
        let file = dir.join("link6.pcap");
        let mut c = ns.command("tcpdump");
        c.args(["-U", "--immediate-mode", "-n", "-i", IFACE, "-w"])
            .arg(&file)
            .arg("ip6")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut proc = Proc::spawn(c)?;
        let err = proc
            .child_mut()
            .and_then(|c| c.stderr.take())
            .context("tcpdump stderr")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            let mut tx = Some(tx);
            for l in std::io::BufReader::new(err).lines().map_while(|l| l.ok()) {
                if l.contains("listening on") {
                    if let Some(t) = tx.take() {
                        let _ = t.send(());
                    }
                }
            }
        });
        rx.recv_timeout(Duration::from_secs(10))
            .context("tcpdump did not start")?;
        Ok(Pcap { _proc: proc, file })
    }

    /// Every frame written so far (classic pcap, microsecond timestamps).
    fn frames(&self) -> Result<Vec<Frame>> {
        let d = std::fs::read(&self.file)?;
        ensure!(d.len() >= 24, "short pcap");
        let u32_at = |o: usize| u32::from_le_bytes([d[o], d[o + 1], d[o + 2], d[o + 3]]);
        ensure!(u32_at(0) == 0xa1b2_c3d4, "not a little-endian µs pcap");
        let mut out = Vec::new();
        let mut o = 24;
        while o + 16 <= d.len() {
            let (sec, usec, incl) = (u32_at(o), u32_at(o + 4), u32_at(o + 8) as usize);
            if o + 16 + incl > d.len() {
                break; // a record still being written
            }
            out.push(Frame {
                t: f64::from(sec) + f64::from(usec) * 1e-6,
                bytes: d[o + 16..o + 16 + incl].to_vec(),
            });
            o += 16 + incl;
        }
        Ok(out)
    }
}

/// What the capture shows, every VRRP frame and NA for the VIP checked.
#[derive(Debug, Default)]
struct Wire {
    /// (time, source, priority) of each well-formed advert.
    adverts: Vec<(f64, Ipv6Addr, u8)>,
    /// (time, sender MAC) of each well-formed unsolicited NA for the VIP.
    nas: Vec<(f64, MacAddr)>,
}

fn check_wire(frames: &[Frame]) -> Result<Wire> {
    let vip: Ipv6Addr = VIP6.parse()?;
    let mut w = Wire::default();
    for f in frames {
        let (eth, off) = EthernetRepr::parse(&f.bytes)?;
        if eth.ethertype != wire::ipv6::ETHERTYPE_IPV6 {
            continue;
        }
        let (ip, payload) = Ipv6Repr::parse(&f.bytes[off..])?;
        if ip.next_header == wire::vrrp::PROTOCOL {
            ensure!(ip.dst == wire::vrrp::MCAST_GROUP_V6, "advert to {}", ip.dst);
            ensure!(eth.dst == wire::ipv6::multicast_mac(ip.dst), "{eth:?}");
            ensure!(ip.hop_limit == 255, "hop limit {}", ip.hop_limit);
            ensure!(
                ip.traffic_class == 0xc0,
                "traffic class {}",
                ip.traffic_class
            );
            ensure!(
                [A_LL, B_LL].contains(&ip.src),
                "advert from {} (not our link-locals)",
                ip.src
            );
            let mac = if ip.src == A_LL { A_MAC } else { B_MAC };
            ensure!(
                eth.src == MacAddr(mac),
                "advert from {} via {eth:?}",
                ip.src
            );
            let r = wire::vrrp::VrrpRepr::parse(payload, ip.src, ip.dst)
                .with_context(|| format!("advert from {}", ip.src))?;
            ensure!(r.version() == 3 && r.vrid == 51, "{r:?}");
            ensure!(r.adver_int_cs() == 50, "{r:?}");
            ensure!(r.addrs == vec![IpAddr::V6(vip)], "{r:?}");
            w.adverts.push((f.t, ip.src, r.priority));
        } else if ip.next_header == wire::ipv6::PROTO_ICMPV6
            && payload.first() == Some(&wire::icmpv6::TYPE_NEIGHBOUR_ADVERT)
        {
            let (_, _, na) = wire::icmpv6::parse_na_frame(&f.bytes)?;
            if na.target != vip {
                continue;
            }
            ensure!(ip.src == vip && ip.dst == wire::ipv6::ALL_NODES, "{ip:?}");
            ensure!(eth.dst == MacAddr([0x33, 0x33, 0, 0, 0, 1]), "{eth:?}");
            ensure!(ip.hop_limit == 255, "NA hop limit {}", ip.hop_limit);
            ensure!(na.override_flag && !na.solicited && !na.router, "{na:?}");
            ensure!(na.target_lladdr == Some(eth.src), "{na:?} from {eth:?}");
            w.nas.push((f.t, eth.src));
        }
    }
    Ok(w)
}

/// The NAs `mac` sent within 1 s of its first one: keepalived's first
/// burst is garp_master_repeat (5) per VIP, at once.
fn first_burst(w: &Wire, mac: [u8; 6]) -> usize {
    let mine: Vec<f64> = w
        .nas
        .iter()
        .filter(|(_, m)| *m == MacAddr(mac))
        .map(|(t, _)| *t)
        .collect();
    mine.first()
        .map_or(0, |t0| mine.iter().filter(|t| **t - t0 < 1.0).count())
}

/// Lines keepalived logs when it rejects an advert (vrrp.c, vrrp_check_packet).
fn keepalived_complaints(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| {
            [
                "invalid",
                "wrong",
                "unexpected",
                "checksum",
                "mismatch",
                "not present",
            ]
            .iter()
            .any(|w| l.to_lowercase().contains(w))
        })
        .collect()
}

#[test]
fn ipv6_election_both_ways_and_tie_break() -> Result<()> {
    let Some(_g) = start("ipv6_election_both_ways_and_tie_break") else {
        return Ok(());
    };
    // (keepalived on A, vipwire on B, or the other way round). With equal
    // priorities a backup never preempts, so the first to time out would
    // win; the tie-break needs two masters: both start cut off from each
    // other's adverts (ip6tables), become master, then meet. The higher
    // link-local address (B, fe80::2) must stay master, whoever runs there.
    for (ka_prio, vw_prio, vipwire_on_a) in [
        (150, 100, false),
        (100, 150, false),
        (100, 100, false),
        (100, 100, true),
    ] {
        let p = Pair::new6("e6")?;
        let cap = Pcap::start(&p.b, &p.dir)?;
        let tie = ka_prio == vw_prio;
        let drop_vrrp = ["INPUT", "-p", "112", "-j", "DROP"];
        if tie {
            for ns in [&p.a, &p.b] {
                ns.exec(&[&["ip6tables", "-I"][..], &drop_vrrp].concat())?;
            }
        }
        let (ka_ns, vw_ns) = if vipwire_on_a {
            (&p.b, &p.a)
        } else {
            (&p.a, &p.b)
        };
        let ka = Node::keepalived(ka_ns, &p.dir, "ka", &Spec::v6(ka_prio, ADVERT))?;
        let vw = Node::vipwire(vw_ns, &p.dir, "vw", &Spec::v6(vw_prio, ADVERT), &self_cmd())?;
        let vipwire_wins = vw_prio > ka_prio || (vw_prio == ka_prio && !vipwire_on_a);
        let (win, lose) = if vipwire_wins {
            (vw_ns, ka_ns)
        } else {
            (ka_ns, vw_ns)
        };
        let case = format!(
            "keepalived {ka_prio} on {}, vipwire {vw_prio}",
            if vipwire_on_a { "B" } else { "A" }
        );
        if tie {
            ensure!(
                vip6_becomes(&p.a, true, Duration::from_secs(6))
                    && vip6_becomes(&p.b, true, Duration::from_secs(6)),
                "{case}: not both master while cut off\n{}",
                dump(&[&ka, &vw])
            );
            for ns in [&p.a, &p.b] {
                ns.exec(&[&["ip6tables", "-D"][..], &drop_vrrp].concat())?;
            }
            ensure!(
                vip6_becomes(lose, false, Duration::from_secs(3)),
                "{case}: two masters stayed\n{}",
                dump(&[&ka, &vw])
            );
        }
        ensure!(
            settles_on(win, lose, Duration::from_secs(6)),
            "{case}: wrong master\n{}",
            dump(&[&ka, &vw])
        );
        if tie {
            let loser = if std::ptr::eq(lose, ka_ns) { &ka } else { &vw };
            ensure!(
                loser
                    .log_text()
                    .contains("same priority 100 but higher IP address than ours"),
                "{case}: no tie-break in the loser's log\n{}",
                dump(&[&ka, &vw])
            );
        }
        let settled = epoch();
        std::thread::sleep(Duration::from_millis(1200));
        let w = check_wire(&cap.frames()?).with_context(|| case.clone())?;
        let win_ll = if std::ptr::eq(win, &p.a) { A_LL } else { B_LL };
        let late: Vec<_> = w.adverts.iter().filter(|a| a.0 > settled).collect();
        ensure!(
            late.len() >= 2 && late.iter().all(|a| a.1 == win_ll && a.2 > 0),
            "{case}: adverts after settling {late:?}"
        );
        // Both sides saw the other's adverts (else both would be master)
        // and keepalived complained about none of vipwire's.
        let complaints = keepalived_complaints(&ka.log_text())
            .into_iter()
            .map(String::from)
            .collect::<Vec<_>>();
        ensure!(complaints.is_empty(), "{case}: {complaints:?}");
        let win_mac = if win_ll == A_LL { A_MAC } else { B_MAC };
        let burst = first_burst(&w, win_mac);
        eprintln!(
            "{case}: {} master, {} adverts and {} NAs checked, first NA burst {burst}",
            if vipwire_wins {
                "vipwire"
            } else {
                "keepalived"
            },
            w.adverts.len(),
            w.nas.len()
        );
        // Bursts of garp_master_repeat (5): on becoming master, and (ties)
        // again when the master hears the other's equal-priority advert
        // from a lower address ("forcing new election").
        for mac in [A_MAC, B_MAC] {
            let n = w.nas.iter().filter(|(_, m)| *m == MacAddr(mac)).count();
            ensure!(n % 5 == 0, "{case}: {n} NAs from {mac:02x?}");
        }
        ensure!(
            burst == 5 || tie && burst == 10,
            "{case}: first NA burst {burst}, want 5"
        );
    }
    Ok(())
}

#[test]
fn ipv6_takeover_after_kill9_both_ways() -> Result<()> {
    let Some(_g) = start("ipv6_takeover_after_kill9_both_ways") else {
        return Ok(());
    };
    let backup = Spec::v6(100, ADVERT);
    let mdi = backup.master_down();
    for vipwire_master in [false, true] {
        let p = Pair::new6("k6")?;
        let cap = Capture::start(&p.b, IFACE)?;
        let (mut master, other) = if vipwire_master {
            (
                Node::vipwire(&p.a, &p.dir, "vw", &Spec::v6(150, ADVERT), &self_cmd())?,
                Node::keepalived(&p.b, &p.dir, "ka", &backup)?,
            )
        } else {
            (
                Node::keepalived(&p.a, &p.dir, "ka", &Spec::v6(150, ADVERT))?,
                Node::vipwire(&p.b, &p.dir, "vw", &backup, &self_cmd())?,
            )
        };
        ensure!(
            settles_on(&p.a, &p.b, Duration::from_secs(6)),
            "{}",
            dump(&[&master, &other])
        );
        let t = measure_takeover(&cap, &mut master, A_LL, B_LL, false)?;
        eprintln!(
            "IPv6 kill -9 of {}: {} took over {:.3}s after the last advert (Master_Down_Interval {mdi:?})",
            master.kind, other.kind, t.since_last_advert
        );
        let e = mdi.as_secs_f64();
        ensure!(
            (t.since_last_advert - e).abs() <= 0.1 * e,
            "takeover {:.3}s after the last advert, Master_Down_Interval {mdi:?}\n{}",
            t.since_last_advert,
            dump(&[&master, &other])
        );
        ensure!(vip6_becomes(&p.b, true, Duration::from_secs(1)));
    }
    Ok(())
}

#[test]
fn ipv6_preemption_both_ways_and_sigterm_handover() -> Result<()> {
    let Some(_g) = start("ipv6_preemption_both_ways_and_sigterm_handover") else {
        return Ok(());
    };
    for vipwire_joins in [true, false] {
        let p = Pair::new6("p6")?;
        let cap = Capture::start(&p.b, IFACE)?;
        let low = Spec::v6(100, ADVERT);
        let high = Spec::v6(150, ADVERT);
        let first = if vipwire_joins {
            Node::keepalived(&p.a, &p.dir, "ka", &low)?
        } else {
            Node::vipwire(&p.a, &p.dir, "vw", &low, &self_cmd())?
        };
        ensure!(
            vip6_becomes(&p.a, true, Duration::from_secs(5)),
            "{}",
            dump(&[&first])
        );
        let mut joiner = if vipwire_joins {
            Node::vipwire(&p.b, &p.dir, "vw", &high, &self_cmd())?
        } else {
            Node::keepalived(&p.b, &p.dir, "ka", &high)?
        };
        ensure!(
            settles_on(&p.b, &p.a, Duration::from_secs(5)),
            "{} did not preempt\n{}",
            joiner.kind,
            dump(&[&first, &joiner])
        );
        // The preempting master stops cleanly: priority 0, the other takes
        // over after its Skew_Time, and the stopped one removed the VIP.
        let t = measure_takeover(&cap, &mut joiner, B_LL, A_LL, true)?;
        let since0 = t.since_prio0.ok_or_else(|| {
            anyhow::anyhow!(
                "no priority-0 advert from {}\n{}",
                joiner.kind,
                dump(&[&first, &joiner])
            )
        })?;
        let skew = low.skew().as_secs_f64();
        eprintln!(
            "IPv6 SIGTERM of {}: {} took over {since0:.3}s after priority 0 (Skew_Time {skew:.3}s)",
            joiner.kind, first.kind
        );
        ensure!(
            (since0 - skew).abs() < 0.1 * skew + 0.02,
            "handover {since0:.3}s after priority 0, Skew_Time {skew:.3}s"
        );
        ensure!(vip6_becomes(&p.b, false, Duration::from_secs(2)));
        ensure!(vip6_becomes(&p.a, true, Duration::from_secs(2)));
    }
    Ok(())
}

/// Unicast VRRP over IPv6 (`unicast_src_ip`/`unicast_peer` with global
/// addresses, no ff02::12): keepalived master, vipwire backup, and the
/// other way round; the backup takes over within 10% of
/// Master_Down_Interval after a kill -9.
#[test]
fn ipv6_unicast_peers_both_ways() -> Result<()> {
    let Some(_g) = start("ipv6_unicast_peers_both_ways") else {
        return Ok(());
    };
    let (a6, b6): (IpAddr, IpAddr) = ("2001:db8::1".parse()?, "2001:db8::2".parse()?);
    let on_a = Spec {
        unicast: Some((a6, b6)),
        ..Spec::v6(150, ADVERT)
    };
    let on_b = Spec {
        unicast: Some((b6, a6)),
        ..Spec::v6(100, ADVERT)
    };
    for vipwire_master in [false, true] {
        let p = Pair::new6("u6")?;
        for (ns, a) in [(&p.a, a6), (&p.b, b6)] {
            ns.exec(&[
                "ip",
                "addr",
                "add",
                &format!("{a}/64"),
                "dev",
                IFACE,
                "nodad",
            ])?;
        }
        let cap = Capture::start(&p.b, IFACE)?;
        let (mut master, other) = if vipwire_master {
            (
                Node::vipwire(&p.a, &p.dir, "vw", &on_a, &self_cmd())?,
                Node::keepalived(&p.b, &p.dir, "ka", &on_b)?,
            )
        } else {
            (
                Node::keepalived(&p.a, &p.dir, "ka", &on_a)?,
                Node::vipwire(&p.b, &p.dir, "vw", &on_b, &self_cmd())?,
            )
        };
        ensure!(
            settles_on(&p.a, &p.b, Duration::from_secs(6)),
            "{}",
            dump(&[&master, &other])
        );
        let t = measure_takeover(&cap, &mut master, a6, b6, false)?;
        let mdi = on_b.master_down().as_secs_f64();
        eprintln!(
            "IPv6 unicast, kill -9 of {}: {} took over {:.3}s after the last advert (Master_Down_Interval {mdi:.4}s)",
            master.kind, other.kind, t.since_last_advert
        );
        ensure!(
            (t.since_last_advert - mdi).abs() <= 0.1 * mdi,
            "unicast takeover {t:?}\n{}",
            dump(&[&master, &other])
        );
        ensure!(vip6_becomes(&p.b, true, Duration::from_secs(1)));
    }
    Ok(())
}

/// An IPv4 instance with an IPv6 `virtual_ipaddress_excluded` (the way
/// keepalived mixes families), run alone by keepalived and then by vipwire
/// on the same link: as master each adds both addresses, sends its burst of
/// unsolicited NAs for the IPv6 one, and on SIGTERM removes both.
#[test]
fn excluded_ipv6_vip_like_keepalived() -> Result<()> {
    let Some(_g) = start("excluded_ipv6_vip_like_keepalived") else {
        return Ok(());
    };
    let spec = Spec {
        excluded6: true,
        ..Spec::v3(100, ADVERT)
    };
    for vipwire in [false, true] {
        let p = Pair::new("x6")?;
        let cap = Pcap::start(&p.b, &p.dir)?;
        let mut node = if vipwire {
            Node::vipwire(&p.a, &p.dir, "vw", &spec, &self_cmd())?
        } else {
            Node::keepalived(&p.a, &p.dir, "ka", &spec)?
        };
        ensure!(
            vip_becomes(&p.a, true, Duration::from_secs(5))
                && vip6_becomes(&p.a, true, Duration::from_secs(1)),
            "{}",
            dump(&[&node])
        );
        std::thread::sleep(Duration::from_millis(300));
        let w = check_wire(&cap.frames()?)?;
        let mac =
            p.a.exec(&["cat", &format!("/sys/class/net/{IFACE}/address")])?;
        let mac = MacAddr::parse_strict(mac.trim()).context("MAC of A")?;
        let nas = w.nas.iter().filter(|(_, m)| *m == mac).count();
        eprintln!("excluded IPv6 VIP, {} master: {nas} NAs", node.kind);
        ensure!(nas == 5, "{}: {nas} NAs for the excluded VIP", node.kind);
        ensure!(w.adverts.is_empty(), "IPv6 adverts from an IPv4 instance");
        node.term()?;
        ensure!(
            vip_becomes(&p.a, false, Duration::from_secs(3))
                && vip6_becomes(&p.a, false, Duration::from_secs(1)),
            "{} kept a VIP after SIGTERM\n{}",
            node.kind,
            dump(&[&node])
        );
    }
    Ok(())
}

#[test]
fn tcpdump_ipv6_line() {
    let l = "1764414483.828626 IP6 fe80::2 > ff02::12: VRRPv3, Advertisement, vrid 51, prio 150, intvl 50cs, length 24, addrs: 2001:db8::100";
    let s = parse_line(l).unwrap();
    assert_eq!(s.src, IpAddr::V6(B_LL));
    assert_eq!((s.version, s.prio, s.intvl.as_str()), (3, 150, "50cs"));
}
