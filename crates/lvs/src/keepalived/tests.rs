//! Unit tests for the keepalived.conf parser.

use super::*;
use std::net::Ipv4Addr;

const STORY: &str = r#"
! Configuration File for keepalived (director .5)
global_defs {
   notification_email { root@localhost }
   router_id LVS_DEVEL
}
vrrp_script chk_http {
    script "/usr/bin/curl -s http://127.0.0.1/"
    interval 2
    weight -20
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
        auth_pass 1111
    }
    virtual_ipaddress {
        203.0.113.241/24 dev eth0 label eth0:1
    }
    unicast_src_ip 203.0.113.5
    unicast_peer {
        203.0.113.7
    }
    track_script {
        chk_http weight -30
    }
}
virtual_server 203.0.113.241 80 {
    delay_loop 6
    lb_algo rr
    lb_kind DR
    persistence_timeout 50
    protocol TCP
    real_server 203.0.113.8 80 {
        weight 1
        TCP_CHECK {
            connect_timeout 3
            retry 3
            delay_before_retry 3
            connect_port 80
        }
    }
    real_server 203.0.113.10 80 {
        weight 2
        HTTP_GET {
            url { path /health
                  status_code 200 }
            url { path / }
        }
    }
    real_server 203.0.113.11 80 {
    }
}
"#;

fn parse(text: &str) -> Result<KeepalivedConfig, ConfigError> {
    parse_str(text, "keepalived.conf", None)
}

#[test]
fn story_config() {
    let c = parse(STORY).unwrap();
    assert_eq!(c.router_id.as_deref(), Some("LVS_DEVEL"));
    assert!(c.config_errors.is_empty(), "{:?}", c.config_errors);
    assert!(c.warnings.iter().any(|w| w.contains("notification_email")));
    let s = &c.vrrp_scripts[0];
    assert_eq!((s.interval, s.weight, s.fall, s.rise), (2.0, -20, 3, 1));
    assert_eq!(s.script, "/usr/bin/curl -s http://127.0.0.1/");
    let i = &c.vrrp_instances[0];
    assert_eq!(i.name, "VI_1");
    assert_eq!(i.state, VrrpStateCfg::Master);
    assert_eq!((i.virtual_router_id, i.priority, i.version), (51, 150, 2));
    assert_eq!(i.auth_pass.as_deref(), Some("1111"));
    assert_eq!(
        i.virtual_ipaddresses,
        vec!["203.0.113.241/24".parse().unwrap()]
    );
    assert_eq!(
        i.unicast_src_ip,
        Some(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 5)))
    );
    assert_eq!(
        i.unicast_peers,
        vec![IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7))]
    );
    assert_eq!(i.track_scripts, vec![("chk_http".to_string(), Some(-30))]);
    assert_eq!((i.garp_master_delay, i.garp_master_repeat), (5.0, 5));
    assert_eq!(i.line, 13);
    let v = &c.virtual_servers[0];
    assert_eq!(
        (v.port, v.protocol, v.lb_algo, v.lb_kind),
        (80, L4Proto::Tcp, Scheduler::Rr, LbKind::Dr)
    );
    assert_eq!((v.delay_loop, v.persistence_timeout), (6.0, Some(50)));
    assert_eq!(v.real_servers.len(), 3);
    assert_eq!(
        v.real_servers[0].checks,
        vec![HealthCheck::Tcp {
            connect_ip: None,
            connect_port: Some(80),
            connect_timeout: 3.0,
            retry: 3,
            delay_before_retry: 3.0
        }]
    );
    assert_eq!(
        v.real_servers[1].checks,
        vec![HealthCheck::HttpGet {
            urls: vec![("/health".into(), Some(200)), ("/".into(), None)],
            connect_ip: None,
            connect_port: None,
            connect_timeout: 5.0,
            retry: 1,
            delay_before_retry: 3.0,
        }]
    );
    assert_eq!(
        (v.real_servers[2].weight, v.real_servers[2].checks.clone()),
        (1, vec![])
    );
}

