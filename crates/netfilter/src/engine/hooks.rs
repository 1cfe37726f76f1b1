//! The hook walk: hooks, the table order at each hook and the per-hook view of
//! a packet, conntrack lookup and confirm, CT templates; the part of the kernel
//! around `nf_hook_slow` and the table registrations (`iptable_*.c`).

use super::*;

/// The netfilter hooks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hook {
    Prerouting,
    Input,
    Forward,
    Output,
    Postrouting,
}

impl Hook {
    pub fn chain(self) -> &'static str {
        match self {
            Hook::Prerouting => "PREROUTING",
            Hook::Input => "INPUT",
            Hook::Forward => "FORWARD",
            Hook::Output => "OUTPUT",
            Hook::Postrouting => "POSTROUTING",
        }
    }
}

pub(super) const BUILTINS: [&str; 5] = ["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"];

/// One step of the hook walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Step {
    Table(Hook, &'static str),
    /// nat: only for the first packet of a connection.
    Nat(Hook),
    Track,
    Confirm,
}

pub(super) fn steps(path: PathKind) -> Vec<Step> {
    use Hook::*;
    use Step::*;
    let pre = [
        Table(Prerouting, "raw"),
        Track,
        Table(Prerouting, "mangle"),
        Nat(Prerouting),
    ];
    let post = [Table(Postrouting, "mangle"), Nat(Postrouting), Confirm];
    let fwd = [Table(Forward, "mangle"), Table(Forward, "filter")];
    match path {
        PathKind::Bridged | PathKind::Routed => pre.into_iter().chain(fwd).chain(post).collect(),
        PathKind::LocalIn => pre
            .into_iter()
            .chain([
                Table(Input, "mangle"),
                Table(Input, "filter"),
                Nat(Input),
                Confirm,
            ])
            .collect(),
        PathKind::LocalOut => [
            Table(Output, "raw"),
            Track,
            Table(Output, "mangle"),
            Nat(Output),
            Table(Output, "filter"),
        ]
        .into_iter()
        .chain(post)
        .collect(),
    }
}

/// What the packet looks like at one hook: which devices are known there.
pub(super) struct View<'p> {
    pub(super) pkt: &'p Packet,
    pub(super) in_dev: &'p str,
    pub(super) out_dev: &'p str,
    pub(super) phys_in: Option<&'p str>,
    pub(super) phys_out: Option<&'p str>,
    /// The four names as 16-byte words for [`IfPat`] (kernel-style compare).
    pub(super) in_bits: u128,
    pub(super) out_bits: u128,
    pub(super) phys_in_bits: u128,
    pub(super) phys_out_bits: u128,
    /// br_netfilter info attached (a bridged frame).
    pub(super) bridged: bool,
    pub(super) mark: u32,
    /// iptables state bits (see [`StateSet`]).
    pub(super) state: u8,
}

