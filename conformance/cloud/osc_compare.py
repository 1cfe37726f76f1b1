#!/usr/bin/env python3
"""The real `openstack` CLI's JSON as vipwire input, compared with the API path.

    osc_compare.py [--keep DIR] [--vipwire PATH]     # standalone: own Keystone + Neutron

On the live test cloud (run.py calls `tests()` after its own checks and before
`--fix --apply` changes the cloud; standalone, this script starts Keystone and
Neutron itself with run.py's helpers), the real python-openstackclient
(setup.sh installs it into the venv) runs as the project member with the
generated clouds.yaml: `openstack {network,subnet,port,security group} list
-f json -c ID`, then `show -f json` of each object into a file of its own.
`vipwire check` is given those files as the `neutron:` inputs of a
scenario.yaml that is otherwise the one `--save` writes for the API reading
(same directors, keepalived files, clients), and its `--format json` report
must equal that of `vipwire check --os-cloud lvs-password --vip VIP`: the
verdict, every flow and its drops, the findings, the fix, the warnings, minus
what names the input rather than the cloud: `check.scenario` (the path), the
`(read from FILE (form))` of each unknown input, and the host-unknown
assumption, which groups the ports by the files they were read from (one line
per file for the CLI's files, one for the API's): it is compared port by
port. The same files merged into one JSON list (`jq -s`) must give the same
report. A control makes sure the comparison can fail:
the directors' CLI files with a `0.0.0.0/0` pair added (the report's fix)
must give a different report, which passes.
"""

import argparse
import concurrent.futures
import copy
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run  # noqa: E402  (conformance/cloud/run.py: the test bed)

CLOUD = 'lvs-password'
# `openstack` noun, file prefix.
KINDS = (('network', 'network'), ('subnet', 'subnet'), ('port', 'port'),
         ('security group', 'security-group'))
# ` (read from a.json (Neutron API JSON), b.json (...))` in a report line.
READ_FROM = re.compile(r' \(read from (?:[^()]|\([^()]*\))*\)')
# `host (binding:host_id) unknown for ports read from FILES: p1, p2; for example...`
GROUPED = re.compile(r'^(.*?) unknown for ports read from '
                     r'(?:[^():]|\([^()]*\))*: (.*?); for example')


def openstack_bin():
    venv = os.environ.get('VIPWIRE_CLOUD_VENV',
                          os.path.join(run.ROOT, '.venv-cloud'))
    return os.path.join(venv, 'bin', 'openstack')


