//! keepalived keywords vipwire accepts without modelling (warnings) or refuses
//! as unsupported, per block. Lists from keepalived.conf(5) of keepalived 2.2.7,
//! checked against the keywords Debian's keepalived 2.2.7 binary knows in each
//! block (`keepalived -t` on one keyword at a time: no "Unknown keyword").
//!
//! The `*_UNSUPPORTED` tables give the reason the director refuses a keyword;
//! in Check mode the same words go to `unmodelled` (or, for [`Note::Warning`]
//! entries that do not change network behaviour, to `warnings`).

/// Where Check mode records a keyword the director refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Note {
    /// Changes network behaviour: `unmodelled`.
    Unmodelled,
    /// Does not by itself: `warnings`.
    Warning,
}

use Note::{Unmodelled as U, Warning as W};

/// Top-level keywords accepted with a warning in both modes.
#[rustfmt::skip]
pub(super) const TOP_IGNORED: &[&str] = &[
    "instance", "use_pid_dir", "child_wait_time", "linkbeat_use_polling", "SSL",
    "interface_up_down_delays",
];

/// Top-level keywords the director refuses. `vrrp_sync_group` and
/// `virtual_server_group` are modelled in Check mode.
#[rustfmt::skip]
pub(super) const TOP_UNSUPPORTED: &[(&str, &str, Note)] = &[
    ("vrrp_sync_group", "sync groups (instances failing over together) are not modelled", U),
    ("virtual_server_group", "virtual server groups are not modelled", U),
    ("static_ipaddress", "static addresses keepalived adds inside the VM are not modelled", U),
    ("static_routes", "routes inside the VM are not modelled", U),
    ("static_rules", "policy routing rules inside the VM are not modelled", U),
    ("net_namespace", "keepalived in another network namespace is not modelled", U),
    ("net_namespace_ipvs", "IPVS in another network namespace is not modelled", U),
    ("namespace_with_ipsets", "network namespaces are not modelled", U),
    ("garp_group", "gratuitous ARP intervals per interface group are not modelled", U),
    ("track_group", "static track groups (instances put in FAULT) are not modelled", U),
    ("linkbeat_interfaces", "linkbeat interfaces are not modelled", W),
    ("vrrp_track_file", "track files are not modelled", W),
    ("track_file", "track files are not modelled", W),
    ("vrrp_track_process", "track processes are not modelled", W),
    ("bfd_instance", "BFD is not modelled", W),
];

/// keepalived keywords, per block, that vipwire does not model but that do not
/// change the traffic it models: accepted with a warning.
#[rustfmt::skip]
pub(super) const GLOBAL_IGNORED: &[&str] = &[
    "bfd_cpu_affinity", "bfd_no_swap", "bfd_priority", "bfd_process_name",
    "bfd_rlimit_rttime", "bfd_rt_priority", "checker_cpu_affinity",
    "checker_log_all_failures", "checker_no_swap", "checker_priority",
    "checker_process_name", "checker_rlimit_rttime", "checker_rt_priority",
    "config_save_dir", "data_use_instance", "dbus_service_name",
    "default_interface", "dynamic_interfaces", "enable_dbus", "enable_script_security",
    "enable_snmp_checker", "enable_snmp_rfc", "enable_snmp_rfcv2", "enable_snmp_rfcv3",
    "enable_snmp_vrrp", "enable_snmp_keepalived", "enable_traps",
    "fifo_write_vrrp_states_on_reload", "include_check",
    "log_unknown_vrids", "lvs_flush", "lvs_flush_on_stop", "lvs_netlink_cmd_rcv_bufs",
    "lvs_netlink_cmd_rcv_bufs_force", "lvs_netlink_monitor_rcv_bufs",
    "lvs_netlink_monitor_rcv_bufs_force", "lvs_notify_fifo", "lvs_notify_fifo_script",
    "lvs_timeouts", "lvs_id", "max_auto_priority",
    "min_auto_priority_delay", "no_checker_emails", "no_email_faults", "notification_email",
    "notification_email_from", "notify_fifo", "notify_fifo_script",
    "process_monitor_rcv_bufs", "process_monitor_rcv_bufs_force", "process_name",
    "process_names", "random_seed", "reload_check_config", "reload_file", "reload_repeat",
    "reload_time_file", "rs_init_notifies", "script_user", "shutdown_script",
    "shutdown_script_timeout", "smtp_alert", "smtp_alert_checker", "smtp_alert_vrrp",
    "smtp_connect_timeout", "smtp_helo_name", "smtp_server", "snmp_socket",
    "startup_script", "startup_script_timeout", "tmp_config_directory", "umask",
    "vmac_addr_prefix", "vmac_prefix", "vrrp_check_unicast_src",
    "vrrp_cpu_affinity", "vrrp_down_timer_adverts", "vrrp_garp_extra_if",
    "vrrp_garp_interval", "vrrp_garp_lower_prio_delay", "vrrp_garp_lower_prio_repeat",
    "vrrp_garp_master_refresh", "vrrp_garp_master_refresh_repeat", "vrrp_gna_interval",
    "vrrp_higher_prio_send_advert", "vrrp_ipsets", "vrrp_iptables",
    "vrrp_lower_prio_no_advert", "vrrp_min_garp", "vrrp_netlink_cmd_rcv_bufs",
    "vrrp_netlink_cmd_rcv_bufs_force", "vrrp_netlink_monitor_rcv_bufs",
    "vrrp_netlink_monitor_rcv_bufs_force", "vrrp_no_swap", "vrrp_notify_fifo",
    "vrrp_notify_fifo_script", "vrrp_notify_priority_changes", "vrrp_priority",
    "vrrp_process_name", "vrrp_rlimit_rttime", "vrrp_rt_priority",
    "vrrp_rx_bufs_multiplier", "vrrp_rx_bufs_policy", "vrrp_skip_check_adv_addr",
    "vrrp_startup_delay", "vrrp_strict", "nftables", "nftables_counters",
    "nftables_ifindex", "nftables_ipvs", "nftables_ipvs_priority",
    "nftables_ipvs_start_fwmark", "nftables_priority",
];

