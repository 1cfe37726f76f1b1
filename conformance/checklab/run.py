#!/usr/bin/env python3
"""The real kernel vs `vipwire check`, per packet and per flow.

    run.py [--count N] [--seed S] [--keep DIR] [--vipwire BIN] [--show N]
    run.py --replay DIR... [--record]  # saved variants (cases/, regressions/) on the kernel
    run.py --recorded DIR...           # no root: fresh `vipwire check` vs stored kernel.json

For the fixed cases in cases/ and N seeded random variants of the field
report's cloud (variants.py): `vipwire check --format json` simulates every
packet of the load balancer's life; then the variant's ports are plumbed the
way Neutron's iptables_hybrid driver plumbs them (conformance/kernel/lab.py:
VM -- tap -- qbr -- qvb == qvo -- br-int, all on one compute-host namespace,
the router's port straight on br-int), the rules `vipwire rules` renders for
that host are loaded, and every IP packet check sent is replayed in check's
order as a real frame from the sender VM, with one conntrack across all flows
as in check. A packet agrees when the kernel delivered it to the receiving VM
exactly when check says PASS; when both drop, the drop must be on the same
side (sender's egress or receiver's ingress) and the kernel's counter must
move on the rule check names; for a unicast frame the rules the kernel
counted must equal check's hops (up to what the one-host lab explains). ARP
steps are OpenFlow on a real host (the OVS agent's ARP spoofing protection),
not iptables: they are counted as not verified on the kernel. Ends with
`N passed, M failed` (IP packets); exit 1 on any disagreement, 2 on a set-up
problem. Needs root; SKIP without it. See docs/conformance-kernel.md.
"""

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, 'conformance', 'kernel'))
sys.path.insert(0, HERE)

from compare import delta, parse_counters  # noqa: E402
from frames import FLAG_BITS, barrier_frame, build_frame  # noqa: E402
from lab import Lab, NetnsSocket, dev_names, ip_batch, sh  # noqa: E402
from variants import name_of, one_host, variant, write  # noqa: E402

LAB_HOST = 'checklab-host'
CASES = os.path.join(HERE, 'cases')


class SetupError(Exception):
    """A problem with the harness or its inputs, not a disagreement (exit 2)."""


# -- check's packets as frames ---------------------------------------------

def mac_text(m):
    if isinstance(m, str):
        return m.lower()
    return ':'.join('%02x' % b for b in m)


def flag_letters(bits):
    return ''.join(c for c, b in FLAG_BITS.items() if bits & b) or 'none'


def frame_fields(payload):
    """conformance/kernel/frames.py fields of one IP payload of check's JSON."""
    p = payload
    f = {'smac': mac_text(p['src_mac']), 'dmac': mac_text(p['dst_mac']),
         'src': p['src'], 'dst': p['dst'], 'proto': int(p['proto']),
         'sport': p.get('sport', 0), 'dport': p.get('dport', 0),
         'flags': flag_letters(p.get('tcp_flags', 0)), 'seq': p.get('seq', 0),
         'ack': p.get('ack', 0), 'win': p.get('window', 0), 'len': p.get('payload_len', 0),
         'icmp_type': p.get('icmp_type', 0), 'icmp_code': p.get('icmp_code', 0),
         'icmp_id': p.get('icmp_id', 0), 'ttl': p.get('ttl', 64)}
    if p.get('inner'):
        f['inner'] = p['inner']
    return f


def is_multicast(mac):
    return bool(int(mac.split(':')[0], 16) & 1)


VIA = re.compile(r' via (\S+) to (\S+)')


def features(flow, pkt):
    """Tags of one IP packet for the run's tally of keepalived features:
    AH adverts (protocol 51), frames from or to the VRRP MAC (use_vmac),
    conversations with a director that is its own real server, with the sorry
    server, and each health checker kind."""
    p = pkt['payload']
    tags = []
    if int(p['proto']) == 51:
        tags.append('AH')
    if any(mac_text(p[k]).startswith('00:00:5e:00:01:') for k in ('src_mac', 'dst_mac')):
        tags.append('VRRP MAC')
    m = VIA.search(flow['name'])
    if m and m.group(1) == m.group(2):
        tags.append('own real server')
    if '(sorry server' in flow['name']:
        tags.append('sorry server')
    if flow.get('category') == 'health-check':
        tags.append(flow['name'].split()[0])
    return tags


# -- the lab ----------------------------------------------------------------

