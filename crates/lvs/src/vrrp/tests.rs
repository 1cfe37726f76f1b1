//! One test per RFC 3768 / RFC 5798 transition, with keepalived 2.2.7's choices.

use super::*;
use std::net::Ipv4Addr;

const ME: IpAddr = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 2));
const PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 1));
const HIGH_PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 3));
const VIP: IpAddr = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 100));
const GROUP: IpAddr = IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18));

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn cfg(prio: u8) -> VrrpConfig {
    let mut c = VrrpConfig::new("VI_1", 51, prio, ME);
    c.vips = vec![VIP];
    c
}

fn v3cfg(prio: u8, cs: u64) -> VrrpConfig {
    let mut c = cfg(prio);
    c.version = 3;
    c.advert_int = Duration::from_millis(cs * 10);
    c
}

fn advert(from: IpAddr, prio: u8) -> RxAdvert {
    RxAdvert {
        src: from,
        dst: GROUP,
        ttl: 255,
        version: 2,
        kind: 1,
        vrid: 51,
        priority: prio,
        adver_int_cs: 100,
        auth_type: 0,
        auth_data: [0; 8],
        addrs: vec![VIP],
        checksum_ok: true,
    }
}

fn v3advert(from: IpAddr, prio: u8, cs: u32) -> RxAdvert {
    RxAdvert {
        version: 3,
        adver_int_cs: cs,
        ..advert(from, prio)
    }
}

fn started(c: VrrpConfig) -> Vrrp {
    let mut v = Vrrp::new(c);
    let a = v.start(Duration::ZERO);
    assert!(a.contains(&Action::StateChange {
        from: State::Init,
        to: State::Backup
    }));
    v
}

/// Drive the machine until `until`, calling handle_timeout at each deadline.
fn run_until(v: &mut Vrrp, until: Duration) -> Vec<(Duration, Action)> {
    let mut out = Vec::new();
    while let Some(d) = v.next_deadline() {
        if d > until {
            break;
        }
        for a in v.handle_timeout(d) {
            out.push((d, a));
        }
    }
    out
}

fn became_master_at(log: &[(Duration, Action)]) -> Option<Duration> {
    log.iter().find_map(|(t, a)| {
        matches!(
            a,
            Action::StateChange {
                to: State::Master,
                ..
            }
        )
        .then_some(*t)
    })
}

fn no_logs(a: Vec<Action>) -> Vec<Action> {
    a.into_iter()
        .filter(|a| !matches!(a, Action::Log(_)))
        .collect()
}

fn master(c: VrrpConfig) -> Vrrp {
    let mut v = started(c);
    let log = run_until(&mut v, Duration::from_secs(10));
    assert!(became_master_at(&log).is_some());
    assert_eq!(v.state(), State::Master);
    v
}

#[test]
fn timers_follow_rfc_and_keepalived_arithmetic() {
    let v = Vrrp::new(cfg(100));
    // v2: Skew = (256 - 100)/256 s = 0.609375 s; Master_Down = 3 s + Skew.
    assert_eq!(v.skew(), Duration::from_micros(609_375));
    assert_eq!(v.master_down_interval(), Duration::from_micros(3_609_375));
    let v = Vrrp::new(cfg(150));
    assert_eq!(v.master_down_interval(), Duration::from_micros(3_414_062));
    // v3, 50 cs: Skew = (256 - 100) * 0.5 s / 256.
    let v = Vrrp::new(v3cfg(100, 50));
    assert_eq!(v.skew(), Duration::from_micros(304_687));
    assert_eq!(v.master_down_interval(), Duration::from_micros(1_804_687));
}

#[test]
fn init_to_backup_then_master_after_master_down() {
    let mut v = started(cfg(100));
    assert_eq!(v.state(), State::Backup);
    assert_eq!(v.next_deadline(), Some(Duration::from_micros(3_609_375)));
    let log = run_until(&mut v, Duration::from_secs(4));
    assert_eq!(
        became_master_at(&log),
        Some(Duration::from_micros(3_609_375))
    );
    let acts: Vec<_> = log
        .iter()
        .map(|(_, a)| a.clone())
        .filter(|a| !matches!(a, Action::Log(_)))
        .collect();
    // Advert first, then the VIPs and 5 gratuitous ARP rounds (keepalived order).
    assert_eq!(
        acts[..4],
        [
            Action::SendAdvert { priority: 100 },
            Action::AddVips,
            Action::SendGarps { rounds: 5 },
            Action::StateChange {
                from: State::Backup,
                to: State::Master
            }
        ]
    );
}

