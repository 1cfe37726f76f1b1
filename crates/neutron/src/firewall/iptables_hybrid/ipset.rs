//! Remote-group ipsets (neutron/agent/linux/ipset_manager.py): set names, the
//! members (`_sanitize_addresses`: a /0 as two /1s), and the sets printed the
//! way `ipset save -sorted` shows them.

use std::collections::BTreeSet;

use ipnet::IpNet;

use super::names::cut;
use super::Fam;
use crate::firewall::iptables_text::canonical_net;
use crate::model::{Cloud, Ethertype};

/// The ipset name for a remote group (ipset_manager.get_name): 29 characters.
pub fn ipset_name(group_id: &str, ethertype: Ethertype) -> String {
    cut(&format!("N{}{group_id}", ethertype.as_str()), 29)
}

/// Members of a remote group's set: fixed IPs and pair IPs of every port in
/// the group (any host); a /0 becomes two /1s; host bits cleared, sorted as
/// `ipset save -sorted` prints them.
pub(super) fn group_members(cloud: &Cloud, group: &str, fam: Fam) -> Vec<IpNet> {
    let mut set = BTreeSet::new();
    for p in cloud
        .ports
        .iter()
        .filter(|p| p.security_groups.iter().any(|g| g == group))
    {
        for net in p.addresses() {
            if Fam::of(&net.addr()) != fam {
                continue;
            }
            if net.prefix_len() == 0 {
                let halves: [&str; 2] = match fam {
                    Fam::V4 => ["0.0.0.0/1", "128.0.0.0/1"],
                    Fam::V6 => ["::/1", "8000::/1"],
                };
                set.extend(halves.iter().filter_map(|h| h.parse::<IpNet>().ok()));
            } else {
                set.insert(net.trunc());
            }
        }
    }
    let mut v: Vec<IpNet> = set.into_iter().collect();
    v.sort_by_key(|n| (n.addr(), n.prefix_len()));
    v
}

pub(super) fn print_sets(sets: &[(String, Fam, Vec<IpNet>)]) -> String {
    let mut out = String::new();
    for (name, fam, members) in sets {
        let family = if *fam == Fam::V4 { "inet" } else { "inet6" };
        out.push_str(&format!(
            "create {name} hash:net family {family} hashsize 1024 maxelem 65536 bucketsize 12\n"
        ));
        for m in members {
            if m.prefix_len() == m.max_prefix_len() {
                out.push_str(&format!("add {name} {}\n", m.addr()));
            } else {
                out.push_str(&format!("add {name} {m}\n"));
            }
        }
    }
    out
}

/// `ipset save` output made comparable with [`HostRules::ipset_save`]: the
/// random ` initval 0x...` dropped and each set's `add` lines sorted by
/// (address, prefix). `ipset save -sorted` orders only by the first 64 bits of
/// an IPv6 address (members within one /64 come out in hash order, which
/// changes with the random initval), so a line-for-line check must sort.
///
/// [`HostRules::ipset_save`]: super::HostRules::ipset_save
pub fn normalize_ipset_save(text: &str) -> String {
    let mut out = String::new();
    let mut adds: Vec<(Option<IpNet>, String)> = Vec::new();
    let flush = |adds: &mut Vec<(Option<IpNet>, String)>, out: &mut String| {
        adds.sort_by_key(|(n, l)| (n.map(|n| (n.addr(), n.prefix_len())), l.clone()));
        for (_, l) in adds.drain(..) {
            out.push_str(&l);
            out.push('\n');
        }
    };
    for line in text.lines() {
        if line.starts_with("add ") {
            let net = line.split_whitespace().nth(2).and_then(canonical_net);
            adds.push((net, line.to_string()));
            continue;
        }
        flush(&mut adds, &mut out);
        let line = match line.find(" initval 0x") {
            Some(i) => {
                let rest = &line[i + " initval 0x".len()..];
                let end = rest.find(' ').unwrap_or(rest.len());
                format!("{}{}", &line[..i], &rest[end..])
            }
            None => line.to_string(),
        };
        out.push_str(&line);
        out.push('\n');
    }
    flush(&mut adds, &mut out);
    out
}