class CheckLab(Lab):
    """lab.Lab (VM ports with hybrid plumbing on one host namespace) plus
    network-owned ports (the tenant router) plugged straight into br-int, as
    the L3 agent's qr- devices are: no qbr, no iptables."""

    def __init__(self, tag, vm_ports, direct_ports, backend='nft'):
        super().__init__(tag, vm_ports, backend)
        self.direct = direct_ports
        self.direct_ns = ['vwk-%s-net%d' % (tag, i) for i in range(len(direct_ports))]
        self.direct_sock = []
        self.index = {p['id']: i for i, p in enumerate(vm_ports + direct_ports)}
        self.own_macs = {p['mac'].lower() for p in vm_ports + direct_ports}
        self.steered = {}  # MAC no port owns (use_vmac's VRRP MAC) -> br-int port

    def br_int_dev(self, i):
        """br-int's device for port index `i`: qvo<id>, or qr-<id> for a network port."""
        n = len(self.ports)
        return dev_names(self.ports[i]['id'])['qvo'] if i < n else \
            'qr-' + self.direct[i - n]['id'][:11]

    def steer(self, mac, receiver):
        """Forward unicast frames to `mac`, a MAC no lab port owns (keepalived's
        use_vmac: 00:00:5e:00:01:<VRID>), to port `receiver`. On a real host
        OVS's br-int learns it from the holder's gratuitous ARP and adverts, and
        learns it again on failover; the lab's bridges learn nothing (spoofed
        source MACs must not move entries), so the entry is set by hand. Without
        it br-int would flood the frame through every other port's qbr."""
        dev = self.br_int_dev(receiver)
        if self.steered.get(mac) != dev:
            sh(['bridge', '-n', self.host, 'fdb', 'replace', mac, 'dev', dev, 'master',
                'static'])
            self.steered[mac] = dev

    def create(self):
        super().create()
        if not self.direct:
            return
        ip_batch(['netns add ' + ns for ns in self.direct_ns])
        cmds, fdb = [], []
        for i, p in enumerate(self.direct):
            dev = 'qr-' + p['id'][:11]
            ns = self.direct_ns[i]
            sh(['sysctl', '-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1',
                'net.ipv6.conf.default.disable_ipv6=1'], ns=ns)
            cmds += ['link add %s type veth peer name eth0 netns %s' % (dev, ns),
                     'link set %s master br-int' % dev,
                     'link set %s multicast off up' % dev,
                     'link set dev %s type bridge_slave learning off' % dev]
            fdb.append('fdb add %s dev %s master static' % (p['mac'], dev))
        ip_batch(cmds, ns=self.host)
        for p, ns in zip(self.direct, self.direct_ns):
            ip_batch(['link set eth0 address %s' % p['mac'], 'link set eth0 multicast off up'],
                     ns=ns)
        sh(['bridge', '-n', self.host, '-batch', '-'], input='\n'.join(fdb) + '\n')
        for ns in self.direct_ns:
            s = NetnsSocket(ns).packet_socket('eth0')
            s.setblocking(False)
            self.direct_sock.append(s)
        time.sleep(0.02)
        self.drain()

    def destroy(self):
        for s in self.direct_sock:
            s.close()
        self.direct_sock = []
        for ns in self.direct_ns:
            subprocess.run(['ip', 'netns', 'del', ns], capture_output=True)
        super().destroy()

    def drain(self):
        super().drain()
        for s in self.direct_sock:
            while True:
                try:
                    s.recv(65535)
                except BlockingIOError:
                    break

    def _sock(self, i):
        n = len(self.ports)
        return self.vm_sock[i] if i < n else self.direct_sock[i - n]

    def send(self, sender, receiver, frame, marker, seq, smac, dmac):
        """Send `frame` from port index `sender`, then a barrier frame to the
        same MAC. Returns (left the sender's qbr, reached the receiver); a
        network-owned sender has no qbr (True); no receiver: None."""
        if receiver is not None and not is_multicast(dmac) and dmac not in self.own_macs:
            self.steer(dmac, receiver)
        self.drain()
        out = self._sock(sender)
        out.send(frame)
        out.send(barrier_frame(smac, dmac, seq))
        if sender < len(self.ports):
            passed = self._wait(self.qvo_sock[sender], marker, seq, incoming=True)
        else:
            passed = True
        delivered = None
        if receiver is not None:
            delivered = self._wait(self._sock(receiver), marker, seq, incoming=True)
        return passed, delivered


def lab_ports(cloud):
    """(VM ports, network-owned ports) as lab dicts, VM ports by ascending id."""
    vm, net = [], []
    for p in sorted(cloud['ports'], key=lambda p: p['id']):
        d = {'id': p['id'], 'mac': p['mac_address'].lower(), 'name': p.get('name', '')}
        (net if p.get('device_owner', '').startswith('network:') else vm).append(d)
    return vm, net


# -- comparison (pure: no root) --------------------------------------------