#[test]
fn master_adverts_every_interval_and_second_garp_burst_after_5s() {
    let mut v = started(cfg(100));
    let t0 = Duration::from_micros(3_609_375);
    let log = run_until(&mut v, t0 + ms(5_500));
    assert_eq!(became_master_at(&log), Some(t0));
    let adverts: Vec<_> = log
        .iter()
        .filter(|(_, a)| matches!(a, Action::SendAdvert { priority: 100 }))
        .map(|(t, _)| *t)
        .collect();
    let want: Vec<_> = (0..6).map(|i| t0 + ms(1000 * i)).collect();
    assert_eq!(adverts, want);
    assert!(log.contains(&(t0 + ms(5000), Action::SendGarps { rounds: 5 })));
}

#[test]
fn backup_resets_master_down_on_higher_or_equal_priority() {
    let mut v = started(cfg(100));
    for s in 1..10u64 {
        let t = Duration::from_secs(s);
        // Equal priority from a higher address: keepalived's backup does not preempt.
        let from = if s % 2 == 0 { PEER } else { HIGH_PEER };
        let prio = if s % 2 == 0 { 150 } else { 100 };
        v.handle_advert(t, &advert(from, prio));
        assert!(run_until(&mut v, t + ms(999)).is_empty());
    }
    assert_eq!(v.state(), State::Backup);
    assert_eq!(v.master(), Some((HIGH_PEER, 100)));
}

#[test]
fn backup_takes_over_after_skew_on_priority_zero() {
    let mut v = started(cfg(100));
    v.handle_advert(ms(1000), &advert(PEER, 150));
    v.handle_advert(ms(1500), &advert(PEER, 0));
    let log = run_until(&mut v, Duration::from_secs(10));
    assert_eq!(
        became_master_at(&log),
        Some(ms(1500) + Duration::from_micros(609_375))
    );
}

#[test]
fn backup_preempts_lower_priority_master() {
    let mut v = started(cfg(150));
    // The lower-priority adverts are discarded: Master_Down runs out from start.
    for s in 1..4 {
        v.handle_advert(Duration::from_secs(s), &advert(PEER, 100));
    }
    let log = run_until(&mut v, Duration::from_secs(10));
    assert_eq!(
        became_master_at(&log),
        Some(Duration::from_micros(3_414_062))
    );
}

#[test]
fn nopreempt_backup_stays_behind_lower_priority_master() {
    let mut c = cfg(150);
    c.nopreempt = true;
    let mut v = started(c);
    for s in 1..20 {
        v.handle_advert(Duration::from_secs(s), &advert(PEER, 100));
        assert!(became_master_at(&run_until(&mut v, Duration::from_secs(s) + ms(999))).is_none());
    }
    assert_eq!(v.state(), State::Backup);
    // ...but takes over when that master goes silent.
    let log = run_until(&mut v, Duration::from_secs(30));
    assert_eq!(
        became_master_at(&log),
        Some(Duration::from_secs(19) + Duration::from_micros(3_414_062))
    );
}

#[test]
fn preempt_delay_holds_preemption() {
    let mut c = cfg(150);
    c.preempt_delay = Duration::from_secs(5);
    let mut v = started(c);
    let mut when = None;
    for s in 1..15u64 {
        let t = Duration::from_secs(s);
        v.handle_advert(t, &advert(PEER, 100));
        if let Some(m) = became_master_at(&run_until(&mut v, t + ms(999))) {
            when = Some(m);
            break;
        }
    }
    // The delay starts at the first advert (1 s) and ends at 6 s; adverts up to
    // 5 s restart Master_Down, the one at 6 s is no longer inside the delay
    // (keepalived: preempt_time > now), so the timer set at 5 s runs out.
    assert_eq!(
        when,
        Some(Duration::from_secs(5) + Duration::from_micros(3_414_062))
    );
}

