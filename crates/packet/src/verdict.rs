//! A packet's fate at a firewall, whatever the backend (an iptables policy or
//! target, an OpenFlow drop, an OVN ACL).

use serde::{Deserialize, Serialize};

/// Final fate of a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Verdict {
    Accept,
    Drop,
}