/// Global keywords that change modelled behaviour.
#[rustfmt::skip]
pub(super) const GLOBAL_UNSUPPORTED: &[(&str, &str, Note)] = &[
    ("vrrp_mcast_group4", "VRRP adverts to a group other than 224.0.0.18 are not modelled", U),
    ("vrrp_mcast_group6", "VRRP adverts to a group other than ff02::12 are not modelled", U),
];

#[rustfmt::skip]
pub(super) const INSTANCE_IGNORED: &[&str] = &[
    "notify", "notify_backup", "notify_fault", "notify_master", "notify_stop",
    "notify_master_rx_lower_pri", "notify_priority_changes", "smtp_alert", "debug",
    "dont_track_primary", "track_interface", "mcast_src_ip", "strict_mode",
    "skip_check_adv_addr", "check_unicast_src", "garp_lower_prio_delay",
    "garp_lower_prio_repeat", "garp_master_refresh", "garp_master_refresh_repeat",
    "garp_extra_if", "lower_prio_no_advert", "higher_prio_send_advert",
    "promote_secondaries", "down_timer_adverts", "unicast_ttl", "track_src_ip",
    "kernel_rx_buf_size", "linkbeat_use_polling", "old_unicast_checksum",
    "unicast_fault_no_peer", "native_ipv6", "accept", "no_accept", "virtual_routes",
    "virtual_rules", "lvs_sync_daemon_interface", "notify_deleted", "vmac_garp_intvl",
];

/// Keywords in `INSTANCE_IGNORED` that change network behaviour: in Check mode
/// they go to `unmodelled` rather than `warnings`.
#[rustfmt::skip]
pub(super) const INSTANCE_IGNORED_UNMODELLED: &[(&str, &str)] = &[
    ("virtual_routes", "routes keepalived adds on the master are not modelled"),
    ("virtual_rules", "policy routing rules keepalived adds on the master are not modelled"),
    ("mcast_src_ip", "a VRRP advert source other than the interface address is not modelled"),
    ("strict_mode", "strict mode (no authentication, firewall rules dropping VIP traffic without accept) is not modelled"),
    ("unicast_ttl", "the TTL of unicast adverts is not modelled"),
    ("track_interface", "priority changes and FAULT from tracked interfaces are not modelled"),
    ("lvs_sync_daemon_interface", "the IPVS connection sync daemon (its multicast traffic) is not modelled"),
];

/// Keywords in `GLOBAL_IGNORED` that change network behaviour (Check mode: `unmodelled`).
#[rustfmt::skip]
pub(super) const GLOBAL_IGNORED_UNMODELLED: &[(&str, &str)] = &[
    ("vrrp_strict", "strict mode (no authentication, firewall rules dropping VIP traffic without accept) is not modelled"),
    ("vrrp_iptables", "iptables rules keepalived adds for VIPs are not modelled"),
    ("nftables", "nftables rules keepalived adds for VIPs are not modelled"),
];