#[test]
fn master_steps_down_for_higher_priority() {
    let mut v = master(cfg(100));
    let t = Duration::from_secs(5);
    let a = no_logs(v.handle_advert(t, &advert(PEER, 150)));
    assert_eq!(
        a,
        vec![
            Action::RemoveVips,
            Action::StateChange {
                from: State::Master,
                to: State::Backup
            }
        ]
    );
    assert_eq!(
        v.next_deadline(),
        Some(t + Duration::from_micros(3_609_375))
    );
}

#[test]
fn master_equal_priority_higher_address_wins() {
    let mut v = master(cfg(100));
    let t = Duration::from_secs(5);
    // From a lower address: we stay and answer at once (new election).
    let a = no_logs(v.handle_advert(t, &advert(PEER, 100)));
    assert_eq!(a[0], Action::SendAdvert { priority: 100 });
    assert_eq!(v.state(), State::Master);
    // From a higher address: we back off.
    v.handle_advert(t, &advert(HIGH_PEER, 100));
    assert_eq!(v.state(), State::Backup);
}

#[test]
fn master_answers_lower_priority_with_advert_and_garps() {
    let mut v = master(cfg(150));
    let t = Duration::from_secs(8);
    let a = no_logs(v.handle_advert(t, &advert(PEER, 100)));
    assert_eq!(
        a,
        vec![
            Action::SendAdvert { priority: 150 },
            Action::SendGarps { rounds: 5 }
        ]
    );
    // The advert timer restarts from the answer.
    assert_eq!(v.next_deadline(), Some(t + ms(1000)));
    let log = run_until(&mut v, t + ms(5000));
    assert!(log.contains(&(t + ms(5000), Action::SendGarps { rounds: 5 })));
}

#[test]
fn master_answers_priority_zero_at_once() {
    let mut v = master(cfg(100));
    let a = no_logs(v.handle_advert(Duration::from_secs(9), &advert(PEER, 0)));
    assert_eq!(a, vec![Action::SendAdvert { priority: 100 }]);
    assert_eq!(v.state(), State::Master);
}

#[test]
fn shutdown_sends_priority_zero_and_removes_vips() {
    let mut v = master(cfg(100));
    let a = no_logs(v.shutdown(Duration::from_secs(9)));
    assert_eq!(
        a,
        vec![
            Action::SendAdvert { priority: 0 },
            Action::RemoveVips,
            Action::StateChange {
                from: State::Master,
                to: State::Init
            }
        ]
    );
    assert_eq!(v.next_deadline(), None);
    // A backup just stops.
    let mut b = started(cfg(100));
    assert_eq!(
        no_logs(b.shutdown(ms(1))),
        vec![Action::StateChange {
            from: State::Backup,
            to: State::Init
        }]
    );
}

fn assert_discarded(rx: RxAdvert, c: VrrpConfig) {
    let mut v = started(c);
    let before = v.next_deadline();
    let a = v.handle_advert(Duration::from_secs(1), &rx);
    assert!(
        a.iter().any(|a| matches!(a, Action::Log(_))),
        "discard is logged"
    );
    assert_eq!(v.next_deadline(), before, "timer not reset by {rx:?}");
}

#[test]
fn ttl_other_than_255_is_discarded_in_multicast_only() {
    assert_discarded(
        RxAdvert {
            ttl: 254,
            ..advert(PEER, 200)
        },
        cfg(100),
    );
    // Unicast: keepalived skips the TTL check.
    let mut c = cfg(100);
    c.unicast_peers = vec![PEER];
    let mut v = started(c);
    let rx = RxAdvert {
        ttl: 64,
        dst: ME,
        ..advert(PEER, 200)
    };
    v.handle_advert(Duration::from_secs(1), &rx);
    assert_eq!(
        v.next_deadline(),
        Some(Duration::from_secs(1) + Duration::from_micros(3_609_375))
    );
}

