#!/usr/bin/env python3
"""The running director guarding its cloud, against the real Keystone and Neutron.

    director_guard.py [--vipwire PATH]

As root: a network namespace of its own (loopback up, a veth `eth0` carrying
director-2's port MAC), and inside it the demo cloud of scripts/demo-cloud
(the real Keystone 30.0.0 and neutron-server 29.0.0 on 127.0.0.1, the field
report's cloud). Then the running director, not `-t`:

1. `vipwire director -f keepalived.conf --cloud vipwire-demo --vrrp-only
   --cloud-interval 2` with director-2's file under a name that says nothing:
   its port must be found by the interface's MAC (high confidence); the check
   must log FAIL with the fix at start, again when VRRP turns MASTER, and
   every 2 s; no pair may change.
2. The same with `--apply-cloud`: it must apply the fix itself, log a pass,
   and the API must then show the new pair on director-2 only (director-1, the
   other VRRP member, is not this director's port and is not touched), and
   its undo record must be in the director's working folder.

Prints `ok`/`FAIL` per step and `N passed, M failed`. Exit 0 all passed, 1 a
failure, 2 set-up problem. Skips (exit 0, visible message) without root. It
stops exactly the processes it started, by PID, and removes its namespace.
"""

import argparse
import importlib.machinery
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
NS_ENV = 'VIPWIRE_GUARD_IN_NS'


def load_demo():
    path = os.path.join(ROOT, 'scripts', 'demo-cloud')
    loader = importlib.machinery.SourceFileLoader('demo_cloud', path)
    spec = importlib.util.spec_from_loader('demo_cloud', loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


def wait_for(proc, log_path, pattern, count, timeout):
    """Waits until `pattern` appears `count` times in the log; the log text."""
    t0 = time.monotonic()
    text = ''
    while time.monotonic() - t0 < timeout:
        with open(log_path, errors='replace') as f:
            text = f.read()
        if text.count(pattern) >= count or proc.poll() is not None:
            break
        time.sleep(0.3)
    return text


def stop(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def inside(vipwire):
    demo = load_demo()
    bed_lib = demo.bed_lib
    subprocess.run(['ip', 'link', 'set', 'lo', 'up'], check=True)
    work = tempfile.mkdtemp(prefix='vwguard-')
    venv_py = os.path.join(ROOT, '.venv-cloud', 'bin', 'python')
    bed = None
    procs = []
    passed = failed = 0

    def report(ok, what, detail=''):
        nonlocal passed, failed
        print(f'{"ok  " if ok else "FAIL"} director guard: {what}', flush=True)
        if ok:
            passed += 1
        else:
            failed += 1
            if detail:
                print('     ' + detail[-2500:].replace('\n', '\n     '))

    try:
        try:
            bed, path, where = demo.start(work, venv_py)
        except bed_lib.SetupError as e:
            print(f'set-up problem: {e}')
            return 2
        nurl, admin, project = where
        ports = bed_lib.call('GET', nurl.rstrip('/') + '/v2.0/ports?project_id='
                             + project, token=admin)['ports']
        mac = next(p['mac_address'] for p in ports if p['name'] == 'director-2')
        # A veth pair (this kernel has no dummy links): eth0 and its peer.
        subprocess.run(['ip', 'link', 'add', 'eth0', 'type', 'veth', 'peer',
                        'name', 'eth0peer'], check=True)
        subprocess.run(['ip', 'link', 'set', 'eth0peer', 'up'], check=True)
        subprocess.run(['ip', 'link', 'set', 'eth0', 'address', mac, 'up'],
                       check=True)
        subprocess.run(['ip', 'addr', 'add', '203.0.113.7/24', 'dev', 'eth0'],
                       check=True)
        conf = os.path.join(work, 'keepalived.conf')
        shutil.copy(os.path.join(bed_lib.EXAMPLE, 'keepalived-director-2.conf'),
                    conf)
        env = {k: v for k, v in os.environ.items() if not k.startswith('OS_')}
        env['OS_CLIENT_CONFIG_FILE'] = path
        before = bed_lib.pairs_by_port(*where)
        line = 'director: cloud check of VIP 203.0.113.241 on cloud "vipwire-demo": '

        def director(extra, name):
            log_path = os.path.join(work, f'{name}.log')
            log = open(log_path, 'w')
            p = subprocess.Popen(
                [vipwire, 'director', '-f', conf, '--cloud', 'vipwire-demo',
                 '--vrrp-only', '--socket', os.path.join(work, f'{name}.sock'),
                 *extra], stdout=log, stderr=subprocess.STDOUT, env=env,
                cwd=work, start_new_session=True)
            log.close()
            procs.append(p)
            return p, log_path

        # 1. Check only: FAIL at start, on MASTER, and by the interval.
        p, log_path = director(['--cloud-interval', '2'], 'check')
        text = wait_for(p, log_path, line + 'FAIL', 3, 90)
        stop(p)
        fails = text.count(line + 'FAIL')
        report(fails >= 3 and 'its MAC ' + mac in text
               and 'director-2 <- ' in text,
               f'runs its check at start and again ({fails} FAIL lines); its '
               f'port found by the MAC {mac}', text)
        report('cloud check again: VRRP' in text and 'cloud check again: '
               'every 2 s' in text,
               'checks again on a VRRP state change and every --cloud-interval',
               text)
        report(bed_lib.pairs_by_port(*where) == before,
               'without --apply-cloud nothing changes in the cloud')

        # 2. --apply-cloud: applies, then passes; only its own port changed.
        p, log_path = director(['--apply-cloud'], 'apply')
        text = wait_for(p, log_path, line + 'pass', 1, 120)
        stop(p)
        after = bed_lib.pairs_by_port(*where)
        undo = [f for f in os.listdir(work) if f.startswith('vipwire-undo-')]
        added = {n: sorted(set(after[n]) - set(before.get(n, [])))
                 for n in after}
        added = {n: a for n, a in added.items() if a}
        report(line + 'pass' in text and 'After applying: PASS' in text
               and list(added) == ['director-2']
               and any(ip == '0.0.0.0/0' for ip, _ in added['director-2'])
               and len(undo) == 1,
               f'--apply-cloud applies the fix to its own port, leaves an undo '
               f'record in its working folder and passes (added: {added}; '
               f'undo: {undo})', text)
    finally:
        for p in procs:
            stop(p)
        if bed is not None:
            bed.stop()
        if os.environ.get('VWGUARD_KEEP'):
            print(f'# kept {work}')
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(f'{passed} passed, {failed} failed', flush=True)
    return 1 if failed else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--vipwire', default=os.environ.get(
        'VIPWIRE', os.path.join(ROOT, 'target', 'release', 'vipwire')))
    a = ap.parse_args()
    vipwire = os.path.abspath(a.vipwire)
    if os.environ.get(NS_ENV):
        return inside(vipwire)
    if os.geteuid() != 0:
        print('SKIP: the director guard test needs root (a network namespace)')
        print('0 passed, 0 failed')
        return 0
    if not os.access(vipwire, os.X_OK):
        print(f'set-up problem: no vipwire binary at {vipwire}')
        return 2
    ns = f'vwguard{os.getpid()}'
    subprocess.run(['ip', 'netns', 'add', ns], check=True)
    try:
        return subprocess.run(
            ['ip', 'netns', 'exec', ns, sys.executable, os.path.abspath(__file__),
             '--vipwire', vipwire], env=dict(os.environ, **{NS_ENV: '1'})
        ).returncode
    finally:
        subprocess.run(['ip', 'netns', 'del', ns], capture_output=True)


if __name__ == '__main__':
    sys.exit(main())
