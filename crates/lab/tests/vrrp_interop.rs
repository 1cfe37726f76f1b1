//! vipwire's VRRP against real keepalived 2.2.7 (`keepalived --vrrp`) in the
//! same VRID, in network namespaces on a veth pair (203.0.113.0/24): election
//! both ways, takeover after kill -9 within 10% of Master_Down_Interval,
//! priority-0 handover on SIGTERM both ways, preemption, nopreempt, v3 with
//! centisecond adverts, unicast peers, track_interface (FAULT and weights,
//! each side tracking in turn). Needs root, keepalived and tcpdump;
//! skips visibly otherwise. The tests run one at a time (timing).

mod vrrp_lab;

use std::ffi::OsString;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{ensure, Result};
use lab::netns::skip_unless;
use vrrp_lab::*;

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

/// The test's turn to run (tests hold the serial lock: timing), or None when
/// it skips (visibly) for want of root, keepalived or tcpdump.
fn start(name: &str) -> Option<std::sync::MutexGuard<'static, ()>> {
    if skip_unless(name, &["ip", "keepalived", "tcpdump"]) {
        return None;
    }
    Some(SERIAL.lock().unwrap_or_else(|e| e.into_inner()))
}

fn within(measured: f64, expected: Duration, frac: f64) -> bool {
    let e = expected.as_secs_f64();
    (measured - e).abs() <= e * frac
}

fn dump(nodes: &[&Node]) -> String {
    nodes
        .iter()
        .map(|n| format!("--- {} log:\n{}", n.kind, n.log_text()))
        .collect()
}

/// Wait `d` and then check that the VIP is only on `owner` (and stays there).
fn settles_on(owner: &lab::netns::Netns, other: &lab::netns::Netns, d: Duration) -> bool {
    vip_becomes(owner, true, d)
        && (0..10).all(|_| {
            std::thread::sleep(Duration::from_millis(100));
            owner.has_addr(IFACE, VIP) && !other.has_addr(IFACE, VIP)
        })
}

/// keepalived at `master` on `a`, vipwire at `backup` on `b`, a capture on
/// `b`; returned once `a` holds the VIP alone (within `settle`).
fn ka_master_vw_backup(
    tag: &str,
    master: &Spec,
    backup: &Spec,
    settle: Duration,
) -> Result<(Pair, Capture, Node, Node)> {
    let p = Pair::new(tag)?;
    let cap = Capture::start(&p.b, IFACE)?;
    let ka = Node::keepalived(&p.a, &p.dir, "ka", master)?;
    let vw = Node::vipwire(&p.b, &p.dir, "vw", backup, &self_cmd())?;
    ensure!(settles_on(&p.a, &p.b, settle), "{}", dump(&[&ka, &vw]));
    Ok((p, cap, ka, vw))
}

#[test]
fn election_by_priority_both_ways() -> Result<()> {
    let Some(_g) = start("election_by_priority_both_ways") else {
        return Ok(());
    };
    for (ka_prio, vw_prio) in [(150, 100), (100, 150)] {
        let p = Pair::new("el")?;
        let cap = Capture::start(&p.b, IFACE)?;
        let ka = Node::keepalived(&p.a, &p.dir, "ka", &Spec::v2(ka_prio))?;
        let vw = Node::vipwire(&p.b, &p.dir, "vw", &Spec::v2(vw_prio), &self_cmd())?;
        let (win, lose) = if ka_prio > vw_prio {
            (&p.a, &p.b)
        } else {
            (&p.b, &p.a)
        };
        ensure!(
            settles_on(win, lose, Duration::from_secs(8)),
            "prio {ka_prio} (keepalived) vs {vw_prio} (vipwire): wrong master\n{}",
            dump(&[&ka, &vw])
        );
        // Only the winner advertises once settled, with PASS auth understood both ways.
        let t = epoch();
        std::thread::sleep(Duration::from_millis(2500));
        let late: Vec<_> = cap.all().into_iter().filter(|s| s.t > t).collect();
        let win_ip = if ka_prio > vw_prio { A_IP } else { B_IP };
        ensure!(
            late.len() >= 2 && late.iter().all(|s| s.src == win_ip),
            "{late:?}"
        );
    }
    Ok(())
}

