//! The topology as Graphviz DOT, for people who lay it out or post-process it
//! themselves (`vipwire check --format dot | dot -Tpng > check.png`).
//!
//! One `cluster_` subgraph per compute host, one node per port (named by
//! port id), one edge per leg: green passes, red drops labelled with the
//! deciding rule, grey dashed packets never sent. Edge attributes
//! `vw_state`, `vw_packets`, `vw_flows` and `vw_drop` carry the data for scripts.

use crate::svg::{DropText, GREEN, GREY, RED};
use crate::topology::{LegState, Role, Topology};
use std::fmt::Write;

/// A DOT double-quoted string.
fn q(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

pub fn render(t: &Topology) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "digraph vipwire {{");
    let _ = writeln!(
        out,
        "  label={};\n  labelloc=t;\n  rankdir=LR;\n  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\", fontsize=10];\n  edge [fontname=\"Helvetica\", fontsize=9];",
        q(&format!(
            "{} ({}): {} of {} flows pass",
            t.title, t.driver, t.passed, t.total
        ))
    );
    for (i, h) in t.hosts.iter().enumerate() {
        let _ = writeln!(out, "  subgraph cluster_{i} {{");
        let _ = writeln!(
            out,
            "    label={};\n    style=dashed;",
            q(&format!("compute host {h}"))
        );
        for p in t.ports.iter().filter(|p| &p.host == h) {
            let mut label = format!(
                "{}\n{}\n{}\n{}",
                p.name,
                p.role.word(),
                p.ips.join(", "),
                p.mac
            );
            if !p.master_of.is_empty() {
                label += &format!("\nholds VIP {} (master)", p.master_of.join(", "));
            } else if !p.backup_of.is_empty() {
                label += &format!("\nVIP {} after failover", p.backup_of.join(", "));
            }
            let fill = match p.role {
                Role::Director => "#eef4ff",
                Role::RealServer => "#f3f0ff",
                _ => "#f6f8fa",
            };
            let _ = writeln!(
                out,
                "    {} [label={}, fillcolor={}, vw_role={}];",
                q(&p.id),
                q(&label),
                q(fill),
                q(p.role.word())
            );
        }
        let _ = writeln!(out, "  }}");
    }
    for (i, o) in t.outside.iter().enumerate() {
        let _ = writeln!(
            out,
            "  outside_{i} [label={}, shape=ellipse, style=solid];\n  outside_{i} -> {} [style=dotted, arrowhead=none];",
            q(&format!("client {} (outside)", o.ip)),
            q(&o.via_port)
        );
    }
    let mut broadcast = false;
    for leg in &t.legs {
        let to = match &leg.to {
            Some(to) => q(to),
            None => {
                broadcast = true;
                "broadcast".to_string()
            }
        };
        let (color, style) = match leg.state {
            LegState::Pass => (GREEN, "solid"),
            LegState::Drop => (RED, "bold"),
            LegState::NeverSent => (GREY, "dashed"),
        };
        let mut attrs = format!(
            "color={}, style={style}, vw_state={}, vw_packets={}, vw_flows={}",
            q(color),
            q(leg.state.word()),
            leg.packets,
            leg.flows.len()
        );
        let drops: Vec<_> = leg
            .drops
            .iter()
            .filter_map(|n| t.drops.get(n - 1))
            .collect();
        if !drops.is_empty() {
            let label = drops
                .iter()
                .map(|g| format!("DROP {}: {}", g.number, g.short_rule()))
                .collect::<Vec<_>>()
                .join("\n");
            let full = drops
                .iter()
                .map(|g| format!("{} | {}", g.drop.rule_text_or_reason(), g.drop.reason))
                .collect::<Vec<_>>()
                .join(" || ");
            attrs += &format!(
                ", fontcolor={}, label={}, vw_drop={}",
                q(RED),
                q(&label),
                q(&full)
            );
        }
        let _ = writeln!(out, "  {} -> {to} [{attrs}];", q(&leg.from));
    }
    if broadcast {
        let _ = writeln!(out, "  broadcast [shape=plaintext, label=\"(broadcast)\"];");
    }
    let _ = writeln!(out, "}}");
    out
}
