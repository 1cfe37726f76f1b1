//! Conntrack zones (neutron/agent/linux/ip_conntrack.py): one zone per
//! `_device_key`, handed out from [`ZONE_START`]; and the raw-table `CT` jumps
//! the hybrid driver adds for each filtered port (its zone, or `--notrack`
//! when the port's rules are stateless).

use super::names::{cut, device_name, wrapped};
use super::{RenderError, Renderer};
use crate::firewall::provenance::Origin;
use crate::model::Port;

/// First conntrack zone the agent hands out (ip_conntrack.ZONE_START).
pub const ZONE_START: u16 = 4097;
const ZONE_MAX: u32 = 65535;

impl Renderer<'_> {
    fn zone_for(&mut self, port: &Port, host: &str) -> Result<u16, RenderError> {
        // neutron 29.0.0 ip_conntrack._device_key: the device (port id) cut to 11
        // characters, so ports whose ids share 11 characters share a zone.
        // (Later Neutron strips 3 characters first.)
        let key = cut(&port.id, 11);
        if let Some(z) = self.zones.get(&key) {
            return Ok(*z);
        }
        let next = self
            .zones
            .values()
            .max()
            .map_or(u32::from(ZONE_START), |m| u32::from(*m) + 1);
        if next > ZONE_MAX {
            return Err(RenderError::TooManyZones {
                host: host.to_string(),
                max: ZONE_MAX - u32::from(ZONE_START) + 1,
            });
        }
        let z = next as u16;
        self.zones.insert(key, z);
        Ok(z)
    }

    /// `_get_port_sg_rules` + `_are_sg_rules_stateful`: the first group's first rule decides.
    fn stateful(&self, port: &Port) -> bool {
        if port.device_owner.starts_with("network:") || port.device_owner.starts_with("neutron:") {
            return true;
        }
        port.security_groups
            .first()
            .and_then(|g| self.sg_rules.get(g))
            .and_then(|rules| rules.first())
            .is_none_or(|r| r.stateful)
    }

    pub(super) fn conntrack_jump(&mut self, port: &Port, host: &str) -> Result<u16, RenderError> {
        let zone = self.zone_for(port, host)?;
        let qvb = device_name("qvb", &port.id);
        let tap = device_name("tap", &port.id);
        let (comment, target) = if self.stateful(port) {
            (
                format!("Set zone for {}", port.id),
                format!("--zone {zone}"),
            )
        } else {
            (
                format!("Make {} stateless", port.id),
                "--notrack".to_string(),
            )
        };
        let chain = wrapped("PREROUTING");
        let matches = [
            format!("-m physdev --physdev-in {qvb}"),
            format!("-i {qvb}"),
            format!("-m physdev --physdev-in {tap}"),
        ];
        self.both(|t| {
            for m in &matches {
                t.raw.add(
                    &chain,
                    format!("{m} -m comment --comment \"{comment}\" -j CT {target}"),
                    Origin::ConntrackZone {
                        port_id: port.id.clone(),
                    },
                );
            }
        });
        Ok(zone)
    }
}
