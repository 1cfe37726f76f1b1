//! How `iptables-save` prints the rules Neutron writes: protocol names (from
//! the shared `packet::protocols` table), the
//! comment quoting, normalised prefixes and MACs. Neutron compares its own rule
//! text (for de-duplication); the kernel stores and prints a canonical form.
//! Checked on this test bed (iptables 1.8.9 nft and legacy, kernel 6.18) by
//! restoring rules and reading `iptables-save` back.

use std::net::IpAddr;

use ipnet::IpNet;
use packet::protocols::{self, ETC_PROTOCOLS};

/// The protocol number iptables parses from `-p VALUE` (a number, or a name
/// or alias looked up like `getprotobyname`).
pub fn protocol_number(value: &str) -> Option<u8> {
    if let Ok(n) = value.parse::<u8>() {
        return Some(n);
    }
    protocols::by_name(value)
}

/// The name iptables-save prints for a protocol number (first `/etc/protocols`
/// entry), `None` for 0 (no `-p` at all).
pub fn saved_protocol(n: u8) -> Option<String> {
    if n == 0 {
        return None;
    }
    Some(protocols::name(n).map_or_else(|| n.to_string(), str::to_string))
}

/// Neutron's `_iptables_protocol_name`: the text it writes after `-p`, or `None`
/// for no protocol. Neutron's fixed map, overridden by the local `getprotoent`
/// walk (the last entry for a number wins), `ipip` mapped to the name of 4.
/// (neutron/agent/linux/iptables_firewall.py `_protocol_name_map`,
/// neutron_lib constants `IPTABLES_PROTOCOL_NAME_MAP`.)
pub fn neutron_protocol_name(protocol: &str) -> Option<String> {
    if protocol.is_empty() || protocol == "0" {
        return None;
    }
    if let Ok(n) = protocol.parse::<u8>() {
        // getprotoent walk: the last entry with this number.
        if let Some((_, name, _)) = ETC_PROTOCOLS.iter().rev().find(|(num, _, _)| *num == n) {
            return Some(name.to_string());
        }
        return Some(protocol.to_string());
    }
    Some(
        match protocol {
            "ipv6-encap" => "ipv6",
            "icmpv6" => "ipv6-icmp",
            "pgm" => "113",
            "ipip" => "ipencap",
            other => other,
        }
        .to_string(),
    )
}

/// libxtables `xtables_save_string`: bare if only `[A-Za-z0-9_-]`, else double
/// quoted with `"`, `\` and `'` escaped.
pub fn save_string(value: &str) -> String {
    let plain = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if plain {
        return value.to_string();
    }
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        if matches!(c, '"' | '\\' | '\'') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Splits Neutron rule text into words, keeping a `"..."` comment as one word
/// (without the quotes).
fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut in_word = false;
    for c in text.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                in_word = true;
            }
            ' ' if !quoted => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            _ => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    out
}

/// An address or CIDR as the kernel stores it: host bits cleared.
pub fn canonical_net(text: &str) -> Option<IpNet> {
    if let Ok(n) = text.parse::<IpNet>() {
        return Some(n.trunc());
    }
    text.parse::<IpAddr>().ok().map(IpNet::from)
}

/// An IPv4 `--icmp-type` value as Neutron writes it (`T` or `T/C`, decimal,
/// 0-255 each) the way iptables-save 1.8.9 prints it back: type 255 is the
/// kernel's "any" (net/netfilter/xt_tcpudp.c `icmp_type_code_match` passes
/// every ICMP packet when the type is 0xFF) and libxt_icmp.c `icmp_save`
/// prints every type-255 match as `any`, whatever the code (iptables 1.8.10
/// prints `255/C` unless the codes are 0-255). `--icmpv6-type` has no such
/// case and prints as written.
fn saved_icmp_type(value: &str) -> String {
    let ty = value.split_once('/').map_or(value, |(t, _)| t);
    if ty.parse::<u8>() == Ok(255) {
        "any".to_string()
    } else {
        value.to_string()
    }
}

