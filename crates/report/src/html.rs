//! One self-contained HTML page: inline CSS and SVG, no script, no fonts or
//! images from elsewhere, so it opens offline, attaches to a ticket and
//! prints to PDF.
//!
//! Order: verdict, the topology picture, the drops (rule or logical flow,
//! where it sits, the reason in plain words, the flows it kills), the fix with
//! the picture before and after (with `--fix`), every flow as its path, then
//! the notes (findings, warnings, backend, assumptions, coverage).
//!
//! Layout: one column up to 1200 px; the picture keeps a readable size and
//! scrolls sideways inside its own box on a phone (the page itself never
//! overflows); long rules wrap anywhere. Print CSS drops the scroll box,
//! keeps the colours and avoids breaking a drop or a flow across pages.

use crate::svg::{self, Options};
use crate::topology::{self, LegState, Topology};
use crate::xml::esc;
use crate::Input;
use check::fix::FixReport;
use check::simulate::Outcome;
use std::fmt::Write;

const CSS: &str = r#"
:root{--green:#1a7f37;--red:#cf222e;--grey:#8c959f;--ink:#24292f;--muted:#57606a;--line:#d0d7de;--bg:#f6f8fa}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:var(--ink);background:#fff}
main{max-width:1200px;margin:0 auto;padding:16px}
h1{font-size:1.5rem;margin:.2em 0}
h2{font-size:1.2rem;margin:1.6em 0 .5em;padding-bottom:.2em;border-bottom:1px solid var(--line)}
h3{font-size:1rem;margin:0 0 .4em}
p,li,dd,td,th,h1,h2,h3,code,pre{overflow-wrap:anywhere}
code,pre{font:12.5px/1.45 ui-monospace,Menlo,Consolas,"DejaVu Sans Mono",monospace}
pre{white-space:pre-wrap;background:var(--bg);border:1px solid var(--line);border-radius:6px;padding:8px 10px;margin:.3em 0}
.verdict{display:inline-block;font-weight:600;padding:.2em .7em;border-radius:999px;color:#fff}
.verdict.pass{background:var(--green)}.verdict.fail{background:var(--red)}
.meta{color:var(--muted);margin:.3em 0}
.pic{overflow-x:auto;border:1px solid var(--line);border-radius:8px;background:#fff;-webkit-overflow-scrolling:touch}
.pic svg{display:block;width:100%;min-width:640px;height:auto}
.hint{color:var(--muted);font-size:.85rem;margin:.3em 0 0}
.key span{display:inline-block;margin-right:1.2em;white-space:nowrap}
.key i{display:inline-block;width:26px;height:0;border-top:3px solid;vertical-align:middle;margin-right:.4em}
.drop{border:1px solid var(--red);border-left:6px solid var(--red);border-radius:8px;padding:10px 12px;margin:10px 0;break-inside:avoid}
.num{display:inline-block;min-width:1.6em;height:1.6em;line-height:1.6em;border-radius:50%;background:var(--red);color:#fff;text-align:center;font-weight:700;margin-right:.4em}
dl{margin:0;display:grid;grid-template-columns:max-content minmax(0,1fr);gap:.2em .8em}
dt{font-weight:600;color:var(--muted)}dd{margin:0;min-width:0}
details summary{cursor:pointer;color:var(--muted)}
.flows{list-style:none;padding:0;margin:0}
.flow{border:1px solid var(--line);border-radius:8px;padding:8px 10px;margin:8px 0;break-inside:avoid}
.flow.drop-flow{border-color:var(--red)}
.badge{display:inline-block;font-size:.75rem;font-weight:700;padding:0 .5em;border-radius:4px;color:#fff;margin-right:.4em;vertical-align:1px}
.badge.pass{background:var(--green)}.badge.drop{background:var(--red)}.badge.never-sent{background:var(--grey)}
.cat{color:var(--muted);font-size:.85rem}
.path{list-style:none;padding:0;margin:.4em 0 0;display:flex;flex-wrap:wrap;gap:6px}
.step{border:1px solid;border-left-width:5px;border-radius:6px;padding:2px 8px;font-size:.85rem;max-width:100%}
.step.pass{border-color:var(--green)}.step.drop{border-color:var(--red);background:#fff5f5}.step.never-sent{border-color:var(--grey);border-style:dashed;color:var(--muted)}
.step b{font-weight:600}.step small{display:block;color:var(--muted)}
.step .why{color:var(--red);font-weight:600}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{border-bottom:1px solid var(--line);padding:4px 6px;text-align:left;vertical-align:top}
td.pass{color:var(--green);font-weight:600}td.drop{color:var(--red);font-weight:600}
.pair{display:grid;grid-template-columns:minmax(0,1fr);gap:16px}
@media (min-width:1100px){.pair{grid-template-columns:minmax(0,1fr) minmax(0,1fr)}.pair .pic svg{min-width:0}}
.change{margin:.6em 0}
.cost{color:var(--muted);font-size:.9rem}
footer{color:var(--muted);font-size:.8rem;margin:2em 0 1em}
@page{margin:12mm}
@media print{
 body{font-size:11pt;-webkit-print-color-adjust:exact;print-color-adjust:exact}
 main{max-width:none;padding:0}
 .pic{overflow:visible;border:none}.pic svg{min-width:0}
 .hint{display:none}
 .pair{grid-template-columns:minmax(0,1fr)}
 details{display:block}details>*{display:block}
 h2{break-after:avoid}
 a{color:inherit;text-decoration:none}
}
"#;

fn outcome_class(o: Outcome) -> &'static str {
    match o {
        Outcome::Pass => "pass",
        Outcome::Drop => "drop",
        Outcome::Skipped => "never-sent",
    }
}

fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

/// The whole page.
pub fn render(input: Input) -> String {
    let topo = topology::build(input.scenario, input.check);
    let r = input.check;
    let mut o = String::new();
    let title = format!("vipwire check: {}", r.scenario);
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"vipwire {}\">\n<title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n",
        env!("CARGO_PKG_VERSION"),
        esc(&title)
    );
    let passed = r.passed();
    let _ = writeln!(
        o,
        "<header><h1>{}</h1>\n<p><span class=\"verdict {}\">{}</span></p>\n<p class=\"meta\">scenario <code>{}</code> · firewall backend <b>{}</b> · {}</p></header>",
        esc(&title),
        if passed { "pass" } else { "fail" },
        esc(&if passed {
            format!("PASS: all {} flows pass", topo.total)
        } else {
            format!(
                "FAIL: {} of {} flows pass{}",
                topo.passed,
                topo.total,
                if r.findings.is_empty() {
                    String::new()
                } else {
                    format!(", {}", plural(r.findings.len(), "configuration finding"))
                }
            )
        }),
        esc(&r.scenario),
        esc(&topo.driver),
        esc(&topo
            .vips
            .iter()
            .map(|(v, by)| format!("VIP {v}, VRRP {}", by.join(" > ")))
            .collect::<Vec<_>>()
            .join("; "))
    );

    // The picture.
    let _ = writeln!(o, "<section id=\"topology\"><h2>Topology and paths</h2>");
    picture(&mut o, &topo, "before");
    let _ = writeln!(
        o,
        "<p class=\"key\"><span><i style=\"border-color:var(--green)\"></i>passes</span><span><i style=\"border-color:var(--red)\"></i>dropped (numbered: see Drops)</span><span><i style=\"border-color:var(--grey);border-top-style:dashed\"></i>never sent</span><span>↑ broadcast/multicast</span></p>\n\
         <p class=\"hint\">Each arrow is the packets one port sent to another with one verdict; hover for counts. The picture scrolls sideways on a narrow screen.</p></section>"
    );

    drops(&mut o, &topo);
    if let Some(fix) = input.fix {
        fix_section(&mut o, input, fix, &topo);
    }
    flows(&mut o, &topo);
    notes(&mut o, r);
    let _ = writeln!(
        o,
        "<footer>Generated by vipwire {} from a model of the firewall backend; this file needs no network access.</footer>\n</main>\n</body>\n</html>",
        env!("CARGO_PKG_VERSION")
    );
    o
}

fn picture(o: &mut String, t: &Topology, id: &str) {
    let svg = svg::render(
        t,
        &Options {
            id: id.into(),
            legend: false,
            heading: None,
        },
    );
    let _ = writeln!(o, "<div class=\"pic\">{svg}</div>");
}

fn drops(o: &mut String, t: &Topology) {
    if t.drops.is_empty() {
        let _ = writeln!(
            o,
            "<section id=\"drops\"><h2>Drops</h2><p>No packet is dropped.</p></section>"
        );
        return;
    }
    let _ = writeln!(
        o,
        "<section id=\"drops\"><h2>Drops ({})</h2>",
        plural(t.drops.len(), "rule")
    );
    for g in &t.drops {
        let d = &g.drop;
        let _ = writeln!(
            o,
            "<article class=\"drop\" id=\"drop-{n}\" data-drop=\"{n}\"><h3><span class=\"num\">{n}</span>{}</h3><dl>",
            esc(&g.where_text()),
            n = g.number
        );
        if !d.rule_text.is_empty() {
            let what = if d.table.contains("pipeline") || d.host_kind.contains("logical") {
                "Logical flow"
            } else {
                "Rule"
            };
            let _ = writeln!(
                o,
                "<dt>{what}</dt><dd><pre class=\"rule\">{}</pre></dd>",
                esc(&d.rule_text)
            );
        }
        let _ = writeln!(o, "<dt>Why</dt><dd class=\"why\">{}</dd>", esc(&d.reason));
        if !d.decided_by.is_empty() {
            let origins: Vec<String> = d
                .decided_by
                .iter()
                .map(|x| match serde_json::to_value(x) {
                    Ok(serde_json::Value::Object(m)) => {
                        let kind = m.get("kind").and_then(|k| k.as_str()).unwrap_or("");
                        let rest: Vec<String> = m
                            .iter()
                            .filter(|(k, _)| k.as_str() != "kind")
                            .map(|(k, v)| match v.as_str() {
                                Some(s) => format!("{k}={s}"),
                                None => format!("{k}={v}"),
                            })
                            .collect();
                        format!("{kind} ({})", rest.join(", "))
                    }
                    Ok(v) => v
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string()),
                    Err(_) => String::new(),
                })
                .collect();
            let _ = writeln!(
                o,
                "<dt>From</dt><dd><code>{}</code></dd>",
                esc(&origins.join("; "))
            );
        }
        let (flow, what) = &g.hits[0];
        let _ = writeln!(o, "<dt>First</dt><dd>{} / {}</dd>", esc(flow), esc(what));
        if g.hits.len() > 1 {
            let _ = writeln!(
                o,
                "<dt>Also</dt><dd><details><summary>{} more at this rule</summary><ul>",
                plural(g.hits.len() - 1, "packet")
            );
            for (f, w) in &g.hits[1..] {
                let _ = writeln!(o, "<li>{} / {}</li>", esc(f), esc(w));
            }
            let _ = writeln!(o, "</ul></details></dd>");
        }
        let _ = writeln!(o, "</dl></article>");
    }
    let _ = writeln!(o, "</section>");
}

fn fix_section(o: &mut String, input: Input, fix: &FixReport, before: &Topology) {
    let _ = writeln!(o, "<section id=\"fix\"><h2>The fix</h2>");
    if fix.changes.is_empty() {
        let _ = writeln!(o, "<p>No Neutron change proposed.</p>");
    } else {
        let _ = writeln!(
            o,
            "<p>Smallest persistent Neutron change: {} ({}).</p>",
            plural(fix.changes.len(), "change"),
            plural(fix.rounds, "round")
        );
        for c in &fix.changes {
            let _ = writeln!(
                o,
                "<div class=\"change\"><pre>{}</pre><div class=\"cost\">Cost: {}</div></div>",
                esc(&c.command),
                esc(&c.cost)
            );
        }
    }
    for u in &fix.unfixable {
        let _ = writeln!(o, "<p><b>Not fixable in Neutron:</b> {}</p>", esc(u));
    }
    let (p, t) = fix.recheck.tally();
    let _ = writeln!(
        o,
        "<p>Re-check with the change applied: <span class=\"verdict {}\">{p} of {t} flows pass</span></p>",
        if fix.recheck.passed() { "pass" } else { "fail" }
    );
    // Before and after, flow by flow and as pictures.
    let changes: Vec<_> = fix.changes.iter().map(|c| c.change.clone()).collect();
    let fixed = check::fix::with_changes(input.scenario, &changes);
    let after = topology::build(&fixed, &fix.recheck);
    let _ = writeln!(o, "<div class=\"pair\"><div><h3>Before</h3>");
    picture(o, before, "fix-before");
    let _ = writeln!(o, "</div><div><h3>After</h3>");
    picture(o, &after, "fix-after");
    let _ = writeln!(o, "</div></div>");
    let _ = writeln!(
        o,
        "<details><summary>Every flow before and after</summary><table><thead><tr><th>Flow</th><th>Before</th><th>After</th></tr></thead><tbody>"
    );
    for (i, f) in input.check.flows.iter().enumerate() {
        let a = fix
            .recheck
            .flows
            .get(i)
            .filter(|a| a.name == f.name)
            .or_else(|| fix.recheck.flows.iter().find(|a| a.name == f.name))
            .map(|a| a.outcome);
        let word = |x: Outcome| match x {
            Outcome::Pass => "PASS",
            Outcome::Drop => "DROP",
            Outcome::Skipped => "-",
        };
        let _ = writeln!(
            o,
            "<tr><td>{}</td><td class=\"{}\">{}</td><td class=\"{}\">{}</td></tr>",
            esc(&f.name),
            outcome_class(f.outcome),
            word(f.outcome),
            a.map(outcome_class).unwrap_or(""),
            a.map(word).unwrap_or("(not run)")
        );
    }
    let _ = writeln!(o, "</tbody></table></details>");
    if !fix.remedies.is_empty() {
        let _ = writeln!(
            o,
            "<h3>Remedies from the field report, each re-checked alone</h3><ul>"
        );
        for r in &fix.remedies {
            let _ = write!(
                o,
                "<li><span class=\"badge {}\">{}</span>{}",
                if r.works { "pass" } else { "drop" },
                if r.works { "WORKS" } else { "FAILS" },
                esc(&r.name)
            );
            if let Some(w) = &r.why_not {
                let _ = write!(o, "<br><small>first drop: {}</small>", esc(w));
            }
            if let Some(n) = &r.note {
                let _ = write!(o, "<br><small>why: {}</small>", esc(n));
            }
            let _ = writeln!(o, "</li>");
        }
        let _ = writeln!(o, "</ul>");
    }
    let _ = writeln!(o, "</section>");
}

fn flows(o: &mut String, t: &Topology) {
    let _ = writeln!(
        o,
        "<section id=\"flows\"><h2>Every flow ({} of {} pass)</h2><ul class=\"flows\">",
        t.passed, t.total
    );
    for f in &t.flows {
        let cls = outcome_class(f.outcome);
        let _ = writeln!(
            o,
            "<li class=\"flow{}\"><span class=\"badge {cls}\">{}</span><b>{}</b> <span class=\"cat\">{}</span><ol class=\"path\">",
            if f.outcome == Outcome::Drop { " drop-flow" } else { "" },
            if f.outcome == Outcome::Drop { "DROP" } else { "PASS" },
            esc(&f.name),
            esc(&f.category)
        );
        for s in &f.steps {
            let mut detail = esc(&s.what);
            if s.packets > 1 {
                detail += &format!(" (+{} more)", s.packets - 1);
            }
            let _ = write!(
                o,
                "<li class=\"step {}\"><b>{}</b> → <b>{}</b><small>{}</small>",
                s.state.word(),
                esc(&s.from),
                esc(&s.to),
                detail
            );
            if let (LegState::Drop, Some(n)) = (s.state, s.drop) {
                if let Some(g) = t.drops.get(n - 1) {
                    let _ = write!(
                        o,
                        "<a class=\"why\" href=\"#drop-{n}\">✗ DROP {n}: {}</a>",
                        esc(&g.short_rule())
                    );
                }
            }
            if s.state == LegState::NeverSent {
                let _ = write!(o, "<small>never sent</small>");
            }
            let _ = writeln!(o, "</li>");
        }
        let _ = writeln!(o, "</ol></li>");
    }
    let _ = writeln!(o, "</ul></section>");
}

fn notes(o: &mut String, r: &check::CheckReport) {
    let _ = writeln!(o, "<section id=\"notes\"><h2>Notes</h2>");
    let list = |o: &mut String, head: &str, items: Vec<String>| {
        if items.is_empty() {
            return;
        }
        let _ = writeln!(o, "<h3>{}</h3><ul>", esc(head));
        for i in items {
            let _ = writeln!(o, "<li>{}</li>", esc(&i));
        }
        let _ = writeln!(o, "</ul>");
    };
    list(
        o,
        "Configuration findings (the load balancer's own setup)",
        r.findings
            .iter()
            .map(|f| match &f.location {
                Some(l) => format!("{}: {} (at {l})", f.subject, f.message),
                None => format!("{}: {}", f.subject, f.message),
            })
            .collect(),
    );
    list(
        o,
        "Warnings",
        r.warnings
            .iter()
            .map(|w| format!("{}: {}", w.port, w.message))
            .collect(),
    );
    list(o, "Backend", r.backend.clone());
    list(o, "Assumed", r.assumptions.clone());
    list(o, "Not exercised", r.coverage.not_exercised.clone());
    let _ = writeln!(
        o,
        "<p>Exercised: {}</p></section>",
        esc(&r.coverage.summary())
    );
}
