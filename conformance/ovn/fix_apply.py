#!/usr/bin/env python3
"""`check --fix --apply` and `--undo` against the real ML2/OVN, for a VM cut off
by its own fixed IP held as a bare-IP pair.

    .venv-neutron/bin/python conformance/ovn/fix_apply.py [--vipwire PATH]

Run as root (it starts the OVN daemons). Builds
examples/broken/vrrp-use-vmac-own-ip-bare-pair-ovn through the real
neutron-server 29.0.0 (ML2/OVN, noauth, realovn.Session) into a real NB and
checks, reading the NB with ovn-nbctl:

1. both directors' Logical_Switch_Ports are `type: virtual` (each its own
   parent): the state the check calls "cut off";
2. `vipwire check --os-cloud S --vip V --keepalived ... --fix --apply --yes
   --undo-file U` (auth_type none, network_endpoint_override) exits 0, and
   the API now holds the pairs as /32 CIDRs;
3. both LSPs are normal ports again (type empty): Neutron recomputed the
   type on each port's own update;
4. `vipwire check --os-cloud S --undo U` writes the pairs back bare and both
   LSPs are virtual again.

Prints `PASS step` / `FAIL step: why`, then `N passed, M failed`; exit 0 only
when every step passed, 2 when the set-up failed.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

import realovn  # noqa: E402

CASE = os.path.join(ROOT, 'examples', 'broken',
                    'vrrp-use-vmac-own-ip-bare-pair-ovn')
VIP = '203.0.113.241'
DIRECTORS = ('director-1', 'director-2')


def lsp_type(central, port_id):
    return central.nbctl('get', 'Logical_Switch_Port', port_id,
                         'type').strip().strip('"')


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--vipwire', default=os.path.join(
        ROOT, 'target', 'release', 'vipwire'))
    a = ap.parse_args()
    if os.geteuid() != 0:
        print('SKIP: needs root (OVN daemons)')
        return 0
    realovn.logging_quiet()
    results = []

    def check(step, ok, why=''):
        results.append(ok)
        print(f'PASS {step}' if ok else f'FAIL {step}: {why}', flush=True)

    with open(os.path.join(CASE, 'neutron.json')) as f:
        spec = json.load(f)
    sess = realovn.Session()
    work = tempfile.mkdtemp(prefix='vwfixapply-')
    try:
        try:
            sess.start()
            data, refused, _, _ = realovn.build_with_retry(
                sess, 'own_ip_bare', spec, os.path.join(work, 'built'))
        except Exception as e:  # set-up, not a verdict
            print(f'ERROR set-up: {type(e).__name__}: {str(e)[:300]}')
            return 2
        ids = {p['name']: p['id'] for p in data['ports']}
        central = sess.central
        types = {d: lsp_type(central, ids[d]) for d in DIRECTORS}
        check('built: both directors virtual',
              all(t == 'virtual' for t in types.values()), f'{types}')

        clouds = os.path.join(work, 'clouds.yaml')
        with open(clouds, 'w') as f:
            f.write('clouds:\n  realovn:\n    auth_type: none\n'
                    f'    network_endpoint_override: '
                    f'{sess.srv.base[:-len("v2.0/")]}\n')
        env = dict(os.environ, OS_CLIENT_CONFIG_FILE=clouds)
        undo = os.path.join(work, 'undo.json')
        base = [a.vipwire, 'check', '--os-cloud', 'realovn', '--driver', 'ovn']
        confs = []
        for d in DIRECTORS:
            confs += ['--keepalived',
                      os.path.join(CASE, f'keepalived-{d}.conf')]
        r = subprocess.run(base + ['--vip', VIP] + confs +
                           ['--fix', '--apply', '--yes', '--undo-file', undo],
                           env=env, capture_output=True, text=True,
                           timeout=300)
        check('--fix --apply exits 0', r.returncode == 0,
              f'exit {r.returncode}: {(r.stdout + r.stderr)[-1500:]}')
        central.sync()
        pairs = {p['name']: sorted(x['ip_address']
                                   for x in p['allowed_address_pairs'])
                 for p in sess.srv.call('GET', 'ports')['ports']
                 if p['name'] in DIRECTORS}
        own = {'director-1': '203.0.113.5', 'director-2': '203.0.113.7'}
        check('--apply: own IPs held as /32 CIDRs, not bare',
              all(own[d] + '/32' in pairs[d] and own[d] not in pairs[d]
                  for d in DIRECTORS), f'{pairs}')
        types = {d: lsp_type(central, ids[d]) for d in DIRECTORS}
        check('after --apply: both directors normal ports',
              all(t == '' for t in types.values()), f'{types}')

        r = subprocess.run(base + ['--undo', undo], env=env,
                           capture_output=True, text=True, timeout=300)
        central.sync()
        types = {d: lsp_type(central, ids[d]) for d in DIRECTORS}
        check('--undo: pairs bare again, both directors virtual',
              r.returncode in (0, 1) and
              all(t == 'virtual' for t in types.values()),
              f'exit {r.returncode} {types}: {(r.stdout + r.stderr)[-800:]}')
    finally:
        sess.close()
        shutil.rmtree(work, ignore_errors=True)
    failed = results.count(False)
    print(f'{len(results) - failed} passed, {failed} failed')
    return 0 if failed == 0 else 1


if __name__ == '__main__':
    rc = main()
    sys.stdout.flush()
    # Neutron's background threads would touch the removed sqlite file during
    # interpreter shutdown (as in realovn.py).
    os._exit(rc)