#[test]
fn defaults() {
    let c = parse(
        "vrrp_instance V { interface eth0\n virtual_router_id 9\n virtual_ipaddress { 192.0.2.1 }\n}\n\
         virtual_server 192.0.2.1 443 {\n real_server 192.0.2.9 443 { TCP_CHECK { } }\n}\n",
    )
    .unwrap();
    let i = &c.vrrp_instances[0];
    assert_eq!(i.state, VrrpStateCfg::Backup);
    assert_eq!(
        (i.priority, i.advert_int, i.preempt_delay, i.nopreempt),
        (100, 1.0, 0.0, false)
    );
    assert_eq!(i.virtual_ipaddresses, vec!["192.0.2.1/32".parse().unwrap()]);
    let v = &c.virtual_servers[0];
    // keepalived 2.2.7 corrects these and `keepalived -t` fails.
    assert_eq!(
        (v.protocol, v.lb_algo, v.lb_kind, v.delay_loop),
        (L4Proto::Udp, Scheduler::Wlc, LbKind::Nat, 60.0)
    );
    assert_eq!(c.config_errors.len(), 3, "{:?}", c.config_errors);
    assert!(!c.passes_keepalived_check());
    assert_eq!(
        v.real_servers[0].checks,
        vec![HealthCheck::Tcp {
            connect_ip: None,
            connect_port: None,
            connect_timeout: 5.0,
            retry: 1,
            delay_before_retry: 1.0
        }]
    );
}

#[test]
fn unknown_keyword_message() {
    let e = parse("virtual_server 192.0.2.1 80 {\n  lb_algoo rr\n}\n").unwrap_err();
    assert_eq!(
        e.to_string(),
        "keepalived.conf:2: unknown keyword \"lb_algoo\" in virtual_server"
    );
    assert_eq!(e.keyword(), Some("lb_algoo"));
    let e = parse("vrrp_instance V {\n interface eth0\n use_vmac\n}\n").unwrap_err();
    assert!(
        e.to_string()
            .starts_with("keepalived.conf:3: unsupported keyword \"use_vmac\""),
        "{e}"
    );
}

#[test]
fn invalid_values() {
    for (text, kw) in [
        (
            "vrrp_instance V {\n virtual_router_id 256\n}",
            "virtual_router_id",
        ),
        ("vrrp_instance V {\n priority 0\n}", "priority"),
        ("vrrp_instance V {\n priority 10x\n}", "priority"),
        ("vrrp_instance V {\n advert_int 0\n}", "advert_int"),
        (
            "vrrp_instance V {\n virtual_ipaddress { 192.0.2.300 }\n}",
            "192.0.2.300",
        ),
        (
            "vrrp_instance V {\n interface eth0\n virtual_ipaddress { 192.0.2.1 }\n}",
            "virtual_router_id",
        ),
        (
            "virtual_server 192.0.2.1 80 {\n real_server 192.0.2.2 80 { weight -1 }\n}",
            "weight",
        ),
    ] {
        let e = parse(text).unwrap_err();
        assert_eq!(e.keyword(), Some(kw), "{text}: {e}");
    }
}

#[test]
fn corrections_like_keepalived() {
    let c = parse(
        "vrrp_instance V {\n state MASTER\n nopreempt\n interface eth0\n virtual_router_id 1\n advert_int 1.5\n\
         authentication { auth_type PASS\n auth_pass 123456789 }\n virtual_ipaddress { 192.0.2.1\n 2001:db8::1 }\n\
         track_script { nosuch }\n}\n",
    )
    .unwrap();
    let i = &c.vrrp_instances[0];
    assert!(!i.nopreempt);
    assert_eq!(i.advert_int, 2.0);
    assert_eq!(i.auth_pass.as_deref(), Some("12345678"));
    assert_eq!(i.virtual_ipaddresses.len(), 1);
    assert!(i.track_scripts.is_empty());
    assert_eq!(c.config_errors.len(), 5, "{:?}", c.config_errors);
}

#[test]
fn ipv6_instance_is_v3_and_fractional_advert_ok() {
    let c = parse("vrrp_instance V {\n interface eth0\n virtual_router_id 1\n advert_int 0.5\n virtual_ipaddress { 2001:db8::1 }\n}\n").unwrap();
    let i = &c.vrrp_instances[0];
    assert_eq!((i.version, i.advert_int), (3, 0.5));
    assert_eq!(
        i.virtual_ipaddresses,
        vec!["2001:db8::1/128".parse().unwrap()]
    );
    assert!(c.config_errors.is_empty());
}

