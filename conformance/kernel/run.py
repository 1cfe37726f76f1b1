#!/usr/bin/env python3
"""Differential test: the real kernel's netfilter verdicts vs `vipwire trace`.

    run.py --count N --seed S [--suite all|drawn|cases] [--vipwire BIN] [--failures DIR]
    run.py --replay conformance/kernel/regressions/*.json [--recorded]

Builds a Neutron iptables_hybrid compute host in network namespaces (lab.py),
then, scenario by scenario: loads a ruleset (the real Neutron rules of a
conformance case, a seeded random Neutron cloud rendered by `vipwire rules`, or a
seeded hand-written ruleset; rulesets.py)
with a flushed conntrack, injects seeded packet
sequences (traffic.py) through AF_PACKET from the VMs, and records per frame
whether it left the sender's qbr, whether it reached the receiving VM, and
which rule counters moved (`iptables-save -c` around every frame). The same
ruleset (the kernel's own iptables-save output) and the frames as packet
lines -- one per qbr crossing -- then go through vipwire trace in one call
per scenario. A packet agrees when every crossing's verdict and the multiset
of counted rules/policies equal vipwire's. Ends with `N passed, M failed`.
Needs root; prints SKIP and exits 0 without it.
"""

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

from compare import delta, fmt_counter, parse_counters, vipwire_steps  # noqa: E402
from frames import build_frame  # noqa: E402
from lab import Lab, dev_names, sh  # noqa: E402
from rulesets import cloud_json, draw_cloud, handwritten_ruleset  # noqa: E402
from traffic import Traffic  # noqa: E402

KV_ORDER = ['smac', 'dmac', 'src', 'dst', 'proto', 'sport', 'dport', 'flags', 'seq', 'ack',
            'win', 'len', 'icmp_type', 'icmp_code', 'icmp_id', 'inner', 'ttl']


def make_ports(rng, n):
    ports, macs = [], set()
    for i in range(n):
        pid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        while True:
            mac = 'fa:16:3e:%02x:%02x:%02x' % tuple(rng.randrange(256) for _ in range(3))
            if mac not in macs:
                macs.add(mac)
                break
        ports.append({'id': pid, 'mac': mac, 'ip4': '203.0.113.%d' % (10 + i),
                      'ip6': '2001:db8::%x' % (0xa + i)})
    return ports


def crossing_line(p, ports, which, t, receiver=None):
    """The kv line for one qbr crossing: 'egress' at the sender's bridge
    (tap -> qvb) or 'ingress' at a receiver's (qvb -> tap)."""
    if which == 'egress':
        d = dev_names(ports[p['a']]['id'])
        dev = ['in=' + d['qbr'], 'out=' + d['qbr'], 'physdev_in=' + d['tap'],
               'physdev_out=' + d['qvb']]
    else:
        d = dev_names(ports[receiver]['id'])
        dev = ['in=' + d['qbr'], 'out=' + d['qbr'], 'physdev_in=' + d['qvb'],
               'physdev_out=' + d['tap']]
    f = ['%s=%s' % (k, p[k]) for k in KV_ORDER if k in p]
    return ' '.join(dev + f + ['t=%.3f' % t, 'path=bridged'])


class Tracer:
    def __init__(self, cmd):
        self.cmd = cmd
        self.kind = 'tracer' if os.path.basename(cmd).startswith('vwk-tracer') else 'vipwire'
        self.seconds = 0.0

    def run(self, rules, ipsets, lines):
        with tempfile.TemporaryDirectory(prefix='vwk-') as d:
            rp, ip, pp = (os.path.join(d, n) for n in ('rules.txt', 'ipset.txt', 'pkts.txt'))
            for path, text in ((rp, rules), (ip, ipsets), (pp, '\n'.join(lines) + '\n')):
                with open(path, 'w') as f:
                    f.write(text)
            if self.kind == 'vipwire':
                args = [self.cmd, 'trace', '--rules', rp, '--packets', pp, '--format', 'json']
                if ipsets.strip():
                    args[4:4] = ['--ipsets', ip]
            else:
                args = [self.cmd, rp, ip if ipsets.strip() else '-', pp]
            t = time.monotonic()
            r = subprocess.run(args, capture_output=True, text=True)
            self.seconds += time.monotonic() - t
        if r.returncode not in (0, 1):
            raise RuntimeError('%s failed (exit %d): %s' % (self.cmd, r.returncode,
                                                            r.stderr.strip()[:2000]))
        out = [json.loads(x) for x in r.stdout.splitlines() if x.strip().startswith('{')]
        if len(out) != len(lines):
            raise RuntimeError('%s printed %d traces for %d packet lines: %s' % (
                self.cmd, len(out), len(lines), r.stderr.strip()[:2000]))
        return out


