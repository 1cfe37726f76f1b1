//! The topology as SVG, written by hand: compute hosts as rows, ports as boxes
//! in role columns (clients and routers, directors, real servers), legs as
//! arrows (green pass, red drop with the rule's number and name at the end
//! where it sits, grey dashes for packets never sent), broadcasts as stubs.
//!
//! The drawing scales with its `viewBox`; every text is escaped; ids carry a
//! prefix so that two pictures (before and after a fix) can share a page.
//! Classes (`leg drop`, `drop-label`, `port`) let tests and CSS find things.

use crate::topology::{DropEnd, LegState, PortNode, Role, Topology};
use crate::xml::{esc, wrap};
use std::collections::BTreeMap;
use std::fmt::Write;

const MARGIN: f64 = 16.0;
const BOX_W: f64 = 210.0;
const BOX_H: f64 = 70.0;
const GAP: f64 = 110.0;
const ROW_HEAD: f64 = 26.0;
const CELL_GAP: f64 = 16.0;
/// One drop label under a port box.
const LABEL_H: f64 = 16.0;
pub const WIDTH: f64 = 2.0 * MARGIN + 3.0 * BOX_W + 2.0 * GAP;

pub const GREEN: &str = "#1a7f37";
pub const RED: &str = "#cf222e";
pub const GREY: &str = "#8c959f";

/// How to draw.
#[derive(Clone, Debug)]
pub struct Options {
    /// Prefix for element ids (unique per picture on a page).
    pub id: String,
    /// Write the drops' rules and reasons under the picture (standalone SVG);
    /// the HTML page writes them as text beside it instead.
    pub legend: bool,
    /// A heading inside the picture (the standalone SVG's title).
    pub heading: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            id: "vw".into(),
            legend: true,
            heading: None,
        }
    }
}

fn color(s: LegState) -> &'static str {
    match s {
        LegState::Pass => GREEN,
        LegState::Drop => RED,
        LegState::NeverSent => GREY,
    }
}