#[test]
fn takeover_after_kill9_within_10_percent() -> Result<()> {
    let Some(_g) = start("takeover_after_kill9_within_10_percent") else {
        return Ok(());
    };
    let backup = Spec::v2(100);
    let (p, cap, mut ka, vw) =
        ka_master_vw_backup("k9", &Spec::v2(150), &backup, Duration::from_secs(8))?;
    let t = measure_takeover(&cap, &mut ka, A_IP, B_IP, false)?;
    let mdi = backup.master_down();
    eprintln!("kill -9: vipwire took over {t:?} (Master_Down_Interval {mdi:?})");
    ensure!(t.since_prio0.is_none(), "a kill -9 sends no priority 0");
    ensure!(
        within(t.since_last_advert, mdi, 0.10),
        "takeover {:.3}s after the last advert, Master_Down_Interval {mdi:?}\n{}",
        t.since_last_advert,
        dump(&[&ka, &vw])
    );
    ensure!(vip_becomes(&p.b, true, Duration::from_secs(1)));
    Ok(())
}

#[test]
fn priority_zero_handover_on_sigterm_both_ways() -> Result<()> {
    let Some(_g) = start("priority_zero_handover_on_sigterm_both_ways") else {
        return Ok(());
    };
    for vipwire_master in [false, true] {
        let p = Pair::new("st")?;
        let cap = Capture::start(&p.b, IFACE)?;
        let bspec = Spec::v2(100);
        let (mut master, backup) = if vipwire_master {
            (
                Node::vipwire(&p.a, &p.dir, "vw", &Spec::v2(150), &self_cmd())?,
                Node::keepalived(&p.b, &p.dir, "ka", &bspec)?,
            )
        } else {
            (
                Node::keepalived(&p.a, &p.dir, "ka", &Spec::v2(150))?,
                Node::vipwire(&p.b, &p.dir, "vw", &bspec, &self_cmd())?,
            )
        };
        let (m_ip, b_ip, m_ns, b_ns) = (A_IP, B_IP, &p.a, &p.b);
        ensure!(
            settles_on(m_ns, b_ns, Duration::from_secs(8)),
            "{}",
            dump(&[&master, &backup])
        );
        let t = measure_takeover(&cap, &mut master, m_ip, b_ip, true)?;
        let skew = bspec.skew();
        eprintln!(
            "SIGTERM ({} master): {t:?}, Skew_Time {skew:?}",
            master.kind
        );
        let since0 = t.since_prio0.ok_or_else(|| {
            anyhow::anyhow!(
                "no priority-0 advert from {}\n{}",
                master.kind,
                dump(&[&master, &backup])
            )
        })?;
        // Skew plus scheduling slack (keepalived's own is a few ms).
        ensure!(
            (since0 - skew.as_secs_f64()).abs() < 0.1 * skew.as_secs_f64() + 0.02,
            "handover {since0:.3}s after priority 0, Skew_Time {skew:?}"
        );
        // The stopped master removed its VIP; the backup has it.
        ensure!(
            vip_becomes(m_ns, false, Duration::from_secs(2)),
            "{} kept the VIP",
            master.kind
        );
        ensure!(vip_becomes(b_ns, true, Duration::from_secs(2)));
    }
    Ok(())
}