#[test]
fn auth_mismatches_are_discarded() {
    let mut c = cfg(100);
    c.auth_pass = Some(pass_data("secret"));
    let good = RxAdvert {
        auth_type: 1,
        auth_data: pass_data("secret"),
        ..advert(PEER, 200)
    };
    assert_discarded(
        RxAdvert {
            auth_data: pass_data("wrong"),
            ..good.clone()
        },
        c.clone(),
    );
    assert_discarded(advert(PEER, 200), c.clone()); // no auth at all
    assert_discarded(good.clone(), cfg(100)); // we expect none
    let mut v = started(c);
    v.handle_advert(ms(500), &good);
    assert_eq!(
        v.next_deadline(),
        Some(ms(500) + Duration::from_micros(3_609_375))
    );
}

#[test]
fn other_discards() {
    assert_discarded(v3advert(PEER, 200, 100), cfg(100)); // version
    assert_discarded(
        RxAdvert {
            adver_int_cs: 200,
            ..advert(PEER, 200)
        },
        cfg(100),
    ); // v2 interval
    assert_discarded(
        RxAdvert {
            addrs: vec![Ipv4Addr::new(203, 0, 113, 101).into()],
            ..advert(PEER, 200)
        },
        cfg(100),
    ); // VIP list
    assert_discarded(
        RxAdvert {
            addrs: vec![],
            ..advert(PEER, 200)
        },
        cfg(100),
    );
    assert_discarded(
        RxAdvert {
            checksum_ok: false,
            ..advert(PEER, 200)
        },
        cfg(100),
    );
    assert_discarded(
        RxAdvert {
            kind: 2,
            ..advert(PEER, 200)
        },
        cfg(100),
    );
    assert_discarded(
        RxAdvert {
            dst: ME,
            ..advert(PEER, 200)
        },
        cfg(100),
    ); // unicast to a multicast instance
       // Another VRID is not ours: ignored silently.
    let mut v = started(cfg(100));
    assert!(v
        .handle_advert(
            ms(1),
            &RxAdvert {
                vrid: 52,
                ..advert(PEER, 200)
            }
        )
        .is_empty());
}

#[test]
fn v3_backup_learns_master_adver_int() {
    // We are configured with 1 s but the master advertises every 50 cs.
    let mut v = started(v3cfg(100, 100));
    assert_eq!(v.master_down_interval(), Duration::from_micros(3_609_375));
    v.handle_advert(ms(100), &v3advert(PEER, 200, 50));
    assert_eq!(v.master_down_interval(), Duration::from_micros(1_804_687));
    let log = run_until(&mut v, Duration::from_secs(5));
    assert_eq!(
        became_master_at(&log),
        Some(ms(100) + Duration::from_micros(1_804_687))
    );
    // As master we advertise our own interval.
    assert_eq!(v.advert_interval(), ms(1000));
}

#[test]
fn v3_centisecond_takeover_after_priority_zero() {
    let mut v = started(v3cfg(100, 50));
    v.handle_advert(ms(500), &v3advert(PEER, 150, 50));
    v.handle_advert(ms(700), &v3advert(PEER, 0, 50));
    let log = run_until(&mut v, Duration::from_secs(5));
    assert_eq!(
        became_master_at(&log),
        Some(ms(700) + Duration::from_micros(304_687))
    );
}

#[test]
fn owner_with_state_master_takes_over_at_once() {
    let mut c = cfg(255);
    c.initial_master = true;
    let mut v = started(c);
    let log = run_until(&mut v, Duration::from_secs(1));
    assert_eq!(became_master_at(&log), Some(Duration::from_micros(1)));
}

#[test]
fn state_master_below_255_waits_full_master_down() {
    // keepalived 2.2.7 (no sync group): "Entering BACKUP STATE (init)", then
    // MASTER after Master_Down (seen: 3 s then MASTER with priority 150).
    let mut c = cfg(150);
    c.initial_master = true;
    let mut v = started(c);
    let log = run_until(&mut v, Duration::from_secs(5));
    assert_eq!(
        became_master_at(&log),
        Some(Duration::from_micros(3_414_062))
    );
}

fn tracked(weight: i32) -> VrrpConfig {
    let mut c = cfg(100);
    c.track_scripts = vec![TrackScript {
        name: "chk".into(),
        weight,
        rise: 1,
        fall: 1,
    }];
    c
}

