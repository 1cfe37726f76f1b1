//! The logical flows of the stages vipwire models, listed like
//! `ovn-sbctl lflow-list` (one datapath per logical switch). These are the
//! flows [`super::OvnFabric`] walks: the same priorities, matches and actions
//! appear in its packet traces. Stages not listed here (load balancing, DNS,
//! DHCP, hairpin, QoS, L2 lookup) are not modelled.

use std::fmt::Write;

use neutron::firewall::ovn::{AclAction, AclDirection, Northbound};

use super::{table, CT_INV_MATCH};

struct Flow {
    priority: u32,
    m: String,
    action: String,
}

fn flow(priority: u32, m: impl Into<String>, action: impl Into<String>) -> Flow {
    Flow {
        priority,
        m: m.into(),
        action: action.into(),
    }
}

/// Every modelled stage of every logical switch.
pub fn render(nb: &Northbound) -> String {
    let mut out = String::new();
    for ls in &nb.switches {
        let stateful = nb.switch_has_stateful(&ls.name);
        let acls = |dir: AclDirection| -> Vec<Flow> {
            let mut v: Vec<Flow> = nb
                .acls
                .iter()
                .filter(|a| a.direction == dir)
                .filter(|a| {
                    nb.port_groups.iter().any(|g| {
                        g.name == a.port_group && g.ports.iter().any(|p| ls.ports.contains(p))
                    })
                })
                .map(|a| {
                    let action = match a.action {
                        AclAction::Drop => "drop;",
                        AclAction::AllowRelated if stateful => "reg0[1] = 1; next;",
                        _ => "next;",
                    };
                    flow(u32::from(a.priority) + 1000, a.match_text.clone(), action)
                })
                .collect();
            if stateful {
                v.push(flow(65532, CT_INV_MATCH, "drop;"));
                v.push(flow(
                    65532,
                    "ct.est && !ct.rel && !ct.new && !ct.inv && ct.rpl && ct_mark.blocked == 0",
                    "next;",
                ));
                v.push(flow(
                    65532,
                    "!ct.est && ct.rel && !ct.new && !ct.inv && ct_mark.blocked == 0",
                    "next;",
                ));
                v.push(flow(
                    65532,
                    "nd || nd_ra || nd_rs || mldv1 || mldv2",
                    "next;",
                ));
                v.push(flow(1, "ip && !ct.est", "reg0[1] = 1; next;"));
            }
            v.push(flow(0, "1", "next;"));
            v
        };
        let pre_acl = |dir: AclDirection| -> Vec<Flow> {
            let mut v = Vec::new();
            if stateful {
                v.push(flow(110, "eth.mcast", "next;"));
                v.push(flow(110, "nd || nd_rs || nd_ra || mldv1 || mldv2", "next;"));
                v.extend(
                    nb.acls
                        .iter()
                        .filter(|a| a.direction == dir && a.action == AclAction::AllowStateless)
                        .map(|a| flow(u32::from(a.priority) + 1000, a.match_text.clone(), "next;")),
                );
                v.push(flow(100, "ip", "reg0[0] = 1; next;"));
            }
            v.push(flow(0, "1", "next;"));
            v
        };
        let port_sec = |field: &str, call: &str| -> Vec<Flow> {
            ls.ports
                .iter()
                .filter(|p| nb.port(p).is_some_and(|l| !l.security.is_empty()))
                .map(|p| {
                    flow(
                        50,
                        format!("{field} == \"{p}\""),
                        format!("reg0[15] = {call}(); next;"),
                    )
                })
                .chain(std::iter::once(flow(0, "1", "next;")))
                .collect()
        };
        let apply = || vec![flow(50, "reg0[15] == 1", "drop;"), flow(0, "1", "next;")];
        let _ = writeln!(out, "Datapath: \"{}\" Pipeline: ingress", ls.name);
        let stages: Vec<(&str, usize, Vec<Flow>)> = vec![
            (
                "ls_in_check_port_sec",
                table::IN_CHECK_PORT_SEC,
                port_sec("inport", "check_in_port_sec"),
            ),
            ("ls_in_apply_port_sec", table::IN_APPLY_PORT_SEC, apply()),
            (
                "ls_in_pre_acl",
                table::IN_PRE_ACL,
                pre_acl(AclDirection::FromLport),
            ),
            ("ls_in_acl", table::IN_ACL, acls(AclDirection::FromLport)),
        ];
        print_stages(&mut out, stages);
        let _ = writeln!(out, "Datapath: \"{}\" Pipeline: egress", ls.name);
        let stages: Vec<(&str, usize, Vec<Flow>)> = vec![
            (
                "ls_out_pre_acl",
                table::OUT_PRE_ACL,
                pre_acl(AclDirection::ToLport),
            ),
            ("ls_out_acl", table::OUT_ACL, acls(AclDirection::ToLport)),
            (
                "ls_out_check_port_sec",
                table::OUT_CHECK_PORT_SEC,
                port_sec("outport", "check_out_port_sec"),
            ),
            ("ls_out_apply_port_sec", table::OUT_APPLY_PORT_SEC, apply()),
        ];
        print_stages(&mut out, stages);
    }
    out
}

fn print_stages(out: &mut String, stages: Vec<(&str, usize, Vec<Flow>)>) {
    for (stage, t, mut flows) in stages {
        flows.sort_by(|a, b| b.priority.cmp(&a.priority).then_with(|| a.m.cmp(&b.m)));
        flows.dedup_by(|a, b| a.priority == b.priority && a.m == b.m);
        for f in flows {
            let _ = writeln!(
                out,
                "  table={t} ({stage}), priority={}, match=({}), action=({})",
                f.priority, f.m, f.action
            );
        }
    }
}