/// keepalived 2.2.7 -t on the same text (in a namespace with eth0):
/// "(/tmp/mixed.conf: Line 7) (V6): address family must match VRRP instance
/// [203.0.113.100/24] - ignoring" and "(Line 8) Configuration error: VRRP
/// instance[V6] and unicast peer address[203.0.113.2] MUST be of the same
/// family !!! Skipping...", exit 5 each; excluded VIPs of either family and
/// an explicit `version 2` on an IPv6 instance pass.
#[test]
fn ipv6_family_rules_like_keepalived() {
    let c = parse(
        "vrrp_instance V6 {\n interface eth0\n virtual_router_id 52\n unicast_peer {\n 2001:db8::2\n 203.0.113.2\n }\n\
         virtual_ipaddress {\n 2001:db8::100/64\n 203.0.113.100/24\n }\n}\n",
    )
    .unwrap();
    let i = &c.vrrp_instances[0];
    assert_eq!(
        i.virtual_ipaddresses,
        vec!["2001:db8::100/64".parse().unwrap()]
    );
    assert_eq!(
        i.unicast_peers,
        vec!["2001:db8::2".parse::<IpAddr>().unwrap()]
    );
    assert_eq!(c.config_errors.len(), 2, "{:?}", c.config_errors);
    assert!(
        c.config_errors[1].contains(
            ":10: (V6): address family must match VRRP instance [203.0.113.100/24] - ignoring"
        ),
        "{:?}",
        c.config_errors
    );
    assert!(c.config_errors[0].contains(":6: Configuration error: VRRP instance[V6] and unicast peer address[203.0.113.2] MUST be of the same family"), "{:?}", c.config_errors);

    let c = parse(
        "vrrp_instance V4 {\n interface eth0\n virtual_router_id 52\n virtual_ipaddress { 203.0.113.100/24 }\n\
         virtual_ipaddress_excluded {\n 2001:db8::100/64\n 203.0.113.101\n }\n}\n\
         vrrp_instance V6 {\n interface eth0\n virtual_router_id 53\n version 2\n virtual_ipaddress { 2001:db8::200/64 }\n}\n",
    )
    .unwrap();
    assert!(c.config_errors.is_empty(), "{:?}", c.config_errors);
    let (v4, v6) = (&c.vrrp_instances[0], &c.vrrp_instances[1]);
    assert_eq!(v4.version, 2);
    assert_eq!(
        v4.virtual_ipaddresses_excluded,
        vec![
            "2001:db8::100/64".parse().unwrap(),
            "203.0.113.101/32".parse().unwrap()
        ]
    );
    assert_eq!(v6.version, 2);
}

/// keepalived deprecates an IPv6 /128 VIP unless told otherwise
/// (vrrp_ipaddress.c: preferred_lft defaults to 0 for /128, forever else).
#[test]
fn ipv6_vip_preferred_lifetimes() {
    let c = parse(
        "vrrp_instance V6 {\n interface eth0\n virtual_router_id 52\n virtual_ipaddress {\n\
         2001:db8::100/128\n 2001:db8::101/64\n 2001:db8::102/128 preferred_lft forever\n\
         2001:db8::103/64 preferred_lft 0\n 2001:db8::104\n }\n\
         virtual_ipaddress_excluded { 2001:db8::105/128 }\n}\n",
    )
    .unwrap();
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    assert_eq!(
        c.vrrp_instances[0].vip_preferred_lft,
        vec![
            (ip("2001:db8::100"), 0),
            (ip("2001:db8::103"), 0),
            (ip("2001:db8::104"), 0),
            (ip("2001:db8::105"), 0)
        ]
    );
}

#[test]
fn real_server_ports() {
    let c = parse(
        "virtual_server 192.0.2.1 80 {\n lb_algo rr\n lb_kind DR\n protocol TCP\n\
         real_server 192.0.2.2 8080 { }\n real_server 192.0.2.3 { }\n}\n",
    )
    .unwrap();
    let rs = &c.virtual_servers[0].real_servers;
    assert_eq!((rs[0].port, rs[1].port), (80, 80));
    assert_eq!(c.config_errors.len(), 1, "{:?}", c.config_errors);
}

#[test]
fn syntax_errors() {
    let e = parse("vrrp_instance V {\n interface eth0\n").unwrap_err();
    assert!(e.to_string().starts_with("keepalived.conf:1:"), "{e}");
    let e = parse("global_defs {\n}\n}\n").unwrap_err();
    assert_eq!(e.line(), Some(3));
}