#[test]
fn track_script_weight_changes_effective_priority() {
    let mut v = started(tracked(20));
    // First failure with a positive weight: no change (keepalived init rule).
    v.script_result(ms(10), 0, false);
    assert_eq!(v.effective_priority(), 100);
    v.script_result(ms(20), 0, true);
    assert_eq!(v.effective_priority(), 120);
    // The running Master_Down shrinks by the skew difference.
    assert_eq!(
        v.next_deadline(),
        Some(Duration::from_micros(3_609_375 - 609_375 + 531_250))
    );
    v.script_result(ms(30), 0, false);
    assert_eq!(v.effective_priority(), 100);

    let mut v = started(tracked(-30));
    v.script_result(ms(10), 0, false);
    assert_eq!(v.effective_priority(), 70);
    v.script_result(ms(20), 0, true);
    assert_eq!(v.effective_priority(), 100);

    // Clamped to 1..=254.
    let mut c = tracked(200);
    c.priority = 200;
    let mut v = started(c);
    v.script_result(ms(10), 0, true);
    assert_eq!(v.effective_priority(), 254);
}

#[test]
fn lower_effective_priority_lets_peer_preempt() {
    let mut v = master(tracked(-60));
    let t = Duration::from_secs(6);
    v.script_result(t, 0, false);
    assert_eq!(v.effective_priority(), 40);
    let a = no_logs(v.handle_advert(t + ms(1), &advert(PEER, 100)));
    assert!(a.contains(&Action::RemoveVips));
    assert_eq!(v.state(), State::Backup);
}

#[test]
fn weight_zero_script_waits_in_fault_then_fault_from_master() {
    let mut v = Vrrp::new(tracked(0));
    let a = v.start(Duration::ZERO);
    assert!(a.contains(&Action::StateChange {
        from: State::Init,
        to: State::Fault
    }));
    assert_eq!(v.next_deadline(), None);
    // Adverts are ignored in FAULT.
    assert!(no_logs(v.handle_advert(ms(5), &advert(PEER, 0))).is_empty());
    v.script_result(ms(10), 0, true);
    assert_eq!(v.state(), State::Backup);
    let log = run_until(&mut v, Duration::from_secs(5));
    assert_eq!(
        became_master_at(&log),
        Some(ms(10) + Duration::from_micros(3_609_375))
    );
    // Failure as master: priority 0 (twice, as keepalived), VIPs removed, FAULT.
    let a = no_logs(v.script_result(Duration::from_secs(6), 0, false));
    assert_eq!(
        a,
        vec![
            Action::SendAdvert { priority: 0 },
            Action::SendAdvert { priority: 0 },
            Action::RemoveVips,
            Action::StateChange {
                from: State::Master,
                to: State::Fault
            }
        ]
    );
    v.script_result(Duration::from_secs(7), 0, true);
    assert_eq!(v.state(), State::Backup);
}

#[test]
fn link_down_is_fault() {
    let mut v = master(cfg(100));
    let a = no_logs(v.link_change(Duration::from_secs(6), false));
    assert!(a.contains(&Action::RemoveVips));
    assert_eq!(v.state(), State::Fault);
    v.link_change(Duration::from_secs(7), true);
    assert_eq!(v.state(), State::Backup);
}