ZONE = re.compile(r'--zone \d+')


def norm_key(table, chain, text):
    return (table, chain, ZONE.sub('--zone N', text))


def check_path(pkt, lab_ids):
    """Counter of (table, chain, text) over check's hops on the lab's hybrid ports."""
    c = Counter()
    for hop in pkt.get('hops', []):
        if hop['port_id'] not in lab_ids:
            continue
        for s in hop['trace'].get('path', []):
            if s['kind'] == 'rule':
                c[norm_key(s['table'], s['chain'], s['rule_text'])] += 1
            elif s['kind'] == 'policy':
                c[(s['table'], s['chain'], 'policy')] += 1
    return c


def kernel_path(counted, texts):
    c = Counter()
    for key, n in counted.items():
        if key[2] == 'policy':
            c[key] += n
        else:
            c[norm_key(key[0], key[1], texts.get(key, '?'))] += n
    return c


def check_fw_pass(pkt):
    """check's firewall verdict: PASS, or a drop by the guest itself (`host`:
    the frame was delivered, the real server's kernel refuses it)."""
    d = pkt.get('drop')
    return pkt['outcome'] == 'PASS' or (d is not None and d.get('kind') == 'host')


def compare_packet(pkt, kern):
    """Problems (list of strings, empty = agree) of one replayed IP packet.
    kern: {'passed', 'delivered', 'counted': {key: n}, 'texts': {key: text}}."""
    problems = []
    want = check_fw_pass(pkt)
    got = kern['delivered'] if pkt.get('to_port') else kern['passed']
    if want != bool(got):
        problems.append('verdict')
        return problems
    if want:
        return problems
    d = pkt['drop']
    side = 'ingress' if kern['passed'] else 'egress'
    if d.get('side') and d['side'] != side:
        problems.append('drop side')
    counted = kernel_path(kern['counted'], kern['texts'])
    if d.get('rule_text', '').startswith('-A '):
        key = norm_key(d['table'], d['chain'], d['rule_text'])
    else:
        key = (d.get('table'), d.get('chain'), 'policy')
    if not counted.get(key):
        problems.append('drop rule')
    return problems


class Ctx:
    """What the path comparison needs to know about a variant's lab: the
    hybrid-plugged port ids, the ports without a conntrack zone (port security
    off), and the tables of the loaded ruleset (iptables-legacy also counts the
    policies of a table the ruleset does not have, e.g. mangle)."""

    def __init__(self, lab_ids, nozone, tables):
        self.lab_ids, self.nozone, self.tables = set(lab_ids), set(nozone), set(tables)


def ruleset_tables(text):
    return {line[1:].strip() for line in text.splitlines() if line.startswith('*')}


def path_differs(pkt, kern, ctx):
    """The multiset of rules check's hops went through vs the kernel's counter
    deltas, both on the lab's hybrid ports and the ruleset's tables (unicast
    frames only: a multicast frame also crosses every other port's ingress on
    the kernel)."""
    if is_multicast(mac_text(pkt['payload']['dst_mac'])):
        return None
    a = check_path(pkt, ctx.lab_ids)
    b = Counter({k: n for k, n in kernel_path(kern['counted'], kern['texts']).items()
                 if k[0] in ctx.tables})
    if a == b:
        return None
    return {k: (a.get(k, 0), b.get(k, 0)) for k in set(a) | set(b) if a.get(k, 0) != b.get(k, 0)}


def path_explained(pd, pkt, nozone):
    """A path difference the one-host lab causes by itself: ports without port
    security have no CT zone rule, so on one host they all share zone 0, and
    a crossing of one of them may meet the entry another one's crossing made
    (on separate hosts: separate tables). That changes only which packet is
    a conntrack's first, i.e. which packets the nat table sees
    (docs/conformance-kernel.md, nat-only-first-packet-of-conntrack)."""
    ends = {pkt.get('from_port'), pkt.get('to_port')}
    return (len(nozone) >= 2 and ends & nozone and all(k[0] == 'nat' for k in pd))


def replay_plan(check):
    """[(flow, [(packet index, packet)])]: check's IP packets in check's order.
    ARP steps are not replayed; a flow ends at its first drop (what follows is
    SKIPPED in check)."""
    plan = []
    for flow in check['check']['flows']:
        steps = []
        for i, p in enumerate(flow['packets']):
            if p['outcome'] == 'SKIPPED':
                break
            steps.append((i, p))
        plan.append((flow, steps))
    return plan


# -- one variant ------------------------------------------------------------