#[test]
fn preemption_and_nopreempt() -> Result<()> {
    let Some(_g) = start("preemption_and_nopreempt") else {
        return Ok(());
    };
    // keepalived (100) is master alone; vipwire (150) joins and preempts.
    {
        let p = Pair::new("pe")?;
        let ka = Node::keepalived(&p.a, &p.dir, "ka", &Spec::v2(100))?;
        ensure!(
            vip_becomes(&p.a, true, Duration::from_secs(8)),
            "{}",
            dump(&[&ka])
        );
        let vw = Node::vipwire(&p.b, &p.dir, "vw", &Spec::v2(150), &self_cmd())?;
        ensure!(
            settles_on(&p.b, &p.a, Duration::from_secs(8)),
            "no preemption\n{}",
            dump(&[&ka, &vw])
        );
    }
    // Same with nopreempt on vipwire: keepalived stays master...
    {
        let p = Pair::new("np")?;
        let mut ka = Node::keepalived(&p.a, &p.dir, "ka", &Spec::v2(100))?;
        ensure!(
            vip_becomes(&p.a, true, Duration::from_secs(8)),
            "{}",
            dump(&[&ka])
        );
        let spec = Spec {
            nopreempt: true,
            ..Spec::v2(150)
        };
        let vw = Node::vipwire(&p.b, &p.dir, "vw", &spec, &self_cmd())?;
        std::thread::sleep(spec.master_down() * 2);
        ensure!(
            p.a.has_addr(IFACE, VIP) && !p.b.has_addr(IFACE, VIP),
            "nopreempt preempted\n{}",
            dump(&[&ka, &vw])
        );
        // ...until it dies.
        ka.kill9()?;
        ensure!(vip_becomes(&p.b, true, Duration::from_secs(6)));
    }
    // keepalived preempts vipwire too.
    {
        let p = Pair::new("pk")?;
        let vw = Node::vipwire(&p.b, &p.dir, "vw", &Spec::v2(100), &self_cmd())?;
        ensure!(
            vip_becomes(&p.b, true, Duration::from_secs(8)),
            "{}",
            dump(&[&vw])
        );
        let ka = Node::keepalived(&p.a, &p.dir, "ka", &Spec::v2(150))?;
        ensure!(
            settles_on(&p.a, &p.b, Duration::from_secs(8)),
            "{}",
            dump(&[&ka, &vw])
        );
    }
    Ok(())
}

#[test]
fn preempt_delay_both_ways() -> Result<()> {
    let Some(_g) = start("preempt_delay_both_ways") else {
        return Ok(());
    };
    // The joiner (150, preempt_delay 3) meets a master (100) advertising every
    // 1 s from phase a in (0, 1]: adverts at a, a+1, a+2 restart Master_Down,
    // the one at a+3 is past the delay, so it takes over at a + 2 + 3.414 s.
    for vipwire_joins in [true, false] {
        let p = Pair::new("pd")?;
        let cap = Capture::start(&p.b, IFACE)?;
        let spec = Spec {
            preempt_delay: Some(3),
            ..Spec::v2(150)
        };
        let first = if vipwire_joins {
            Node::keepalived(&p.a, &p.dir, "ka", &Spec::v2(100))?
        } else {
            Node::vipwire(&p.a, &p.dir, "vw", &Spec::v2(100), &self_cmd())?
        };
        ensure!(
            vip_becomes(&p.a, true, Duration::from_secs(8)),
            "{}",
            dump(&[&first])
        );
        let t0 = epoch();
        let joiner = if vipwire_joins {
            Node::vipwire(&p.b, &p.dir, "vw", &spec, &self_cmd())?
        } else {
            Node::keepalived(&p.b, &p.dir, "ka", &spec)?
        };
        let take = cap
            .wait_for(t0, Duration::from_secs(12), |s| {
                s.src == B_IP && s.prio == 150
            })
            .ok_or_else(|| anyhow::anyhow!("no takeover\n{}", dump(&[&first, &joiner])))?;
        let after = take.t - t0;
        eprintln!(
            "preempt_delay 3: {} took over {after:.3}s after starting",
            joiner.kind
        );
        ensure!(
            (5.3..7.5).contains(&after),
            "{} took over {after:.3}s after starting\n{}",
            joiner.kind,
            dump(&[&first, &joiner])
        );
        ensure!(settles_on(&p.b, &p.a, Duration::from_secs(2)));
    }
    Ok(())
}