#[test]
fn from_keepalived_config() {
    let text = r#"
vrrp_script chk {
    script "/bin/true"
    weight -20
    rise 2
    fall 3
}
vrrp_instance VI_1 {
    state MASTER
    interface eth0
    virtual_router_id 51
    priority 150
    advert_int 1
    authentication {
        auth_type PASS
        auth_pass secret12345
    }
    virtual_ipaddress { 203.0.113.100/24 }
    track_script { chk }
}
"#;
    let k = crate::keepalived::parse_str(text, "t.conf", None).unwrap();
    let c = VrrpConfig::from_keepalived(&k.vrrp_instances[0], &k.vrrp_scripts, ME).unwrap();
    assert_eq!(c.vrid, 51);
    assert!(c.initial_master);
    assert_eq!(c.auth_pass, Some(pass_data("secret12")));
    assert_eq!(c.vips, vec![VIP]);
    assert_eq!(c.track_scripts[0].weight, -20);
    assert_eq!((c.track_scripts[0].rise, c.track_scripts[0].fall), (2, 3));
    assert_eq!(c.garp_master_repeat, 5);
    assert_eq!(c.garp_master_delay, Duration::from_secs(5));

    let v3 = "global_defs { vrrp_version 3 }\nvrrp_instance V { interface eth0\n virtual_router_id 9\n advert_int 0.5\n virtual_ipaddress { 203.0.113.9 } }";
    let k = crate::keepalived::parse_str(v3, "t.conf", None).unwrap();
    let c = VrrpConfig::from_keepalived(&k.vrrp_instances[0], &k.vrrp_scripts, ME).unwrap();
    assert_eq!((c.version, c.advert_int), (3, ms(500)));
}

/// An IPv6 instance: VRRPv3 whatever `vrrp_version` says (keepalived
/// vrrp.c, vrrp_complete_instance), VIPs of the first VIP's family only, and
/// a source of the other family refused.
#[test]
fn ipv6_instance_from_keepalived() {
    let text = "global_defs { vrrp_version 2 }\nvrrp_instance V6 { interface eth0\n virtual_router_id 52\n priority 150\n advert_int 1\n virtual_ipaddress {\n 2001:db8::100/64\n 203.0.113.100\n fe80::100/64 } }";
    let k = crate::keepalived::parse_str(text, "t.conf", None).unwrap();
    let ll: IpAddr = "fe80::2".parse().unwrap();
    let c = VrrpConfig::from_keepalived(&k.vrrp_instances[0], &[], ll).unwrap();
    assert_eq!(c.version, 3);
    assert_eq!(c.advert_int, ms(1000));
    let want: Vec<IpAddr> = vec![
        "2001:db8::100".parse().unwrap(),
        "fe80::100".parse().unwrap(),
    ];
    assert_eq!(c.vips, want);
    let e = VrrpConfig::from_keepalived(&k.vrrp_instances[0], &[], ME).unwrap_err();
    assert!(e.to_string().contains("not of the family"), "{e}");
    // An explicit `version 2` stays (as in keepalived) and is refused here.
    let v2 = "vrrp_instance V6 { interface eth0\n virtual_router_id 52\n version 2\n virtual_ipaddress { 2001:db8::100/64 } }";
    let k = crate::keepalived::parse_str(v2, "v2.conf", None).unwrap();
    let e = VrrpConfig::from_keepalived(&k.vrrp_instances[0], &[], ll).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("v2.conf:1: vrrp_instance V6: VRRP version 2 over IPv6 is not supported"),
        "{e}"
    );
}

/// Over IPv6 the equal-priority tie-break compares the link-local sources
/// as 128-bit numbers, as keepalived's inet_sockaddrcmp does.
#[test]
fn ipv6_election_and_equal_priority_tie_break() {
    let me: IpAddr = "fe80::2".parse().unwrap();
    let low: IpAddr = "fe80::1".parse().unwrap();
    let high: IpAddr = "fe80::1:0:0:1".parse().unwrap();
    let group: IpAddr = "ff02::12".parse().unwrap();
    let vip: IpAddr = "2001:db8::100".parse().unwrap();
    let mut c = VrrpConfig::new("V6", 51, 100, me);
    c.version = 3;
    c.vips = vec![vip];
    let rx = |src: IpAddr, prio: u8| RxAdvert {
        src,
        dst: group,
        addrs: vec![vip],
        ..v3advert(PEER, prio, 100)
    };
    let mut v = master(c.clone());
    let a = no_logs(v.handle_advert(ms(5000), &rx(low, 100)));
    assert_eq!(a[0], Action::SendAdvert { priority: 100 });
    assert_eq!(v.state(), State::Master);
    v.handle_advert(ms(5000), &rx(high, 100));
    assert_eq!(v.state(), State::Backup);
    assert_eq!(v.master(), Some((high, 100)));
    // A backup hears a higher priority and stays backup; an advert from a
    // unicast (not ff02::12) destination is discarded in multicast mode.
    let mut b = started(c);
    let a = b.handle_advert(
        ms(100),
        &RxAdvert {
            dst: me,
            ..rx(low, 200)
        },
    );
    assert!(
        a.iter()
            .any(|a| matches!(a, Action::Log(l) if l.contains("Expected multicast"))),
        "{a:?}"
    );
    b.handle_advert(ms(100), &rx(low, 200));
    assert_eq!(b.master(), Some((low, 200)));
}

