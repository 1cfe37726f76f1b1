//! Readable tables for the check and the fix. JSON comes from serde on the same
//! report types, so both formats always say the same thing.

use crate::fix::FixReport;
use crate::simulate::{CheckReport, Outcome};
use std::fmt::Write;

fn outcome_word(o: Outcome) -> &'static str {
    match o {
        Outcome::Pass => "PASS",
        Outcome::Drop => "DROP",
        Outcome::Skipped => "-",
    }
}

/// The flow table, then the details of every drop.
pub fn render_check(r: &CheckReport, verbose: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "scenario: {}", r.scenario);
    let what_w = r
        .flows
        .iter()
        .flat_map(|f| f.packets.iter().map(|p| p.what.len()))
        .max()
        .unwrap_or(10)
        .min(70);
    let _ = writeln!(out, "\n{:<7} {:<12} FLOW", "VERDICT", "KIND");
    for f in &r.flows {
        let kind = serde_json::to_value(f.category)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{:<7} {:<12} {}",
            outcome_word(f.outcome),
            kind,
            f.name
        );
        if !verbose && f.outcome == Outcome::Pass {
            continue;
        }
        let (mut skipped, mut passed_before) = (0, 0);
        for p in &f.packets {
            if !verbose && p.outcome != Outcome::Drop {
                match p.outcome {
                    Outcome::Skipped => skipped += 1,
                    _ => passed_before += 1,
                }
                continue;
            }
            if passed_before > 0 {
                let _ = writeln!(out, "        ({passed_before} earlier packets passed)");
                passed_before = 0;
            }
            let _ = writeln!(
                out,
                "        {:<what_w$}  {:>12} -> {:<12}  {}",
                p.what,
                p.from,
                p.to,
                outcome_word(p.outcome)
            );
            if verbose {
                for hop in &p.hops {
                    let _ = writeln!(
                        out,
                        "            {:?} of {} on {} (zone {}, {}):",
                        hop.side,
                        hop.port_id.chars().take(8).collect::<String>(),
                        hop.host,
                        hop.trace.zone,
                        hop.trace.ctstate
                    );
                    for s in &hop.trace.path {
                        let line = format!("              {}", s.line());
                        let _ = writeln!(out, "{}", line.trim_end());
                    }
                }
            }
        }
        if skipped > 0 {
            let _ = writeln!(
                out,
                "        ({skipped} later packets of this flow never sent)"
            );
        }
    }
    render_drops(&mut out, r);
    if !r.findings.is_empty() {
        let _ = writeln!(
            out,
            "\nConfiguration findings (the load balancer's own setup):"
        );
        for f in &r.findings {
            let _ = writeln!(out, "- {}: {}", f.subject, f.message);
            if let Some(l) = &f.location {
                let _ = writeln!(out, "    at: {l}");
            }
        }
    }
    if !r.warnings.is_empty() {
        let _ = writeln!(out, "\nWarnings:");
        for w in &r.warnings {
            let _ = writeln!(out, "- {}: {}", w.port, w.message);
        }
    }
    if !r.backend.is_empty() {
        let _ = writeln!(out, "\nBackend:");
        for b in &r.backend {
            let _ = writeln!(out, "- {b}");
        }
    }
    if !r.assumptions.is_empty() {
        let _ = writeln!(out, "\nAssumed:");
        for a in &r.assumptions {
            let _ = writeln!(out, "- {a}");
        }
    }
    if !r.coverage.not_exercised.is_empty() {
        let _ = writeln!(out, "\nNot exercised:");
        for n in &r.coverage.not_exercised {
            let _ = writeln!(out, "- {n}");
        }
    }
    if !r.coverage.ipv6.is_empty() {
        let _ = writeln!(out, "\nIPv6 exercised:");
        for n in &r.coverage.ipv6 {
            let _ = writeln!(out, "- {n}");
        }
    }
    let _ = writeln!(out, "\nExercised: {}", r.coverage.summary());
    let (passed, total) = r.tally();
    let findings = if r.findings.is_empty() {
        String::new()
    } else {
        format!(
            "; {} configuration finding{}",
            r.findings.len(),
            if r.findings.len() == 1 { "" } else { "s" }
        )
    };
    let _ = writeln!(
        out,
        "{passed} of {total} flows pass{findings}{}",
        if r.passed() {
            ""
        } else if passed < total {
            "; run with --fix for the smallest Neutron change"
        } else {
            ""
        }
    );
    out
}

