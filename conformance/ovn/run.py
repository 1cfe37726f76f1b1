#!/usr/bin/env python3
"""Conformance runner: the real ML2/OVN Northbound vs `vipwire rules --driver ovn`.

    run.py [--count N] [--seed S] [--case NAME ...] [--no-cases]
           [--keep DIR] [--vipwire PATH] [--lflows] [--offline]
           [--update-expected] [--packets K [--frame-seed F]]

Clouds: conformance/cases/*.json plus N random clouds of gen.py from seed S
(`rand-S-I` is scenario I of seed S, as gen.py and api_build.py name them).
Each is built through the real neutron-server 29.0.0 with ML2/OVN into a
real NB/SB + ovn-northd (realovn.py, one server for the whole run), then

    vipwire rules --driver ovn --neutron <GET output> --format json

must print the same document as normalise_nb.py made from the real NB
(compared as JSON values, shown as a unified diff of both pretty-printed
with sorted keys). With --lflows, `vipwire rules --driver ovn --neutron F
--lflows` is also compared with the normalised `ovn-sbctl lflow-list`
text, line for line.

--packets K: also a real chassis (packets.py: every port moved to host
compute-1, a namespace per port) and K seeded frames per cloud; each
frame's set of receiving ports must equal the `to` of `vipwire trace
--driver ovn --neutron F --packets frames.txt --format json`.

--offline: no root, no Neutron, no OVN: the clouds saved in
conformance/ovn/expected/<name>/ (neutron.json, nb.json, lflows.txt, and
where recorded a real chassis' frames.txt + delivery.jsonl) against vipwire. --update-expected: rebuild conformance/ovn/expected/ for
the hand cases and the N random clouds from the real OVN (no vipwire).

Prints `PASS name` / `FAIL name` (with the head of the diff) and a last
line `N passed, M failed`. Exit 0 all passed, 1 any failed, 2 set-up
problem (no vipwire binary, OVN or Neutron failing to start).
Run the online mode with the neutron venv's python, as root.
"""

import argparse
import difflib
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CONF_DIR = os.path.dirname(HERE)
ROOT = os.path.dirname(CONF_DIR)
EXPECTED = os.path.join(HERE, 'expected')
sys.path.insert(0, HERE)
sys.path.insert(0, CONF_DIR)

import normalise_nb  # noqa: E402

DIFF_HEAD = 30


def pretty(doc):
    return normalise_nb.dumps(doc)


def unified(want, got, a, b):
    lines = list(difflib.unified_diff(want.splitlines(), got.splitlines(),
                                      a, b, lineterm='', n=2))
    return lines


def run_vipwire(binary, neutron_json, extra):
    """(stdout, error lines)."""
    try:
        p = subprocess.run([binary, 'rules', '--driver', 'ovn', '--neutron',
                            neutron_json, *extra], capture_output=True,
                           text=True, timeout=300)
    except OSError as e:
        return None, [f'vipwire could not run: {e}']
    if p.returncode:
        return None, [f'vipwire exited {p.returncode}: '
                      + (p.stderr.strip() or p.stdout.strip())[:500]]
    return p.stdout, []


def compare_cloud(vipwire, name, cloud_dir, lflows, keep_dir=None):
    """Diff lines (empty = pass) for one cloud directory."""
    neutron_json = os.path.join(cloud_dir, 'neutron.json')
    with open(os.path.join(cloud_dir, 'nb.json')) as f:
        want_doc = json.load(f)
    problems = []
    out, err = run_vipwire(vipwire, neutron_json, ['--format', 'json'])
    if keep_dir and out is not None:
        os.makedirs(keep_dir, exist_ok=True)
        with open(os.path.join(keep_dir, 'nb.json'), 'w') as f:
            f.write(out)
    if err:
        problems += err
    else:
        try:
            got_doc = json.loads(out)
        except ValueError as e:
            problems.append(f'vipwire printed no JSON document ({e}): '
                            + out[:200])
            got_doc = None
        if got_doc is not None and got_doc != want_doc:
            problems += unified(pretty(want_doc), pretty(got_doc),
                                f'ovn/{name}/nb.json',
                                f'vipwire/{name}/nb.json')
            if not problems:
                problems.append('documents differ (key order only?)')
    if lflows:
        with open(os.path.join(cloud_dir, 'lflows.txt')) as f:
            want = f.read()
        out, err = run_vipwire(vipwire, neutron_json, ['--lflows'])
        if keep_dir and out is not None:
            with open(os.path.join(keep_dir, 'lflows.txt'), 'w') as f:
                f.write(out)
        if err:
            problems += ['lflows: ' + e for e in err]
        elif out != want:
            problems += unified(want, out, f'ovn/{name}/lflows.txt',
                                f'vipwire/{name}/lflows.txt')
    return problems


