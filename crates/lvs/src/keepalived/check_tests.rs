//! Unit tests of Check mode (`vipwire check`): each construct is modelled (or
//! listed as unmodelled), and Director mode still refuses it, naming the
//! keyword and file:line.

use super::*;
use std::net::Ipv4Addr;

fn check(text: &str) -> KeepalivedConfig {
    parse_str_with(text, "k.conf", None, &ParseOptions::check(None))
        .unwrap_or_else(|e| panic!("check mode refused: {e}"))
}

fn check_id(text: &str, id: &str) -> KeepalivedConfig {
    parse_str_with(text, "k.conf", None, &ParseOptions::check(Some(id)))
        .unwrap_or_else(|e| panic!("check mode refused: {e}"))
}

/// Director mode refuses `text` as unsupported, naming `keyword` at `line`.
fn refused(text: &str, keyword: &str, line: usize) {
    match parse_str(text, "k.conf", None) {
        Err(e @ ConfigError::Unsupported { .. }) => {
            assert_eq!(e.keyword(), Some(keyword), "{e}");
            assert_eq!(e.line(), Some(line), "{e}");
            let prefix = format!("k.conf:{line}: unsupported keyword \"{keyword}\"");
            assert!(e.to_string().starts_with(&prefix), "{e}");
        }
        other => panic!("director mode should refuse {keyword}: {other:?}"),
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

const INSTANCE: &str = "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n";

#[test]
fn ah_authentication() {
    let text = format!(
        "{INSTANCE} authentication {{\n  auth_type AH\n  auth_pass 123456789\n }}\n virtual_ipaddress {{ 192.0.2.1 }}\n}}\n"
    );
    let c = check(&text);
    let i = &c.vrrp_instances[0];
    assert_eq!(i.auth_type, Some(AuthType::Ah));
    // The AH key is auth_pass, cut to 8 octets like PASS.
    assert_eq!(i.auth_pass.as_deref(), Some("12345678"));
    assert!(c.unmodelled.is_empty(), "{:?}", c.unmodelled);
    refused(&text, "auth_type", 5);
    // PASS is the same in both modes.
    let pass = text.replace("AH", "PASS");
    let d = parse_str(&pass, "k.conf", None).unwrap();
    assert_eq!(d.vrrp_instances[0].auth_type, Some(AuthType::Pass));
}

#[test]
fn ah_clears_initial_master_below_owner() {
    let text = format!(
        "{INSTANCE} state MASTER\n priority 200\n authentication {{\n  auth_type AH\n  auth_pass k\n }}\n virtual_ipaddress {{ 192.0.2.1 }}\n}}\n"
    );
    let c = check(&text);
    assert_eq!(c.vrrp_instances[0].state, VrrpStateCfg::Backup);
    assert!(
        c.config_errors[0].contains("incompatible with AH"),
        "{:?}",
        c.config_errors
    );
    // No password: keepalived sends no authentication.
    let c = check(&format!(
        "{INSTANCE} authentication {{\n  auth_type AH\n }}\n virtual_ipaddress {{ 192.0.2.1 }}\n}}\n"
    ));
    assert_eq!(c.vrrp_instances[0].auth_type, None);
    assert_eq!(c.config_errors.len(), 1, "{:?}", c.config_errors);
}

const TWO_INSTANCES: &str = "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n \
    virtual_ipaddress { 192.0.2.1 }\n track_script { chk }\n}\n\
    vrrp_instance VI_2 {\n interface eth0\n virtual_router_id 52\n virtual_ipaddress { 192.0.2.2 }\n}\n\
    vrrp_script chk {\n script /bin/true\n weight -20\n}\n";

#[test]
fn sync_groups() {
    let text = format!(
        "vrrp_sync_group G {{\n group {{\n  VI_1\n  VI_2 NOPE\n }}\n notify_master /bin/true\n}}\n{TWO_INSTANCES}"
    );
    let c = check(&text);
    assert_eq!(
        c.sync_groups,
        vec![SyncGroup {
            name: "G".into(),
            instances: vec!["VI_1".into(), "VI_2".into()],
            line: 1,
            source: "k.conf".into(),
        }]
    );
    // Unknown member: a config error, as keepalived reports; and a weighted
    // script of a member is dropped (vrrp.c, "due to SYNC group").
    assert!(c
        .config_errors
        .iter()
        .any(|e| e.contains("NOPE") && e.contains("doesn't exist")));
    assert!(c
        .config_errors
        .iter()
        .any(|e| e.contains("ignoring tracked script chk with weights due to SYNC group")));
    assert!(c.vrrp_instances[0].track_scripts.is_empty());
    assert!(c.warnings.iter().any(|w| w.contains("notify_master")));
    refused(&text, "vrrp_sync_group", 1);
}

#[test]
fn sync_group_tracking_weight_and_bad_groups() {
    let c = check(&format!(
        "vrrp_sync_group G {{\n group {{ VI_1 VI_2 }}\n sync_group_tracking_weight\n}}\n{TWO_INSTANCES}"
    ));
    assert_eq!(c.sync_groups[0].instances, ["VI_1", "VI_2"]);
    assert_eq!(c.vrrp_instances[0].track_scripts.len(), 1);
    assert!(c.passes_keepalived_check(), "{:?}", c.config_errors);
    // A member in two groups; a group with one member; a group with none.
    let c = check(&format!(
        "vrrp_sync_group A {{\n group {{ VI_1 VI_2 }}\n sync_group_tracking_weight\n}}\n\
         vrrp_sync_group B {{\n group {{ VI_2 }}\n}}\nvrrp_sync_group C {{\n group {{ X }}\n}}\n{TWO_INSTANCES}"
    ));
    assert_eq!(c.sync_groups.len(), 1, "{:?}", c.sync_groups);
    assert!(c
        .config_errors
        .iter()
        .any(|e| e.contains("cannot exist in more than one sync group")));
    assert!(c
        .config_errors
        .iter()
        .any(|e| e.contains("Sync group C, no matching virtual router")));
}

#[test]
fn use_vmac() {
    let text = format!("{INSTANCE} use_vmac vrrp.51\n virtual_ipaddress {{ 192.0.2.1 }}\n}}\n");
    assert!(check(&text).vrrp_instances[0].use_vmac);
    refused(&text, "use_vmac", 4);
    let plain = check(&format!(
        "{INSTANCE} virtual_ipaddress {{ 192.0.2.1 }}\n}}\n"
    ));
    assert!(!plain.vrrp_instances[0].use_vmac);
}

const GROUP: &str = "virtual_server_group WEB {\n 192.0.2.10 80\n 192.0.2.20-22 443\n \
    198.51.100.8/30 8080\n 198.51.100.30-198.51.100.31\n fwmark 7\n}\n";

#[test]
fn virtual_server_group_expands() {
    let text = format!(
        "{GROUP}virtual_server group WEB {{\n lb_algo rr\n lb_kind DR\n protocol TCP\n persistence_timeout 60\n \
         real_server 10.0.1.21 {{\n  TCP_CHECK {{\n   connect_port 80\n  }}\n }}\n real_server 10.0.1.22 {{\n }}\n}}\n"
    );
    let c = check(&text);
    let got: Vec<(IpAddr, u16)> = c.virtual_servers.iter().map(|v| (v.addr, v.port)).collect();
    let mut want = vec![(ip("192.0.2.10"), 80)];
    want.extend((20..=22).map(|n| (IpAddr::V4(Ipv4Addr::new(192, 0, 2, n)), 443)));
    want.extend((8..=11).map(|n| (IpAddr::V4(Ipv4Addr::new(198, 51, 100, n)), 8080)));
    want.extend([(ip("198.51.100.30"), 0), (ip("198.51.100.31"), 0)]);
    assert_eq!(got, want);
    for v in &c.virtual_servers {
        assert_eq!(v.group.as_deref(), Some("WEB"));
        assert_eq!((v.protocol, v.lb_kind), (L4Proto::Tcp, LbKind::Dr));
        // DR: the member's port reaches the real server.
        assert!(v.real_servers.iter().all(|rs| rs.port == v.port), "{v:?}");
    }
    // The checker keeps its own connect_port on every member.
    let v443 = &c.virtual_servers[1];
    assert_eq!(
        v443.real_servers[0].checks[0].target(&v443.real_servers[0]),
        Some((ip("10.0.1.21"), Some(80)))
    );
    assert_eq!(c.fwmark_services.len(), 1);
    let f = &c.fwmark_services[0];
    assert_eq!((f.fwmark, f.group.as_deref()), (7, Some("WEB")));
    assert!(f.real_servers.iter().all(|rs| rs.port == 0));
    assert!(c.passes_keepalived_check(), "{:?}", c.config_errors);
    refused(&text, "virtual_server_group", 1);
    refused(
        "virtual_server group WEB {\n lb_algo rr\n}\n",
        "virtual_server group",
        1,
    );
}

#[test]
fn virtual_server_group_errors() {
    let c = check(
        "virtual_server_group G {\n 192.0.2.5-5 80\n 192.0.2.1/24 80\n 192.0.2.300 80\n 192.0.2.7 80\n}\n\
         virtual_server group G {\n lb_algo rr\n lb_kind NAT\n protocol TCP\n real_server 10.0.0.1 8080 {\n }\n}\n\
         virtual_server group NONE {\n lb_algo rr\n lb_kind NAT\n protocol TCP\n real_server 10.0.0.1 80 {\n }\n}\n",
    );
    // Only the valid entry is left; NAT keeps the real server's port.
    assert_eq!(c.virtual_servers.len(), 1);
    assert_eq!(c.virtual_servers[0].addr, ip("192.0.2.7"));
    assert_eq!(c.virtual_servers[0].real_servers[0].port, 8080);
    assert_eq!(c.config_errors.len(), 3, "{:?}", c.config_errors);
    // An unknown group is only logged by keepalived.
    assert!(c
        .warnings
        .iter()
        .any(|w| w.contains("NONE specified but not configured")));
    // DR: the member's port reaches the real server whatever its written port
    // (reported, not reset, for groups); its checker keeps the written one.
    let c = check(
        "virtual_server_group G {\n 192.0.2.7 80\n}\nvirtual_server group G {\n lb_algo rr\n lb_kind DR\n \
         protocol TCP\n real_server 10.0.0.1 8080 {\n  TCP_CHECK {\n  }\n }\n}\n",
    );
    let rs = &c.virtual_servers[0].real_servers[0];
    assert_eq!(rs.port, 80);
    assert_eq!(rs.checks[0].target(rs), Some((ip("10.0.0.1"), Some(8080))));
    assert!(
        c.config_errors[0].contains("ports don't match"),
        "{:?}",
        c.config_errors
    );
}

#[test]
fn fwmark_service() {
    let text = "virtual_server fwmark 10 {\n delay_loop 7\n lb_algo sh\n lb_kind DR\n persistence_timeout 600\n \
                real_server 10.0.1.31 8443 {\n  TCP_CHECK {\n  }\n }\n sorry_server 10.0.1.99\n}\n";
    let c = check(text);
    assert!(c.virtual_servers.is_empty());
    let f = &c.fwmark_services[0];
    assert_eq!(
        (
            f.fwmark,
            f.protocol,
            f.lb_algo,
            f.lb_kind,
            f.delay_loop,
            f.persistence_timeout
        ),
        (10, None, Scheduler::Sh, LbKind::Dr, 7.0, Some(600))
    );
    // keepalived clears a DR real server's port (a config error) but its
    // checker keeps the written one.
    let rs = &f.real_servers[0];
    assert_eq!(rs.port, 0);
    assert_eq!(rs.checks[0].target(rs), Some((ip("10.0.1.31"), Some(8443))));
    assert_eq!(c.config_errors.len(), 1, "{:?}", c.config_errors);
    let ss = f.sorry_server.as_ref().unwrap();
    assert_eq!(
        (ss.addr, ss.port, ss.lb_kind),
        (ip("10.0.1.99"), 0, LbKind::Dr)
    );
    refused(text, "virtual_server fwmark", 1);
}

#[test]
fn sorry_server() {
    let text = "virtual_server 192.0.2.1 80 {\n lb_algo rr\n lb_kind DR\n protocol TCP\n \
                sorry_server 10.0.0.9\n sorry_server_inhibit\n sorry_server_lvs_method NAT\n \
                real_server 10.0.0.2 80 {\n }\n}\n";
    let c = check(text);
    assert_eq!(
        c.virtual_servers[0].sorry_server,
        Some(SorryServer {
            addr: ip("10.0.0.9"),
            port: 80,
            inhibit: true,
            lb_kind: LbKind::Nat,
            line: 5,
        })
    );
    assert!(c.passes_keepalived_check(), "{:?}", c.config_errors);
    refused(text, "sorry_server", 5);
    // DR with another port: keepalived resets it; inhibit before the server is ignored.
    let c = check(
        "virtual_server 192.0.2.1 80 {\n lb_algo rr\n lb_kind DR\n protocol TCP\n sorry_server_inhibit\n \
         sorry_server 10.0.0.9 8080\n real_server 10.0.0.2 80 {\n }\n}\n",
    );
    let ss = c.virtual_servers[0].sorry_server.as_ref().unwrap();
    assert_eq!((ss.port, ss.inhibit, ss.lb_kind), (80, false, LbKind::Dr));
    assert_eq!(c.config_errors.len(), 2, "{:?}", c.config_errors);
}

const CHECKERS: &str = "track_file maint {\n file /run/maint\n}\n\
virtual_server 192.0.2.1 53 {\n delay_loop 20\n lb_algo rr\n lb_kind NAT\n protocol UDP\n \
 real_server 10.0.0.2 5353 {\n  TCP_CHECK {\n   connect_ip 10.0.0.3\n  }\n  SSL_GET {\n   url {\n    path /\n   }\n   connect_port 443\n  }\n  \
 SMTP_CHECK {\n   host {\n    connect_ip 10.0.0.4\n    connect_port 2525\n   }\n   host {\n    connect_ip 10.0.0.5\n   }\n  }\n  \
 DNS_CHECK {\n   type mx\n   name example.org\n  }\n  UDP_CHECK {\n   require_reply\n  }\n  PING_CHECK {\n   connect_ip 10.0.0.6\n  }\n  \
 MISC_CHECK {\n   misc_path \"/bin/check 10.0.0.2\"\n  }\n  FILE_CHECK {\n   track_file maint\n  }\n }\n}\n";

#[test]
fn every_checker() {
    let c = check(CHECKERS);
    let rs = &c.virtual_servers[0].real_servers[0];
    let kinds: Vec<_> = rs.checks.iter().map(HealthCheck::kind_name).collect();
    assert_eq!(
        kinds,
        [
            "TCP_CHECK",
            "SSL_GET",
            "SMTP_CHECK",
            "SMTP_CHECK",
            "DNS_CHECK",
            "UDP_CHECK",
            "PING_CHECK",
            "MISC_CHECK",
            "FILE_CHECK"
        ]
    );
    let targets: Vec<_> = rs.checks.iter().map(|k| k.target(rs)).collect();
    assert_eq!(
        targets,
        [
            // connect_ip keeps the real server's port.
            Some((ip("10.0.0.3"), Some(5353))),
            Some((ip("10.0.0.2"), Some(443))),
            // Two host blocks and no connection keyword: one checker per host.
            Some((ip("10.0.0.4"), Some(2525))),
            Some((ip("10.0.0.5"), Some(5353))),
            // DNS_CHECK and UDP_CHECK default to the real server's port.
            Some((ip("10.0.0.2"), Some(5353))),
            Some((ip("10.0.0.2"), Some(5353))),
            Some((ip("10.0.0.6"), None)),
            None,
            None,
        ]
    );
    assert_eq!(
        rs.checks[4],
        HealthCheck::Dns {
            connect_ip: None,
            connect_port: None,
            query_type: "MX".into(),
            name: "example.org".into(),
            connect_timeout: 5.0,
            // check_dns.c: retry 3, delay_before_retry = delay_loop.
            retry: 3,
            delay_before_retry: 20.0,
        }
    );
    assert!(matches!(
        rs.checks[5],
        HealthCheck::Udp {
            require_reply: true,
            retry: 1,
            ..
        }
    ));
    assert_eq!(
        rs.checks[8],
        HealthCheck::File {
            path: "/run/maint".into()
        }
    );
    assert!(c.passes_keepalived_check(), "{:?}", c.config_errors);
}

#[test]
fn director_refuses_other_checkers_and_several() {
    for (kw, body) in [
        ("SSL_GET", "url {\n path /\n }"),
        ("SMTP_CHECK", ""),
        ("DNS_CHECK", ""),
        ("UDP_CHECK", ""),
        ("PING_CHECK", ""),
        ("FILE_CHECK", "track_file x"),
        ("BFD_CHECK", "name b"),
    ] {
        let text = format!(
            "virtual_server 192.0.2.1 80 {{\n lb_algo rr\n lb_kind DR\n protocol TCP\n real_server 10.0.0.2 80 {{\n  {kw} {{\n {body}\n }}\n }}\n}}\n"
        );
        refused(&text, kw, 6);
    }
    let two = "virtual_server 192.0.2.1 80 {\n lb_algo rr\n lb_kind DR\n protocol TCP\n real_server 10.0.0.2 80 {\n  \
               TCP_CHECK {\n  }\n  MISC_CHECK {\n   misc_path /bin/true\n  }\n }\n}\n";
    refused(two, "MISC_CHECK", 8);
    assert_eq!(
        check(two).virtual_servers[0].real_servers[0].checks.len(),
        2
    );
    refused(
        "virtual_server 192.0.2.1 80 {\n real_server 10.0.0.2 80 {\n  TCP_CHECK {\n   connect_ip 10.0.0.3\n  }\n }\n}\n",
        "connect_ip",
        4,
    );
}

#[test]
fn checker_copies_the_written_port() {
    // keepalived 2.2.7 copies the real server's address and port into the
    // checker when it reads it; the port is filled in (or reset) later.
    let c = check(
        "virtual_server 192.0.2.1 80 {\n lb_algo rr\n lb_kind DR\n protocol TCP\n \
         real_server 10.0.0.2 {\n  TCP_CHECK {\n  }\n }\n real_server 10.0.0.3 8080 {\n  HTTP_GET {\n   url {\n    path /\n   }\n  }\n }\n}\n",
    );
    let rss = &c.virtual_servers[0].real_servers;
    assert_eq!((rss[0].port, rss[1].port), (80, 80));
    assert_eq!(
        rss[0].checks[0].target(&rss[0]),
        Some((ip("10.0.0.2"), Some(0)))
    );
    assert_eq!(
        rss[1].checks[0].target(&rss[1]),
        Some((ip("10.0.0.3"), Some(8080)))
    );
    assert!(c.warnings.iter().any(|w| w.contains("connects to port 0")));
}

#[test]
fn udp_payload_hex_like_keepalived() {
    let udp = |p: &str| {
        check(&format!(
            "virtual_server 192.0.2.1 53 {{\n lb_algo rr\n lb_kind DR\n protocol UDP\n real_server 10.0.0.2 53 {{\n  UDP_CHECK {{\n   payload {p}\n  }}\n }}\n}}\n"
        ))
        .config_errors
        .len()
    };
    assert_eq!(udp("00 01 fe"), 0);
    assert_eq!(udp("0a0b"), 0);
    assert_eq!(udp("zz"), 1);
    // read_hex_str's error marker is an octet 0xff.
    assert_eq!(udp("00ff"), 1);
}

#[test]
fn static_and_network_keywords_are_unmodelled() {
    let text = format!(
        "static_ipaddress {{\n 192.168.1.1/24 dev eth0\n}}\nstatic_routes {{\n 10.0.0.0/8 via 192.168.1.254\n}}\n\
         static_rules {{\n from 192.168.1.0/24 table 1\n}}\n\
         {INSTANCE} notify_master /bin/true\n mcast_src_ip 192.0.2.9\n track_file {{\n  f\n }}\n \
         virtual_ipaddress {{ 192.0.2.1 }}\n virtual_routes {{\n  10.1.0.0/16 via 192.0.2.254\n }}\n}}\n"
    );
    let c = check(&text);
    let u: Vec<(&str, usize)> = c
        .unmodelled
        .iter()
        .map(|u| (u.keyword.as_str(), u.line))
        .collect();
    assert_eq!(
        u,
        [
            ("static_ipaddress", 1),
            ("static_routes", 4),
            ("static_rules", 7),
            ("mcast_src_ip", 14),
            ("track_file", 15),
            ("virtual_routes", 19),
        ]
    );
    assert_eq!(
        c.unmodelled[1].what,
        "routes inside the VM are not modelled"
    );
    // notify scripts are warnings, as in Director mode.
    assert!(c.warnings.iter().any(|w| w.contains("notify_master")));
    refused(&text, "static_ipaddress", 1);
}

#[test]
fn other_refusals_are_unmodelled_in_check_mode() {
    let text = "virtual_server 192.0.2.1 80 {\n lb_algo sh\n sh-port\n lb_kind TUN type gue port 6080\n protocol TCP\n \
                persistence_granularity 255.255.255.0\n real_server 10.0.0.2 80 {\n  uthreshold 100\n  HTTP_GET {\n   url {\n    path /\n    status_code 200-204 301\n    regex ok\n   }\n  }\n }\n}\n";
    let c = check(text);
    let kws: Vec<&str> = c.unmodelled.iter().map(|u| u.keyword.as_str()).collect();
    assert_eq!(
        kws,
        [
            "sh-port",
            "lb_kind",
            "persistence_granularity",
            "uthreshold",
            "status_code",
            "regex"
        ]
    );
    assert_eq!(c.virtual_servers[0].lb_kind, LbKind::Tun);
    refused(text, "sh-port", 3);
    // SCTP: left out of the model.
    let c = check("virtual_server 192.0.2.1 80 {\n lb_algo rr\n lb_kind DR\n protocol SCTP\n real_server 10.0.0.2 80 {\n }\n}\n");
    assert!(c.virtual_servers.is_empty());
    assert_eq!(c.unmodelled[0].keyword, "protocol");
}

const CONDITIONAL: &str = "global_defs {\n @lb1 router_id one\n @lb2 router_id two\n}\n\
@lb1 $PRIO=150\n@^lb1 $PRIO=100\n$NET=192.0.2\n\
vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n priority $PRIO\n \
unicast_peer {\n  @^lb1 ${NET}.11\n  @^lb2 ${NET}.12\n }\n virtual_ipaddress {\n~SEQ(N, 100, 10, 120)  ${NET}.${N}/32\n }\n}\n";

#[test]
fn conditional_configuration_and_parameters() {
    let one = check_id(CONDITIONAL, "lb1");
    assert_eq!(one.router_id.as_deref(), Some("one"));
    let i = &one.vrrp_instances[0];
    assert_eq!(i.priority, 150);
    assert_eq!(i.unicast_peers, [ip("192.0.2.12")]);
    let vips: Vec<String> = i
        .virtual_ipaddresses
        .iter()
        .map(|n| n.to_string())
        .collect();
    assert_eq!(vips, ["192.0.2.100/32", "192.0.2.110/32", "192.0.2.120/32"]);
    assert!(one.unmodelled.is_empty(), "{:?}", one.unmodelled);
    let two = check_id(CONDITIONAL, "lb2");
    assert_eq!(two.router_id.as_deref(), Some("two"));
    assert_eq!(two.vrrp_instances[0].priority, 100);
    assert_eq!(two.vrrp_instances[0].unicast_peers, [ip("192.0.2.11")]);
    // No config id: every @ID line left out, every @^ID line used, and the
    // left-out ids listed once each.
    let none = check(CONDITIONAL);
    assert_eq!(none.router_id, None);
    assert_eq!(none.vrrp_instances[0].priority, 100);
    assert_eq!(none.vrrp_instances[0].unicast_peers.len(), 2);
    let ids: Vec<(&str, usize)> = none
        .unmodelled
        .iter()
        .map(|u| (u.keyword.as_str(), u.line))
        .collect();
    assert_eq!(ids, [("@lb1", 2), ("@lb2", 3)]);
    refused(CONDITIONAL, "@lb1", 2);
    refused("$X=1\n", "$X", 1);
    refused("vrrp_instance V {\n~SEQ(N, 1, 2) x\n}\n", "~SEQ", 2);
}

#[test]
fn include_with_parameters() {
    let dir = std::env::temp_dir().join(format!("vipwire-lvs-pinc-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("d")).unwrap();
    std::fs::write(
        dir.join("keepalived.conf"),
        "$SUB=d\ninclude ${_PWD}/${SUB}/*.conf\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("d/a.conf"),
        "vrrp_script s {\n script \"${_PWD}/check\"\n}\n",
    )
    .unwrap();
    let c = parse_file_with(&dir.join("keepalived.conf"), &ParseOptions::check(None)).unwrap();
    let pwd = std::fs::canonicalize(dir.join("d")).unwrap();
    assert_eq!(c.vrrp_scripts[0].script, format!("{}/check", pwd.display()));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn director_mode_is_unchanged_by_default() {
    // ParseOptions::default() is Director mode without a config id.
    assert_eq!(ParseOptions::default().strictness, Strictness::Director);
    let c = parse_str_with(
        "virtual_server 192.0.2.1 80 {\n lb_algo rr\n lb_kind DR\n protocol TCP\n real_server 10.0.0.2 80 {\n }\n}\n",
        "k.conf",
        None,
        &ParseOptions::default(),
    )
    .unwrap();
    assert!(c.unmodelled.is_empty() && c.sync_groups.is_empty() && c.fwmark_services.is_empty());
    assert_eq!(
        c.virtual_servers[0].group, None,
        "plain virtual servers have no group"
    );
}

proptest::proptest! {
    #[test]
    fn check_mode_never_panics(text in "[ -~\n{}#!\"'@$~]{0,400}") {
        let _ = parse_str_with(&text, "k.conf", None, &ParseOptions::check(Some("a")));
    }
}