def find_tracer(arg):
    if arg:
        return arg
    for c in (os.path.join(ROOT, 'target/release/vipwire'),
              os.path.join(ROOT, 'target/release/vwk-tracer')):
        if os.access(c, os.X_OK):
            return c
    return None


class Stats:
    def __init__(self):
        self.passed = self.failed = 0
        self.scenarios = self.scen_failed = self.load_retries = 0
        self.t_load = self.t_pkt = 0.0
        self.ctstates = Counter()
        self.fates = Counter()
        self.kinds = Counter()

    def coverage(self):
        return 'coverage: kernel %s; vipwire ctstate per crossing %s' % (
            ', '.join('%s %d' % kv for kv in sorted(self.fates.items())),
            ', '.join('%s %d' % kv for kv in sorted(self.ctstates.items(), key=str)))


def run_scenario(lab, tracer, sc, stats, args, failures_dir):
    """Load, inject, trace, compare one scenario. Returns number of disagreements."""
    ports = sc['ports']
    t = time.monotonic()
    lab.load(sc['ipt4'], sc['ipt6'], sc['ipset'])
    rules_text = lab.save_plain()
    ipsets_text = sh(['ipset', 'save'], ns=lab.host)
    snap = {}
    for v6 in (False, True):
        snap[v6] = parse_counters(lab.save(v6))[0]
    lab.drain()
    stats.t_load += time.monotonic() - t
    t0 = time.monotonic()
    lines, recs = [], []
    for k, p in enumerate(sc['packets']):
        v6 = ':' in p['src']
        marker = k % 65535 + 1
        frame = build_frame(p, marker)
        tp = time.monotonic() - t0
        receivers = lab.receivers(p)
        passed, delivered = lab.inject(p['a'], receivers, frame, marker, k + 1,
                                       p['smac'], p['dmac'])
        cnt, texts = parse_counters(lab.save(v6))
        d = delta(snap[v6], cnt)
        snap[v6] = cnt
        rec = {'packet': p, 't': tp, 'kernel': [passed] + (delivered if passed else []),
               'receivers': receivers, 'counted': d, 'texts': texts}
        add_lines(rec, lines, ports)
        recs.append(rec)
    stats.t_pkt += time.monotonic() - t0
    # Hand-written rulesets: every other one goes to vipwire as written (ICMP
    # type names, prefixes, hex numbers, `any`), so its parsing meets what the
    # kernel made of the same text; the others get the kernel's iptables-save.
    given = sc['ipt4'] + sc['ipt6'] if sc.get('as_written') else rules_text
    try:
        traces = tracer.run(given, ipsets_text, lines)
    except RuntimeError as e:
        # vipwire refused the input: every packet of the scenario disagrees
        print('FAIL scenario %s: %d packets, vipwire error: %s' % (sc['name'], len(recs), e))
        stats.failed += len(recs)
        stats.scenarios += 1
        stats.scen_failed += 1
        stats.kinds['vipwire error'] += len(recs)
        if failures_dir:
            save_case(failures_dir, sc, recs, None, list(range(len(recs))), rules_text,
                      ipsets_text)
        return len(recs)
    bad = compare_all(sc, recs, traces, lines, stats, args)
    if failures_dir and (bad or args.record):
        save_case(failures_dir, sc, recs, traces, bad, rules_text, ipsets_text)
    return len(bad)


def add_lines(rec, lines, ports):
    """vipwire packet lines for one frame: its egress crossing, then, if the
    kernel let it out, one ingress crossing per receiver in forwarding order."""
    p, t = rec['packet'], rec['t']
    rec['lines'] = [len(lines)]
    lines.append(crossing_line(p, ports, 'egress', t))
    if rec['kernel'][0]:
        for r in rec['receivers']:
            rec['lines'].append(len(lines))
            lines.append(crossing_line(p, ports, 'ingress', t, r))