#[test]
fn includes_relative_with_glob() {
    let dir = std::env::temp_dir().join(format!("vipwire-lvs-inc-{}", std::process::id()));
    let sub = dir.join("conf.d");
    std::fs::create_dir_all(&sub).unwrap();
    std::fs::write(
        dir.join("keepalived.conf"),
        "global_defs { router_id R }\ninclude conf.d/*.conf\n",
    )
    .unwrap();
    std::fs::write(sub.join("b.conf"), "vrrp_script b {\n script /bin/b\n}\n").unwrap();
    std::fs::write(
        sub.join("a.conf"),
        "vrrp_script a {\n script /bin/a\n}\ninclude ../more.inc\n",
    )
    .unwrap();
    std::fs::write(dir.join("more.inc"), "vrrp_script c {\n bogus 1\n}\n").unwrap();
    let e = parse_file(&dir.join("keepalived.conf")).unwrap_err();
    assert!(
        e.to_string()
            .contains("more.inc:2: unknown keyword \"bogus\" in vrrp_script"),
        "{e}"
    );
    std::fs::write(dir.join("more.inc"), "vrrp_script c {\n script /bin/c\n}\n").unwrap();
    let c = parse_file(&dir.join("keepalived.conf")).unwrap();
    let names: Vec<_> = c.vrrp_scripts.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["a", "c", "b"]);
    assert!(c.vrrp_scripts[0].source.ends_with("a.conf"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn scheduler_names_roundtrip() {
    for s in Scheduler::ALL {
        assert_eq!(Scheduler::from_name(s.name()), Some(s));
    }
    assert_eq!(Scheduler::from_name("WLC"), None);
}

proptest::proptest! {
    #[test]
    fn never_panics(text in "[ -~\n{}#!\"']{0,400}") {
        let _ = parse(&text);
    }

    #[test]
    fn never_panics_on_mutated_story(cut in 0usize..2000, ins in "[ -~\n{}]{0,8}") {
        let mut t = STORY.to_string();
        let at = cut.min(t.len());
        t.insert_str(at, &ins);
        let _ = parse(&t);
    }
}

#[test]
fn master_without_priority_is_the_owner() {
    let conf = "vrrp_instance A {\n state MASTER\n interface eth0\n virtual_router_id 7\n}\n\
                vrrp_instance B {\n state BACKUP\n interface eth0\n virtual_router_id 8\n}\n";
    let c = parse_str(conf, "k.conf", None).unwrap();
    assert_eq!(c.vrrp_instances[0].priority, 255);
    assert_eq!(c.vrrp_instances[1].priority, 100);
}

#[test]
fn track_interface_corrections_are_config_errors() {
    let inst = |body: &str, prio: u32| {
        format!(
            "vrrp_instance VI {{\n interface eth0\n virtual_router_id 9\n priority {prio}\n \
             virtual_ipaddress {{ 203.0.113.9 }}\n track_interface {{\n{body}\n }}\n}}\n"
        )
    };
    let errs = |text: &str| parse_str(text, "t", None).unwrap().config_errors;
    assert!(errs(&inst("  eth1\n  eth2 weight 10", 100)).is_empty());
    for (body, prio, want) in [
        ("  eth1\n  eth1", 100, "duplicate track_interface eth1"),
        (
            "  eth1 wait 3",
            100,
            "unknown track_interface eth1 option wait",
        ),
        ("  eth1 weight", 100, "weight without value"),
        ("  eth1 weight 300", 100, "must be between"),
        ("  eth1 weight -254", 100, "cannot be +/-254"),
        ("  eth1 weight 3 sideways", 100, "weight option sideways"),
        ("  eth0", 100, "since own interface"),
        ("  eth1 weight 3", 255, "due to address owner"),
    ] {
        let e = errs(&inst(body, prio));
        assert!(e.iter().any(|m| m.contains(want)), "{body}: {e:?}");
    }
    let c = parse_str(
        &inst("  eth1 weight -254\n  eth2 weight 7 reverse", 100),
        "t",
        None,
    )
    .unwrap();
    let t = &c.vrrp_instances[0].track_interfaces;
    assert_eq!((t[0].weight, t[1].weight, t[1].reverse), (-253, 7, true));
}

/// `lvs_sync_daemon` as keepalived 2.2.7 reads it; the expected errors are
/// the lines `keepalived -t` printed for the same words in a namespace.
#[test]
fn lvs_sync_daemon_words() {
    let conf = |line: &str| {
        format!(
            "global_defs {{\n  {line}\n}}\nvrrp_instance VI_1 {{\n state BACKUP\n interface eth0\n virtual_router_id 51\n priority 100\n virtual_ipaddress {{\n 203.0.113.100/24\n }}\n}}\n"
        )
    };
    let parse = |line: &str| parse_str(&conf(line), "k.conf", None).unwrap();
    let c = parse("lvs_sync_daemon eth0 VI_1");
    let d = c.lvs_sync_daemon.clone().unwrap();
    assert_eq!(
        (d.interface.as_str(), d.instance.as_deref()),
        ("eth0", Some("VI_1"))
    );
    assert_eq!(
        (d.port, d.ttl, d.group, d.maxlen, d.syncid),
        (8848, 1, None, None, None)
    );
    assert_eq!(c.lvs_sync_id(), Some(51));
    assert!(c.config_errors.is_empty());

    let c = parse("lvs_sync_daemon eth0 VI_1 id 5 maxlen 1400 port 8849 ttl 2 group 224.0.0.82");
    let d = c.lvs_sync_daemon.clone().unwrap();
    assert_eq!(
        (d.port, d.ttl, d.maxlen, d.syncid),
        (8849, 2, Some(1400), Some(5))
    );
    assert_eq!(d.group, Some("224.0.0.82".parse().unwrap()));
    assert_eq!(c.lvs_sync_id(), Some(5));
    assert!(c.config_errors.is_empty());

    // Accepted by keepalived -t: no instance, `inst`, an unknown instance.
    for ok in [
        "lvs_sync_daemon eth0",
        "lvs_sync_daemon eth0 inst VI_1",
        "lvs_sync_daemon eth0 VI_2",
    ] {
        let c = parse(ok);
        assert!(c.config_errors.is_empty(), "{ok}: {:?}", c.config_errors);
    }
    assert_eq!(
        parse("lvs_sync_daemon eth0 inst VI_1").lvs_sync_id(),
        Some(51)
    );
    assert_eq!(parse("lvs_sync_daemon eth0 VI_2").lvs_sync_id(), None);

    // Configuration errors, with keepalived's words and file:line.
    for (line, want) in [
        (
            "lvs_sync_daemon",
            vec!["lvs_sync_daemon requires interface"],
        ),
        (
            "lvs_sync_daemon eth0 VI_1 7",
            vec!["Please use keyword \"id\" before lvs_sync_daemon SYNCID"],
        ),
        (
            "lvs_sync_daemon eth0 VI_1 id 300",
            vec!["Invalid syncid (300) - defaulting to vrid"],
        ),
        (
            "lvs_sync_daemon eth0 VI_1 id",
            vec!["No value specified for lvs_sync_daemon id, defaulting to vrid"],
        ),
        (
            "lvs_sync_daemon eth0 VI_1 group 10.0.0.1",
            vec!["lvs_sync_daemon group address 10.0.0.1 is not multicast - ignoring"],
        ),
        (
            "lvs_sync_daemon eth0 VI_1 bogus",
            vec!["Invalid syncid (bogus) - defaulting to vrid"],
        ),
        (
            "lvs_sync_daemon eth0 VI_1 port 0",
            vec!["Invalid lvs_sync_daemon port (0) - ignoring"],
        ),
        (
            "lvs_sync_daemon eth0 VI_1 ttl 256",
            vec!["Invalid lvs_sync_daemon ttl (256) - ignoring"],
        ),
        (
            "lvs_sync_daemon eth0 VI_1 maxlen 65508",
            vec!["Invalid lvs_sync_daemon maxlen (65508) - ignoring"],
        ),
        (
            "lvs_sync_daemon eth0 VI_1 group foo",
            vec!["Invalid lvs_sync_daemon group (foo) - ignoring"],
        ),
        (
            "lvs_sync_daemon eth0 VI_1 x y",
            vec![
                "Invalid syncid (x) - defaulting to vrid",
                "Unknown option y specified for lvs_sync_daemon",
            ],
        ),
        (
            "lvs_sync_daemon eth0123456789abcdef VI_1",
            vec!["lvs_sync_daemon interface name 'eth0123456789abcdef' too long - ignoring"],
        ),
    ] {
        let c = parse(line);
        let want: Vec<String> = want.iter().map(|m| format!("k.conf:2: {m}")).collect();
        assert_eq!(c.config_errors, want, "{line}");
        assert!(!c.passes_keepalived_check());
    }
    let c = parse("lvs_sync_daemon eth0 VI_1 port 0");
    assert_eq!(c.lvs_sync_daemon.unwrap().port, 8848);

    // A second lvs_sync_daemon is ignored.
    let two = conf("lvs_sync_daemon eth0 VI_1\n  lvs_sync_daemon eth1 VI_1");
    let c = parse_str(&two, "k.conf", None).unwrap();
    assert_eq!(c.lvs_sync_daemon.unwrap().interface, "eth0");
    assert_eq!(
        c.config_errors,
        vec!["k.conf:3: lvs_sync_daemon has already been specified as eth0 VI_1 - ignoring"]
    );
}
