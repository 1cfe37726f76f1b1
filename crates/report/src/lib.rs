//! The check as something people can look at and paste into a ticket.
//!
//! `check::report` writes the text tables; this crate draws the same
//! [`check::CheckReport`] (and the fix, when there is one):
//!
//! - [`topology`]: the picture's model, independent of any output format:
//!   compute hosts, their ports (role, addresses), the VIP, outside clients,
//!   every (sender, receiver) leg the flows used with its verdict, the drops
//!   grouped by the rule that decided them, and each flow as its path.
//! - [`svg`]: the topology as a self-contained SVG (`--format svg`).
//! - [`dot`]: the same as Graphviz text (`--format dot`).
//! - [`html`]: one self-contained page (inline CSS and SVG, no script, no
//!   network): picture, drops with rule and reason, every flow's path, the fix
//!   with the picture before and after (`--format html`).
//! - [`frames`] + [`pcapng`]: every packet the check sent, as Ethernet frames
//!   in a pcapng file, drops marked by a comment (`--pcap FILE`).

#![forbid(unsafe_code)]

pub mod dot;
pub mod frames;
pub mod html;
pub mod pcapng;
pub mod svg;
pub mod topology;
mod xml;

use check::fix::FixReport;
use check::{CheckReport, Scenario};

/// What every renderer reads: the scenario (roles, ports, hosts), the check,
/// and the fix when `--fix` was given.
#[derive(Clone, Copy)]
pub struct Input<'a> {
    pub scenario: &'a Scenario,
    pub check: &'a CheckReport,
    pub fix: Option<&'a FixReport>,
}

/// The drawn formats of `vipwire check --format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The topology picture alone (with the drops' rules and reasons under it).
    Svg,
    /// Graphviz text.
    Dot,
    /// The self-contained page.
    Html,
}

/// Render the check (and fix) in one of the drawn formats.
pub fn render(kind: Kind, input: Input) -> String {
    let topo = topology::build(input.scenario, input.check);
    match kind {
        Kind::Svg => {
            let heading = format!("vipwire check: {}", input.check.scenario);
            let svg = svg::render(
                &topo,
                &svg::Options {
                    heading: Some(heading),
                    ..Default::default()
                },
            );
            format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{svg}")
        }
        Kind::Dot => dot::render(&topo),
        Kind::Html => html::render(input),
    }
}