def compare_all(sc, recs, traces, lines, stats, args):
    """Compare each packet's kernel record with vipwire; print; returns the
    indices that disagree."""
    bad = []
    for k, rec in enumerate(recs):
        tr = [traces[i] for i in rec['lines']]
        for x in tr:
            stats.ctstates[x.get('ctstate')] += 1
        kern = rec['kernel']
        stats.fates['dropped at sender' if not kern[0] else
                    'dropped at receiver' if not all(kern) else
                    'delivered to %d' % (len(kern) - 1) if len(kern) > 2 else 'delivered'] += 1
        vv = [x['verdict'] == 'ACCEPT' for x in tr]
        steps = vipwire_steps(tr)
        rec['local_reply'] = local_reply(rec['counted'], steps)
        ok = vv == rec['kernel'] and steps == rec['counted']
        if ok:
            stats.passed += 1
            continue
        stats.failed += 1
        diff = {key for key in set(steps) | set(rec['counted'])
                if steps.get(key, 0) != rec['counted'].get(key, 0)}
        kind = ('verdict ' if vv != rec['kernel'] else '') + \
            '+'.join(sorted({key[0] for key in diff}))
        stats.kinds[kind.strip() or 'verdict'] += 1
        bad.append(k)
        if len(bad) <= args.show:
            show_failure(sc, k, rec, tr, lines, steps)
    stats.scenarios += 1
    status = 'PASS' if not bad else 'FAIL'
    print('%s scenario %s: %d packets, %d disagree' % (status, sc['name'], len(recs), len(bad)),
          flush=True)
    if bad:
        stats.scen_failed += 1
    return bad


def local_reply(counted, steps):
    """Take out of `counted` what a reply the host itself generated moved.

    REJECT of a frame from 0.0.0.0 makes the host send an ICMP error to
    0.0.0.0, a local destination: it crosses OUTPUT and POSTROUTING (then dies
    on the down loopback). No injected frame crosses OUTPUT, so OUTPUT counts
    mark such a reply; its POSTROUTING counts are the excess over vipwire's.
    vipwire does not model the replies REJECT sends. Returns True if found."""
    if not any(k[1] == 'OUTPUT' for k in counted):
        return False
    for k in list(counted):
        if k[1] == 'OUTPUT':
            del counted[k]
        elif k[1] == 'POSTROUTING' and counted[k] > steps.get(k, 0):
            counted[k] -= 1
            if not counted[k]:
                del counted[k]
    return True


def verdict_word(b):
    return 'ACCEPT' if b else 'DROP'


def show_failure(sc, k, rec, tr, lines, steps):
    kern = ' '.join(verdict_word(x) for x in rec['kernel'])
    vip = ' '.join('%s(%s,zone %s)' % (x['verdict'], x.get('ctstate'), x.get('zone')) for x in tr)
    print('FAIL %s packet %d: %s' % (sc['name'], k + 1, lines[rec['lines'][0]]))
    print('     kernel : %s  counted %s' % (kern, fmt_counter(rec['counted'])))
    print('     vipwire: %s  steps   %s' % (vip, fmt_counter(steps)))
    for key in sorted(set(rec['counted']) ^ set(steps) |
                      {k2 for k2 in rec['counted'] if rec['counted'][k2] != steps.get(k2)},
                      key=str):
        print('       differs %s:%s:%s  %s' % (key + (rec['texts'].get(key, '?'),)))
    for x in tr:
        if x.get('unknown'):
            print('       vipwire unknown: %s' % x['unknown'])


def save_case(d, sc, recs, traces, bad, rules_text, ipsets_text):
    os.makedirs(d, exist_ok=True)
    case = {
        'name': sc['name'], 'ports': sc['ports'], 'ipt4': sc['ipt4'], 'ipt6': sc['ipt6'],
        'ipset': sc['ipset'], 'as_written': bool(sc.get('as_written')),
        'kernel_rules': rules_text, 'kernel_ipsets': ipsets_text,
        # what vipwire was given: the kernel's iptables-save or the text as written
        'vipwire_rules': sc['ipt4'] + sc['ipt6'] if sc.get('as_written') else rules_text,
        'packets': sc['packets'], 'disagree': [k + 1 for k in bad],
        'kernel': [{'t': round(r['t'], 3), 'receivers': r['receivers'],
                    'verdicts': [verdict_word(x) for x in r['kernel']],
                    'counted': sorted('%s:%s:%s x%d' % (k + (n,)) for k, n in r['counted'].items())}
                   for r in recs],
        'vipwire': None if traces is None else [[{'verdict': traces[i]['verdict'], 'ctstate': traces[i].get('ctstate'),
                      'zone': traces[i].get('zone'),
                      'steps': ['%s:%s:%s:%s' % (s['table'], s['chain'], s['kind'], s['rule_num'])
                                for s in traces[i].get('path', [])]}
                     for i in r['lines']] for r in recs],
    }
    with open(os.path.join(d, sc['name'] + '.json'), 'w') as f:
        json.dump(case, f, indent=1)