/// Neutron's rule text (after `-A CHAIN`) as `iptables-save` prints it back.
pub fn saved_form(neutron_text: &str) -> String {
    let w = words(neutron_text);
    let mut out: Vec<String> = Vec::with_capacity(w.len());
    let mut i = 0;
    while i < w.len() {
        let word = w[i].as_str();
        let value = w.get(i + 1).map(String::as_str);
        match (word, value) {
            ("-s" | "-d", Some(v)) => {
                match canonical_net(v) {
                    Some(n) if n.prefix_len() == 0 => {}
                    Some(n) => {
                        out.push(word.to_string());
                        out.push(n.to_string());
                    }
                    None => {
                        out.push(word.to_string());
                        out.push(v.to_string());
                    }
                }
                i += 2;
            }
            ("-p", Some(v)) => {
                match protocol_number(v) {
                    Some(n) => {
                        if let Some(name) = saved_protocol(n) {
                            out.push("-p".into());
                            out.push(name);
                        }
                    }
                    None => {
                        out.push("-p".into());
                        out.push(v.to_string());
                    }
                }
                i += 2;
            }
            ("--mac-source", Some(v)) => {
                out.push(word.to_string());
                out.push(v.to_ascii_lowercase());
                i += 2;
            }
            ("--comment", Some(v)) => {
                out.push(word.to_string());
                out.push(save_string(v));
                i += 2;
            }
            ("--icmp-type", Some(v)) => {
                out.push(word.to_string());
                out.push(saved_icmp_type(v));
                i += 2;
            }
            _ => {
                out.push(word.to_string());
                i += 1;
            }
        }
    }
    out.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocols_print_like_iptables_save() {
        // Seen on the test bed: -p 112 prints vrrp, -p 200 stays, pgm is 113.
        assert_eq!(saved_form("-p 112 -j RETURN"), "-p vrrp -j RETURN");
        assert_eq!(saved_form("-p 200 -j RETURN"), "-p 200 -j RETURN");
        assert_eq!(saved_form("-p 58 -j RETURN"), "-p ipv6-icmp -j RETURN");
        assert_eq!(saved_form("-p ip -j RETURN"), "-j RETURN");
        assert_eq!(neutron_protocol_name("112").as_deref(), Some("vrrp"));
        assert_eq!(neutron_protocol_name("ipip").as_deref(), Some("ipencap"));
        assert_eq!(neutron_protocol_name("0"), None);
        assert_eq!(neutron_protocol_name("tcp").as_deref(), Some("tcp"));
    }

    #[test]
    fn icmp_type_255_prints_as_any() {
        // Seen on the test bed (iptables 1.8.9, nft and legacy) with the real
        // Neutron 29.0.0 rules for ICMP type 255.
        for t in ["255", "255/0", "255/7", "255/255"] {
            assert_eq!(
                saved_form(&format!("-p icmp -m icmp --icmp-type {t} -j RETURN")),
                "-p icmp -m icmp --icmp-type any -j RETURN"
            );
        }
        for t in ["0", "0/0", "8/255", "254/3"] {
            let text = format!("-p icmp -m icmp --icmp-type {t} -j RETURN");
            assert_eq!(saved_form(&text), text);
        }
        for t in ["255", "255/0", "0/0"] {
            let text = format!("-p ipv6-icmp -m icmp6 --icmpv6-type {t} -j RETURN");
            assert_eq!(saved_form(&text), text);
        }
    }

    #[test]
    fn prefixes_macs_and_comments() {
        assert_eq!(
            saved_form("-s 10.0.0.201/30 -m mac --mac-source FA:16:3E:00:00:05 -m comment --comment \"Allow x.\" -j RETURN"),
            "-s 10.0.0.200/30 -m mac --mac-source fa:16:3e:00:00:05 -m comment --comment \"Allow x.\" -j RETURN"
        );
        assert_eq!(
            saved_form("-s 0.0.0.0/0 -m mac --mac-source AA:BB:CC:DD:EE:FF -j RETURN"),
            "-m mac --mac-source aa:bb:cc:dd:ee:ff -j RETURN"
        );
        assert_eq!(
            saved_form("-m comment --comment \"Jump\" -j X"),
            "-m comment --comment Jump -j X"
        );
        assert_eq!(save_string("a'b"), "\"a\\'b\"");
    }
}
