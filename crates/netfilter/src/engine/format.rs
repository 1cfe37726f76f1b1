//! Human-readable trace output.

use super::*;

/// Human-readable trace:
/// ```text
///   raw:PREROUTING:rule:1  -A PREROUTING -m physdev ... -j CT --zone 4097
///   filter:neutron-openvswi-s11111111-2:rule:3  -A ... -j DROP
/// verdict: DROP (ctstate NEW, zone 4097)
/// ```
pub fn format_trace(trace: &PacketTrace) -> String {
    let mut s = String::new();
    for st in &trace.path {
        s.push_str("  ");
        s.push_str(st.line().trim_end());
        s.push('\n');
    }
    for u in &trace.unknown {
        s.push_str(&format!("  unknown: {u}\n"));
    }
    let v = match trace.verdict {
        Verdict::Accept => "ACCEPT",
        Verdict::Drop => "DROP",
    };
    let cts = if trace.ctstate.is_empty() {
        "none"
    } else {
        trace.ctstate.as_str()
    };
    let why = trace
        .ct_reason
        .as_deref()
        .map(|r| format!(": {r}"))
        .unwrap_or_default();
    s.push_str(&format!(
        "verdict: {v} (ctstate {cts}{why}, zone {})\n",
        trace.zone
    ));
    s
}