def make_scenario(rng, ports, idx, n, kind, vipwire, nat=True, v4_flood=True):
    traffic = Traffic(rng, ports, v4_flood)
    if kind == 'neutron':
        fd, path = tempfile.mkstemp(prefix='vwk-cloud-', suffix='.json')
        try:
            with os.fdopen(fd, 'w') as f:
                json.dump(cloud_json(draw_cloud(rng, ports), 'compute-1'), f)
            ipt4, ipt6, ipset = vipwire_rules(vipwire, path, 'compute-1')
        finally:
            os.unlink(path)
    else:
        ipt4, ipt6, ipset = handwritten_ruleset(rng, ports, nat)
    return {'name': '%s-%d' % (kind, idx), 'ports': ports, 'ipt4': ipt4, 'ipt6': ipt6,
            'ipset': ipset, 'packets': traffic.sequence(n),
            'as_written': kind != 'neutron' and rng.random() < 0.5}


def parse_counted(items):
    c = Counter()
    for it in items:
        key, n = it.rsplit(' x', 1)
        t, ch, num = key.rsplit(':', 2)
        c[(t, ch, num if num == 'policy' else int(num))] = int(n)
    return c


def replay_recorded(args):
    """Compare vipwire with kernel observations stored in case files (no root)."""
    cmd = find_tracer(args.vipwire)
    if not cmd:
        print('error: no vipwire binary', file=sys.stderr)
        return 2
    tracer = Tracer(cmd)
    stats = Stats()
    for path in args.replay:
        with open(path) as f:
            case = json.load(f)
        sc = {k: case[k] for k in ('name', 'ports', 'packets')}
        lines, recs = [], []
        for p, k in zip(case['packets'], case['kernel']):
            kern = [v == 'ACCEPT' for v in k['verdicts']]
            rec = {'packet': p, 'kernel': kern, 'counted': parse_counted(k['counted']),
                   'texts': {}, 't': k['t'], 'receivers': k.get('receivers', [p.get('b')])}
            add_lines(rec, lines, sc['ports'])
            recs.append(rec)
        try:
            traces = tracer.run(case.get('vipwire_rules', case['kernel_rules']),
                                case['kernel_ipsets'], lines)
        except RuntimeError as e:
            print('FAIL scenario %s: %d packets, vipwire error: %s' % (sc['name'], len(recs), e))
            stats.failed += len(recs)
            continue
        compare_all(sc, recs, traces, lines, stats, args)
    print('%d passed, %d failed' % (stats.passed, stats.failed))
    return 1 if stats.failed else 0


def case_ports(case, host):
    """Lab ports for the case's ports bound to `host` (device names unique)."""
    ports, names = [], set()
    for i, p in enumerate(sorted(case.get('ports', []), key=lambda p: p['id'])):
        if p.get('binding:host_id') != host:
            continue
        name = dev_names(p['id'])['tap']
        if name in names:
            continue
        names.add(name)
        ips = [f['ip_address'] for f in p.get('fixed_ips', [])]
        v4 = [a for a in ips if ':' not in a]
        v6 = [a for a in ips if ':' in a]
        ports.append({'id': p['id'], 'mac': p['mac_address'].lower(),
                      'ip4': v4[0] if v4 else '203.0.113.%d' % (200 + len(ports)),
                      'ip6': v6[0] if v6 else '2001:db8::%x' % (0x200 + len(ports))})
    return ports


def case_rules(args, path, name, host):
    """(iptables, ip6tables, ipset) texts of a Neutron case: the real Neutron
    oracle's expected output, or `vipwire rules` with --rules-source vipwire."""
    if args.rules_source == 'expected':
        return rule_texts(os.path.join(args.expected, name))
    return vipwire_rules(args.vipwire_rules, path, host)