def osc(r, args):
    """Runs the real `openstack` CLI as the project member; stdout as JSON."""
    env = dict(r.env, OS_CLIENT_CONFIG_FILE=os.path.join(r.cwd, 'clouds.yaml'))
    p = subprocess.run([openstack_bin(), '--os-cloud', CLOUD] + args,
                       cwd=r.cwd, env=env, stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        raise run.SetupError(f'openstack {" ".join(args)}: exit '
                             f'{p.returncode}: {p.stderr[-800:]}')
    return p.stdout


def export(r, out):
    """`show -f json` of every network, subnet, port and group the member
    sees, one file each; returns the paths and the number of CLI runs."""
    os.makedirs(out, exist_ok=True)
    shows = []
    for noun, prefix in KINDS:
        ids = [row['ID'] for row in json.loads(
            osc(r, noun.split() + ['list', '-f', 'json', '-c', 'ID']))]
        shows += [(noun.split() + ['show', '-f', 'json', oid],
                   os.path.join(out, f'{prefix}-{i + 1}.json'))
                  for i, oid in enumerate(ids)]
    # Each CLI run spends ~2 s starting Python; three at a time.
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        texts = list(pool.map(lambda s: osc(r, s[0]), shows))
    for (_, path), text in zip(shows, texts):
        json.loads(text)  # the CLI printed one JSON document
        with open(path, 'w') as f:
            f.write(text)
    return [p for _, p in shows], len(KINDS) + len(shows)


def scenario_with(saved_yaml, files, dest):
    """The saved scenario.yaml with its `neutron:` inputs replaced by `files`.

    The saved file's other keys (directors with their keepalived files,
    clients, driver) stay as written, relative paths made absolute."""
    text = open(saved_yaml).read()
    base = os.path.dirname(saved_yaml)
    lines, out, skip = text.splitlines(), [], False
    for line in lines:
        if skip:
            if line.startswith((' ', '-')) or not line.strip():
                continue
            skip = False
        if line.startswith('neutron:'):
            out.append('neutron:')
            out.extend(f'  - {json.dumps(f)}' for f in files)
            skip = True
            continue
        m = re.match(r'^(\s*(?:- )?keepalived:\s*)(\S.*)$', line)
        if m and not os.path.isabs(m.group(2).strip('"\'')):
            line = m.group(1) + json.dumps(
                os.path.join(base, m.group(2).strip('"\'')))
        out.append(line)
    if not any(line == 'neutron:' for line in out):
        raise run.SetupError(f'{saved_yaml}: no neutron: key to replace')
    with open(dest, 'w') as f:
        f.write('\n'.join(out) + '\n')
    return dest


def comparable(doc):
    """The report minus what names the input (module doc)."""
    doc = copy.deepcopy(doc)
    c = doc['check']
    c.pop('scenario', None)
    c['unknown_inputs'] = [READ_FROM.sub('', u) for u in c['unknown_inputs']]
    lines = []
    for a in c['assumptions']:
        m = GROUPED.match(a)
        if m:
            lines += [f'{m.group(1)} unknown: {p}' for p in m.group(2).split(', ')]
        else:
            lines.append(a)
    c['assumptions'] = sorted(lines)
    return doc


def diff(a, b, path=''):
    """The first place two JSON values differ, for the failure message."""
    if type(a) is not type(b):
        return f'{path or "/"}: {json.dumps(a)[:200]} vs {json.dumps(b)[:200]}'
    if isinstance(a, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                return f'{path}/{k}: only in {"second" if k in b else "first"}'
            d = diff(a[k], b[k], f'{path}/{k}')
            if d:
                return d
        return ''
    if isinstance(a, list):
        if len(a) != len(b):
            return f'{path}: {len(a)} vs {len(b)} items'
        for i, (x, y) in enumerate(zip(a, b)):
            d = diff(x, y, f'{path}[{i}]')
            if d:
                return d
        return ''
    return '' if a == b else f'{path}: {json.dumps(a)[:200]} vs {json.dumps(b)[:200]}'


def drops(doc):
    """(flow, outcome) of every flow that does not pass."""
    return sorted((f['name'], f['outcome']) for f in doc['check']['flows']
                  if f['outcome'] != 'PASS')


def check_json(r, args):
    rc, out, err, _ = r.run(args + ['--format', 'json'])
    try:
        return rc, json.loads(out), err
    except ValueError:
        return rc, None, f'stdout not JSON: {out[:300]} {err[-600:]}'


def tests(r, work):
    """The CLI comparison on the live cloud (the field report's, unfixed)."""
    if not os.access(openstack_bin(), os.X_OK):
        r.expect('openstack CLI installed in the venv (setup.sh)', False,
                 f'no {openstack_bin()}')
        return
    keep = ['--keepalived', os.path.join(run.EXAMPLE, 'keepalived-director-1.conf'),
            '--keepalived', os.path.join(run.EXAMPLE, 'keepalived-director-2.conf')]
    saved = os.path.join(work, 'osc-saved')
    shutil.rmtree(saved, ignore_errors=True)
    rc_api, api, err = check_json(r, ['check', '--os-cloud', CLOUD, '--vip',
                                      run.VIP, '--save', saved] + keep)
    if api is None:
        r.expect('osc: the API reading to compare with', False, err)
        return
    t0 = time.monotonic()
    out = os.path.join(work, 'osc')
    try:
        files, calls = export(r, out)
    except run.SetupError as e:
        r.expect('osc: `openstack ... show -f json` of every object', False,
                 str(e))
        return
    took = time.monotonic() - t0
    counts = {p: sum(os.path.basename(f).startswith(p + '-') for f in files)
              for _, p in KINDS}
    version = osc(r, ['--version']).strip() or 'openstack ?'
    print(f'# {version}: {calls} CLI runs in {took:.1f} s, files: '
          + ', '.join(f'{n} {p}' for p, n in counts.items()))
    with open(files[[os.path.basename(f) for f in files].index('port-1.json')]) as f:
        keys = sorted(json.load(f))
    print('     | port show keys: ' + ' '.join(keys)[:600])
    scen = scenario_with(os.path.join(saved, 'scenario.yaml'), files,
                         os.path.join(out, 'scenario.yaml'))
    rc, cli, err = check_json(r, ['check', scen])
    d = diff(comparable(api), comparable(cli)) if cli else err
    r.expect(f'osc: `openstack show -f json` files ({len(files)}) give the '
             f'API reading\'s report (exit {rc_api}, drops '
             f'{len(drops(api))}, same flows, drops and findings)',
             cli is not None and rc == rc_api and not d
             and drops(api) == drops(cli) and drops(api),
             f'rc={rc} vs {rc_api}: {d} {err[-600:]}')
    # One file holding a JSON list of every object (`jq -s`).
    merged = os.path.join(out, 'all.json')
    with open(merged, 'w') as f:
        json.dump([json.load(open(p)) for p in files], f, indent=1)
    scen2 = scenario_with(os.path.join(saved, 'scenario.yaml'), [merged],
                          os.path.join(out, 'scenario-list.json.yaml'))
    rc2, cli2, err2 = check_json(r, ['check', scen2])
    d2 = diff(comparable(api), comparable(cli2)) if cli2 else err2
    r.expect('osc: the same objects as one JSON list give the same report',
             cli2 is not None and rc2 == rc_api and not d2,
             f'rc={rc2}: {d2} {err2[-600:]}')
    # Control: the comparison sees a change. The directors' files with the
    # field report's fix (a 0.0.0.0/0 pair) must give another report.
    fixed = os.path.join(out, 'fixed')
    os.makedirs(fixed, exist_ok=True)
    ffiles, touched = [], 0
    for p in files:
        doc = json.load(open(p))
        if doc.get('name', '').startswith('director-'):
            doc['allowed_address_pairs'] = list(
                doc['allowed_address_pairs']) + [
                    {'ip_address': '0.0.0.0/0',
                     'mac_address': doc['mac_address']}]
            touched += 1
        q = os.path.join(fixed, os.path.basename(p))
        with open(q, 'w') as f:
            json.dump(doc, f, indent=1)
        ffiles.append(q)
    scen3 = scenario_with(os.path.join(saved, 'scenario.yaml'), ffiles,
                          os.path.join(fixed, 'scenario.yaml'))
    rc3, cli3, err3 = check_json(r, ['check', scen3])
    d3 = diff(comparable(api), comparable(cli3)) if cli3 else ''
    r.expect(f'osc control: the directors\' files ({touched}) with a '
             f'0.0.0.0/0 pair differ from the API reading (exit {rc3}, '
             f'passed, caught at {d3[:80]})',
             touched == 2 and cli3 is not None and rc3 == 0 and bool(d3)
             and cli3.get('passed') is True, f'rc={rc3} {err3[-600:]}')


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--keep', help='keep the work folder here')
    ap.add_argument('--vipwire', default=os.environ.get(
        'VIPWIRE', os.path.join(run.ROOT, 'target', 'release', 'vipwire')))
    a = ap.parse_args()
    venv_py = os.path.join(os.path.dirname(openstack_bin()), 'python')
    if not os.access(venv_py, os.X_OK) or not os.access(a.vipwire, os.X_OK):
        print(f'set-up failed: need {venv_py} (setup.sh) and {a.vipwire}')
        return 2
    work = a.keep or tempfile.mkdtemp(prefix='vwosc-')
    os.makedirs(work, exist_ok=True)
    bed = run.Bed(work)
    try:
        kport, nport = run.free_port(), run.free_port()
        kurl = f'http://127.0.0.1:{kport}/v3'
        nurl = f'http://127.0.0.1:{nport}/'
        svc = [venv_py, os.path.join(HERE, 'services.py')]
        k = bed.start('keystone', svc + [
            'keystone', '--workdir', os.path.join(work, 'keystone'),
            '--port', str(kport), '--admin-password', run.ADMIN_PW])
        bed.wait_http('keystone', k, kurl)
        admin, project, ac_id, ac_secret = run.setup_identity(kurl, nurl)
        n = bed.start('neutron', svc + [
            'neutron', '--workdir', os.path.join(work, 'neutron'),
            '--port', str(nport), '--keystone', kurl,
            '--service-password', run.SERVICE_PW])
        bed.wait_http('neutron', n, nurl)
        run.build_cloud(nurl, admin, project)
        unused = 'http://127.0.0.1:9/'
        run.clouds_yaml(os.path.join(work, 'clouds.yaml'), kurl, unused,
                        ac_id, ac_secret, 9, unused, os.devnull, unused,
                        unused, unused, unused)
        r = run.Runner(a.vipwire, work)
        tests(r, work)
        print(f'{r.passed} passed, {r.failed} failed')
        return 1 if r.failed else 0
    except run.SetupError as e:
        print(f'set-up failed: {e}')
        print('0 passed, 1 failed')
        return 2
    finally:
        bed.stop()
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())
