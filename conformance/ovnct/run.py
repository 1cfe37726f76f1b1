#!/usr/bin/env python3
"""The conntrack states `vipwire check --driver ovn` predicts vs the real kernel's.

    run.py [--count N] [--seed S] [--vipwire BIN] [--show N] [--failures DIR]
           [--probes] [--trace CLOUD FRAMES]... [--netfilter-only] [--keep DIR]
    run.py --replay FILE...      # saved reproductions (--failures output)

Production OVN runs the Linux kernel datapath, whose `ct()` action is the
kernel's conntrack (nf_conntrack_in), not the OVS userspace tracker of the
test bed's netdev datapath (BRIEF section 7, "Two traps"). check's OVN hops
carry the conntrack zone of the logical port (`trace.zone`), the state the
model gave the packet (`trace.ctstate`) and the logical flows it went
through (`trace.path`); an ACL flow whose action sets `reg0[1] = 1` commits
the connection (ls_*_stateful's ct_commit), otherwise the packet was looked
up and not committed.

Inputs: the built-in scenario (`vipwire check --driver ovn`), its fixed form
(`--fix`: the `fix.recheck` packets) and N seeded random variants of the field
report's cloud (conformance/checklab/variants.py), each with `--fix` too. For
every packet, every hop whose ctstate is not UNTRACKED, in check's order, a
frame with the packet's fields goes through conntrack zone `trace.zone` of the
real kernel; the state the kernel assigned is read from per-zone counters; the
frame is then accepted (its new entry is confirmed) when the model committed or
the entry already existed, and dropped before confirmation otherwise, so an
uncommitted new entry vanishes as it does after OVS's ct() without commit.
Each run (one check report) starts from an empty conntrack table.
`--probes` and `--trace` add hand-written conversations through `vipwire trace
--driver ovn` (conformance/ovnct/probes/).

What the OVS kernel module adds to conntrack is emulated (ctnl.py): a TCP
connection found confirmed, ESTABLISHED and ASSURED becomes BE_LIBERAL in both
directions, as `__ovs_ct_lookup` does since Linux 5.11; `--netfilter-only`
turns that off.

Plumbing (namespaces vwct-<pid>-br and vwct-<pid>-ends):

    ends: vs<Z> (one per zone, AF_PACKET out)   vkp, vdp (sinks, AF_PACKET in)
            | veth                                 | veth
    br:   vz<Z> ------------------ br0 ---------- vk (commit MAC), vd (drop MAC)

br0 has bridge-netfilter on, so each frame crosses the IPv4 hooks once:
raw PREROUTING `-m physdev --physdev-in vz<Z> -j CT --zone Z`, conntrack,
then filter FORWARD -> chain Z<Z>, which counts the ctstate and accepts or
drops. The frame's destination MAC says which: the commit MAC is forwarded to
vk, the drop MAC to vd, and `--physdev-out vd` drops unless the entry is
already confirmed. Accepted frames are confirmed at POSTROUTING.

Ends with `N passed, M failed` (hops); exit 1 on any disagreement, 2 on a
set-up problem; SKIP without root. See docs/conformance-kernel.md, "OVN's
conntrack verdicts on the real kernel".
"""

import argparse
import importlib.util
import json
import os
import re
import signal
import atexit
import subprocess
import sys
import tempfile
import time
from collections import Counter

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
KERNEL = os.path.join(ROOT, 'conformance', 'kernel')
CHECKLAB = os.path.join(ROOT, 'conformance', 'checklab')
for p in (CHECKLAB, KERNEL):
    if p not in sys.path:
        sys.path.insert(0, p)

from compare import delta, parse_counters  # noqa: E402
from frames import barrier_frame, build_frame, frame_marker, proto_num  # noqa: E402
from lab import NetnsSocket, ip_batch, sh  # noqa: E402
sys.path.insert(0, HERE)
import ctnl  # noqa: E402
from variants import name_of, variant, write  # noqa: E402