class Stats:
    def __init__(self):
        self.variants = self.var_failed = 0
        self.passed = self.failed = 0
        self.arp = self.arp_drop = 0
        self.flows = self.flows_agree = 0
        self.check_flows = Counter()
        self.kinds = Counter()
        self.outcomes = Counter()
        self.paths = self.path_diff = self.path_explained = 0
        self.host_drops = 0
        self.features = Counter()  # (tag, check's verdict): IP packets replayed
        self.t = Counter()


def run_check(vipwire, scenario, stats):
    t = time.monotonic()
    r = subprocess.run([vipwire, 'check', scenario, '--format', 'json'],
                       capture_output=True, text=True)
    stats.t['check'] += time.monotonic() - t
    if r.returncode not in (0, 1):
        raise SetupError('vipwire check %s: exit %d: %s' % (scenario, r.returncode,
                                                            r.stderr.strip()[:2000]))
    return json.loads(r.stdout)


def host_rules(vipwire, cloud, d, stats):
    """`vipwire rules` for LAB_HOST of the cloud with every VM port there."""
    t = time.monotonic()
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, 'neutron-one-host.json')
    with open(path, 'w') as f:
        json.dump(one_host(cloud, LAB_HOST), f, indent=1)
    out = os.path.join(d, 'rules')
    r = subprocess.run([vipwire, 'rules', '--neutron', path, '--host', LAB_HOST, '--out', out],
                       capture_output=True, text=True)
    stats.t['rules'] += time.monotonic() - t
    if r.returncode != 0:
        raise SetupError('vipwire rules %s: exit %d: %s' % (path, r.returncode,
                                                            r.stderr.strip()[:2000]))
    texts = []
    for f in ('iptables.txt', 'ip6tables.txt', 'ipset.txt'):
        p = os.path.join(out, f)
        texts.append(open(p).read() if os.path.exists(p) else '')
    return texts


class Runner:
    def __init__(self, args):
        self.args = args
        self.stats = Stats()
        self.labs = {}
        self.n_labs = 0
        self.seq = 0
        self.tag = 'cl%d' % os.getpid()

    def lab_for(self, cloud):
        vm, net = lab_ports(cloud)
        key = json.dumps([vm, net], sort_keys=True)
        if key not in self.labs:
            for old in list(self.labs.values()):
                old.__exit__(None, None, None)
            self.labs.clear()
            t = time.monotonic()
            self.n_labs += 1
            lab = CheckLab('%s-%d' % (self.tag, self.n_labs), vm, net, self.args.backend)
            lab.__enter__()
            self.labs[key] = lab
            self.stats.t['plumbing'] += time.monotonic() - t
        return self.labs[key]

    def close(self):
        for lab in self.labs.values():
            lab.__exit__(None, None, None)
        self.labs.clear()

    def variant(self, d, summary):
        """Run the variant in directory `d`; returns the number of disagreements."""
        a, st = self.args, self.stats
        check = run_check(a.vipwire, os.path.join(d, 'scenario.yaml'), st)
        with open(os.path.join(d, 'check.json'), 'w') as f:
            json.dump(check, f, indent=1)
        with open(os.path.join(d, 'neutron.json')) as f:
            cloud = json.load(f)
        ipt4, ipt6, ipset = host_rules(a.vipwire, cloud, d, st)
        lab = self.lab_for(cloud)
        t = time.monotonic()
        lab.load(ipt4, ipt6, ipset)
        snap = parse_counters(lab.save(False))[0]
        st.t['load'] += time.monotonic() - t
        lab_ids = {p['id'] for p in lab.ports}
        ctx = Ctx(lab_ids, {p['id'] for p in cloud['ports'] if p['id'] in lab_ids and
                            p.get('port_security_enabled') is False}, ruleset_tables(ipt4))
        t = time.monotonic()
        observed, report, rules = [], [], {}
        n_pkt = n_bad = n_arp = 0
        flows_agree = 0
        for flow, steps in replay_plan(check):
            flow_bad = False
            st.check_flows[flow['outcome']] += 1
            for i, pkt in steps:
                if pkt['payload']['type'] == 'arp':
                    n_arp += 1
                    st.arp += 1
                    st.arp_drop += pkt['outcome'] == 'DROP'
                    continue
                if pkt['outcome'] == 'DROP' and check_fw_pass(pkt):
                    st.host_drops += 1
                kern = self.inject(lab, pkt, snap)
                snap = kern.pop('snap')
                problems, pd = judge(pkt, kern, ctx, st)
                n_pkt += 1
                fate = ('delivered' if (kern['delivered'] if pkt.get('to_port') else
                                        kern['passed'])
                        else 'dropped at ingress' if kern['passed'] else 'dropped at egress')
                st.outcomes['check %s, kernel %s' % (
                    'PASS' if check_fw_pass(pkt) else 'DROP', fate)] += 1
                for tag in features(flow, pkt):
                    st.features[(tag, 'PASS' if check_fw_pass(pkt) else 'DROP')] += 1
                observed.append({'flow': flow['name'], 'packet': i, 'what': pkt['what'],
                                 'passed': kern['passed'], 'delivered': kern['delivered'],
                                 'counted': sorted('%s:%s:%s x%d' % (k + (n,)) for k, n in
                                                   kern['counted'].items())})
                for k in kern['counted']:
                    rules['%s:%s:%s' % k] = kern['texts'].get(k, '')
                if problems:
                    n_bad += 1
                    flow_bad = True
                    st.kinds['+'.join(problems)] += 1
                    report.append(describe(flow, pkt, kern, problems, fate, pd))
                elif pd is not None and a.show_paths:
                    report.append(describe_path(flow, pkt, pd, explained=True))
            st.flows += 1
            flows_agree += not flow_bad
        st.flows_agree += flows_agree
        st.t['inject'] += time.monotonic() - t
        with open(os.path.join(d, 'kernel.json'), 'w') as f:
            f.write(kernel_json(rules, observed, ctx))
        st.variants += 1
        st.passed += n_pkt - n_bad
        st.failed += n_bad
        st.var_failed += bool(n_bad)
        nflows = len(check['check']['flows'])
        npass = sum(f['outcome'] == 'PASS' for f in check['check']['flows'])
        print('%s variant %s (%s): %d IP packets, %d agree; %d ARP steps not verified on '
              'the kernel (OpenFlow); flows: check %d/%d PASS, kernel agrees on %d/%d'
              % ('FAIL' if n_bad else 'PASS', os.path.basename(d.rstrip('/')), summary,
                 n_pkt, n_pkt - n_bad, n_arp, npass, nflows, flows_agree, nflows), flush=True)
        for block in report[:a.show]:
            print(block)
        if len(report) > a.show:
            print('  ... %d more (--show N)' % (len(report) - a.show))
        return n_bad

    def inject(self, lab, pkt, snap):
        fields = frame_fields(pkt['payload'])
        self.seq += 1
        marker = self.seq % 65535 + 1
        frame = build_frame(fields, marker)
        try:
            sender = lab.index[pkt['from_port']]
            receiver = lab.index[pkt['to_port']] if pkt.get('to_port') else None
        except KeyError as e:
            raise SetupError('port %s of packet %r is not in the lab' % (e, pkt['what']))
        try:
            passed, delivered = lab.send(sender, receiver, frame, marker, self.seq,
                                         fields['smac'], fields['dmac'])
        except RuntimeError as e:
            raise SetupError('lab: %s (packet %r)' % (e, pkt['what']))
        cnt, texts = parse_counters(lab.save(False))
        return {'passed': passed, 'delivered': delivered, 'counted': delta(snap, cnt),
                'texts': texts, 'snap': cnt}