mod props {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Ev {
        Advert { from: u8, prio: u8, ttl_ok: bool },
        Wait(u16),
        Script(bool),
        Link(bool),
    }

    fn ev() -> impl Strategy<Value = Ev> {
        prop_oneof![
            (1u8..4, 0u8..=255, any::<bool>()).prop_map(|(from, prio, ttl_ok)| Ev::Advert {
                from,
                prio,
                ttl_ok
            }),
            (1u16..5000).prop_map(Ev::Wait),
            any::<bool>().prop_map(Ev::Script),
            any::<bool>().prop_map(Ev::Link),
        ]
    }

    proptest! {
        /// Whatever happens: the VIPs are set exactly while MASTER, they are
        /// added/removed only on entering/leaving MASTER, a BACKUP always has a
        /// Master_Down deadline, and every due timer is consumed.
        #[test]
        fn vips_follow_master_state(
            prio in 1u8..=254, weight in -100i32..100, nopreempt in any::<bool>(),
            evs in proptest::collection::vec(ev(), 1..60)
        ) {
            let mut c = tracked(weight);
            c.priority = prio;
            c.nopreempt = nopreempt;
            let mut v = Vrrp::new(c);
            let mut now = Duration::ZERO;
            let mut acts = v.start(now);
            for e in evs {
                let before = v.state();
                let step = match e {
                    Ev::Advert { from, prio, ttl_ok } => {
                        let src = IpAddr::V4(Ipv4Addr::new(203, 0, 113, from));
                        let rx = RxAdvert { ttl: if ttl_ok { 255 } else { 64 }, ..advert(src, prio) };
                        v.handle_advert(now, &rx)
                    }
                    Ev::Wait(ms_) => {
                        let until = now + Duration::from_millis(u64::from(ms_));
                        let mut out = Vec::new();
                        while let Some(d) = v.next_deadline() {
                            if d > until {
                                break;
                            }
                            // A priority rise may move Master_Down into the
                            // past (keepalived too): it fires at once.
                            now = now.max(d);
                            let step = v.handle_timeout(now);
                            prop_assert!(v.next_deadline().is_none_or(|n| n > now));
                            out.extend(step);
                        }
                        now = until;
                        out
                    }
                    Ev::Script(ok) => v.script_result(now, 0, ok),
                    Ev::Link(up) => v.link_change(now, up),
                };
                let after = v.state();
                for a in &step {
                    match a {
                        Action::AddVips => prop_assert!(after == State::Master && before != State::Master),
                        Action::RemoveVips => prop_assert!(before == State::Master && after != State::Master),
                        _ => {}
                    }
                }
                prop_assert_eq!(v.vips_set(), after == State::Master);
                if after == State::Backup {
                    prop_assert!(v.next_deadline().is_some());
                }
                prop_assert!((1..=254).contains(&v.effective_priority()));
                acts.extend(step);
            }
            let end = v.shutdown(now);
            prop_assert!(!v.vips_set());
            prop_assert_eq!(end.contains(&Action::RemoveVips), end.contains(&Action::SendAdvert { priority: 0 }));
        }
    }
}

fn if_tracked(weight: i32, reverse: bool) -> VrrpConfig {
    let mut c = cfg(100);
    c.track_interfaces = vec![TrackInterface {
        name: "eth1".into(),
        weight,
        reverse,
    }];
    c
}