def _checklab_run():
    """conformance/checklab/run.py as a module (its name clashes with
    conformance/kernel/run.py on sys.path)."""
    spec = importlib.util.spec_from_file_location('checklab_run',
                                                  os.path.join(CHECKLAB, 'run.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


_cl = _checklab_run()
frame_fields = _cl.frame_fields
find_vipwire = _cl.find_vipwire

# Destination MACs (locally administered, unicast) that steer a frame to the
# commit sink (accepted: a new entry is confirmed) or the drop sink.
COMMIT_MAC = '02:76:77:63:74:01'
DROP_MAC = '02:76:77:63:74:02'
STATES = ('INVALID', 'NEW', 'ESTABLISHED', 'RELATED', 'UNTRACKED')
# Rules of each zone chain Z<zone>, in order (1-based numbers in the counters).
ZONE_RULES = [
    ('INVALID', '-m conntrack --ctstate INVALID'),
    ('NEW', '-m conntrack --ctstate NEW'),
    ('ESTABLISHED', '-m conntrack --ctstate ESTABLISHED'),
    ('RELATED', '-m conntrack --ctstate RELATED'),
    ('UNTRACKED', '-m conntrack --ctstate UNTRACKED'),
    ('existing', '-m conntrack --ctstate NEW --ctstatus CONFIRMED'),
    ('reply', '-m conntrack --ctdir REPLY'),
    ('accept-existing', '-m conntrack --ctstatus CONFIRMED -j ACCEPT'),
    ('drop', '-m physdev --physdev-out vd -j DROP'),
    ('accept', '-j ACCEPT'),
]
RULE_NUM = {name: i + 1 for i, (name, _) in enumerate(ZONE_RULES)}


class SetupError(Exception):
    """A problem with the harness or its inputs, not a disagreement (exit 2)."""


# -- check's hops (pure: no root) ---------------------------------------------

ACTION = re.compile(r'action=\((.*)\)\s*$')
COMMITS = re.compile(r'reg0\[1\] = 1|ct_commit')


def action_of(rule_text):
    m = ACTION.search(rule_text or '')
    return m.group(1) if m else ''


def committed(trace):
    """Did the model's pipeline commit the connection? An allow-related ACL
    flow (or the default-commit flow of a stateful switch) sets reg0[1], which
    ls_*_stateful turns into ct_commit; RELATED replies run ct_commit_nat."""
    return any(COMMITS.search(action_of(s.get('rule_text', '')))
               for s in trace.get('path', []))


MATCH = re.compile(r'match=\((.*)\), action=')
# The flows that tell which direction the model found an ESTABLISHED packet in
# (lflows.rs: acl_hint priority 4 for the original direction, the ct.rpl pass
# at acl priority 65532 for replies).
EST_REPLY = 'ct.est && !ct.rel && !ct.new && !ct.inv && ct.rpl'
EST_ORIGINAL = '!ct.new && ct.est && !ct.rpl'


def model_direction(trace):
    """'reply' or 'original' for an ESTABLISHED hop whose flows say which, else
    None (e.g. a switch without ACLs skips the hint and ACL flows)."""
    if trace.get('ctstate') != 'ESTABLISHED':
        return None
    matches = [m.group(1) for m in (MATCH.search(s.get('rule_text', ''))
                                    for s in trace.get('path', [])) if m]
    if any(EST_REPLY in m for m in matches):
        return 'reply'
    if any(EST_ORIGINAL in m for m in matches):
        return 'original'
    return None


def agrees(h):
    """The kernel's state equals the model's, and so does the direction of an
    ESTABLISHED packet when the model's flows show it."""
    if h['kernel'] != h['model']:
        return False
    d = h.get('model_dir')
    return d is None or d == ('reply' if h['kernel_reply'] else 'original')


def hop_plan(doc, label):
    """Every conntrack lookup of one check report (`check` or `fix.recheck`), in
    check's order: a list of dicts with the run label, flow, packet index and
    text, hop index, side, port id, zone, the model's state, reason and commit,
    the frame fields, and `dr_half`: the packet is the client's own (role
    plain) and an earlier DR-forwarded copy of the same flow was tracked in this
    zone on its way out (the director's zone sees only the original direction).
    Raises SetupError when one zone serves two ports (OVN gives each logical
    port its own)."""
    hops = []
    zone_port = {}
    for flow in doc['flows']:
        dr_zones = set()
        for i, pkt in enumerate(flow['packets']):
            if pkt['outcome'] == 'SKIPPED' or pkt['payload'].get('type') != 'ip':
                continue
            for j, h in enumerate(pkt.get('hops') or []):
                t = h.get('trace') or {}
                st = t.get('ctstate')
                if st in (None, 'UNTRACKED'):
                    continue
                zone = int(t['zone'])
                if zone_port.setdefault(zone, h['port_id']) != h['port_id']:
                    raise SetupError('%s: zone %d serves ports %s and %s' % (
                        label, zone, zone_port[zone], h['port_id']))
                hops.append({
                    'run': label, 'flow': flow['name'], 'packet': i, 'what': pkt['what'],
                    'hop': j, 'side': h['side'], 'port': h['port_id'], 'zone': zone,
                    'model': st, 'reason': t.get('ct_reason'), 'commit': committed(t),
                    'model_dir': model_direction(t),
                    'fields': frame_fields(pkt['payload']),
                    'dr_half': pkt['role'] == 'plain' and zone in dr_zones})
            if pkt['role'] == 'dr-forward':
                dr_zones |= {int(h['trace']['zone']) for h in pkt.get('hops') or []
                             if h['side'] == 'egress' and
                             h['trace'].get('ctstate') not in (None, 'UNTRACKED')}
    return hops


def steered_fields(hop):
    """The frame fields actually sent: the packet's, with the destination MAC
    replaced by the commit or drop sink's (conntrack never looks at MACs)."""
    f = dict(hop['fields'])
    f['dmac'] = COMMIT_MAC if hop['commit'] else DROP_MAC
    return f


def zone_ruleset(zones):
    """iptables-restore input for the zones (raw CT rules, filter chains)."""
    zs = sorted(zones)
    lines = ['*raw', ':PREROUTING ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]']
    lines += ['-A PREROUTING -m physdev --physdev-in vz%d -j CT --zone %d' % (z, z) for z in zs]
    lines += ['COMMIT', '*filter', ':INPUT ACCEPT [0:0]', ':FORWARD DROP [0:0]',
              ':OUTPUT ACCEPT [0:0]']
    lines += [':Z%d - [0:0]' % z for z in zs]
    lines += ['-A FORWARD -m physdev --physdev-in vz%d -j Z%d' % (z, z) for z in zs]
    for z in zs:
        lines += ['-A Z%d %s' % (z, r) for _, r in ZONE_RULES]
    lines.append('COMMIT')
    return '\n'.join(lines) + '\n'


def kernel_state(counted, zone):
    """(state, existing, reply) from the counter deltas of one frame, or a
    problem string: exactly one state rule of chain Z<zone> must have counted
    it, and no rule of another zone's chain."""
    chain = 'Z%d' % zone
    other = sorted('%s:%s' % (k[1], k[2]) for k in counted
                   if k[0] == 'filter' and k[1].startswith('Z') and k[1] != chain)
    if other:
        return 'counted in another zone: %s' % ', '.join(other)
    hit = [s for s in STATES if counted.get(('filter', chain, RULE_NUM[s]), 0)]
    if len(hit) != 1 or counted.get(('filter', chain, RULE_NUM[hit[0]])) != 1:
        n = counted.get(('filter', 'FORWARD', 'policy'), 0)
        return 'not counted in zone %d (states %s%s)' % (
            zone, hit or 'none', ', FORWARD policy %d' % n if n else '')
    return (hit[0], bool(counted.get(('filter', chain, RULE_NUM['existing']))),
            bool(counted.get(('filter', chain, RULE_NUM['reply']))))


SELF_ZONE = 65000


def self_check_hops(ovs=True):
    """The plumbing's own test, in zone SELF_ZONE before any run: (hop, expected
    (state, existing, reply)). An uncommitted UDP datagram must leave nothing
    behind (the second one is NEW again, on no entry); a committed one leaves a
    confirmed entry (the next one is NEW on it, the reply ESTABLISHED). Then a
    TCP handshake and a segment far out of the window: INVALID for netfilter,
    ESTABLISHED once OVS's BE_LIBERAL is emulated (`ovs`)."""
    def pkt(src, sport, dst, dport, commit, proto=17, **tcp):
        f = {'smac': '02:76:77:63:74:10', 'dmac': '02:76:77:63:74:11', 'src': src,
             'dst': dst, 'proto': proto, 'sport': sport, 'dport': dport,
             'len': 8 if proto == 17 else 0, 'ttl': 64}
        f.update(tcp)
        return {'run': 'self-check', 'flow': 'plumbing', 'packet': 0, 'hop': 0,
                'what': '%s %s:%d -> %s:%d %s' % ('UDP' if proto == 17 else 'TCP', src, sport,
                                                  dst, dport, tcp.get('flags', '')),
                'side': 'egress', 'port': 'self-check', 'zone': SELF_ZONE, 'model': 'NEW',
                'reason': None, 'commit': commit, 'dr_half': False, 'fields': f}
    a, b = '192.0.2.1', '192.0.2.2'
    w = 64240
    return [(pkt(a, 1000, b, 2000, False), ('NEW', False, False)),
            (pkt(a, 1000, b, 2000, False), ('NEW', False, False)),
            (pkt(a, 1000, b, 2000, True), ('NEW', False, False)),
            (pkt(a, 1000, b, 2000, False), ('NEW', True, False)),
            (pkt(b, 2000, a, 1000, False), ('ESTABLISHED', False, True)),
            (pkt(a, 1001, b, 22, True, 6, flags='S', seq=1000, win=w), ('NEW', False, False)),
            (pkt(b, 22, a, 1001, False, 6, flags='SA', seq=5000, ack=1001, win=w),
             ('ESTABLISHED', False, True)),
            (pkt(a, 1001, b, 22, False, 6, flags='A', seq=1001, ack=5001, win=w),
             ('ESTABLISHED', False, False)),
            (pkt(a, 1001, b, 22, False, 6, flags='PA', seq=900001, ack=5001, win=w, len=100),
             ('ESTABLISHED' if ovs else 'INVALID', False, False))]


def reproduction(hops, k):
    """The hops a disagreement at hops[k] needs: those of its run in the same
    zone up to it (zones are independent conntrack spaces)."""
    h = hops[k]
    return [x for x in hops[:k + 1] if x['run'] == h['run'] and x['zone'] == h['zone']]


# -- the lab ---------------------------------------------------------------------

class CtLab:
    """Two namespaces: `br` (the bridge, iptables, conntrack) and `ends` (the
    far ends of its ports, where frames are sent and received)."""

    def __init__(self, tag):
        self.br = 'vwct-%s-br' % tag
        self.ends = 'vwct-%s-ends' % tag
        self.zones = set()
        self.send_sock = {}
        self.sink = []
        self.sysctls = {}
        self.nl = None

    def __enter__(self):
        try:
            self.create()
        except BaseException:
            self.destroy()
            raise
        return self

    def __exit__(self, *exc):
        self.destroy()

    def create(self):
        ip_batch(['netns add ' + self.br, 'netns add ' + self.ends])
        for ns in (self.br, self.ends):
            sh(['sysctl', '-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1',
                'net.ipv6.conf.default.disable_ipv6=1'], ns=ns)
        # Both switches on: the per-netns sysctl and the bridge option.
        sh(['sysctl', '-q', '-w', 'net.bridge.bridge-nf-call-iptables=1'], ns=self.br)
        ip_batch(['link add br0 type bridge nf_call_iptables 1 stp_state 0 forward_delay 0 '
                  'mcast_snooping 0',
                  'link set br0 multicast off up',
                  'link add vk type veth peer name vkp netns ' + self.ends,
                  'link add vd type veth peer name vdp netns ' + self.ends,
                  'link set vk master br0', 'link set vd master br0',
                  'link set vk multicast off up', 'link set vd multicast off up',
                  'link set dev vk type bridge_slave learning off',
                  'link set dev vd type bridge_slave learning off'], ns=self.br)
        ip_batch(['link set vkp multicast off up', 'link set vdp multicast off up'],
                 ns=self.ends)
        sh(['bridge', '-n', self.br, '-batch', '-'],
           input='fdb add %s dev vk master static\nfdb add %s dev vd master static\n'
           % (COMMIT_MAC, DROP_MAC))
        self.sink = [NetnsSocket(self.ends).packet_socket(d) for d in ('vkp', 'vdp')]
        for s in self.sink:
            s.setblocking(False)
        # The TCP tracker's switches stay at the kernel's defaults; recorded.
        for k in ('nf_conntrack_tcp_loose', 'nf_conntrack_tcp_be_liberal',
                  'nf_conntrack_checksum', 'nf_conntrack_tcp_ignore_invalid_rst'):
            out = sh(['sysctl', '-n', 'net.netfilter.' + k], ns=self.br, check=False).strip()
            self.sysctls[k] = out or '?'
        self.load()
        self.nl = ctnl.CtNetlink(self.br)

    def add_zones(self, zones):
        new = sorted(set(zones) - self.zones)
        if not new:
            return
        cmds, up = [], []
        for z in new:
            if not 0 <= z <= 65535:
                raise SetupError('zone %d out of range' % z)
            cmds += ['link add vz%d type veth peer name vs%d netns %s' % (z, z, self.ends),
                     'link set vz%d master br0' % z, 'link set vz%d multicast off up' % z,
                     'link set dev vz%d type bridge_slave learning off' % z]
            up.append('link set vs%d multicast off up' % z)
        ip_batch(cmds, ns=self.br)
        ip_batch(up, ns=self.ends)
        for z in new:
            s = NetnsSocket(self.ends).packet_socket('vs%d' % z)
            s.setblocking(False)
            self.send_sock[z] = s
        self.zones |= set(new)
        self.load()
        time.sleep(0.02)
        self.drain()

    def load(self):
        sh(['iptables-restore'], ns=self.br, input=zone_ruleset(self.zones))

    def flush(self):
        sh(['conntrack', '-F'], ns=self.br, check=False)
        left = sh(['conntrack', '-C'], ns=self.br, check=False).strip()
        if left not in ('', '0'):
            raise SetupError('conntrack table not empty after flush: %s' % left)

    def counters(self):
        return parse_counters(sh(['iptables-save', '-c', '-t', 'filter'], ns=self.br))[0]

    def entries(self, zone):
        return sh(['conntrack', '-L', '-w', str(zone)], ns=self.br, check=False)

    def drain(self):
        for s in self.sink + list(self.send_sock.values()):
            while True:
                try:
                    s.recv(65535)
                except BlockingIOError:
                    break

    def send(self, zone, frame, marker, seq, smac):
        """Send `frame` into zone `zone`, then a barrier to the commit sink;
        returns once the barrier arrived (the frame is done: one CPU, one
        backlog queue) whether the frame left the bridge."""
        out = self.send_sock[zone]
        out.send(frame)
        out.send(barrier_frame(smac, COMMIT_MAC, seq))
        seen = False
        deadline = time.monotonic() + 1.0
        while True:
            got = False
            for s in self.sink:
                try:
                    data = s.recv(65535)
                except BlockingIOError:
                    continue
                got = True
                m = frame_marker(data)
                if m == ('ip', marker):
                    seen = True
                elif m == ('barrier', seq):
                    # the other sink may still hold the frame: read it too
                    for s2 in self.sink:
                        try:
                            while True:
                                if frame_marker(s2.recv(65535)) == ('ip', marker):
                                    seen = True
                        except BlockingIOError:
                            pass
                    return seen
            if not got:
                if time.monotonic() > deadline:
                    raise SetupError('barrier %d never arrived' % seq)
                time.sleep(0.0002)

    def destroy(self):
        socks = self.sink + list(self.send_sock.values()) + ([self.nl.sock] if self.nl else [])
        self.nl = None
        for s in socks:
            try:
                s.close()
            except OSError:
                pass
        self.sink, self.send_sock = [], {}
        for ns in (self.br, self.ends):
            subprocess.run(['ip', 'netns', 'del', ns], capture_output=True)


# -- running -------------------------------------------------------------------------

class Stats:
    def __init__(self):
        self.passed = self.failed = self.runs = self.runs_failed = 0
        self.pairs = Counter()      # (model, kernel) per hop
        self.dr_model = self.dr_confirmed = 0
        self.commits = Counter()    # model commit, kernel state
        self.existing = 0
        self.skipped_v6 = 0
        self.liberal = 0            # TCP connections OVS would have made BE_LIBERAL
        self.dirs = Counter()       # ESTABLISHED: (model direction, kernel direction)
        self.t = Counter()


def run_check(vipwire, scenario, fix, st):
    args = [vipwire, 'check', '--driver', 'ovn', '--format', 'json'] + (['--fix'] if fix else [])
    if scenario:
        args.append(scenario)
    t = time.monotonic()
    r = subprocess.run(args, capture_output=True, text=True)
    st.t['check'] += time.monotonic() - t
    if r.returncode not in (0, 1):
        raise SetupError('%s: exit %d: %s' % (' '.join(args[1:]), r.returncode,
                                              r.stderr.strip()[:2000]))
    return json.loads(r.stdout)


class Runner:
    def __init__(self, args, lab):
        self.args, self.lab = args, lab
        self.ovs = not args.netfilter_only
        self.st = Stats()
        self.seq = 0

    def replay_one(self, h, snap):
        """Send one hop's frame; returns (state, existing, reply, left, counters)."""
        self.seq += 1
        marker = self.seq % 65535 + 1
        f = steered_fields(h)
        left = self.lab.send(h['zone'], build_frame(f, marker), marker, self.seq, f['smac'])
        cnt = self.lab.counters()
        ks = kernel_state(delta(snap, cnt), h['zone'])
        if isinstance(ks, str):
            raise SetupError('%s, hop %r of %r: %s' % (h['run'], h['what'], h['flow'], ks))
        if self.ovs and proto_num(f['proto']) == 6 and ks[0] != 'INVALID':
            self.ovs_after_lookup(h, f, reply=ks[2])
        return ks + (left, cnt)

    def ovs_after_lookup(self, h, f, reply):
        """What __ovs_ct_lookup does after nf_conntrack_in (ctnl.py): a TCP entry
        found confirmed, ESTABLISHED and ASSURED becomes BE_LIBERAL both ways."""
        t = (f['src'], f['dst'], int(f['sport']), int(f['dport']))
        if reply:
            t = (t[1], t[0], t[3], t[2])
        entry = self.lab.nl.get(h['zone'], *t)
        if entry is not None and ctnl.ovs_should_liberalise(entry):
            self.lab.nl.liberalise(h['zone'], *t)
            if self.lab.nl.get(h['zone'], *t)[2] & ctnl.IP_CT_TCP_FLAG_BE_LIBERAL == 0:
                raise SetupError('BE_LIBERAL did not stick on %s in zone %d' % (t, h['zone']))
            self.st.liberal += 1

    def self_check(self):
        """The plumbing commits and discards as intended (exit 2 otherwise)."""
        todo = self_check_hops(self.ovs)
        self.lab.add_zones({SELF_ZONE})
        self.lab.flush()
        snap = self.lab.counters()
        for n, (h, want) in enumerate(todo):
            *got, left, snap = self.replay_one(h, snap)
            self.st.liberal = 0
            if tuple(got) != want:
                raise SetupError('plumbing self-check, frame %d (%s, %s): kernel %s, expected '
                                 '%s' % (n + 1, h['what'], 'committed' if h['commit'] else
                                         'not committed', tuple(got), want))
        print('plumbing self-check: %d frames as expected (an uncommitted new entry vanishes, '
              'a committed one stays; out-of-window on an assured TCP connection %s)'
              % (len(todo), 'ESTABLISHED: OVS\'s BE_LIBERAL emulated' if self.ovs else
                 'INVALID: plain netfilter'))

    def run(self, label, hops):
        """Replay one run's hops from an empty table; returns the failures."""
        st, lab = self.st, self.lab
        v4 = [h for h in hops if ':' not in h['fields']['src']]
        st.skipped_v6 += len(hops) - len(v4)
        lab.add_zones({h['zone'] for h in v4})
        lab.flush()
        t = time.monotonic()
        snap = lab.counters()
        bad = []
        for k, h in enumerate(v4):
            if h['zone'] == SELF_ZONE:
                raise SetupError('%s: zone %d is the self-check\'s' % (label, SELF_ZONE))
            state, existing, reply, left, snap = self.replay_one(h, snap)
            h['kernel'], h['kernel_existing'], h['kernel_reply'] = state, existing, reply
            h['kernel_left'] = left
            st.pairs[(h['model'], state)] += 1
            st.commits[(h['commit'], state)] += 1
            st.existing += existing
            if h['dr_half'] and h['model'] == 'INVALID':
                st.dr_model += 1
                st.dr_confirmed += state == 'INVALID'
            if h['model_dir']:
                st.dirs[(h['model_dir'], 'reply' if reply else 'original')] += 1
            if not agrees(h):
                h['kernel_entries'] = lab.entries(h['zone'])
                bad.append((k, h))
        st.t['inject'] += time.monotonic() - t
        st.runs += 1
        st.runs_failed += bool(bad)
        st.failed += len(bad)
        st.passed += len(v4) - len(bad)
        print('%s %s: %d conntrack hops, %d agree (%s)' % (
            'FAIL' if bad else 'PASS', label, len(v4), len(v4) - len(bad),
            ', '.join('%s %d' % kv for kv in sorted(Counter(h['model'] for h in v4).items()))
            or 'none'), flush=True)
        for k, h in bad[:self.args.show]:
            print(describe(h))
        if len(bad) > self.args.show:
            print('  ... %d more (--show N)' % (len(bad) - self.args.show))
        if bad and self.args.failures:
            os.makedirs(self.args.failures, exist_ok=True)
            path = os.path.join(self.args.failures, re.sub(r'[^A-Za-z0-9_.-]+', '_', label)
                                + '.json')
            with open(path, 'w') as fh:
                json.dump({'label': label, 'disagreements': [
                    {'at': h, 'hops': [strip(x) for x in reproduction(v4, k)]}
                    for k, h in bad]}, fh, indent=1, default=str)
            print('  saved: %s (python3 conformance/ovnct/run.py --replay %s)' % (path, path))
        return bad


def strip(h):
    return {k: v for k, v in h.items() if not k.startswith('kernel')}


def describe(h):
    return '\n'.join([
        '  DISAGREE flow %r packet %d %r, %s hop (port %s), zone %d' % (
            h['flow'], h['packet'], h['what'], h['side'], h['port'][:8], h['zone']),
        '     model : %s%s%s, %s' % (h['model'], ' (%s)' % h['reason'] if h['reason'] else '',
                                     ', %s direction' % h['model_dir'] if h.get('model_dir')
                                     else '', 'committed' if h['commit'] else 'not committed'),
        '     kernel: %s%s, %s direction' % (
            h['kernel'], ' (on an entry that existed)' if h['kernel_existing'] else '',
            'reply' if h['kernel_reply'] else 'original'),
        '     kernel entries in zone %d after it:%s' % (
            h['zone'], ''.join('\n        ' + ln for ln in
                               h.get('kernel_entries', '').strip().splitlines()) or ' none')])


def inputs(args, work):
    """[(label, hops)] of every check report to replay."""
    st_dummy = Stats()
    out = []
    if not args.no_builtin:
        plain = run_check(args.vipwire, None, False, st_dummy)
        out.append(('built-in', hop_plan(plain['check'], 'built-in')))
        fixed = run_check(args.vipwire, None, True, st_dummy)
        if fixed.get('fix') and fixed['fix'].get('recheck'):
            out.append(('built-in --fix recheck',
                        hop_plan(fixed['fix']['recheck'], 'built-in --fix recheck')))
    out += trace_inputs(args.vipwire, (args.trace or []) + (probe_files() if args.probes else []),
                        st_dummy)
    for i in range(args.first, args.first + args.count):
        name = name_of(args.seed, i)
        d = os.path.join(work, name)
        write(variant(args.seed, i), d)
        doc = run_check(args.vipwire, os.path.join(d, 'scenario.yaml'), True, st_dummy)
        out.append((name, hop_plan(doc['check'], name)))
        if doc.get('fix') and doc['fix'].get('recheck'):
            out.append((name + ' --fix recheck',
                        hop_plan(doc['fix']['recheck'], name + ' --fix recheck')))
    return out, st_dummy.t['check']


def parse_frame_line(line):
    """`key=value` fields of one `vipwire trace` packet line (docs/trace-packets.md)."""
    return dict(kv.split('=', 1) for kv in line.split() if '=' in kv)


def trace_plan(lines, results, label):
    """The conntrack lookups of `vipwire trace --driver ovn --format json` output
    (`results`, one object per frame) on the frames file `lines`: like hop_plan,
    one flow, in the frames' order. A frame without smac gets a stand-in MAC
    (conntrack never reads MACs). `dr_half`: an ingress hop whose tuple an
    earlier frame already took out of the same zone (a forwarded copy)."""
    hops, zone_port, out_tuples = [], {}, set()
    for r in results:
        f = parse_frame_line(lines[r['line'] - 1])
        if f.get('proto') in ('arp', 'nd'):
            continue
        f.setdefault('smac', '02:76:77:63:74:10')
        tup = tuple(str(f.get(k, '')) for k in ('src', 'dst', 'proto', 'sport', 'dport'))
        for j, c in enumerate(r['path']):
            t = c.get('trace') or {}
            st = t.get('ctstate')
            if st in (None, 'UNTRACKED'):
                continue
            zone = int(t['zone'])
            if zone_port.setdefault(zone, c['port_id']) != c['port_id']:
                raise SetupError('%s: zone %d serves ports %s and %s' % (
                    label, zone, zone_port[zone], c['port_id']))
            hops.append({
                'run': label, 'flow': 'frames', 'packet': r['packet'],
                'what': 'line %d: %s' % (r['line'], lines[r['line'] - 1].strip()),
                'hop': j, 'side': c['side'], 'port': c['port_id'], 'zone': zone, 'model': st,
                'reason': t.get('ct_reason'), 'commit': committed(t),
                'model_dir': model_direction(t), 'fields': f,
                'dr_half': c['side'] == 'ingress' and (zone, tup) in out_tuples})
            if c['side'] == 'egress':
                out_tuples.add((zone, tup))
    return hops


PROBES = os.path.join(HERE, 'probes')


def probe_files():
    """[(cloud, frames)] of conformance/ovnct/probes/*.txt."""
    out = []
    for name in sorted(os.listdir(PROBES)):
        if not name.endswith('.txt'):
            continue
        path = os.path.join(PROBES, name)
        with open(path) as fh:
            cloud = [ln.split(':', 1)[1].strip() for ln in fh if ln.startswith('# cloud:')]
        if not cloud:
            raise SetupError('%s: no `# cloud: PATH` line' % path)
        out.append((os.path.join(ROOT, cloud[0]), path))
    return out


def trace_inputs(vipwire, pairs, st):
    out = []
    for cloud, frames in pairs:
        args = [vipwire, 'trace', '--driver', 'ovn', '--neutron', cloud, '--packets', frames,
                '--format', 'json']
        t = time.monotonic()
        r = subprocess.run(args, capture_output=True, text=True)
        st.t['check'] += time.monotonic() - t
        if r.returncode != 0:
            raise SetupError('%s: exit %d: %s' % (' '.join(args[1:]), r.returncode,
                                                  r.stderr.strip()[:2000]))
        with open(frames) as fh:
            lines = fh.read().splitlines()
        results = [json.loads(ln) for ln in r.stdout.splitlines() if ln.strip()]
        label = 'trace %s' % os.path.basename(frames)
        out.append((label, trace_plan(lines, results, label)))
    return out


def replay_inputs(files):
    out = []
    for path in files:
        with open(path) as f:
            doc = json.load(f)
        for n, d in enumerate(doc['disagreements']):
            out.append(('%s #%d' % (doc['label'], n + 1), d['hops']))
    return out


def sweep_stale_namespaces():
    """Delete `vwct-<pid>-*` namespaces whose run is gone (SIGKILL)."""
    out = subprocess.run(['ip', 'netns', 'list'], capture_output=True, text=True).stdout
    for line in out.splitlines():
        m = re.match(r'(vwct-(\d+)-\S+)', line)
        if m and not os.path.exists('/proc/%s' % m.group(2)):
            print('removing namespace %s left by an earlier run (pid %s is gone)'
                  % (m.group(1), m.group(2)))
            subprocess.run(['ip', 'netns', 'del', m.group(1)], capture_output=True)


def finish(st, start, t_check, sysctls, ovs):
    total = time.monotonic() - start
    n = st.passed + st.failed
    print('timing: %d runs in %.1f s (vipwire check %.1f s, inject+read %.1f s: %d hops, '
          '%.0f/s)' % (st.runs, total, t_check, st.t['inject'], n,
                       n / st.t['inject'] if st.t['inject'] else 0))
    print('kernel settings (defaults, untouched): %s' % ', '.join(
        '%s=%s' % kv for kv in sorted(sysctls.items())))
    print('OVS datapath emulation: %s' % (
        'on (TCP connections made BE_LIBERAL once confirmed, ESTABLISHED and ASSURED, as '
        '__ovs_ct_lookup does: %d)' % st.liberal if ovs else
        'off (--netfilter-only: plain netfilter conntrack)'))
    print('states (model -> kernel): %s' % (', '.join(
        '%s->%s %d' % (m, k, c) for (m, k), c in sorted(st.pairs.items())) or 'none'))
    print('commits: model committed %d hops (kernel %s), did not commit %d (kernel %s); '
          'NEW on an entry that already existed: %d' % (
              sum(c for (m, _), c in st.commits.items() if m),
              ', '.join('%s %d' % (k, c) for (m, k), c in sorted(st.commits.items()) if m),
              sum(c for (m, _), c in st.commits.items() if not m),
              ', '.join('%s %d' % (k, c) for (m, k), c in sorted(st.commits.items()) if not m),
              st.existing))
    print('ESTABLISHED directions compared (where the model\'s flows show them): %s' % (
        ', '.join('model %s -> kernel %s %d' % (m, k, c) for (m, k), c in
                  sorted(st.dirs.items())) or 'none'))
    print('DR half-flow INVALID hops (client packet in the director\'s zone after its '
          'forwarded copy): model %d, kernel confirmed %d' % (st.dr_model, st.dr_confirmed))
    if st.skipped_v6:
        print('not replayed: %d IPv6 hops' % st.skipped_v6)
    print('%d passed, %d failed' % (st.passed, st.failed))
    return 1 if st.failed else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--count', type=int, default=10, help='random variants (default 10)')
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--first', type=int, default=0, help='index of the first variant')
    ap.add_argument('--no-builtin', action='store_true',
                    help='skip the built-in scenario and its --fix recheck')
    ap.add_argument('--vipwire', help='vipwire binary (default $VIPWIRE, then '
                    'target/release/vipwire)')
    ap.add_argument('--show', type=int, default=5, help='details of at most N '
                    'disagreements per run')
    ap.add_argument('--failures', default=os.path.join(tempfile.gettempdir(),
                                                       'ovnct-failures'),
                    help='write a reproduction per disagreeing run here '
                    '(default $TMPDIR/ovnct-failures)')
    ap.add_argument('--netfilter-only', action='store_true',
                    help='do not emulate what the OVS kernel module adds to conntrack '
                    '(BE_LIBERAL on established TCP connections); plain netfilter')
    ap.add_argument('--trace', nargs=2, action='append', metavar=('CLOUD', 'FRAMES'),
                    help='also replay `vipwire trace --driver ovn --neutron CLOUD --packets '
                    'FRAMES` (repeatable; hand-written conversations)')
    ap.add_argument('--probes', action='store_true',
                    help='also replay the hand-written conversations in conformance/ovnct/probes/ '
                    '(each names its cloud in a `# cloud: PATH` line, relative to the repository)')
    ap.add_argument('--keep', metavar='DIR', help='write every run\'s hops with the '
                    'kernel\'s states to DIR/<run>.json')
    ap.add_argument('--replay', nargs='+', metavar='FILE',
                    help='replay saved reproductions instead (no vipwire needed)')
    args = ap.parse_args()
    if not args.replay:
        args.vipwire = find_vipwire(args.vipwire)
        if not args.vipwire:
            print('error: no vipwire binary: cargo build --release -p vipwire, or set VIPWIRE '
                  'or --vipwire', file=sys.stderr)
            return 2
    if os.geteuid() != 0:
        print('SKIP: the ovnct harness needs root (network namespaces, conntrack)')
        print('0 passed, 0 failed')
        return 0
    start = time.monotonic()
    tag = str(os.getpid())
    lab = CtLab(tag)
    work = tempfile.mkdtemp(prefix='ovnct-')

    def cleanup():
        try:
            lab.destroy()
        finally:
            # whatever state the lab object is in: every namespace of this run goes
            out = subprocess.run(['ip', 'netns', 'list'], capture_output=True,
                                 text=True).stdout
            for line in out.splitlines():
                if line.startswith('vwct-%s-' % tag):
                    subprocess.run(['ip', 'netns', 'del', line.split()[0]],
                                   capture_output=True)
            subprocess.run(['rm', '-rf', work])
    atexit.register(cleanup)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *a: sys.exit(143))
    sweep_stale_namespaces()
    # One CPU: a frame and the barrier after it share one backlog queue.
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    runner = Runner(args, lab)
    t_check = 0.0
    try:
        if args.replay:
            todo = replay_inputs(args.replay)
        else:
            todo, t_check = inputs(args, work)
        lab.create()
        runner.self_check()
        for label, hops in todo:
            runner.run(label, hops)
            if args.keep:
                os.makedirs(args.keep, exist_ok=True)
                with open(os.path.join(args.keep, re.sub(r'[^A-Za-z0-9_.-]+', '_', label) +
                                       '.json'), 'w') as fh:
                    json.dump(hops, fh, indent=1, default=str)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except (SetupError, RuntimeError, OSError, json.JSONDecodeError) as e:
        print('SETUP ERROR: %s' % e)
        print('%d passed, %d failed' % (runner.st.passed, runner.st.failed))
        return 2
    except Exception:  # a harness bug is a set-up problem, not a disagreement
        import traceback
        traceback.print_exc(file=sys.stdout)
        print('SETUP ERROR: harness failure (above)')
        print('%d passed, %d failed' % (runner.st.passed, runner.st.failed))
        return 2
    finally:
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            signal.signal(sig, signal.SIG_IGN)  # let the clean-up finish
        cleanup()
    return finish(runner.st, start, t_check, lab.sysctls, runner.ovs)


if __name__ == '__main__':
    sys.exit(main())