/// A string cut to `n` characters with an ellipsis.
fn cut(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// Where things are.
struct Layout {
    boxes: BTreeMap<String, (f64, f64)>,
    /// (host, y, height)
    rows: Vec<(String, f64, f64)>,
    /// Outside clients: (label, x, y, router port id).
    outside: Vec<(String, f64, f64, String)>,
    height: f64,
}

fn col_x(c: usize) -> f64 {
    MARGIN + c as f64 * (BOX_W + GAP)
}

fn layout(t: &Topology, top: f64) -> Layout {
    let mut y = top;
    let mut outside = Vec::new();
    let mut rows = Vec::new();
    if !t.outside.is_empty() {
        let h = ROW_HEAD + t.outside.len() as f64 * (40.0 + CELL_GAP);
        for (i, o) in t.outside.iter().enumerate() {
            outside.push((
                o.ip.clone(),
                col_x(0),
                y + ROW_HEAD + i as f64 * (40.0 + CELL_GAP),
                o.via_port.clone(),
            ));
        }
        rows.push(("outside the cloud".to_string(), y, h));
        y += h + CELL_GAP;
    }
    let mut boxes = BTreeMap::new();
    for host in &t.hosts {
        let mut tallest: f64 = 0.0;
        for c in 0..3 {
            let mut cy = y + ROW_HEAD + 6.0;
            for p in t.cell(host, c) {
                boxes.insert(p.id.clone(), (col_x(c), cy));
                cy += BOX_H + CELL_GAP + LABEL_H * drops_at(t, &p.id).len() as f64;
            }
            tallest = tallest.max(cy - y);
        }
        rows.push((host.clone(), y, tallest));
        y += tallest + CELL_GAP;
    }
    Layout {
        boxes,
        rows,
        outside,
        height: y,
    }
}

/// The drops whose rule sits at this port (its egress, its ingress, its host).
fn drops_at(t: &Topology, port: &str) -> Vec<usize> {
    let mut v = Vec::new();
    for leg in &t.legs {
        for &n in &leg.drops {
            let Some(g) = t.drops.get(n - 1) else {
                continue;
            };
            let at = match g.end {
                DropEnd::Sender => Some(leg.from.as_str()),
                DropEnd::Receiver => leg.to.as_deref(),
            };
            if at == Some(port) && !v.contains(&n) {
                v.push(n);
            }
        }
    }
    v
}

/// Red labels under a port box naming the rules that drop there.
fn drop_labels(out: &mut String, t: &Topology, port: &str, x: f64, y: f64) {
    for (i, n) in drops_at(t, port).into_iter().enumerate() {
        let g = &t.drops[n - 1];
        let ly = y + BOX_H + 12.0 + i as f64 * LABEL_H;
        let _ = writeln!(
            out,
            r##"<g class="drop-label" data-drop="{n}"><title>{}</title><text x="{}" y="{ly:.1}" font-size="11" font-weight="bold" fill="{RED}" paint-order="stroke" stroke="#ffffff" stroke-width="4" stroke-linejoin="round">✗ {n} DROP: {}</text></g>"##,
            esc(&format!(
                "{}\nrule: {}\nwhy: {}",
                g.where_text(),
                g.drop.rule_text_or_reason(),
                g.drop.reason
            )),
            x + 4.0,
            esc(&cut(&g.short_rule(), 48))
        );
    }
}

fn port_box(out: &mut String, p: &PortNode, x: f64, y: f64) {
    let (fill, stroke) = match p.role {
        Role::Director => ("#eef4ff", "#4969bd"),
        Role::RealServer => ("#f3f0ff", "#7a5cc2"),
        Role::Client | Role::Router => ("#f6f8fa", "#57606a"),
        Role::Other => ("#ffffff", "#8c959f"),
    };
    let mut title = format!(
        "{} ({}) on {}, network {}\nfixed IPs: {}\nMAC: {}",
        p.name,
        p.role.word(),
        p.host,
        p.network,
        p.ips.join(", "),
        p.mac
    );
    if !p.pairs.is_empty() {
        title += &format!("\nallowed address pairs: {}", p.pairs.join(", "));
    }
    let _ = writeln!(
        out,
        r##"<g class="port" data-port="{}"><title>{}</title><rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="6" fill="{fill}" stroke="{stroke}" stroke-width="1.5"/>"##,
        esc(&p.name),
        esc(&title)
    );
    let _ = writeln!(
        out,
        r##"<text x="{}" y="{}" font-size="14" font-weight="bold">{}</text><text x="{}" y="{}" font-size="10" text-anchor="end" fill="{stroke}">{}</text>"##,
        x + 8.0,
        y + 17.0,
        esc(&cut(&p.name, 20)),
        x + BOX_W - 8.0,
        y + 16.0,
        esc(p.role.word())
    );
    let _ = writeln!(
        out,
        r##"<text x="{}" y="{}" font-size="12">{}</text><text x="{}" y="{}" font-size="10" fill="#57606a" font-family="ui-monospace,Menlo,Consolas,monospace">{}</text>"##,
        x + 8.0,
        y + 33.0,
        esc(&cut(&p.ips.join(", "), 32)),
        x + 8.0,
        y + 47.0,
        esc(&p.mac)
    );
    let extra = if !p.master_of.is_empty() {
        Some(format!("holds VIP {} (master)", p.master_of.join(", ")))
    } else if !p.backup_of.is_empty() {
        Some(format!("VIP {} after failover", p.backup_of.join(", ")))
    } else if !p.pairs.is_empty() {
        Some(format!("pairs: {}", p.pairs.join(", ")))
    } else {
        None
    };
    if let Some(e) = extra {
        let _ = writeln!(
            out,
            r##"<text x="{}" y="{}" font-size="11" fill="{stroke}">{}</text>"##,
            x + 8.0,
            y + 62.0,
            esc(&cut(&e, 34))
        );
    }
    out.push_str("</g>\n");
}

/// The SVG document (no XML declaration: it also goes inline into HTML).
pub fn render(t: &Topology, o: &Options) -> String {
    let id = &o.id;
    let mut head = String::new();
    let mut top = MARGIN;
    if let Some(h) = &o.heading {
        let _ = writeln!(
            head,
            r##"<text x="{MARGIN}" y="{}" font-size="16" font-weight="bold">{}</text>"##,
            top + 12.0,
            esc(h)
        );
        top += 24.0;
    }
    let verdict = if t.passed == t.total && t.drops.is_empty() {
        format!("all {} flows pass", t.total)
    } else {
        format!("{} of {} flows pass", t.passed, t.total)
    };
    let vips = t
        .vips
        .iter()
        .map(|(v, by)| format!("VIP {v} (VRRP: {})", by.join(" > ")))
        .collect::<Vec<_>>()
        .join("; ");
    let _ = writeln!(
        head,
        r##"<text x="{MARGIN}" y="{}" font-size="12" fill="#24292f">{} · {} · {}</text>"##,
        top + 10.0,
        esc(&t.driver),
        esc(&vips),
        esc(&verdict)
    );
    top += 20.0;
    let heads = ["clients and routers", "directors", "real servers"];
    for (c, h) in heads.iter().enumerate() {
        let _ = writeln!(
            head,
            r##"<text x="{}" y="{}" font-size="11" fill="#57606a" letter-spacing="0.5">{}</text>"##,
            col_x(c) + 2.0,
            top + 10.0,
            h.to_uppercase()
        );
    }
    top += 18.0;
    let l = layout(t, top);

    let mut body = String::new();
    // Host rows.
    for (host, y, h) in &l.rows {
        let _ = writeln!(
            body,
            r##"<g class="host"><rect x="{}" y="{y}" width="{}" height="{h}" rx="8" fill="#fbfbfc" stroke="#d0d7de" stroke-dasharray="4 3"/><text x="{}" y="{}" font-size="12" font-weight="bold" fill="#57606a">{}</text></g>"##,
            MARGIN / 2.0,
            WIDTH - MARGIN,
            MARGIN,
            y + 17.0,
            esc(if host.starts_with('(') || host == "outside the cloud" {
                host.to_string()
            } else {
                format!("compute host {host}")
            }
            .as_str())
        );
    }
    // Legs under the boxes; parallel legs of a pair of ports spread apart.
    let mut by_pair: BTreeMap<(String, String), Vec<usize>> = BTreeMap::new();
    for (i, leg) in t.legs.iter().enumerate() {
        let Some(to) = &leg.to else { continue };
        if !l.boxes.contains_key(&leg.from) || !l.boxes.contains_key(to) {
            continue;
        }
        let mut k = [leg.from.clone(), to.clone()];
        k.sort();
        by_pair
            .entry((k[0].clone(), k[1].clone()))
            .or_default()
            .push(i);
    }
    let mut labels = String::new();
    for legs in by_pair.values() {
        let n = legs.len() as f64;
        for (k, &i) in legs.iter().enumerate() {
            let off = (k as f64 - (n - 1.0) / 2.0) * 9.0;
            leg_path(&mut body, &mut labels, t, &l, i, off, id);
        }
    }
    // Broadcast stubs: one per port and state.
    let mut stubs: Vec<(String, LegState)> = Vec::new();
    for leg in t.legs.iter().filter(|l| l.to.is_none()) {
        if stubs.contains(&(leg.from.clone(), leg.state)) {
            continue;
        }
        let Some(&(x, y)) = l.boxes.get(&leg.from) else {
            continue;
        };
        let k = stubs.iter().filter(|s| s.0 == leg.from).count() as f64;
        stubs.push((leg.from.clone(), leg.state));
        let sx = x + BOX_W / 2.0 + k * 12.0;
        let c = color(leg.state);
        let dash = if leg.state == LegState::NeverSent {
            r##" stroke-dasharray="4 3""##
        } else {
            ""
        };
        let _ = writeln!(
            body,
            r##"<g class="leg {} broadcast"><title>{} broadcast packet{} from {} ({})</title><line x1="{sx}" y1="{y}" x2="{sx}" y2="{}" stroke="{c}" stroke-width="2"{dash} marker-end="url(#{id}-ah-{})"/></g>"##,
            leg.state.word(),
            leg.packets,
            if leg.packets == 1 { "" } else { "s" },
            esc(t.port(&leg.from).map(|p| p.name.as_str()).unwrap_or("?")),
            leg.state.word(),
            y - 14.0,
            leg.state.word()
        );
        for &n in &leg.drops {
            drop_marker(&mut labels, t, n, sx, y - 20.0);
        }
    }
    // Outside clients, linked to their router ports.
    for (ip, x, y, via) in &l.outside {
        let _ = writeln!(
            body,
            r##"<g class="outside-client"><rect x="{x}" y="{y}" width="{BOX_W}" height="40" rx="20" fill="#ffffff" stroke="#57606a"/><text x="{}" y="{}" font-size="12">client {} (outside)</text></g>"##,
            x + 14.0,
            y + 24.0,
            esc(ip)
        );
        if let Some(&(rx, ry)) = l.boxes.get(via) {
            let _ = writeln!(
                body,
                r##"<line x1="{}" y1="{}" x2="{}" y2="{ry}" stroke="#57606a" stroke-dasharray="2 3"/>"##,
                x + BOX_W / 2.0,
                y + 40.0,
                rx + BOX_W / 2.0
            );
        }
    }
    for p in &t.ports {
        if let Some(&(x, y)) = l.boxes.get(&p.id) {
            port_box(&mut body, p, x, y);
            drop_labels(&mut body, t, &p.id, x, y);
        }
    }
    body.push_str(&labels);

    let mut height = l.height;
    let mut legend = String::new();
    if o.legend {
        height = write_legend(&mut legend, t, height);
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" class="topology" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" font-family="system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif" role="img" aria-labelledby="{id}-title">"##
    );
    let _ = writeln!(
        out,
        "<title id=\"{id}-title\">{}: {}</title>",
        esc(o.heading.as_deref().unwrap_or("vipwire check")),
        esc(&verdict)
    );
    out.push_str("<defs>");
    for s in [LegState::Pass, LegState::Drop, LegState::NeverSent] {
        let _ = write!(
            out,
            r##"<marker id="{id}-ah-{}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0 0L10 5L0 10z" fill="{}"/></marker>"##,
            s.word(),
            color(s)
        );
    }
    out.push_str("</defs>\n");
    let _ = writeln!(
        out,
        r##"<rect x="0" y="0" width="{WIDTH}" height="{height}" fill="#ffffff"/>"##
    );
    out.push_str(&head);
    out.push_str(&body);
    out.push_str(&legend);
    out.push_str("</svg>\n");
    out
}

fn leg_path(
    out: &mut String,
    labels: &mut String,
    t: &Topology,
    l: &Layout,
    i: usize,
    off: f64,
    id: &str,
) {
    let leg = &t.legs[i];
    let to = leg.to.as_deref().unwrap_or_default();
    let (ax, ay) = l.boxes[&leg.from];
    let (bx, by) = l.boxes[to];
    let (ca, cb) = (
        t.port(&leg.from).map(|p| p.role.column()).unwrap_or(0),
        t.port(to).map(|p| p.role.column()).unwrap_or(0),
    );
    let (mid_a, mid_b) = (ay + BOX_H / 2.0 + off, by + BOX_H / 2.0 + off);
    let (x1, x2, c1, c2);
    if ca == cb {
        // Same column: out of the right side and back, bulging into the gap.
        x1 = ax + BOX_W;
        x2 = bx + BOX_W;
        let bulge = 45.0 + ((mid_b - mid_a).abs() / 8.0).min(40.0) + off;
        c1 = (x1 + bulge, mid_a);
        c2 = (x2 + bulge, mid_b);
    } else if ca < cb {
        x1 = ax + BOX_W;
        x2 = bx;
        let d = (x2 - x1) / 2.0;
        c1 = (x1 + d, mid_a);
        c2 = (x2 - d, mid_b);
    } else {
        x1 = ax;
        x2 = bx + BOX_W;
        let d = (x1 - x2) / 2.0;
        c1 = (x1 - d, mid_a);
        c2 = (x2 + d, mid_b);
    }
    let c = color(leg.state);
    let dash = if leg.state == LegState::NeverSent {
        r##" stroke-dasharray="5 4""##
    } else {
        ""
    };
    let width = if leg.state == LegState::Drop {
        3.0
    } else {
        2.0
    };
    let name = |id: &str| t.port(id).map(|p| p.name.clone()).unwrap_or_default();
    let rules: Vec<String> = leg
        .drops
        .iter()
        .filter_map(|n| t.drops.get(n - 1))
        .map(|g| format!("; dropped by {}", g.drop.rule_text_or_reason()))
        .collect();
    let _ = writeln!(
        out,
        r##"<g class="leg {}" data-from="{}" data-to="{}"><title>{} -> {}: {} packet{} in {} flow{} {}{}</title><path d="M{x1:.1} {mid_a:.1} C{:.1} {:.1} {:.1} {:.1} {x2:.1} {mid_b:.1}" fill="none" stroke="{c}" stroke-width="{width}"{dash} marker-end="url(#{id}-ah-{})"/></g>"##,
        leg.state.word(),
        esc(&name(&leg.from)),
        esc(&name(to)),
        esc(&name(&leg.from)),
        esc(&name(to)),
        leg.packets,
        if leg.packets == 1 { "" } else { "s" },
        leg.flows.len(),
        if leg.flows.len() == 1 { "" } else { "s" },
        leg.state.word(),
        esc(&rules.concat()),
        c1.0,
        c1.1,
        c2.0,
        c2.1,
        leg.state.word()
    );
    for &n in &leg.drops {
        let Some(g) = t.drops.get(n - 1) else {
            continue;
        };
        // The marker sits just off the box where the rule runs.
        let (mx, my) = match (g.end, x1 < x2 || ca == cb) {
            (DropEnd::Sender, true) => (x1 + 14.0, mid_a),
            (DropEnd::Sender, false) => (x1 - 14.0, mid_a),
            (DropEnd::Receiver, true) => (x2 - 22.0, mid_b),
            (DropEnd::Receiver, false) => (x2 + 22.0, mid_b),
        };
        drop_marker(labels, t, n, mx, my);
    }
}

/// A red numbered circle on the leg, by the port where the rule runs.
fn drop_marker(out: &mut String, t: &Topology, n: usize, x: f64, y: f64) {
    let Some(g) = t.drops.get(n - 1) else { return };
    let _ = writeln!(
        out,
        r##"<g class="drop-marker" data-drop="{n}"><title>{}</title><circle cx="{x:.1}" cy="{y:.1}" r="10" fill="{RED}" stroke="#ffffff" stroke-width="2"/><text x="{x:.1}" y="{:.1}" font-size="12" font-weight="bold" fill="#ffffff" text-anchor="middle">{n}</text></g>"##,
        esc(&format!(
            "DROP {n}: {}\nrule: {}\nwhy: {}",
            g.where_text(),
            g.drop.rule_text_or_reason(),
            g.drop.reason
        )),
        y + 4.0,
    );
}

/// Drops with rule and reason, and the colour key, under the picture.
fn write_legend(out: &mut String, t: &Topology, mut y: f64) -> f64 {
    let x = MARGIN;
    let key = [
        (GREEN, "", "passes"),
        (RED, "", "dropped"),
        (
            GREY,
            r##" stroke-dasharray="5 4""##,
            "never sent (an earlier packet of its flow was dropped)",
        ),
    ];
    let mut kx = x;
    for (c, dash, word) in key {
        let _ = writeln!(
            out,
            r##"<line x1="{kx}" y1="{}" x2="{}" y2="{}" stroke="{c}" stroke-width="3"{dash}/><text x="{}" y="{}" font-size="11" fill="#24292f">{}</text>"##,
            y + 8.0,
            kx + 26.0,
            y + 8.0,
            kx + 32.0,
            y + 12.0,
            esc(word)
        );
        kx += 32.0 + word.len() as f64 * 6.2 + 20.0;
    }
    y += 26.0;
    for g in &t.drops {
        let _ = writeln!(
            out,
            r##"<g class="drop-legend" data-drop="{}"><circle cx="{}" cy="{}" r="9" fill="{RED}"/><text x="{}" y="{}" font-size="11" font-weight="bold" fill="#ffffff" text-anchor="middle">{}</text><text x="{}" y="{}" font-size="12" font-weight="bold">{}</text>"##,
            g.number,
            x + 9.0,
            y + 5.0,
            x + 9.0,
            y + 9.0,
            g.number,
            x + 26.0,
            y + 9.0,
            esc(&cut(&g.where_text(), 120))
        );
        y += 18.0;
        let mut lines: Vec<(String, bool)> = Vec::new();
        if !g.drop.rule_text.is_empty() {
            for (i, s) in wrap(&g.drop.rule_text, 110).into_iter().enumerate() {
                lines.push((
                    format!("{}{s}", if i == 0 { "rule: " } else { "      " }),
                    true,
                ));
            }
        }
        for (i, s) in wrap(&g.drop.reason, 125).into_iter().enumerate() {
            lines.push((format!("{}{s}", if i == 0 { "why: " } else { "" }), false));
        }
        let more = g.hits.len() - 1;
        let first = format!(
            "first: {} / {}{}",
            g.hits[0].0,
            g.hits[0].1,
            if more > 0 {
                format!(" (and {more} more at this rule)")
            } else {
                String::new()
            }
        );
        for s in wrap(&first, 125) {
            lines.push((s, false));
        }
        for (s, mono) in lines {
            let font = if mono {
                r##" font-family="ui-monospace,Menlo,Consolas,'DejaVu Sans Mono',monospace" font-size="10.5""##
            } else {
                r##" font-size="11.5""##
            };
            let _ = writeln!(
                out,
                r##"<text x="{}" y="{}"{font} fill="#24292f" xml:space="preserve">{}</text>"##,
                x + 26.0,
                y + 9.0,
                esc(&cut(&s, 140))
            );
            y += 15.0;
        }
        out.push_str("</g>\n");
        y += 8.0;
    }
    y + MARGIN
}

/// Small helpers on the check's drop used by the drawings.
pub trait DropText {
    /// The deciding rule's text, or the reason when no rule decided.
    fn rule_text_or_reason(&self) -> String;
}

impl DropText for check::diagnose::Drop {
    fn rule_text_or_reason(&self) -> String {
        if self.rule_text.is_empty() {
            self.reason.clone()
        } else {
            self.rule_text.clone()
        }
    }
}