/// `use_vmac` is modelled in Check mode.
#[rustfmt::skip]
pub(super) const INSTANCE_UNSUPPORTED: &[(&str, &str, Note)] = &[
    ("use_vmac", "a virtual MAC changes the source MAC port security sees", U),
    ("use_vmac_addr", "a virtual MAC on the base interface is not modelled", U),
    ("vmac_xmit_base", "adverts sent on the base interface of a virtual MAC are not modelled", U),
    ("use_ipvlan", "ipvlan interfaces (their own MAC) are not modelled", U),
    ("track_file", "priority changes from track files are not modelled", U),
    ("track_process", "priority changes from tracked processes are not modelled", U),
    ("track_bfd", "priority changes from BFD are not modelled", U),
    ("mcast_dst_ip", "VRRP adverts to a non-default group are not modelled", U),
    ("vrf", "VRFs are not modelled", U),
];

#[rustfmt::skip]
pub(super) const VS_IGNORED: &[&str] = &[
    "ha_suspend", "smtp_alert", "virtualhost", "snmp_name", "alpha", "omega", "quorum",
    "hysteresis", "quorum_up", "quorum_down", "ip_family", "inhibit_on_failure", "warmup",
];

/// Sorry servers are modelled in Check mode.
#[rustfmt::skip]
pub(super) const VS_UNSUPPORTED: &[(&str, &str, Note)] = &[
    ("sorry_server", "sorry servers are not modelled", U),
    ("sorry_server_inhibit", "sorry servers are not modelled", U),
    ("sorry_server_lvs_method", "sorry servers are not modelled", U),
    ("persistence_granularity", "persistence netmasks (clients grouped by subnet) are not modelled", U),
    ("persistence_engine", "persistence engines (SIP Call-ID) are not modelled", U),
    ("flag-1", "scheduler flags are not modelled", U),
    ("flag-2", "scheduler flags are not modelled", U),
    ("flag-3", "scheduler flags are not modelled", U),
    ("sh-port", "scheduler flags are not modelled", U),
    ("sh-fallback", "scheduler flags are not modelled", U),
    ("mh-port", "scheduler flags are not modelled", U),
    ("mh-fallback", "scheduler flags are not modelled", U),
    ("hashed", "scheduler flags are not modelled", U),
    ("ops", "one-packet scheduling is not modelled", U),
];

#[rustfmt::skip]
pub(super) const RS_IGNORED: &[&str] = &[
    "notify_up", "notify_down", "smtp_alert", "virtualhost", "snmp_name", "alpha",
    "inhibit_on_failure", "warmup", "delay_loop",
];

#[rustfmt::skip]
pub(super) const RS_UNSUPPORTED: &[(&str, &str, Note)] = &[
    ("lvs_method", "a per-real-server forwarding method is not modelled", U),
    ("uthreshold", "connection thresholds are not modelled", U),
    ("lthreshold", "connection thresholds are not modelled", U),
];

/// Health checkers the director does not run; all but BFD_CHECK are modelled
/// in Check mode.
#[rustfmt::skip]
pub(super) const CHECKERS_UNSUPPORTED: &[&str] = &[
    "SSL_GET", "SMTP_CHECK", "DNS_CHECK", "UDP_CHECK", "PING_CHECK", "FILE_CHECK",
    "BFD_CHECK",
];

/// Keywords of every connecting checker that vipwire does not model.
#[rustfmt::skip]
pub(super) const CHECKER_IGNORED: &[&str] = &[
    "bindto", "bind_port", "bind_if", "fwmark", "alpha", "warmup", "delay_loop",
    "log_all_failures",
];

/// `vrrp_sync_group` keywords besides `group`.
#[rustfmt::skip]
pub(super) const SYNC_GROUP_IGNORED: &[&str] = &[
    "notify", "notify_backup", "notify_fault", "notify_master", "notify_stop",
    "notify_priority_changes", "smtp_alert", "track_interface",
];

/// `vrrp_sync_group` keywords that change failover (Check mode: unmodelled).
#[rustfmt::skip]
pub(super) const SYNC_GROUP_UNMODELLED: &[(&str, &str)] = &[
    ("track_script", "scripts tracked by a whole sync group are not modelled"),
    ("track_file", "files tracked by a whole sync group are not modelled"),
    ("track_process", "processes tracked by a whole sync group are not modelled"),
    ("track_bfd", "BFD tracked by a whole sync group is not modelled"),
];

/// MISC_CHECK has only the options from `alpha` on (keepalived.conf(5)).
#[rustfmt::skip]
pub(super) const MISC_IGNORED: &[&str] = &[
    "alpha", "warmup", "delay_loop", "log_all_failures",
];

#[rustfmt::skip]
pub(super) const HTTP_IGNORED: &[&str] = &[
    "http_protocol", "fast_recovery", "virtualhost", "enable_sni",
];

#[rustfmt::skip]
pub(super) const URL_IGNORED: &[&str] = &[
    "digest", "virtualhost",
];

#[rustfmt::skip]
pub(super) const URL_UNSUPPORTED: &[&str] = &[
    "regex", "regex_no_match", "regex_options", "regex_stack", "regex_min_offset",
    "regex_max_offset",
];
