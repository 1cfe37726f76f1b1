//! keepalived keywords vipwire accepts without modelling (warnings) or refuses
//! as unsupported, per block. Lists from keepalived.conf(5) of keepalived 2.2.7.

/// keepalived keywords, per block, that vipwire does not model but that do not
/// change the traffic it models: accepted with a warning.
#[rustfmt::skip]
pub(super) const GLOBAL_IGNORED: &[&str] = &[
    "bfd_cpu_affinity", "bfd_no_swap", "bfd_priority", "bfd_process_name",
    "bfd_rlimit_rttime", "bfd_rt_priority", "checker_cpu_affinity",
    "checker_log_all_failures", "checker_no_swap", "checker_priority",
    "checker_process_name", "checker_rlimit_rttime", "checker_rt_priority",
    "child_wait_time", "config_save_dir", "data_use_instance", "dbus_service_name",
    "default_interface", "dynamic_interfaces", "enable_dbus", "enable_script_security",
    "enable_snmp_checker", "enable_snmp_rfc", "enable_snmp_rfcv2", "enable_snmp_rfcv3",
    "enable_snmp_vrrp", "enable_snmp_keepalived", "enable_traps",
    "fifo_write_vrrp_states_on_reload", "include_check", "instance", "linkbeat_use_polling",
    "log_unknown_vrids", "lvs_flush", "lvs_flush_on_stop", "lvs_netlink_cmd_rcv_bufs",
    "lvs_netlink_cmd_rcv_bufs_force", "lvs_netlink_monitor_rcv_bufs",
    "lvs_netlink_monitor_rcv_bufs_force", "lvs_notify_fifo", "lvs_notify_fifo_script",
    "lvs_sync_daemon", "lvs_timeouts", "lvs_id", "max_auto_priority",
    "min_auto_priority_delay", "no_checker_emails", "no_email_faults", "notification_email",
    "notification_email_from", "notify_fifo", "notify_fifo_script",
    "process_monitor_rcv_bufs", "process_monitor_rcv_bufs_force", "process_name",
    "process_names", "random_seed", "reload_check_config", "reload_file", "reload_repeat",
    "reload_time_file", "rs_init_notifies", "script_user", "shutdown_script",
    "shutdown_script_timeout", "smtp_alert", "smtp_alert_checker", "smtp_alert_vrrp",
    "smtp_connect_timeout", "smtp_helo_name", "smtp_server", "snmp_socket",
    "startup_script", "startup_script_timeout", "tmp_config_directory", "umask",
    "use_pid_dir", "vmac_addr_prefix", "vmac_prefix", "vrrp_check_unicast_src",
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
pub(super) const GLOBAL_UNSUPPORTED: &[(&str, &str)] = &[
    ("vrrp_mcast_group4", "VRRP adverts to a group other than 224.0.0.18 are not modelled"),
    ("vrrp_mcast_group6", "VRRP adverts to a group other than ff02::12 are not modelled"),
    ("net_namespace", "keepalived in another network namespace is not modelled"),
    ("net_namespace_ipvs", "IPVS in another network namespace is not modelled"),
    ("namespace_with_ipsets", "network namespaces are not modelled"),
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
    "virtual_rules",
];

#[rustfmt::skip]
pub(super) const INSTANCE_UNSUPPORTED: &[(&str, &str)] = &[
    ("use_vmac", "a virtual MAC changes the source MAC port security sees"),
    ("use_vmac_addr", "a virtual MAC changes the source MAC port security sees"),
    ("vmac_xmit_base", "virtual MAC interfaces are not modelled"),
    ("use_ipvlan", "ipvlan interfaces are not modelled"),
    ("virtual_ipaddress_excluded", "excluded VIPs are not modelled"),
    ("track_file", "priority from track files is not modelled"),
    ("track_process", "priority from tracked processes is not modelled"),
    ("track_bfd", "priority from BFD is not modelled"),
    ("mcast_dst_ip", "VRRP adverts to a non-default group are not modelled"),
    ("vrf", "VRFs are not modelled"),
];

#[rustfmt::skip]
pub(super) const TOP_UNSUPPORTED: &[(&str, &str)] = &[
    ("vrrp_sync_group", "sync groups (instances failing over together) are not modelled"),
    ("virtual_server_group", "virtual server groups are not modelled"),
    ("static_ipaddress", "static addresses are not modelled"),
    ("static_routes", "static routes are not modelled"),
    ("static_rules", "static rules are not modelled"),
    ("linkbeat_interfaces", "linkbeat interfaces are not modelled"),
    ("track_group", "static track groups are not modelled"),
    ("vrrp_track_file", "track files are not modelled"),
    ("vrrp_track_process", "track processes are not modelled"),
    ("bfd_instance", "BFD is not modelled"),
    ("garp_group", "gratuitous ARP groups are not modelled"),
];

#[rustfmt::skip]
pub(super) const VS_IGNORED: &[&str] = &[
    "ha_suspend", "smtp_alert", "virtualhost", "snmp_name", "alpha", "omega", "quorum",
    "hysteresis", "quorum_up", "quorum_down", "ip_family", "inhibit_on_failure", "warmup",
];

#[rustfmt::skip]
pub(super) const VS_UNSUPPORTED: &[(&str, &str)] = &[
    ("sorry_server", "sorry servers are not modelled"),
    ("sorry_server_inhibit", "sorry servers are not modelled"),
    ("sorry_server_lvs_method", "sorry servers are not modelled"),
    ("persistence_granularity", "persistence netmasks are not modelled"),
    ("persistence_engine", "persistence engines are not modelled"),
    ("flag-1", "scheduler flags are not modelled"),
    ("flag-2", "scheduler flags are not modelled"),
    ("flag-3", "scheduler flags are not modelled"),
    ("sh-port", "scheduler flags are not modelled"),
    ("sh-fallback", "scheduler flags are not modelled"),
    ("mh-port", "scheduler flags are not modelled"),
    ("mh-fallback", "scheduler flags are not modelled"),
    ("ops", "one-packet scheduling is not modelled"),
];

#[rustfmt::skip]
pub(super) const RS_IGNORED: &[&str] = &[
    "notify_up", "notify_down", "smtp_alert", "virtualhost", "snmp_name", "alpha",
    "inhibit_on_failure", "warmup", "delay_loop",
];

#[rustfmt::skip]
pub(super) const RS_UNSUPPORTED: &[(&str, &str)] = &[
    ("lvs_method", "a per-real-server forwarding method is not modelled"),
    ("lb_kind", "a per-real-server forwarding method is not modelled"),
    ("uthreshold", "connection thresholds are not modelled"),
    ("lthreshold", "connection thresholds are not modelled"),
    ("track_file", "weights from track files are not modelled"),
];

#[rustfmt::skip]
pub(super) const CHECKERS_UNSUPPORTED: &[&str] = &[
    "SSL_GET", "SMTP_CHECK", "DNS_CHECK", "UDP_CHECK", "PING_CHECK", "FILE_CHECK",
    "BFD_CHECK",
];

#[rustfmt::skip]
pub(super) const CHECKER_IGNORED: &[&str] = &[
    "bindto", "bind_port", "bind_if", "fwmark", "alpha", "warmup", "delay_loop",
    "log_all_failures",
];

/// MISC_CHECK has only the options from `alpha` on (keepalived.conf(5)).
#[rustfmt::skip]
pub(super) const MISC_IGNORED: &[&str] = &[
    "alpha", "warmup", "delay_loop", "log_all_failures",
];

#[rustfmt::skip]
pub(super) const HTTP_IGNORED: &[&str] = &[
    "http_protocol", "fast_recovery", "virtualhost",
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