def compare_packets(vipwire, name, cloud_dir, keep_dir=None):
    """Diff lines: real delivery (delivery.jsonl) vs vipwire trace."""
    with open(os.path.join(cloud_dir, 'neutron.json')) as f:
        ports = json.load(f)['ports']
    names = {}
    for p in ports:
        names.setdefault(p['name'], []).append(p['id'])
    label = {p['id']: (p['name'] if len(names[p['name']]) == 1 else p['id'])
             for p in ports}
    with open(os.path.join(cloud_dir, 'delivery.jsonl')) as f:
        real = [json.loads(line) for line in f if line.strip()]
    if not real:
        return []
    try:
        p = subprocess.run([vipwire, 'trace', '--driver', 'ovn', '--neutron',
                            os.path.join(cloud_dir, 'neutron.json'),
                            '--packets',
                            os.path.join(cloud_dir, 'frames.txt'),
                            '--format', 'json'], capture_output=True,
                           text=True, timeout=600)
    except OSError as e:
        return [f'vipwire trace could not run: {e}']
    if keep_dir:
        os.makedirs(keep_dir, exist_ok=True)
        with open(os.path.join(keep_dir, 'trace.jsonl'), 'w') as f:
            f.write(p.stdout)
    if p.returncode:
        return [f'vipwire trace exited {p.returncode}: '
                + (p.stderr.strip() or p.stdout.strip())[:500]]
    try:
        got = [json.loads(line) for line in p.stdout.splitlines()
               if line.strip()]
    except ValueError as e:
        return [f'vipwire trace printed no JSON lines ({e})']
    if len(got) != len(real):
        return [f'vipwire traced {len(got)} frames, the real chassis '
                f'{len(real)}']
    problems = []
    for i, (r, g) in enumerate(zip(real, got), 1):
        want = sorted(label[x] for x in r['delivered_to'])
        have = sorted(names[x][0] if x in names and len(names[x]) == 1
                      else x for x in g.get('to') or [])
        have = sorted(label.get(x, x) for x in have)
        if want != have:
            why = ''
            if g.get('drop'):
                d = g['drop']
                why = f' (vipwire: {d.get("place")}: {d.get("why")})'
            problems.append(f'frame {i}: {r["frame"]}')
            problems.append(f'    real {want}, vipwire {have}{why}')
    return problems


class Tally:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def report(self, name, problems):
        if problems:
            self.failed += 1
            print(f'FAIL {name}')
            for line in problems[:DIFF_HEAD]:
                print('    ' + line)
            if len(problems) > DIFF_HEAD:
                print(f'    ... {len(problems) - DIFF_HEAD} more lines')
        else:
            self.passed += 1
            print(f'PASS {name}')
        sys.stdout.flush()

    def finish(self):
        print(f'{self.passed} passed, {self.failed} failed')
        return 1 if self.failed else 0


def offline(a, tally):
    names = sorted(os.path.basename(d) for d in glob.glob(
        os.path.join(EXPECTED, '*')) if os.path.isdir(d))
    if a.case:
        names = [n for n in names if n in a.case]
    for name in names:
        keep = os.path.join(a.keep, 'vipwire', name) if a.keep else None
        cloud_dir = os.path.join(EXPECTED, name)
        problems = compare_cloud(a.vipwire, name, cloud_dir, a.lflows, keep)
        # Recorded real deliveries (frames.txt + delivery.jsonl) replay too.
        if os.path.exists(os.path.join(cloud_dir, 'delivery.jsonl')):
            problems += compare_packets(a.vipwire, name, cloud_dir, keep)
        tally.report(name, problems)
    return tally.finish()


