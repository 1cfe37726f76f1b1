//! The settings one VRRP instance runs with, built from a keepalived
//! `vrrp_instance` with keepalived 2.2.7's defaults.

use std::net::IpAddr;
use std::time::Duration;

use crate::keepalived::{AuthType, VrrpInstance, VrrpScript, VrrpStateCfg};

/// Why an instance cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VrrpConfigError {
    #[error("{file}:{line}: vrrp_instance {name}: {what}")]
    Unsupported {
        file: String,
        line: usize,
        name: String,
        what: String,
    },
}

/// A tracked `vrrp_script` as the instance sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackScript {
    pub name: String,
    /// The `track_script` override, else the script's own weight. 0 = failure means FAULT.
    pub weight: i32,
    pub rise: u32,
    pub fall: u32,
}

/// A `track_interface` as the instance sees it (keepalived vrrp_track.c).
#[derive(Debug, Clone, PartialEq)]
pub struct TrackInterface {
    pub name: String,
    /// 0 = FAULT while down (with `reverse`: while up); otherwise the
    /// priority moves by |weight| when the interface changes.
    pub weight: i32,
    pub reverse: bool,
}

/// Everything the state machine needs; times as `Duration`.
#[derive(Debug, Clone, PartialEq)]
pub struct VrrpConfig {
    pub name: String,
    pub vrid: u8,
    /// 2 or 3.
    pub version: u8,
    /// Configured priority 1..=255 (255 = address owner).
    pub priority: u8,
    /// `state MASTER`.
    pub initial_master: bool,
    /// v2: whole seconds; v3: centiseconds.
    pub advert_int: Duration,
    /// v2 PASS authentication data (first 8 bytes, zero padded).
    pub auth_pass: Option<[u8; 8]>,
    /// The VIPs carried in adverts, in configuration order, all of the
    /// instance's family (that of `local_addr`).
    pub vips: Vec<IpAddr>,
    /// Our advert source: `unicast_src_ip`, else the interface's primary
    /// IPv4 address or (IPv6 instances) its link-local address. Equal
    /// priorities are broken by comparing it with the sender's address.
    pub local_addr: IpAddr,
    pub unicast_peers: Vec<IpAddr>,
    pub nopreempt: bool,
    pub preempt_delay: Duration,
    /// Second burst of gratuitous ARPs this long after becoming master (0 = none).
    pub garp_master_delay: Duration,
    /// Gratuitous ARPs per VIP per burst.
    pub garp_master_repeat: u32,
    /// Bursts sent by a master that hears a lower priority (keepalived default:
    /// the same as the master values).
    pub garp_lower_prio_repeat: u32,
    pub garp_lower_prio_delay: Duration,
    /// keepalived `lower_prio_no_advert`, default false: a master answers a
    /// lower-priority advert with its own at once.
    pub lower_prio_no_advert: bool,
    /// keepalived `higher_prio_send_advert`, default false.
    pub higher_prio_send_advert: bool,
    /// Adverts missed before a backup takes over (keepalived `down_timer_adverts`, 3).
    pub down_timer_adverts: u32,
    pub track_scripts: Vec<TrackScript>,
    pub track_interfaces: Vec<TrackInterface>,
}

impl VrrpConfig {
    /// keepalived defaults for everything not in the arguments.
    pub fn new(name: &str, vrid: u8, priority: u8, local_addr: impl Into<IpAddr>) -> VrrpConfig {
        let local_addr = local_addr.into();
        VrrpConfig {
            name: name.to_string(),
            vrid,
            version: 2,
            priority,
            initial_master: false,
            advert_int: Duration::from_secs(1),
            auth_pass: None,
            vips: Vec::new(),
            local_addr,
            unicast_peers: Vec::new(),
            nopreempt: false,
            preempt_delay: Duration::ZERO,
            garp_master_delay: Duration::from_secs(5),
            garp_master_repeat: 5,
            garp_lower_prio_repeat: 5,
            garp_lower_prio_delay: Duration::from_secs(5),
            lower_prio_no_advert: false,
            higher_prio_send_advert: false,
            down_timer_adverts: 3,
            track_scripts: Vec::new(),
            track_interfaces: Vec::new(),
        }
    }