#[test]
fn v3_centisecond_adverts() -> Result<()> {
    let Some(_g) = start("v3_centisecond_adverts") else {
        return Ok(());
    };
    let backup = Spec::v3(100, 0.5);
    let (_p, cap, mut ka, vw) =
        ka_master_vw_backup("v3", &Spec::v3(150, 0.5), &backup, Duration::from_secs(5))?;
    let t = measure_takeover(&cap, &mut ka, A_IP, B_IP, false)?;
    let mdi = backup.master_down();
    eprintln!("v3 0.5 s kill -9: {t:?} (Master_Down_Interval {mdi:?})");
    ensure!(
        within(t.since_last_advert, mdi, 0.10),
        "v3 takeover {:.3}s, Master_Down_Interval {mdi:?}\n{}",
        t.since_last_advert,
        dump(&[&ka, &vw])
    );
    // vipwire's own adverts: v3, 50 cs, every 0.5 s.
    let start = epoch();
    std::thread::sleep(Duration::from_millis(1600));
    let ours: Vec<_> = cap
        .all()
        .into_iter()
        .filter(|s| s.src == B_IP && s.t > start)
        .collect();
    ensure!(ours.len() >= 3, "{ours:?}");
    ensure!(
        ours.iter().all(|s| s.version == 3 && s.intvl == "50cs"),
        "{ours:?}"
    );
    let gaps: Vec<f64> = ours.windows(2).map(|w| w[1].t - w[0].t).collect();
    ensure!(gaps.iter().all(|g| (g - 0.5).abs() < 0.05), "{gaps:?}");
    Ok(())
}

#[test]
fn unicast_peers() -> Result<()> {
    let Some(_g) = start("unicast_peers") else {
        return Ok(());
    };
    let master = Spec {
        unicast: Some((A_IP.into(), B_IP.into())),
        ..Spec::v2(150)
    };
    let backup = Spec {
        unicast: Some((B_IP.into(), A_IP.into())),
        ..Spec::v2(100)
    };
    let (_p, cap, mut ka, _vw) =
        ka_master_vw_backup("uc", &master, &backup, Duration::from_secs(8))?;
    let t = measure_takeover(&cap, &mut ka, A_IP, B_IP, false)?;
    ensure!(
        within(t.since_last_advert, backup.master_down(), 0.10),
        "unicast takeover {t:?}"
    );
    Ok(())
}

#[test]
fn track_script_weight_hands_over_and_back() -> Result<()> {
    let Some(_g) = start("track_script_weight_hands_over_and_back") else {
        return Ok(());
    };
    let p = Pair::new("ts")?;
    let flag = p.dir.join("healthy");
    std::fs::write(&flag, "")?;
    // vipwire 150 with weight -60 (90 while the check fails); keepalived 100.
    let spec = Spec {
        track_file: Some((flag.clone(), -60)),
        ..Spec::v2(150)
    };
    let vw = Node::vipwire(&p.b, &p.dir, "vw", &spec, &self_cmd())?;
    let ka = Node::keepalived(&p.a, &p.dir, "ka", &Spec::v2(100))?;
    ensure!(
        settles_on(&p.b, &p.a, Duration::from_secs(8)),
        "{}",
        dump(&[&ka, &vw])
    );
    std::fs::remove_file(&flag)?;
    // One script interval, then keepalived ignores the 90 adverts and preempts.
    ensure!(
        settles_on(&p.a, &p.b, Duration::from_secs(7)),
        "keepalived did not take over from priority 90\n{}",
        dump(&[&ka, &vw])
    );
    ensure!(vw
        .log_text()
        .contains("Changing effective priority from 150 to 90"));
    std::fs::write(&flag, "")?;
    ensure!(
        settles_on(&p.b, &p.a, Duration::from_secs(7)),
        "vipwire did not preempt back at 150\n{}",
        dump(&[&ka, &vw])
    );
    Ok(())
}

#[test]
fn link_down_is_fault() -> Result<()> {
    let Some(_g) = start("link_down_is_fault") else {
        return Ok(());
    };
    let p = Pair::new("ld")?;
    let vw = Node::vipwire(&p.b, &p.dir, "vw", &Spec::v2(100), &self_cmd())?;
    ensure!(
        vip_becomes(&p.b, true, Duration::from_secs(6)),
        "{}",
        dump(&[&vw])
    );
    p.b.exec(&["ip", "link", "set", IFACE, "down"])?;
    ensure!(
        vip_becomes(&p.b, false, Duration::from_secs(2)),
        "VIP kept on a down link\n{}",
        dump(&[&vw])
    );
    ensure!(
        vw.log_text().contains("Entering FAULT STATE"),
        "{}",
        dump(&[&vw])
    );
    p.b.exec(&["ip", "link", "set", IFACE, "up"])?;
    ensure!(
        vip_becomes(&p.b, true, Duration::from_secs(8)),
        "{}",
        dump(&[&vw])
    );
    Ok(())
}