impl<'p> View<'p> {
    fn new(pkt: &'p Packet, hook: Hook) -> View<'p> {
        let (has_in, has_out) = match hook {
            Hook::Prerouting | Hook::Input => (true, false),
            Hook::Forward => (true, true),
            Hook::Output | Hook::Postrouting => (false, true),
        };
        let phys_in = if hook == Hook::Output {
            None
        } else {
            pkt.physdev_in.as_deref()
        };
        // The bridge decides the out port after PREROUTING.
        let phys_out = if matches!(hook, Hook::Forward | Hook::Postrouting) {
            pkt.physdev_out.as_deref()
        } else {
            None
        };
        let in_dev = if has_in {
            pkt.in_dev.as_deref().unwrap_or("")
        } else {
            ""
        };
        let out_dev = if has_out {
            pkt.out_dev.as_deref().unwrap_or("")
        } else {
            ""
        };
        View {
            pkt,
            in_dev,
            out_dev,
            phys_in,
            phys_out,
            in_bits: name_bits(in_dev),
            out_bits: name_bits(out_dev),
            phys_in_bits: name_bits(phys_in.unwrap_or("")),
            phys_out_bits: name_bits(phys_out.unwrap_or("")),
            bridged: phys_in.is_some() || phys_out.is_some(),
            mark: 0,
            state: StateSet::INVALID,
        }
    }
}

pub(super) fn same_fam(a: &IpAddr, b: &IpAddr) -> bool {
    a.is_ipv4() == b.is_ipv4()
}

pub(super) fn step(table: &str, chain: &str, kind: StepKind, n: usize, text: String) -> TraceStep {
    TraceStep {
        table: table.to_string(),
        chain: chain.to_string(),
        kind,
        rule_num: n,
        rule_text: text,
    }
}

pub(super) fn policy_step(
    table: &str,
    chain: &str,
    policy: Option<&str>,
    n: usize,
    walk: &mut Walk,
) -> TableVerdict {
    let pol = policy.unwrap_or("ACCEPT");
    walk.path
        .push(step(table, chain, StepKind::Policy, n, pol.to_string()));
    if pol == "DROP" {
        TableVerdict::Drop
    } else {
        TableVerdict::Accept
    }
}

/// CT/NOTRACK: the first CT target to run attaches the template; later ones are
/// ignored (kernel net/netfilter/xt_CT.c: skb already has a ct -> XT_CONTINUE).
pub(super) fn apply_ct(
    zone: Option<u16>,
    notrack: bool,
    unknown: Option<String>,
    v: &mut View,
    walk: &mut Walk,
) {
    if let Some(u) = unknown {
        walk.unknown(u);
    }
    if walk.ct_set {
        return;
    }
    walk.ct_set = true;
    if notrack {
        walk.notrack = true;
        v.state = StateSet::UNTRACKED;
    } else {
        if let Some(z) = zone {
            walk.zone = z;
        }
        // A CT template is attached as IP_CT_NEW, so later raw rules see NEW
        // (net/netfilter/xt_CT.c, xt_ct_target: nf_ct_set(skb, ct, IP_CT_NEW)).
        v.state = StateSet::NEW;
    }
}

/// A bridge floods a frame to a group MAC (multicast or broadcast) and also
/// passes it up to its own stack, after the flooded copies went through FORWARD
/// and POSTROUTING (kernel net/bridge/br_input.c, br_handle_frame_finish:
/// br_flood, then br_pass_frame_up). At the bridge's LOCAL_IN, br_nf_local_in
/// confirms the still unconfirmed conntrack entry of a non-PACKET_HOST frame
/// (net/bridge/br_netfilter_hooks.c, since v6.8 commit 62e7151ae3eb). So the
/// entry survives a DROP in FORWARD or POSTROUTING; a PREROUTING DROP frees the
/// frame before it is flooded or passed up. Not modelled: a bridge in promiscuous
/// mode (br_nf_local_in then resets the ct) and multicast snooping with a querier.
pub(super) fn bridge_passes_up(pkt: &Packet, path: PathKind) -> bool {
    path == PathKind::Bridged && pkt.dst_mac.is_some_and(|m| m.0[0] & 1 == 1)
}

/// Walk the hooks of `path`, calling `table` for each table traversal; shared by
/// both evaluators so they differ only in how a table is evaluated.
pub(super) fn run_hooks<F>(
    ct: &mut Conntrack,
    pkt: &Packet,
    path: PathKind,
    mut table: F,
) -> PacketTrace
where
    F: FnMut(Hook, &str, &mut View, &mut Walk) -> Option<TableVerdict>,
{
    let mut walk = Walk {
        path: Vec::new(),
        unknown: Vec::new(),
        ct_set: false,
        zone: 0,
        notrack: false,
    };
    let mut mark = pkt.mark;
    let mut state = StateSet::INVALID;
    let mut outcome: Option<CtOutcome> = None;
    let mut ctstate = String::new();
    let mut ct_reason = None;
    let mut verdict = Verdict::Accept;
    for s in steps(path) {
        let (hook, name) = match s {
            Step::Track => {
                let o = if walk.notrack {
                    Conntrack::untracked(walk.zone)
                } else {
                    ct.track(walk.zone, pkt)
                };
                state = state_bits(o.state);
                ctstate = ctstate_name(o.state).to_string();
                ct_reason = o.reason().map(str::to_string);
                outcome = Some(o);
                continue;
            }
            Step::Confirm => {
                if let Some(o) = &outcome {
                    if o.state != CtState::Untracked {
                        ct.confirm(o);
                    }
                }
                continue;
            }
            Step::Nat(h) => {
                // TODO: NAT bindings (DNAT/SNAT rewriting) are not modelled; the nat
                // chains are only evaluated for their verdict and trace.
                // Only the packet that created the conntrack entry meets the nat
                // chains (nf_nat_inet_fn: nat bindings are set up once, while the
                // entry is unconfirmed); a NEW packet of an existing entry skips them.
                if !outcome.as_ref().is_some_and(|o| o.is_unconfirmed()) {
                    continue;
                }
                (h, "nat")
            }
            Step::Table(h, n) => (h, n),
        };
        let mut view = View::new(pkt, hook);
        view.mark = mark;
        view.state = match (&outcome, walk.notrack, walk.ct_set) {
            (None, true, _) => StateSet::UNTRACKED,
            (None, false, true) => StateSet::NEW,
            _ => state,
        };
        let r = table(hook, name, &mut view, &mut walk);
        mark = view.mark;
        if let Some(TableVerdict::Drop) = r {
            verdict = Verdict::Drop;
            if let Some(o) = &outcome {
                if o.state != CtState::Untracked {
                    if hook != Hook::Prerouting && bridge_passes_up(pkt, path) {
                        ct.confirm(o);
                    } else {
                        ct.discard(o);
                    }
                }
            }
            break;
        }
    }
    PacketTrace {
        verdict,
        path: walk.path,
        ctstate,
        ct_reason,
        zone: walk.zone,
        unknown: walk.unknown,
    }
}
