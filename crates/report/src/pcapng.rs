//! Every packet the check sent, in order, as a pcapng file (`--pcap FILE`)
//! that tcpdump and Wireshark open.
//!
//! One section, one Ethernet interface ("vipwire-check"), one Enhanced Packet
//! Block per packet the check sent (packets never sent because an earlier
//! packet of their flow was dropped are not in it). Every packet carries an
//! `opt_comment` naming its flow and verdict; a dropped packet's comment
//! starts with `DROPPED` and names the port, the side, where the rule sits,
//! the rule (iptables rule or OVN logical flow) and the reason. In Wireshark:
//! `frame.comment contains "DROPPED"`. Timestamps are synthetic and
//! deterministic: packet n is at 1 ms * n after the Unix epoch, so the file of
//! a check is the same every run.

use crate::frames::frame;
use crate::topology::DropGroup;
use check::simulate::Outcome;
use check::{CheckReport, Scenario};

const LINKTYPE_ETHERNET: u16 = 1;
const OPT_ENDOFOPT: u16 = 0;
const OPT_COMMENT: u16 = 1;
const SHB_USERAPPL: u16 = 4;
const IF_NAME: u16 = 2;

fn option(buf: &mut Vec<u8>, code: u16, value: &[u8]) {
    buf.extend_from_slice(&code.to_le_bytes());
    buf.extend_from_slice(&(value.len() as u16).to_le_bytes());
    buf.extend_from_slice(value);
    pad(buf);
}

fn pad(buf: &mut Vec<u8>) {
    while !buf.len().is_multiple_of(4) {
        buf.push(0);
    }
}

/// A block: type, total length, body, total length again.
fn block(out: &mut Vec<u8>, kind: u32, body: &[u8]) {
    let total = (12 + body.len()) as u32;
    out.extend_from_slice(&kind.to_le_bytes());
    out.extend_from_slice(&total.to_le_bytes());
    out.extend_from_slice(body);
    out.extend_from_slice(&total.to_le_bytes());
}

/// The comment of a dropped packet.
pub fn drop_comment(d: &check::diagnose::Drop) -> String {
    let g = DropGroup {
        number: 0,
        drop: d.clone(),
        hits: Vec::new(),
        end: crate::topology::DropEnd::Sender,
    };
    let mut c = format!("DROPPED at {}", g.where_text());
    if !d.rule_text.is_empty() {
        c += &format!("; rule: {}", d.rule_text);
    }
    c += &format!("; why: {}", d.reason);
    c
}

/// The pcapng file of `check` (run on `sc`).
pub fn write(sc: &Scenario, check: &CheckReport) -> Vec<u8> {
    let mut out = Vec::new();
    // Section Header Block.
    let mut b = Vec::new();
    b.extend_from_slice(&0x1A2B_3C4Du32.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&0u16.to_le_bytes());
    b.extend_from_slice(&(-1i64).to_le_bytes());
    option(
        &mut b,
        OPT_COMMENT,
        format!("vipwire check: {}", check.scenario).as_bytes(),
    );
    option(&mut b, SHB_USERAPPL, b"vipwire");
    option(&mut b, OPT_ENDOFOPT, &[]);
    block(&mut out, 0x0A0D_0D0A, &b);
    // Interface Description Block: Ethernet, microsecond timestamps (default).
    let mut b = Vec::new();
    b.extend_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
    b.extend_from_slice(&0u16.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    option(&mut b, IF_NAME, b"vipwire-check");
    option(&mut b, OPT_ENDOFOPT, &[]);
    block(&mut out, 1, &b);
    let mut n: u64 = 0;
    for f in &check.flows {
        for p in &f.packets {
            if p.outcome == Outcome::Skipped {
                continue;
            }
            n += 1;
            let data = frame(sc, p);
            let ts = n * 1000;
            let mut b = Vec::new();
            b.extend_from_slice(&0u32.to_le_bytes());
            b.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
            b.extend_from_slice(&(ts as u32).to_le_bytes());
            b.extend_from_slice(&(data.len() as u32).to_le_bytes());
            b.extend_from_slice(&(data.len() as u32).to_le_bytes());
            b.extend_from_slice(&data);
            pad(&mut b);
            let comment = match &p.drop {
                Some(d) => format!("{}; flow: {}; packet: {}", drop_comment(d), f.name, p.what),
                None => format!(
                    "PASS; flow: {}; packet: {} ({} -> {})",
                    f.name, p.what, p.from, p.to
                ),
            };
            option(&mut b, OPT_COMMENT, comment.as_bytes());
            option(&mut b, OPT_ENDOFOPT, &[]);
            block(&mut out, 6, &b);
        }
    }
    out
}

/// The Enhanced Packet Blocks of a pcapng file: (frame, comment), in order.
/// For tests and tools; reads what [`write`] writes (little-endian only).
pub fn read(file: &[u8]) -> Vec<(Vec<u8>, Option<String>)> {
    let mut v = Vec::new();
    let mut at = 0;
    while at + 12 <= file.len() {
        let u32_at = |i: usize| u32::from_le_bytes(file[i..i + 4].try_into().unwrap());
        let kind = u32_at(at);
        let len = u32_at(at + 4) as usize;
        if len < 12 || at + len > file.len() {
            break;
        }
        if kind == 6 {
            let cap = u32_at(at + 20) as usize;
            let data = file[at + 28..at + 28 + cap].to_vec();
            let mut o = at + 28 + cap.div_ceil(4) * 4;
            let mut comment = None;
            while o + 4 <= at + len - 4 {
                let code = u16::from_le_bytes([file[o], file[o + 1]]);
                let l = u16::from_le_bytes([file[o + 2], file[o + 3]]) as usize;
                if code == OPT_ENDOFOPT {
                    break;
                }
                if code == OPT_COMMENT {
                    comment = Some(String::from_utf8_lossy(&file[o + 4..o + 4 + l]).into_owned());
                }
                o += 4 + l.div_ceil(4) * 4;
            }
            v.push((data, comment));
        }
        at += len;
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use neutron::firewall::FirewallDriver;

    #[test]
    fn one_block_per_sent_packet_and_drops_commented() {
        for driver in [FirewallDriver::IptablesHybrid, FirewallDriver::Ovn] {
            let mut sc = Scenario::builtin().unwrap();
            sc.driver = driver;
            let r = check::run(&sc).unwrap();
            let file = write(&sc, &r);
            assert_eq!(&file[..4], &0x0A0D_0D0Au32.to_le_bytes());
            let blocks = read(&file);
            let sent = r
                .flows
                .iter()
                .flat_map(|f| &f.packets)
                .filter(|p| p.outcome != Outcome::Skipped)
                .count();
            assert_eq!(blocks.len(), sent);
            let dropped: Vec<&String> = blocks
                .iter()
                .filter_map(|b| b.1.as_ref())
                .filter(|c| c.starts_with("DROPPED"))
                .collect();
            assert_eq!(dropped.len(), r.drops().count());
            assert!(
                dropped[0].contains("port director-1 egress"),
                "{}",
                dropped[0]
            );
            let rule = match driver {
                FirewallDriver::Ovn => "action=(drop;)",
                _ => "Drop traffic without an IP/MAC allow rule.",
            };
            assert!(dropped[0].contains(rule), "{}", dropped[0]);
            assert!(file.len().is_multiple_of(4));
        }
    }
}