/// One node at 150 tracks `trk0` on B (with `weight`; 0 = FAULT while
/// down), the other runs at 100 on A: B holds the VIP, loses it when `trk0`
/// goes down and takes it back when it comes up. `vipwire_tracks` picks who
/// tracks; the same script with keepalived tracking shows what vipwire must do.
fn tracked_interface_round(tag: &str, weight: i32, vipwire_tracks: bool) -> Result<()> {
    let p = Pair::new(tag)?;
    Pair::tracked_link(&p.b)?;
    let tracker = Spec {
        track_interface: Some((TRACKED, weight)),
        ..Spec::v2(150)
    };
    let (t, o) = if vipwire_tracks {
        let t = Node::vipwire(&p.b, &p.dir, "vw", &tracker, &self_cmd())?;
        (t, Node::keepalived(&p.a, &p.dir, "ka", &Spec::v2(100))?)
    } else {
        let t = Node::keepalived(&p.b, &p.dir, "ka", &tracker)?;
        (
            t,
            Node::vipwire(&p.a, &p.dir, "vw", &Spec::v2(100), &self_cmd())?,
        )
    };
    let who = format!("{} tracking {TRACKED} weight {weight}", t.kind);
    ensure!(
        settles_on(&p.b, &p.a, Duration::from_secs(8)),
        "{who}: never master\n{}",
        dump(&[&t, &o])
    );
    p.b.exec(&["ip", "link", "set", TRACKED, "down"])?;
    ensure!(
        settles_on(&p.a, &p.b, Duration::from_secs(8)),
        "{who}: kept the VIP with {TRACKED} down\n{}",
        dump(&[&t, &o])
    );
    let want = if weight == 0 {
        "Entering FAULT STATE".to_string()
    } else {
        format!("Changing effective priority from 150 to {}", 150 + weight)
    };
    ensure!(
        t.log_text().contains(&want),
        "{who}: no \"{want}\"\n{}",
        dump(&[&t, &o])
    );
    p.b.exec(&["ip", "link", "set", TRACKED, "up"])?;
    ensure!(
        settles_on(&p.b, &p.a, Duration::from_secs(8)),
        "{who}: did not take the VIP back with {TRACKED} up\n{}",
        dump(&[&t, &o])
    );
    Ok(())
}

#[test]
fn track_interface_fault_like_keepalived() -> Result<()> {
    let Some(_g) = start("track_interface_fault_like_keepalived") else {
        return Ok(());
    };
    tracked_interface_round("tif-ka", 0, false)?;
    tracked_interface_round("tif-vw", 0, true)
}

#[test]
fn track_interface_weight_like_keepalived() -> Result<()> {
    let Some(_g) = start("track_interface_weight_like_keepalived") else {
        return Ok(());
    };
    tracked_interface_round("tiw-ka", -60, false)?;
    tracked_interface_round("tiw-vw", -60, true)
}

#[test]
fn tcpdump_line_parser() {
    let l = "1764414483.828626 IP 203.0.113.1 > 224.0.0.18: VRRPv2, Advertisement, vrid 51, prio 150, authtype simple, intvl 1s, length 20";
    let s = parse_line(l).unwrap();
    assert_eq!(s.src, A_IP);
    assert_eq!((s.version, s.prio, s.intvl.as_str()), (2, 150, "1s"));
    assert!((s.t - 1764414483.828626).abs() < 1e-6);
    let l3 = "1764414489.266570 IP 203.0.113.2 > 224.0.0.18: VRRPv3, Advertisement, vrid 51, prio 0, intvl 50cs, length 12";
    assert_eq!(parse_line(l3).unwrap().prio, 0);
    assert!(parse_line("garbage").is_none());
}