def rule_texts(d):
    """(iptables, ip6tables, ipset) texts in `d`, as `vipwire rules --out` writes them."""
    texts = []
    for f in ('iptables.txt', 'ip6tables.txt', 'ipset.txt'):
        p = os.path.join(d, f)
        texts.append(open(p).read() if os.path.exists(p) else '')
    return texts


def vipwire_rules(vipwire, neutron_json, host):
    """What `vipwire rules` renders for `host` from a Neutron API document."""
    d = tempfile.mkdtemp(prefix='vwk-rules-')
    try:
        sh([vipwire, 'rules', '--neutron', neutron_json, '--host', host, '--out', d])
        return rule_texts(d)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def run_neutron_cases(args, tracer, stats, tag):
    """Every conformance/cases/*.json with its rules on its host: random
    traffic between the case's ports on that host, --count packets in all."""
    cases = sorted(f for f in os.listdir(args.cases) if f.endswith('.json'))
    todo = []
    for f in cases:
        name = f[:-5]
        hostf = os.path.join(args.cases, name + '.host')
        host = open(hostf).read().strip() if os.path.exists(hostf) else 'compute-1'
        if args.rules_source == 'expected' and not os.path.isdir(os.path.join(args.expected, name)):
            print('SKIP case %s: no expected rules' % name)
            continue
        with open(os.path.join(args.cases, f)) as fh:
            case = json.load(fh)
        ports = case_ports(case, host)
        if not ports:
            print('SKIP case %s: no port on %s' % (name, host))
            continue
        # A peer VM with no Neutron chains (stands in for the router or a port of
        # another host plugged here), so one-port hosts get traffic too.
        ports.append({'id': 'fffffffe-9ee7-4000-8000-000000000001', 'mac': 'fa:16:3e:ff:ff:01',
                      'ip4': '203.0.113.1', 'ip6': '2001:db8::1'})
        todo.append((name, os.path.join(args.cases, f), host, ports))
    rng = random.Random(args.seed)
    for i, (name, path, host, ports) in enumerate(todo):
        n = args.count // len(todo) + (1 if i < args.count % len(todo) else 0)
        ipt4, ipt6, ipset = case_rules(args, path, name, host)
        with Lab(tag, ports, args.backend) as lab:
            while n > 0:
                k = min(n, args.per_scenario)
                sc = {'name': 's%d-case-%s-%d' % (args.seed, name, n), 'ports': ports,
                      'ipt4': ipt4, 'ipt6': ipt6, 'ipset': ipset,
                      'packets': Traffic(rng, ports, lab.v4_flood_ok).sequence(k)}
                run_scenario(lab, tracer, sc, stats, args, args.failures)
                n -= k


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--count', type=int, default=2000, help='packets to inject')
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--ports', type=int, default=4, help='VM ports on the host')
    ap.add_argument('--per-scenario', type=int, default=50,
                    help='packets per ruleset load (mean)')
    ap.add_argument('--kinds', default='neutron,hand', help='ruleset kinds to draw from')
    ap.add_argument('--vipwire', help='vipwire binary (or vwk-tracer); default: '
                    'target/release/vipwire, else target/release/vwk-tracer')
    ap.add_argument('--failures', default=os.path.join(tempfile.gettempdir(), 'vwk-failures'),
                    help='write disagreeing scenarios here as replayable JSON')
    ap.add_argument('--show', type=int, default=5, help='details for at most N per scenario')
    ap.add_argument('--no-nat', action='store_true',
                    help='no nat table in hand-written rulesets')
    ap.add_argument('--suite', choices=['all', 'drawn', 'cases'], default='all',
                    help='drawn: seeded Neutron-style and hand-written rulesets; cases: the '
                    'Neutron conformance cases with the real-Neutron rules; all: half each')
    ap.add_argument('--cases', default=os.path.join(ROOT, 'conformance', 'cases'))
    ap.add_argument('--expected', default=os.path.join(ROOT, 'conformance', 'expected'),
                    help='real-Neutron rules per case (from conformance/neutron_oracle.py)')
    ap.add_argument('--rules-source', choices=['expected', 'vipwire'], default='expected',
                    help='case rules: the oracle\'s expected output or `vipwire rules`')
    ap.add_argument('--vipwire-rules', default=os.path.join(ROOT, 'target/release/vipwire'),
                    help='vipwire binary for --rules-source vipwire')
    ap.add_argument('--backend', choices=['nft', 'legacy'], default='nft',
                    help='iptables backend of the host namespace')
    ap.add_argument('--replay', nargs='*', help='run these saved scenario files instead')
    ap.add_argument('--record', metavar='DIR', help='with --replay: save every replayed '
                    'scenario with the kernel observations into DIR')
    ap.add_argument('--recorded', action='store_true', help='with --replay: no kernel; '
                    'compare vipwire with the kernel observations stored in the files')
    args = ap.parse_args()

    if args.recorded:
        return replay_recorded(args)
    if os.geteuid() != 0:
        print('SKIP: the kernel conformance harness needs root (network namespaces)')
        print('0 passed, 0 failed')
        return 0
    cmd = find_tracer(args.vipwire)
    if not cmd:
        print('error: no vipwire binary: run `cargo build --release -p vipwire` '
              '(or build conformance/kernel/tracer) or pass --vipwire', file=sys.stderr)
        return 2
    tracer = Tracer(cmd)
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))
    # One CPU: frames sent back to back then sit in one backlog queue, so a
    # barrier frame never overtakes the frame before it.
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    stats = Stats()
    start = time.monotonic()
    tag = 'r%d' % os.getpid()
    if args.replay:
        for path in args.replay:
            with open(path) as f:
                case = json.load(f)
            sc = {k: case[k] for k in ('name', 'ports', 'ipt4', 'ipt6', 'ipset', 'packets')}
            sc['as_written'] = case.get('as_written', False)
            with Lab(tag, sc['ports'], args.backend) as lab:
                run_scenario(lab, tracer, sc, stats, args, args.record)
    else:
        total = args.count
        have_cases = os.path.isdir(args.cases) and (
            args.rules_source == 'vipwire' or os.path.isdir(args.expected))
        if args.suite == 'cases' or (args.suite == 'all' and have_cases):
            args.count = total if args.suite == 'cases' else total // 2
            run_neutron_cases(args, tracer, stats, tag)
            args.count = total - args.count
        if args.suite != 'cases':
            run_drawn(args, tracer, stats, tag)
    return finish(stats, tracer, start)