def judge(pkt, kern, ctx, st):
    """(problems, path difference) of one replayed IP packet; counts paths in st.
    Verdicts first (compare_packet); for a unicast frame whose verdict agrees,
    the rules the kernel counted must equal check's hops on the lab's ports,
    unless the one-host lab explains the difference (path_explained)."""
    problems = compare_packet(pkt, kern)
    pd = None
    if not problems and not is_multicast(mac_text(pkt['payload']['dst_mac'])):
        st.paths += 1
        pd = path_differs(pkt, kern, ctx)
        if pd is not None and path_explained(pd, pkt, ctx.nozone):
            st.path_explained += 1
        elif pd is not None:
            st.path_diff += 1
            problems.append('path')
    return problems, pd


def describe(flow, pkt, kern, problems, fate, pd=None):
    d = pkt.get('drop') or {}
    if pkt['outcome'] == 'PASS':
        cv = 'PASS'
    else:
        cv = 'DROP (%s, %s) at %s:%s rule %s: %s' % (
            d.get('kind'), d.get('side'), d.get('table'), d.get('chain'),
            d.get('rule_num'), d.get('rule_text', ''))
    lines = ['  DISAGREE [%s] flow %r packet %r' % (', '.join(problems), flow['name'],
                                                     pkt['what']),
             '     check : %s' % cv,
             '     kernel: %s; counters moved:' % fate]
    for k, n in sorted(kern['counted'].items(), key=lambda kv: str(kv[0])):
        lines.append('        %s:%s:%s x%d  %s' % (k + (n, kern['texts'].get(k, ''))))
    if pd is not None:
        lines.append(describe_path(flow, pkt, pd))
    return '\n'.join(lines)