def online(a, tally):
    import realovn
    a.cases = not a.no_cases
    clouds = realovn.load_clouds(a)
    work = a.keep or tempfile.mkdtemp(prefix='vwconf-ovnrun-')
    if a.packets:
        sess = realovn.Session(chassis=True, hostname='compute-1',
                               fake_chassis=())
    else:
        sess = realovn.Session()
    try:
        t0 = time.monotonic()
        try:
            sess.start()
        except Exception as e:
            print(f'set-up problem: real OVN/Neutron did not start: '
                  f'{type(e).__name__}: {e}')
            return 2
        print(f'# ovn: central + neutron up in {time.monotonic() - t0:.1f}s',
              flush=True)
        for name, spec in clouds:
            out = os.path.join(EXPECTED if a.update_expected
                               else os.path.join(work, 'ovn'), name)
            t1 = time.monotonic()
            try:
                if a.packets:
                    import packets
                    os.makedirs(out, exist_ok=True)
                    packets.run_cloud(sess, name, spec, out, a.packets,
                                      a.frame_seed)
                    with open(os.path.join(out, 'neutron.json')) as f:
                        data = json.load(f)
                    rp = os.path.join(out, 'refused.txt')
                    refused = []
                    if os.path.exists(rp):
                        with open(rp) as f:
                            refused = [ln for ln in f
                                       if not ln.startswith('server log')]
                else:
                    data, refused, _, _ = realovn.build_with_retry(
                        sess, name, spec, out)
            except Exception as e:
                tally.report(name, [f'real OVN build failed: '
                                    f'{type(e).__name__}: {str(e)[:300]}'])
                continue
            t_build = time.monotonic() - t1
            dead = sess.procs.check_alive()
            if dead:
                print(f'set-up problem: daemons died: {dead}')
                return 2
            if a.update_expected:
                print(f'UPDATED {name} ({len(data["ports"])} ports, '
                      f'{len(refused)} refused, {t_build:.1f}s)', flush=True)
                continue
            keep = os.path.join(work, 'vipwire', name) if a.keep else None
            t2 = time.monotonic()
            problems = compare_cloud(a.vipwire, name, out, a.lflows, keep)
            if a.packets:
                problems += compare_packets(a.vipwire, name, out, keep)
            print(f'# {name}: {len(data["ports"])} ports, {len(refused)} '
                  f'refused by the API, NB build {t_build:.1f}s, vipwire '
                  f'{time.monotonic() - t2:.2f}s', flush=True)
            tally.report(name, problems)
        if a.update_expected:
            return 0
        return tally.finish()
    finally:
        sess.close()
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--count', type=int, default=0)
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--case', action='append', default=[],
                    help='only this hand case, or rand-S-I: random cloud I '
                    'of seed S (repeatable)')
    ap.add_argument('--no-cases', action='store_true',
                    help='random clouds only')
    ap.add_argument('--keep', help='keep the real and vipwire output here')
    ap.add_argument('--vipwire', default=os.environ.get(
        'VIPWIRE', os.path.join(ROOT, 'target', 'release', 'vipwire')))
    ap.add_argument('--lflows', action='store_true',
                    help='also compare the logical flows')
    ap.add_argument('--offline', action='store_true')
    ap.add_argument('--packets', type=int, default=0,
                    help='K frames per cloud through a real chassis')
    ap.add_argument('--frame-seed', type=int, default=1)
    ap.add_argument('--update-expected', action='store_true')
    a = ap.parse_args()
    if a.keep:
        a.keep = os.path.abspath(a.keep)
        os.makedirs(a.keep, exist_ok=True)
    if not a.update_expected and not os.access(a.vipwire, os.X_OK):
        print(f'vipwire binary not found at {a.vipwire} '
              '(build it: cargo build --release -p vipwire, or set VIPWIRE)')
        return 2
    tally = Tally()
    if a.offline:
        return offline(a, tally)
    return online(a, tally)


if __name__ == '__main__':
    rc = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Neutron's background threads would outlive the deleted sqlite file.
    os._exit(rc)