def run_drawn(args, tracer, stats, tag):
    """Seeded rulesets (Neutron-style and hand-written) on a lab of --ports VMs."""
    rng = random.Random(args.seed)
    ports = make_ports(rng, args.ports)
    kinds = args.kinds.split(',')
    with Lab(tag, ports, args.backend) as lab:
        idx = 0
        done = 0
        while done < args.count:
            n = min(args.count - done, max(5, int(rng.gauss(args.per_scenario, 10))))
            kind = kinds[idx % len(kinds)]
            for _attempt in range(20):
                sc = make_scenario(rng, ports, idx, n, kind, args.vipwire_rules,
                                   not args.no_nat, lab.v4_flood_ok)
                sc['name'] = 's%d-%s' % (args.seed, sc['name'])
                try:
                    run_scenario(lab, tracer, sc, stats, args, args.failures)
                    break
                except RuntimeError as e:
                    if 'restore' not in str(e):
                        raise
                    stats.load_retries += 1
            else:
                raise RuntimeError('20 rulesets in a row failed to load')
            done += n
            idx += 1


def finish(stats, tracer, start):
    total = time.monotonic() - start
    n = stats.passed + stats.failed
    print('timing: %d packets in %.1f s (%.0f packets/s overall; inject+count %.1f s, '
          'load %.1f s, %s %.1f s); %d scenarios, %d with disagreements, %d ruleset redraws'
          % (n, total, n / total if total else 0, stats.t_pkt, stats.t_load, tracer.kind,
             tracer.seconds, stats.scenarios, stats.scen_failed, stats.load_retries))
    print(stats.coverage())
    if stats.kinds:
        print('disagreements by kind (verdict and/or tables whose counters differ): ' +
              ', '.join('%s %d' % kv for kv in stats.kinds.most_common()))
    print('%d passed, %d failed' % (stats.passed, stats.failed))
    return 1 if stats.failed else 0


if __name__ == '__main__':
    sys.exit(main())