def describe_path(flow, pkt, pd, explained=False):
    lines = ['  path differs%s: flow %r packet %r; (check hops, kernel counters):'
             % (' (explained: zone 0 shared on one host)' if explained else '',
                flow['name'], pkt['what'])]
    for k, v in sorted(pd.items(), key=str):
        lines.append('        %s:%s %s  %s' % (k[0], k[1], v, k[2]))
    return '\n'.join(lines)


def summary_text(d):
    p = os.path.join(d, 'variant.json')
    if not os.path.exists(p):
        with open(os.path.join(d, 'scenario.yaml')) as f:
            first = f.readline().strip()
        return first.lstrip('# ').rstrip('.:') if first.startswith('#') else 'saved variant'
    with open(p) as f:
        v = json.load(f)
    pairs = v.get('pairs', {})
    short = ' '.join('%s=%s' % (k.replace('director-', 'd').replace('rs-', 'rs').replace(
        'client-', 'c'), pairs[k]) for k in pairs)
    off = v.get('port_security_off') or []
    return '%s %s, clients %s, groups %s%s, hosts %s, pairs %s%s%s' % (
        v.get('service'), v.get('checker'), v.get('clients'), v.get('groups'),
        ' (stateless %s)' % ','.join(v['stateless']) if v.get('stateless') else '',
        v.get('hosts'), short, ', port security off: ' + ','.join(off) if off else '',
        ext_text(v.get('ext')))


def ext_text(ext):
    """variants.py's extensions, short: `; use_vmac d1,d2 (VMAC pairs d1=vip d2=any),
    auth AH (rule ah-group), own real server d1, checkers DNS_CHECK+PING_CHECK (rule
    ...), sorry rs-4`."""
    if not ext:
        return ''

    def short(n):
        return n.replace('director-', 'd')
    parts = []
    if ext.get('use_vmac') or ext.get('vmac_pairs'):
        pairs = ext.get('vmac_pairs') or {}
        parts.append('use_vmac %s%s' % (','.join(map(short, ext.get('use_vmac', []))) or 'none',
                                        ' (VMAC pairs %s)' % ' '.join(
                                            '%s=%s' % (short(k), pairs[k]) for k in pairs)
                                        if pairs else ''))
    if ext.get('auth') or ext.get('vrrp_rule'):
        parts.append('auth %s%s' % (ext.get('auth', 'PASS'), ' (rule %s)' % ext['vrrp_rule']
                               if ext.get('vrrp_rule') else ''))
    if ext.get('local_rs'):
        parts.append('own real server %s' % ','.join(map(short, ext['local_rs'])))
    if ext.get('checkers'):
        parts.append('checkers %s%s' % ('+'.join(ext['checkers']), ' (rule %s)' %
                                        ext['checker_rule'] if ext.get('checker_rule') else ''))
    if ext.get('sorry_server'):
        parts.append('sorry %s' % ext['sorry_server'])
    return '; ' + ', '.join(parts)


# -- recorded mode (no root) --------------------------------------------------

def kernel_json(rules, observed, ctx):
    """kernel.json: the kernel's observations of one variant, one packet a line.
    rules: {"table:chain:num": rule text} of every counter that moved;
    packets: per replayed IP packet (flow name, index in the flow, what), whether
    it left the sender's qbr (passed), reached the receiver (delivered), and the
    counters that moved ("table:chain:num xN"); lab_ports: the hybrid-plugged
    ports (ids); tables: those of the loaded IPv4 ruleset."""
    lines = ['{"lab_host": %s,' % json.dumps(LAB_HOST),
             ' "lab_ports": %s,' % json.dumps(sorted(ctx.lab_ids)),
             ' "tables": %s,' % json.dumps(sorted(ctx.tables)),
             ' "rules": %s,' % json.dumps(rules, indent=1, sort_keys=True).replace('\n', '\n '),
             ' "packets": [']
    lines += ['  %s%s' % (json.dumps(o), ',' if k + 1 < len(observed) else '')
              for k, o in enumerate(observed)]
    return '\n'.join(lines) + '\n ]}\n'


def parse_observed(o, rules):
    """kernel.json packet -> the dict compare_packet takes."""
    counted, texts = {}, {}
    for item in o['counted']:
        key, num = item.rsplit(' x', 1)
        t, ch, rn = key.split(':', 2)
        k = (t, ch, rn if rn == 'policy' else int(rn))
        counted[k] = int(num)
        texts[k] = rules.get(key, '')
    return {'passed': o['passed'], 'delivered': o['delivered'], 'counted': counted,
            'texts': texts}