/// Drops grouped by the rule that decided them: one rule usually kills many
/// flows (every real server through one director), and the rule is the news.
fn render_drops(out: &mut String, r: &CheckReport) {
    /// (rule key, (flow, packet) hits, the first drop's explanation)
    type Group<'r> = (String, Vec<(&'r str, &'r str)>, &'r crate::diagnose::Drop);
    let mut groups: Vec<Group> = Vec::new();
    for (f, p, d) in r.drops() {
        let key = format!(
            "{}|{}|{}|{}|{}|{:?}",
            d.host, d.port, d.table, d.chain, d.rule_num, d.kind
        );
        match groups.iter_mut().find(|g| g.0 == key) {
            Some(g) => g.1.push((&f.name, &p.what)),
            None => groups.push((key, vec![(&f.name, &p.what)], d)),
        }
    }
    if groups.is_empty() {
        return;
    }
    let _ = writeln!(out, "\nDrops:");
    for (_, hits, d) in groups {
        let (flow, what) = hits[0];
        let _ = writeln!(out, "- {flow} / {what}");
        if hits.len() > 1 {
            let _ = writeln!(
                out,
                "    and {} more flow{} at the same rule",
                hits.len() - 1,
                if hits.len() == 2 { "" } else { "s" }
            );
        }
        if !d.place.is_empty() {
            let _ = writeln!(
                out,
                "    where: {} {}, port {}, {}",
                d.host_kind, d.host, d.port, d.place
            );
        }
        if !d.rule_text.is_empty() {
            let _ = writeln!(out, "    rule:  {}", d.rule_text);
        }
        let _ = writeln!(out, "    why:   {}", d.reason);
    }
}

/// The proposed change, its cost, the re-check, and the report's remedies.
pub fn render_fix(fix: &FixReport) -> String {
    let mut out = String::new();
    if fix.changes.is_empty() {
        let _ = writeln!(out, "\nNo Neutron change proposed.");
    } else {
        let _ = writeln!(
            out,
            "\nSmallest persistent Neutron change ({} change{}, {} round{} of re-checks):",
            fix.changes.len(),
            if fix.changes.len() == 1 { "" } else { "s" },
            fix.rounds,
            if fix.rounds == 1 { "" } else { "s" }
        );
        for c in &fix.changes {
            let _ = writeln!(out, "  {}", c.command.replace('\n', "\n  "));
            let _ = writeln!(out, "      cost: {}", c.cost);
        }
    }
    for u in &fix.unfixable {
        let _ = writeln!(out, "  not fixable in Neutron: {u}");
    }
    let (passed, total) = fix.recheck.tally();
    let _ = writeln!(
        out,
        "\nRe-check with the change applied: {passed} of {total} flows pass{}",
        if fix.recheck.passed() {
            "."
        } else {
            "; still dropped:"
        }
    );
    for (f, p, d) in fix.recheck.drops() {
        let _ = writeln!(out, "  - {} / {}: {}", f.name, p.what, d.reason);
    }
    if !fix.remedies.is_empty() {
        let _ = writeln!(
            out,
            "\nRemedies from the field report, each re-checked alone:"
        );
        for r in &fix.remedies {
            let _ = writeln!(
                out,
                "  [{}] {}",
                if r.works { "WORKS" } else { "FAILS" },
                r.name
            );
            if let Some(w) = &r.why_not {
                let _ = writeln!(out, "      first drop: {w}");
            }
            if let Some(n) = &r.note {
                let _ = writeln!(out, "      why: {n}");
            }
        }
        let _ = writeln!(
            out,
            "\nMitigations when using a pair like 0.0.0.0/0 (field report 5.4): a front firewall, \
             only VRRP and the service port allowed inside the VMs, arp_announce=2 on the real \
             servers, or NAT/TUN modes that keep the client's address off the director's port."
        );
    }
    out
}