    /// From a parsed keepalived instance. `local_addr` is the advert source the
    /// I/O layer found (unicast_src_ip, else the interface's primary IPv4
    /// address or, for an IPv6 instance, its link-local address).
    pub fn from_keepalived(
        inst: &VrrpInstance,
        scripts: &[VrrpScript],
        local_addr: IpAddr,
    ) -> Result<VrrpConfig, VrrpConfigError> {
        let unsupported = |what: String| VrrpConfigError::Unsupported {
            file: inst.source.clone(),
            line: inst.line,
            name: inst.name.clone(),
            what,
        };
        // Only Check-mode parses model these; the state machine does not run them.
        if inst.auth_type == Some(AuthType::Ah) {
            return Err(unsupported("IPsec AH authentication".into()));
        }
        if inst.use_vmac {
            return Err(unsupported("use_vmac (a virtual MAC)".into()));
        }
        // The parser kept only VIPs of the instance's family (the first VIP's).
        let v6 = local_addr.is_ipv6();
        let vips: Vec<IpAddr> = inst.virtual_ipaddresses.iter().map(|v| v.addr()).collect();
        if let Some(v) = vips.iter().find(|v| v.is_ipv6() != v6) {
            return Err(unsupported(format!(
                "VIP {v} is not of the family of the advert source {local_addr}"
            )));
        }
        if let Some(p) = inst.unicast_peers.iter().find(|p| p.is_ipv6() != v6) {
            return Err(unsupported(format!(
                "unicast_peer {p} is not of the instance's family (keepalived skips it)"
            )));
        }
        let peers = inst.unicast_peers.clone();
        if v6 && inst.version == 2 {
            return Err(unsupported(
                "VRRP version 2 over IPv6 is not supported (keepalived would send it outside strict mode; use version 3)".into(),
            ));
        }
        // v2 carries whole seconds, v3 centiseconds (the parser already rounded).
        let cs = (inst.advert_int * 100.0).round().max(1.0) as u64;
        let advert_int = if inst.version == 2 {
            Duration::from_secs((cs / 100).max(1))
        } else {
            Duration::from_millis(cs * 10)
        };
        let track_scripts = inst
            .track_scripts
            .iter()
            .filter_map(|(name, w)| {
                let s = scripts.iter().find(|s| &s.name == name)?;
                Some(TrackScript {
                    name: name.clone(),
                    weight: w.unwrap_or(s.weight),
                    rise: s.rise.max(1),
                    fall: s.fall.max(1),
                })
            })
            .collect();
        let mut c = VrrpConfig::new(
            &inst.name,
            inst.virtual_router_id,
            inst.priority,
            local_addr,
        );
        c.version = inst.version;
        c.initial_master = inst.state == VrrpStateCfg::Master;
        c.advert_int = advert_int;
        c.auth_pass = inst
            .auth_pass
            .as_deref()
            .filter(|_| inst.version == 2)
            .map(pass_data);
        c.vips = vips;
        c.unicast_peers = peers;
        c.nopreempt = inst.nopreempt;
        c.preempt_delay = Duration::from_secs_f64(inst.preempt_delay.max(0.0));
        c.garp_master_delay = Duration::from_secs_f64(inst.garp_master_delay.max(0.0));
        c.garp_master_repeat = inst.garp_master_repeat;
        // keepalived: lower-priority GARP settings default to the master ones
        // (vrrp.c, vrrp_complete_init).
        c.garp_lower_prio_repeat = inst.garp_master_repeat;
        c.garp_lower_prio_delay = c.garp_master_delay;
        c.track_scripts = track_scripts;
        c.track_interfaces = inst
            .track_interfaces
            .iter()
            .map(|t| TrackInterface {
                name: t.name.clone(),
                weight: t.weight,
                reverse: t.reverse,
            })
            .collect();
        Ok(c)
    }

    pub fn unicast(&self) -> bool {
        !self.unicast_peers.is_empty()
    }
}

/// PASS auth data: the first 8 bytes, zero padded.
pub fn pass_data(p: &str) -> [u8; 8] {
    let mut d = [0u8; 8];
    for (o, b) in d.iter_mut().zip(p.bytes()) {
        *o = b;
    }
    d
}