def compare_recorded(check, kernel, nozone, st):
    """(compared, [problem lines]) of a fresh check report vs a kernel.json."""
    obs = {(o['flow'], o['packet']): o for o in kernel['packets']}
    ctx = Ctx(kernel['lab_ports'], nozone, kernel['tables'])
    n, bad = 0, []
    for flow, steps in replay_plan(check):
        for i, pkt in steps:
            if pkt['payload']['type'] == 'arp':
                continue
            o = obs.get((flow['name'], i))
            if o is None or o['what'] != pkt['what']:
                bad.append('  not recorded: flow %r packet %d %r' % (flow['name'], i, pkt['what']))
                continue
            n += 1
            kern = parse_observed(o, kernel['rules'])
            problems, pd = judge(pkt, kern, ctx, st)
            if problems:
                fate = ('delivered' if (o['delivered'] if pkt.get('to_port') else o['passed'])
                        else 'dropped at ingress' if o['passed'] else 'dropped at egress')
                bad.append(describe(flow, pkt, kern, problems, fate, pd))
    return n, bad


def replay_recorded(args):
    """Fresh `vipwire check` on saved variants vs the kernel observations
    stored in their kernel.json (no kernel, no root). A packet check now sends
    that the kernel never saw counts as a failure (re-record with --record)."""
    st = Stats()
    for d in args.recorded:
        check = run_check(args.vipwire, os.path.join(d, 'scenario.yaml'), st)
        with open(os.path.join(d, 'kernel.json')) as f:
            kernel = json.load(f)
        with open(os.path.join(d, 'neutron.json')) as f:
            nozone = {p['id'] for p in json.load(f)['ports']
                      if p.get('port_security_enabled') is False}
        n, bad = compare_recorded(check, kernel, nozone, st)
        for block in bad[:args.show]:
            print(block)
        st.passed += n - sum(1 for b in bad if 'DISAGREE' in b)
        st.failed += len(bad)
        print('%s recorded %s: %d IP packets compared, %d problems' % (
            'FAIL' if bad else 'PASS', os.path.basename(d.rstrip('/')), n, len(bad)))
    print('%d passed, %d failed' % (st.passed, st.failed))
    return 1 if st.failed else 0


# -- main -------------------------------------------------------------------

def sweep_stale_namespaces():
    """Delete namespaces an earlier checklab run left behind: `vwk-cl<pid>-*`
    whose process <pid> no longer exists (one killed with SIGKILL cannot clean
    up). Names of live runs are left alone."""
    out = subprocess.run(['ip', 'netns', 'list'], capture_output=True, text=True).stdout
    for line in out.splitlines():
        m = re.match(r'(vwk-cl(\d+)-\S+)', line)
        if m and not os.path.exists('/proc/%s' % m.group(2)):
            print('removing namespace %s left by an earlier run (pid %s is gone)'
                  % (m.group(1), m.group(2)))
            subprocess.run(['ip', 'netns', 'del', m.group(1)], capture_output=True)


def find_vipwire(arg):
    for c in (arg, os.environ.get('VIPWIRE'), os.path.join(ROOT, 'target/release/vipwire')):
        if c and os.access(c, os.X_OK):
            return c
    return None