#[test]
fn tracked_interface_weight_zero_is_fault_while_down() {
    let mut v = master(if_tracked(0, false));
    let a = no_logs(v.tracked_interface_change(Duration::from_secs(6), 0, false));
    assert!(a.contains(&Action::SendAdvert { priority: 0 }), "{a:?}");
    assert!(a.contains(&Action::RemoveVips));
    assert_eq!(v.state(), State::Fault);
    // A repeated "down" changes nothing; "up" goes back to BACKUP.
    assert!(no_logs(v.tracked_interface_change(Duration::from_secs(7), 0, false)).is_empty());
    v.tracked_interface_change(Duration::from_secs(8), 0, true);
    assert_eq!(v.state(), State::Backup);
    // The own link and a tracked interface both down: up again only when both are.
    v.link_change(Duration::from_secs(9), false);
    v.tracked_interface_change(Duration::from_secs(9), 0, false);
    v.link_change(Duration::from_secs(10), true);
    assert_eq!(v.state(), State::Fault);
    v.tracked_interface_change(Duration::from_secs(11), 0, true);
    assert_eq!(v.state(), State::Backup);
}

#[test]
fn tracked_interface_down_at_start_waits_in_fault() {
    let mut v = Vrrp::new(if_tracked(0, false));
    v.set_tracked_interface(0, false);
    let a = v.start(Duration::ZERO);
    assert!(a.contains(&Action::StateChange {
        from: State::Init,
        to: State::Fault
    }));
    v.tracked_interface_change(ms(10), 0, true);
    assert_eq!(v.state(), State::Backup);
    // reverse: FAULT while the interface is up.
    let mut v = Vrrp::new(if_tracked(0, true));
    v.start(Duration::ZERO);
    assert_eq!(v.state(), State::Fault);
    v.tracked_interface_change(ms(10), 0, false);
    assert_eq!(v.state(), State::Backup);
}

#[test]
fn tracked_interface_weights_move_priority() {
    // Negative weight: priority drops while down.
    let mut v = started(if_tracked(-30, false));
    assert_eq!(v.effective_priority(), 100);
    v.tracked_interface_change(ms(10), 0, false);
    assert_eq!((v.state(), v.effective_priority()), (State::Backup, 70));
    v.tracked_interface_change(ms(20), 0, true);
    assert_eq!(v.effective_priority(), 100);
    // Positive weight: added while up, from the start.
    let mut v = started(if_tracked(20, false));
    assert_eq!(v.effective_priority(), 120);
    v.tracked_interface_change(ms(10), 0, false);
    assert_eq!(v.effective_priority(), 100);
    // Down at start with a negative weight: starts lowered.
    let mut v = Vrrp::new(if_tracked(-30, false));
    v.set_tracked_interface(0, false);
    v.start(Duration::ZERO);
    assert_eq!(v.effective_priority(), 70);
    // reverse: the opposite direction.
    let mut v = started(if_tracked(20, true));
    assert_eq!(v.effective_priority(), 80);
    v.tracked_interface_change(ms(10), 0, false);
    assert_eq!(v.effective_priority(), 100);
}

#[test]
fn tracked_interface_weight_lets_peer_preempt() {
    let mut v = master(if_tracked(-60, false));
    let t = Duration::from_secs(6);
    v.tracked_interface_change(t, 0, false);
    assert_eq!(v.effective_priority(), 40);
    let a = no_logs(v.handle_advert(t + ms(1), &advert(PEER, 100)));
    assert!(a.contains(&Action::RemoveVips));
    assert_eq!(v.state(), State::Backup);
}

#[test]
fn track_interface_from_keepalived_config() {
    let text = "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n priority 150\n \
                virtual_ipaddress { 203.0.113.100 }\n track_interface {\n  eth1 weight -20\n  eth2\n  eth3 weight 5 reverse\n }\n}\n";
    let k = crate::keepalived::parse_str(text, "t", None).unwrap();
    assert!(k.passes_keepalived_check(), "{:?}", k.config_errors);
    let c = VrrpConfig::from_keepalived(&k.vrrp_instances[0], &[], ME).unwrap();
    let got: Vec<(&str, i32, bool)> = c
        .track_interfaces
        .iter()
        .map(|t| (t.name.as_str(), t.weight, t.reverse))
        .collect();
    assert_eq!(
        got,
        [("eth1", -20, false), ("eth2", 0, false), ("eth3", 5, true)]
    );
}