def finish(st, start):
    total = time.monotonic() - start
    n = st.passed + st.failed
    print('timing: %d variants in %.1f s (plumbing %.1f s, vipwire check %.1f s, vipwire '
          'rules %.1f s, rule loads %.1f s, inject+count %.1f s: %d IP packets, %.0f/s)' % (
              st.variants, total, st.t['plumbing'], st.t['check'], st.t['rules'], st.t['load'],
              st.t['inject'], n, n / st.t['inject'] if st.t['inject'] else 0))
    print('coverage: %s; %d ARP steps not verified on the kernel (OpenFlow: the OVS agent\'s '
          'ARP spoofing protection; %d of them DROP in check, ending their flow); '
          '%d host refusals (delivered; the guest refuses)' % (
              ', '.join('%s %d' % kv for kv in sorted(st.outcomes.items())) or 'nothing',
              st.arp, st.arp_drop, st.host_drops))
    if st.features:
        tags = sorted({t for t, _ in st.features})
        print('features (IP packets replayed, check PASS/DROP): ' + ', '.join(
            '%s %d/%d' % (t, st.features[(t, 'PASS')], st.features[(t, 'DROP')]) for t in tags))
    print('flows: %d replayed (check: %s), kernel agrees on %d; variants: %d, %d with '
          'disagreements' % (st.flows, ', '.join('%s %d' % kv for kv in
                                                  sorted(st.check_flows.items())),
                             st.flows_agree, st.variants, st.var_failed))
    print('paths (unicast packets with agreeing verdicts): %d compared; the rules counted '
          'differ from check\'s hops on %d (disagreements), plus %d explained by the one-host '
          'lab (zone 0 shared by ports without port security; nat only)' % (
              st.paths, st.path_diff, st.path_explained))
    if st.kinds:
        print('disagreements by kind: ' + ', '.join('%s %d' % kv for kv in st.kinds.most_common()))
    print('%d passed, %d failed' % (st.passed, st.failed))
    return 1 if st.failed else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--count', type=int, default=6, help='random variants')
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--first', type=int, default=0, help='index of the first variant')
    ap.add_argument('--keep', metavar='DIR', help='keep every variant with check.json, '
                    'the host rules and kernel.json in DIR/<name>/')
    ap.add_argument('--failures', default=os.path.join(tempfile.gettempdir(),
                                                       'checklab-failures'),
                    help='copy each disagreeing variant here (default $TMPDIR/checklab-failures)')
    ap.add_argument('--vipwire', help='vipwire binary (default $VIPWIRE, then '
                    'target/release/vipwire)')
    ap.add_argument('--backend', choices=['nft', 'legacy'], default='nft')
    ap.add_argument('--show', type=int, default=3, help='details for at most N '
                    'disagreements per variant')
    ap.add_argument('--show-paths', action='store_true',
                    help='also print packets whose counted rules differ from check\'s hops')
    ap.add_argument('--no-cases', action='store_true', help='skip the fixed cases in '
                    'conformance/checklab/cases/ (run before the random variants)')
    ap.add_argument('--replay', nargs='+', metavar='DIR', help='run saved variant '
                    'directories (scenario.yaml, neutron.json, keepalived confs) instead')
    ap.add_argument('--record', action='store_true', help='with --replay: write the '
                    'kernel\'s observations back into each replayed directory (kernel.json)')
    ap.add_argument('--recorded', nargs='+', metavar='DIR', help='no kernel, no root: '
                    'compare a fresh `vipwire check` with the stored kernel.json')
    args = ap.parse_args()
    args.vipwire = find_vipwire(args.vipwire)
    if not args.vipwire:
        print('error: no vipwire binary: cargo build --release -p vipwire, or set VIPWIRE '
              'or --vipwire', file=sys.stderr)
        return 2
    if args.recorded:
        try:
            return replay_recorded(args)
        except SetupError as e:
            print('SETUP ERROR: %s' % e)
            return 2
    if os.geteuid() != 0:
        print('SKIP: the checklab harness needs root (network namespaces)')
        print('0 passed, 0 failed')
        return 0
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *a: sys.exit(143))
    sweep_stale_namespaces()
    # One CPU: a frame and the barrier after it share one backlog queue.
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    start = time.monotonic()
    runner = Runner(args)
    work = args.keep or tempfile.mkdtemp(prefix='checklab-')
    try:
        if args.replay:
            todo = [(d.rstrip('/'), None) for d in args.replay]
        else:
            todo = [] if args.no_cases else [
                (os.path.join(CASES, c), None) for c in sorted(os.listdir(CASES))
                if os.path.isfile(os.path.join(CASES, c, 'scenario.yaml'))]
            todo += [(os.path.join(work, name_of(args.seed, i)), i)
                     for i in range(args.first, args.first + args.count)]
        for d, i in todo:
            if i is not None:
                write(variant(args.seed, i), d)
            elif args.keep:
                dst = os.path.join(args.keep, os.path.basename(d))
                if os.path.abspath(dst) != os.path.abspath(d):
                    shutil.copytree(d, dst, dirs_exist_ok=True)
                d = dst
            else:
                dst = os.path.join(work, os.path.basename(d))
                shutil.copytree(d, dst, dirs_exist_ok=True)
                d = dst
            bad = runner.variant(d, summary_text(d))
            if i is None and args.record and args.replay:
                src = [r for r in args.replay if os.path.basename(r.rstrip('/')) ==
                       os.path.basename(d)][0]
                shutil.copy(os.path.join(d, 'kernel.json'), os.path.join(src, 'kernel.json'))
            if bad and args.failures:
                dst = os.path.join(args.failures, os.path.basename(d))
                shutil.copytree(d, dst, dirs_exist_ok=True)
                print('  saved: %s (python3 conformance/checklab/run.py --replay %s)'
                      % (dst, dst))
    except BrokenPipeError:
        # the reader went away (`| head`): clean up quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except (SetupError, RuntimeError, OSError) as e:
        print('SETUP ERROR: %s' % e)
        print('%d passed, %d failed' % (runner.stats.passed, runner.stats.failed))
        return 2
    finally:
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            signal.signal(sig, signal.SIG_IGN)  # let the clean-up finish
        runner.close()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return finish(runner.stats, start)


if __name__ == '__main__':
    sys.exit(main())
