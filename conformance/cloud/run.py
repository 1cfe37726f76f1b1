#!/usr/bin/env python3
"""vipwire check --os-cloud against a real Keystone + neutron-server on 127.0.0.1.

    run.py [--keep DIR] [--runs N] [--vipwire PATH] [--big N]

Starts the real Keystone 30.0.0 and neutron-server 29.0.0 (services.py, venv
from setup.sh; each its own process on an ephemeral loopback port), sets up
identity as a deployer would (service user for keystonemiddleware, the network
service and endpoints in the catalog, a project `lb-project` with a member
user `lb-user`, an application credential of that user), builds the field
report's cloud (examples/lvs-dr/neutron.json) in lb-project through the API as
admin, writes a clouds.yaml and runs vipwire as the project member (a tenant's
view: no binding:host_id). Checks:

- password and application-credential auth give the offline verdict of
  `vipwire check` on the built-in example (same flows passing and failing, same
  exit code);
- `--save DIR` then `vipwire check DIR/scenario.yaml` gives the same report
  offline, and DIR holds no password, secret or token; a second save into
  DIR keeps only the new reading;
- `--fix` on what was read proposes the offline fix, with its exit code;
- paging through the real server (`--page-size 2`) gives the same verdict;
- so does a standalone neutron-server (auth_strategy noauth, a second
  process) read with `auth_type: none` and `network_endpoint_override`;
- so do an openrc file's OS_* variables (internal endpoint), an existing
  token rescoped to the project (v3token), and Neutron behind an HTTPS front
  (fault_proxy.py with a test CA made by openssl) with `cacert` or `insecure`;
  without `cacert` the system roots refuse it: exit 2 naming `cacert`;
- a wrong password, a wrong network endpoint (404), an unreachable Keystone,
  and a 500 in the middle of paging
  (fault_proxy.py, a fault injector in front of the real Neutron) each end
  with exit 2 and a message naming the cloud, the URL and the cause;
- `--fix --apply`: refused without a terminal and --yes; with --yes the
  cloud goes from failing to passing (vipwire's re-check and the ports read
  back here); `--undo` restores the exact pairs; a concurrent edit (a
  fault_proxy.py that writes the port itself before forwarding vipwire's
  first PUT) keeps both pairs through Neutron's 412; with the default group's
  remote-group rule removed the fix's rules are created, one raced in first
  by the proxy (409 = done, not undone); `--driver ovn` applies the OVN fix
  (new stateless groups with copied rules, the directors moved into them)
  and its undo puts them back; a port deleted before the second port PUT
  gives exit 1 with applied / not applied and a matching undo file.
- before the apply tests, osc_compare.py: the real `openstack` CLI's
  `show -f json` files give the report of the API reading.

--big N (heavy, not in the quick set) then adds N ports to the VIP's network
(IPv6 only, from 2001:db8:1::/64, in a group of their own; bulk-created 50
per call) and measures discovery again: every port of the network is read,
paged at 500.

Every process started is stopped by its PID, also on failure. Ends with
"N passed, M failed"; exit 1 on a failure, 2 when the set-up fails.
"""

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
EXAMPLE = os.path.join(ROOT, 'examples', 'lvs-dr')
VIP = '203.0.113.241'
ADMIN_PW = 'admin-pw-5d1c'
SERVICE_PW = 'neutron-pw-8a2e'
USER_PW = 'lb-user-pw-3f9b'

# Neutron's stock default security-group rule templates (what its migrations
# seed; the sqlite schema made from the models has none).
DEFAULT_TEMPLATES = [
    dict(direction='ingress', ethertype='IPv4', remote_group_id='PARENT',
         used_in_default_sg=True, used_in_non_default_sg=False),
    dict(direction='ingress', ethertype='IPv6', remote_group_id='PARENT',
         used_in_default_sg=True, used_in_non_default_sg=False),
    dict(direction='egress', ethertype='IPv4', used_in_default_sg=True,
         used_in_non_default_sg=True),
    dict(direction='egress', ethertype='IPv6', used_in_default_sg=True,
         used_in_non_default_sg=True),
]


class SetupError(Exception):
    """The test bed could not be built (exit 2)."""


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def call(method, url, body=None, token=None, want_token=False, timeout=60):
    data = json.dumps(body).encode() if body is not None else None
    headers = {'Content-Type': 'application/json',
               'Accept': 'application/json'}
    if token:
        headers['X-Auth-Token'] = token
    req = urllib.request.Request(url, method=method, data=data,
                                 headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read()
            out = json.loads(raw) if raw else {}
            if want_token:
                return r.headers['X-Subject-Token'], out
            return out
    except urllib.error.HTTPError as e:
        raise SetupError(f'{method} {url}: {e.code} '
                         f'{e.read().decode(errors="replace")[:300]}') from e


class Bed:
    """The processes of the test bed, stopped by PID."""

    def __init__(self, work):
        self.work = work
        self.procs = []

    def start(self, name, args, env=None):
        log = open(os.path.join(self.work, f'{name}.log'), 'w')
        p = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                             start_new_session=True,
                             env=dict(os.environ, **env) if env else None)
        self.procs.append((name, p))
        return p

    def wait_http(self, name, proc, url, timeout=180):
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if proc.poll() is not None:
                tail = open(os.path.join(self.work, f'{name}.log')).read()[-2000:]
                raise SetupError(f'{name} exited ({proc.returncode}):\n{tail}')
            try:
                urllib.request.urlopen(url, timeout=2).read()
                return time.monotonic() - t0
            except urllib.error.HTTPError:
                return time.monotonic() - t0
            except OSError:
                time.sleep(0.3)
        raise SetupError(f'{name} did not answer {url} in {timeout} s')

    def stop(self):
        for name, p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        self.procs = []


def setup_identity(kurl, neutron_url):
    """Service user, catalog, lb-project with lb-user, app credential."""
    token, _ = call('POST', f'{kurl}/auth/tokens', want_token=True, body={
        'auth': {'identity': {'methods': ['password'], 'password': {'user': {
            'name': 'admin', 'domain': {'id': 'default'},
            'password': ADMIN_PW}}},
            'scope': {'project': {'name': 'admin',
                                  'domain': {'id': 'default'}}}}})
    roles = {r['name']: r['id'] for r in
             call('GET', f'{kurl}/roles', token=token)['roles']}

    def project(name):
        return call('POST', f'{kurl}/projects', token=token, body={
            'project': {'name': name, 'domain_id': 'default'}})['project']['id']

    def user(name, pw, proj, role):
        uid = call('POST', f'{kurl}/users', token=token, body={
            'user': {'name': name, 'password': pw, 'domain_id': 'default',
                     'default_project_id': proj}})['user']['id']
        call('PUT', f'{kurl}/projects/{proj}/users/{uid}/roles/{roles[role]}',
             token=token)
        return uid
    service = project('service')
    user('neutron', SERVICE_PW, service, 'admin')
    lb = project('lb-project')
    uid = user('lb-user', USER_PW, lb, 'member')
    sid = call('POST', f'{kurl}/services', token=token, body={
        'service': {'type': 'network', 'name': 'neutron'}})['service']['id']
    for iface in ('public', 'internal'):
        call('POST', f'{kurl}/endpoints', token=token, body={'endpoint': {
            'service_id': sid, 'interface': iface, 'region_id': 'RegionOne',
            'url': neutron_url}})
    utoken, _ = call('POST', f'{kurl}/auth/tokens', want_token=True, body={
        'auth': {'identity': {'methods': ['password'], 'password': {'user': {
            'id': uid, 'password': USER_PW}}},
            'scope': {'project': {'id': lb}}}})
    ac = call('POST', f'{kurl}/users/{uid}/application_credentials',
              token=utoken, body={'application_credential': {
                  'name': 'vipwire-test'}})['application_credential']
    return token, lb, ac['id'], ac['secret']


def build_cloud(nurl, token, project):
    """The field report's cloud from examples/lvs-dr/neutron.json, in `project`."""
    api = nurl.rstrip('/') + '/v2.0/'
    for t in DEFAULT_TEMPLATES:
        call('POST', api + 'default-security-group-rules', token=token,
             body={'default_security_group_rule': t})
    ex = json.load(open(os.path.join(EXAMPLE, 'neutron.json')))
    ids = {}
    for n in ex['networks']:
        ids[n['id']] = call('POST', api + 'networks', token=token, body={
            'network': {'name': n['name'], 'project_id': project}})[
                'network']['id']
    for sn in ex['subnets']:
        ids[sn['id']] = call('POST', api + 'subnets', token=token, body={
            'subnet': {'network_id': ids[sn['network_id']],
                       'cidr': sn['cidr'], 'ip_version': sn['ip_version'],
                       'gateway_ip': sn['gateway_ip'], 'name': sn['name'],
                       'enable_dhcp': False, 'project_id': project}})[
                           'subnet']['id']
    router = call('POST', api + 'routers', token=token, body={
        'router': {'name': 'router-1', 'project_id': project}})['router']['id']
    default_sg = None
    for p in ex['ports']:
        body = {'network_id': ids[p['network_id']], 'project_id': project,
                'name': p['name'], 'mac_address': p['mac_address'],
                'fixed_ips': [{'subnet_id': ids[f['subnet_id']],
                               'ip_address': f['ip_address']}
                              for f in p['fixed_ips']],
                'device_owner': p['device_owner'],
                'binding:host_id': p['binding:host_id'],
                'port_security_enabled': p['port_security_enabled']}
        if p['device_owner'].startswith('network:router'):
            body['device_id'] = router
            body['security_groups'] = []
        elif default_sg:
            body['security_groups'] = [default_sg]
        if p['port_security_enabled'] and p['allowed_address_pairs']:
            body['allowed_address_pairs'] = p['allowed_address_pairs']
        created = call('POST', api + 'ports', token=token,
                       body={'port': body})['port']
        if not default_sg and created['security_groups']:
            # The first VM port got the project's default group.
            default_sg = created['security_groups'][0]
    # The example's default group has one more rule than the templates: ICMP.
    group = next(g for g in ex['security_groups'] if g['name'] == 'default')
    template_like = {('egress', 'IPv4', None), ('egress', 'IPv6', None),
                     ('ingress', 'IPv4', group['id']),
                     ('ingress', 'IPv6', group['id'])}
    for r in group['security_group_rules']:
        if (r['direction'], r['ethertype'], r['remote_group_id']) in template_like \
                and r['protocol'] is None:
            continue
        body = {k: r[k] for k in ('direction', 'ethertype', 'protocol',
                                  'port_range_min', 'port_range_max',
                                  'remote_ip_prefix') if r.get(k) is not None}
        body['security_group_id'] = default_sg
        call('POST', api + 'security-group-rules', token=token,
             body={'security_group_rule': body})
    return len(ex['ports'])


def clouds_yaml(path, kurl, proxy_url, ac_id, ac_secret, dead_port, tls_url,
                ca, standalone_url, race_url, delete_url, rules_url):
    auth = (f'      auth_url: {kurl}\n      username: lb-user\n'
            f'      project_name: lb-project\n      user_domain_name: Default\n'
            f'      project_domain_name: Default\n')
    text = f"""clouds:
  lvs-password:
    region_name: RegionOne
    auth:
{auth}  lvs-appcred:
    auth_type: v3applicationcredential
    auth:
      auth_url: {kurl}
      application_credential_id: {ac_id}
      application_credential_secret: {ac_secret}
  lvs-badpass:
    auth:
{auth}      password: not-the-password-71c
  lvs-unreachable:
    connect_retries: 1
    auth:
      auth_url: http://127.0.0.1:{dead_port}/v3
      username: lb-user
      password: x
      project_name: lb-project
  lvs-fault:
    status_code_retries: 1
    network_endpoint_override: {proxy_url}
    auth:
{auth}  lvs-wrong-endpoint:
    network_endpoint_override: {kurl.rsplit('/v3', 1)[0]}/
    auth:
{auth}  lvs-standalone:
    auth_type: none
    network_endpoint_override: {standalone_url}
  lvs-tls-cacert:
    network_endpoint_override: {tls_url}
    cacert: {ca}
    auth:
{auth}  lvs-tls-system-roots:
    connect_retries: 0
    network_endpoint_override: {tls_url}
    auth:
{auth}  lvs-tls-insecure:
    network_endpoint_override: {tls_url}
    insecure: true
    auth:
{auth}  lvs-race:
    network_endpoint_override: {race_url}
    auth:
{auth}  lvs-delete:
    network_endpoint_override: {delete_url}
    auth:
{auth}  lvs-rules:
    network_endpoint_override: {rules_url}
    auth:
{auth}"""
    with open(path, 'w') as f:
        f.write(text)
    # The password of lvs-password and lvs-fault lives in secure.yaml.
    with open(os.path.join(os.path.dirname(path), 'secure.yaml'), 'w') as f:
        f.write('clouds:\n' + ''.join(
            f'  {c}:\n    auth:\n      password: {USER_PW}\n'
            for c in ('lvs-password', 'lvs-fault', 'lvs-tls-cacert',
                      'lvs-wrong-endpoint', 'lvs-race', 'lvs-delete', 'lvs-rules',
                      'lvs-tls-system-roots', 'lvs-tls-insecure')))


def verdict(doc):
    """The verdict of a check JSON: each flow's outcome, sorted, and passed."""
    flows = sorted((f['name'], f['outcome']) for f in doc['check']['flows'])
    return flows, doc['passed']


class Runner:
    def __init__(self, vipwire, cwd):
        self.vipwire = vipwire
        self.cwd = cwd
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith('OS_')}
        self.env['HOME'] = cwd
        self.passed = 0
        self.failed = 0

    def run(self, args, env=None):
        t0 = time.monotonic()
        p = subprocess.run([self.vipwire] + args, cwd=self.cwd,
                           env=dict(self.env, **(env or {})),
                           stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=300)
        return p.returncode, p.stdout, p.stderr, time.monotonic() - t0

    def expect(self, name, ok, detail=''):
        if ok:
            self.passed += 1
            print(f'ok   {name}')
        else:
            self.failed += 1
            print(f'FAIL {name}\n     {detail[:1500]}')


def discovery_time(stderr):
    for line in stderr.splitlines():
        if 'read cloud' in line and ' in ' in line:
            return float(line.rsplit(' in ', 1)[1].split()[0]), line
    return None, ''


def make_tls(work):
    """A test CA and a leaf for 127.0.0.1 signed by it (openssl)."""
    d = os.path.join(work, 'tls')
    os.makedirs(d, exist_ok=True)
    p = lambda n: os.path.join(d, n)  # noqa: E731
    ext = p('leaf.ext')
    with open(ext, 'w') as f:
        f.write('subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n'
                'keyUsage=digitalSignature,keyEncipherment\n'
                'extendedKeyUsage=serverAuth\n')
    for cmd in (
            ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout',
             p('ca.key'), '-out', p('ca.pem'), '-days', '2', '-subj',
             '/CN=vipwire test CA'],
            ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', p('leaf.key'),
             '-out', p('leaf.csr'), '-subj', '/CN=127.0.0.1'],
            ['x509', '-req', '-in', p('leaf.csr'), '-CA', p('ca.pem'),
             '-CAkey', p('ca.key'), '-CAcreateserial', '-out', p('leaf.pem'),
             '-days', '2', '-extfile', ext]):
        subprocess.run(['openssl'] + cmd, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return p('ca.pem'), p('leaf.pem'), p('leaf.key')


def tests(r, work, ac_secret, runs, kurl):
    keep = ['--keepalived', os.path.join(EXAMPLE, 'keepalived-director-1.conf'),
            '--keepalived', os.path.join(EXAMPLE, 'keepalived-director-2.conf')]
    rc0, out0, err0, _ = r.run(['check', '--format', 'json'])
    offline = verdict(json.loads(out0))
    r.expect('offline built-in check runs (exit 1: the report\'s drop)',
             rc0 == 1, err0)
    base = ['check', '--vip', VIP] + keep
    save = os.path.join(work, 'saved')
    for cloud in ('lvs-password', 'lvs-appcred'):
        args = base + ['--os-cloud', cloud, '--format', 'json']
        if cloud == 'lvs-password':
            args += ['--save', save]
        rc, out, err, _ = r.run(args)
        ok = rc == rc0 and out.strip().startswith('{')
        got = verdict(json.loads(out)) if ok else None
        r.expect(f'{cloud}: same verdict and exit code as offline ({rc})',
                 ok and got == offline,
                 f'rc={rc} stderr={err}\n got={got}\n want={offline}')
        if cloud == 'lvs-password' and ok:
            cloud_doc = json.loads(out)
            rc2, out2, err2, _ = r.run(
                ['check', os.path.join(save, 'scenario.yaml'), '--format',
                 'json'])
            same = rc2 == rc and json.loads(out2 or '{}') == cloud_doc
            r.expect('--save DIR, then check DIR/scenario.yaml offline: the '
                     'same report', same, f'rc={rc2} {err2}')
            blob = ''
            for dp, _, fs in os.walk(save):
                for f in fs:
                    blob += open(os.path.join(dp, f), errors='replace').read()
            leaks = [s for s in (USER_PW, ADMIN_PW, ac_secret, 'X-Auth-Token',
                                 'gAAAA') if s in blob]
            r.expect('--save DIR holds no password, secret or token',
                     not leaks and 'api/' in blob, f'found {leaks}')
    # Paging through the real server.
    rc, out, err, _ = r.run(base + ['--os-cloud', 'lvs-password', '--format',
                                    'json', '--page-size', '2', '--save',
                                    save])
    disc = json.load(open(os.path.join(save, 'discovery.json'))) \
        if rc == rc0 else {'calls': []}
    markers = [c for c in disc['calls'] if 'marker=' in c['url']]
    r.expect('--page-size 2: Neutron pages (marker links followed), same '
             'verdict', rc == rc0 and markers
             and verdict(json.loads(out)) == offline,
             f'rc={rc} markers={len(markers)} {err}')
    # Saved again over the paged reading (more files): only this one stays.
    rc, out, err, _ = r.run(base + ['--os-cloud', 'lvs-password', '--format',
                                    'json', '--save', save])
    disc = json.load(open(os.path.join(save, 'discovery.json'))) \
        if rc == rc0 else {'responses': []}
    files = sorted(os.listdir(os.path.join(save, 'api')))
    rc2, out2, _, _ = r.run(['check', os.path.join(save, 'scenario.yaml'),
                             '--format', 'json'])
    r.expect('--save over a saved folder keeps only the new reading, which '
             'replays offline', rc == rc0 and len(files) == len(disc['responses'])
             and rc2 == rc and json.loads(out2 or '{}') == json.loads(out or '{}'),
             f'rc={rc} rc2={rc2} files={files} {err}')
    # Text output: what was inferred.
    rc, out, err, _ = r.run(base + ['--os-cloud', 'lvs-password'])
    r.expect('text output names the inferred roles and backend',
             rc == rc0 and 'Directors:' in out and 'Firewall backend:' in out
             and 'director-1' in out, out[:800] + err)
    print('\n'.join('     | ' + line for line in out.splitlines()[:12]))
    # --fix on what was read: the offline fix's exit code.
    rcf0, _, _, _ = r.run(['check', '--fix'])
    rc, out, err, _ = r.run(base + ['--os-cloud', 'lvs-password', '--fix'])
    r.expect('--fix on the cloud read: the offline --fix exit code '
             f'({rcf0}), the same proposal', rc == rcf0
             and 'allowed-address ip-address=0.0.0.0/0' in out,
             f'rc={rc} {out[-800:]} {err}')
    # Bad input: each exit 2 with a clear message.
    rc, out, err, _ = r.run(base + ['--os-cloud', 'lvs-badpass'])
    r.expect('wrong password: exit 2, 401 named with the cloud and URL, no '
             'password printed',
             rc == 2 and '401 Unauthorized' in err and 'lvs-badpass' in err
             and '/v3/auth/tokens' in err
             and 'not-the-password-71c' not in err + out, f'rc={rc} {err}')
    print('     | ' + err.strip().splitlines()[-1][:300])
    rc, out, err, _ = r.run(base + ['--os-cloud', 'lvs-unreachable'])
    r.expect('unreachable Keystone: exit 2, "cannot reach" with the URL',
             rc == 2 and 'cannot reach the endpoint' in err
             and 'lvs-unreachable' in err, f'rc={rc} {err}')
    print('     | ' + err.strip().splitlines()[-1][:300])
    rc, out, err, _ = r.run(base + ['--os-cloud', 'lvs-fault',
                                    '--page-size', '3'])
    r.expect('500 mid-paging (fault injector): exit 2, HTTP 500 with the '
             'page URL, after a retry',
             rc == 2 and 'HTTP 500 after 2 attempt(s)' in err
             and 'marker=' in err and 'injected by fault_proxy.py' in err,
             f'rc={rc} {err}')
    print('     | ' + err.strip().splitlines()[-1][:300])
    # Keystone's URL given as Neutron's: a 404 that says where to look.
    rc, out, err, _ = r.run(base + ['--os-cloud', 'lvs-wrong-endpoint'])
    r.expect('wrong network endpoint: exit 2, 404 naming the endpoint to '
             'check', rc == 2 and '404 Not Found' in err
             and 'network_endpoint_override' in err, f'rc={rc} {err}')
    print('     | ' + (err.strip().splitlines() or [''])[-1][:300])
    # A standalone Neutron (noauth) with auth_type none.
    rc, out, err, _ = r.run(base + ['--os-cloud', 'lvs-standalone',
                                    '--format', 'json'])
    r.expect('auth_type none + network_endpoint_override (standalone '
             'neutron-server, noauth): same verdict', rc == rc0
             and out.startswith('{') and verdict(json.loads(out)) == offline,
             f'rc={rc} {err}')
    # --port instead of --vip: the director's one single-address pair.
    rc, out, err, _ = r.run(['check', '--os-cloud', 'lvs-password', '--port',
                             'director-2', '--format', 'json'] + keep)
    r.expect('--port director-2 instead of --vip: the VIP from its pair, same '
             'verdict', rc == rc0 and out.startswith('{')
             and verdict(json.loads(out)) == offline
             and '--port director-2 holds VIP 203.0.113.241' in err,
             f'rc={rc} {err}')
    # An openrc file's OS_* variables instead of clouds.yaml.
    openrc = {'OS_AUTH_URL': kurl, 'OS_USERNAME': 'lb-user',
              'OS_PASSWORD': USER_PW, 'OS_PROJECT_NAME': 'lb-project',
              'OS_USER_DOMAIN_NAME': 'Default',
              'OS_PROJECT_DOMAIN_NAME': 'Default',
              'OS_REGION_NAME': 'RegionOne', 'OS_INTERFACE': 'internal'}
    rc, out, err, _ = r.run(base + ['--format', 'json'], env=openrc)
    r.expect('OS_* variables (openrc, internal endpoint): same verdict',
             rc == rc0 and out.startswith('{')
             and verdict(json.loads(out)) == offline
             and 'read cloud "envvars"' in err, f'rc={rc} {err}')
    # An existing token (v3token), rescoped to the project.
    token, _ = call('POST', f'{kurl}/auth/tokens', want_token=True, body={
        'auth': {'identity': {'methods': ['password'], 'password': {'user': {
            'name': 'lb-user', 'domain': {'id': 'default'},
            'password': USER_PW}}}}})
    rc, out, err, _ = r.run(base + ['--format', 'json'], env={
        'OS_AUTH_TYPE': 'v3token', 'OS_TOKEN': token, 'OS_AUTH_URL': kurl,
        'OS_PROJECT_NAME': 'lb-project',
        'OS_PROJECT_DOMAIN_ID': 'default'})
    r.expect('token auth (unscoped token rescoped to the project): same '
             'verdict', rc == rc0 and out.startswith('{')
             and verdict(json.loads(out)) == offline
             and token not in out + err, f'rc={rc} {err}')
    # The same token revoked (as an expired one is refused): exit 2, the
    # token named as the thing to renew, never printed.
    req = urllib.request.Request(f'{kurl}/auth/tokens', method='DELETE',
                                 headers={'X-Auth-Token': token,
                                          'X-Subject-Token': token})
    urllib.request.urlopen(req, timeout=30).read()
    rc, out, err, _ = r.run(base, env={
        'OS_AUTH_TYPE': 'v3token', 'OS_TOKEN': token, 'OS_AUTH_URL': kurl,
        'OS_PROJECT_NAME': 'lb-project',
        'OS_PROJECT_DOMAIN_ID': 'default'})
    r.expect('a revoked (or expired) token: exit 2, says to renew the token, '
             'not printed', rc == 2 and 'expired or revoked' in err
             and token not in out + err, f'rc={rc} {err}')
    print('     | ' + (err.strip().splitlines() or [''])[-1][:300])
    # TLS: Neutron behind an HTTPS front with a test CA.
    rc, out, err, _ = r.run(base + ['--os-cloud', 'lvs-tls-cacert',
                                    '--format', 'json'])
    r.expect('TLS with cacert: same verdict', rc == rc0
             and out.startswith('{') and verdict(json.loads(out)) == offline,
             f'rc={rc} {err}')
    rc, out, err, _ = r.run(base + ['--os-cloud', 'lvs-tls-system-roots'])
    r.expect('TLS with the system roots refuses the test CA: exit 2, names '
             'cacert', rc == 2 and 'TLS failed' in err and 'cacert' in err,
             f'rc={rc} {err}')
    print('     | ' + (err.strip().splitlines() or [''])[-1][:300])
    rc, out, err, _ = r.run(base + ['--os-cloud', 'lvs-tls-insecure',
                                    '--format', 'json'])
    r.expect('TLS insecure: same verdict, with a warning', rc == rc0
             and out.startswith('{') and verdict(json.loads(out)) == offline
             and 'TLS verification is off' in err, f'rc={rc} {err}')
    # Discovery time (the field report's cloud), median of several runs.
    m = discovery_runs(r, base + ['--os-cloud', 'lvs-password', '--format',
                                  'json'], runs)
    if m:
        print(f'# discovery (password auth, {m[2]} runs): median {m[0]:.3f} s '
              f'reading (of which Keystone token {m[4]:.3f} s), {m[1]:.3f} s '
              f'whole command; last: {m[3]}')


RACE_PAIR = '198.51.100.77'


def pairs_by_port(nurl, token, project):
    """{port name: sorted (ip, mac) pairs} as the API returns them now."""
    api = nurl.rstrip('/') + '/v2.0/'
    ports = call('GET', api + f'ports?project_id={project}', token=token)['ports']
    return {p['name']: sorted((a['ip_address'], a['mac_address'].lower())
                              for a in p['allowed_address_pairs'])
            for p in ports}


def apply_tests(r, work, nurl, admin, project):
    """--fix --apply against the real Neutron, read back from the API."""
    keep = ['--keepalived', os.path.join(EXAMPLE, 'keepalived-director-1.conf'),
            '--keepalived', os.path.join(EXAMPLE, 'keepalived-director-2.conf')]
    base = ['check', '--vip', VIP] + keep
    snap = pairs_by_port(nurl, admin, project)
    any_src = lambda name, now: any(  # noqa: E731
        ip == '0.0.0.0/0' for ip, _ in now.get(name, []))
    # Not a terminal and no --yes: refused, nothing written.
    rc, out, err, _ = r.run(base + ['--os-cloud', 'lvs-password', '--fix',
                                    '--apply'])
    r.expect('--apply without a terminal and without --yes: exit 2, asks '
             'for --yes, the plan shown, nothing written',
             rc == 2 and '--yes' in err and 'Plan for cloud' in out
             and pairs_by_port(nurl, admin, project) == snap,
             f'rc={rc} {err[-600:]}')
    print('     | ' + (err.strip().splitlines() or [''])[-1][:300])
    # On a terminal it asks; "n" writes nothing (stdin a pty with the answer
    # typed ahead).
    master, slave = os.openpty()
    os.write(master, b'n\n')
    p = subprocess.run([r.vipwire] + base + ['--os-cloud', 'lvs-password',
                                             '--fix', '--apply'],
                       cwd=r.cwd, env=r.env, stdin=slave, capture_output=True,
                       text=True, timeout=120)
    os.close(slave)
    os.close(master)
    r.expect('--apply on a terminal asks; answered "n": exit 1, nothing '
             'written', p.returncode == 1
             and 'Apply these 2 step(s) to cloud "lvs-password"? [y/N]'
             in p.stderr and 'not applied' in p.stderr
             and pairs_by_port(nurl, admin, project) == snap,
             f'rc={p.returncode} {p.stderr[-600:]}')
    # Apply: from failing to passing, read back from the API.
    u1 = os.path.join(work, 'undo-1.json')
    t = time.monotonic()
    rc, out, err, wall = r.run(base + ['--os-cloud', 'lvs-password', '--fix',
                                       '--apply', '--yes', '--undo-file', u1])
    now = pairs_by_port(nurl, admin, project)
    r.expect(f'--fix --apply --yes: exit 0, "After applying: PASS" on the '
             f'cloud read back ({wall:.1f} s)',
             rc == 0 and 'After applying: PASS' in out
             and any_src('director-1', now) and any_src('director-2', now)
             and all(set(snap[n]) <= set(now[n]) for n in snap),
             f'rc={rc} {out[-1500:]} {err[-800:]}')
    for line in out.splitlines():
        if line.startswith(('Plan for', '  1. ', '  2. ', 'Applying',
                            '  port ', 'After applying')):
            print('     | ' + line[:200])
    rc, out, err, _ = r.run(base + ['--os-cloud', 'lvs-password', '--format',
                                    'json'])
    r.expect('a plain check of the cloud now passes (exit 0)',
             rc == 0 and json.loads(out or '{}').get('passed') is True,
             f'rc={rc} {err[-500:]}')
    # Applying again: nothing to add (the pairs are there).
    rc, out, err, _ = r.run(base + ['--os-cloud', 'lvs-password', '--fix',
                                    '--apply', '--yes', '--format', 'json',
                                    '--undo-file',
                                    os.path.join(work, 'undo-again.json')])
    doc = json.loads(out) if out.startswith('{') else {}
    r.expect('--apply on the fixed cloud (--format json): nothing to apply, '
             'exit 0, one JSON document on stdout',
             rc == 0 and 'Nothing to apply' in err and doc.get('passed') is True
             and doc['apply']['applied'] == [], f'rc={rc} {out[-600:]} {err[-300:]}')
    # Undo: the exact pairs before.
    rc, out, err, _ = r.run(['check', '--os-cloud', 'lvs-password', '--undo',
                             u1])
    r.expect('--undo FILE: exit 0, every port holds exactly its pairs from '
             'before the apply', rc == 0
             and pairs_by_port(nurl, admin, project) == snap,
             f'rc={rc} {out} {err[-500:]}')
    rc, out, err, _ = r.run(base + ['--os-cloud', 'lvs-password'])
    r.expect('after --undo the check fails again (exit 1)', rc == 1,
             f'rc={rc} {err[-300:]}')
    # Concurrent edit: the proxy adds a pair between vipwire's read and
    # its first PUT; Neutron answers 412, vipwire re-reads and merges.
    u2 = os.path.join(work, 'undo-2.json')
    rc, out, err, _ = r.run(base + ['--os-cloud', 'lvs-race', '--fix',
                                    '--apply', '--yes', '--undo-file', u2])
    now = pairs_by_port(nurl, admin, project)
    raced = [n for n in now if any(ip == RACE_PAIR for ip, _ in now[n])]
    r.expect('concurrent edit (another client adds a pair between read and '
             'write): 412 path, both pairs kept, exit 0',
             rc == 0 and '412' in out and len(raced) == 1
             and any_src(raced[0], now) and set(snap[raced[0]]) <= set(now[raced[0]])
             and 'After applying: PASS' in out,
             f'rc={rc} raced={raced} {out[-1500:]} {err[-500:]}')
    for line in out.splitlines():
        if '412' in line:
            print('     | ' + line.strip()[:200])
    rc, out, err, _ = r.run(['check', '--os-cloud', 'lvs-password', '--undo',
                             u2])
    now = pairs_by_port(nurl, admin, project)
    r.expect('--undo after the race removes only vipwire\'s pairs: the other '
             'client\'s pair stays', rc == 0 and raced
             and any(ip == RACE_PAIR for ip, _ in now[raced[0]])
             and not any_src(raced[0], now)
             and all(now[n] == snap[n] for n in snap if n != raced[0]),
             f'rc={rc} {out} {err[-500:]}')
    # Put the other client's pair away again (as admin).
    api = nurl.rstrip('/') + '/v2.0/'
    for p in call('GET', api + f'ports?project_id={project}',
                  token=admin)['ports']:
        if p['name'] in raced:
            call('PUT', api + f'ports/{p["id"]}', token=admin, body={'port': {
                'allowed_address_pairs': [
                    a for a in p['allowed_address_pairs']
                    if a['ip_address'] != RACE_PAIR]}})
    # Rules: without the default group's IPv4 remote-group rule the fix
    # needs new rules (VRRP from each director, tcp/80); another client
    # creates the first of them just before vipwire does (409: done).
    rules_tests(r, work, nurl, admin, project, base, snap)
    # The OVN fix: stateless groups with copied rules, ports moved into them.
    ovn_tests(r, work, nurl, admin, project, base, snap)
    # A port deleted between vipwire's read and its second port write.
    u3 = os.path.join(work, 'undo-3.json')
    rc, out, err, _ = r.run(base + ['--os-cloud', 'lvs-delete', '--fix',
                                    '--apply', '--yes', '--undo-file', u3])
    now = pairs_by_port(nurl, admin, project)
    rec = json.load(open(u3)) if os.path.exists(u3) else {'ports': []}
    gone = [n for n in snap if n not in now]
    done = [p['name'] for p in rec['ports']]
    r.expect('a port deleted between read and write: exit 1, the 404 named, '
             'applied / not applied listed, the undo file holds what was '
             'applied', rc == 1 and '404 Not Found' in out
             and 'Applied (1):' in out and 'Not applied (1):' in out
             and len(gone) == 1 and len(done) == 1 and any_src(done[0], now)
             and gone[0] in out.split('Not applied (1):')[1],
             f'rc={rc} gone={gone} done={done} {out[-1500:]} {err[-500:]}')
    for line in out.split('FAILED:', 1)[-1].splitlines()[:6]:
        print('     | ' + line[:200])
    rc, out, err, _ = r.run(['check', '--os-cloud', 'lvs-password', '--undo',
                             u3])
    now = pairs_by_port(nurl, admin, project)
    r.expect('--undo of the half-applied run restores the port it changed',
             rc == 0 and done and now.get(done[0]) == snap[done[0]],
             f'rc={rc} {out} {err[-500:]}')


def group_rules(nurl, token, project):
    api = nurl.rstrip('/') + '/v2.0/'
    sg = call('GET', api + f'security-groups?project_id={project}&name=default',
              token=token)['security_groups'][0]
    return sg['id'], call('GET', api + f'security-group-rules?security_group_id='
                          f'{sg["id"]}', token=token)['security_group_rules']


def rule_key(r):
    return (r['direction'], r['ethertype'], r['protocol'], r['port_range_min'],
            r['port_range_max'], r['remote_ip_prefix'], r['remote_group_id'])


def rules_tests(r, work, nurl, admin, project, base, snap):
    api = nurl.rstrip('/') + '/v2.0/'
    sg, rules = group_rules(nurl, admin, project)
    rg = next(x for x in rules if x['direction'] == 'ingress'
              and x['ethertype'] == 'IPv4' and x['remote_group_id'])
    call('DELETE', api + f'security-group-rules/{rg["id"]}', token=admin)
    before = {rule_key(x) for x in group_rules(nurl, admin, project)[1]}
    u4 = os.path.join(work, 'undo-4.json')
    rc, out, err, _ = r.run(base + ['--os-cloud', 'lvs-rules', '--fix',
                                    '--apply', '--yes', '--undo-file', u4])
    after = group_rules(nurl, admin, project)[1]
    new = [x for x in after if rule_key(x) not in before]
    rec = json.load(open(u4)) if os.path.exists(u4) else {'rules_created': []}
    created = {x['id'] for x in rec['rules_created']}
    r.expect('rules: --apply creates the missing rules (one raced in by '
             'another client: 409 counted as done, not in the undo file), '
             'pairs too; exit 0, PASS on the cloud read back',
             rc == 0 and 'After applying: PASS' in out and 'already there (409)'
             in out and len(new) == 3 and len(created) == 2
             and created <= {x['id'] for x in new}
             and any(x['protocol'] == 'tcp' and x['port_range_min'] == 80
                     for x in new),
             f'rc={rc} new={len(new)} created={created} {out[-1500:]} '
             f'{err[-400:]}')
    for line in out.splitlines():
        if 'created rule' in line or '(409)' in line:
            print('     | ' + line.strip()[:200])
    rc, out, err, _ = r.run(['check', '--os-cloud', 'lvs-password', '--undo',
                             u4])
    left = [x for x in group_rules(nurl, admin, project)[1]
            if rule_key(x) not in before]
    r.expect('--undo deletes the rules vipwire created (the other client\'s '
             'stays) and restores the pairs',
             rc == 0 and len(left) == 1 and left[0]['id'] not in created
             and pairs_by_port(nurl, admin, project) == snap,
             f'rc={rc} left={len(left)} {out} {err[-400:]}')
    # Back to the field report's group.
    for x in left:
        call('DELETE', api + f'security-group-rules/{x["id"]}', token=admin)
    call('POST', api + 'security-group-rules', token=admin, body={
        'security_group_rule': {'security_group_id': sg, 'direction': 'ingress',
                                'ethertype': 'IPv4', 'remote_group_id': sg}})


def port_groups(nurl, token, project):
    api = nurl.rstrip('/') + '/v2.0/'
    return {p['name']: p['security_groups'] for p in call(
        'GET', api + f'ports?project_id={project}', token=token)['ports']}


def ovn_tests(r, work, nurl, admin, project, base, snap):
    """--driver ovn: the fix moves the directors into new stateless groups."""
    api = nurl.rstrip('/') + '/v2.0/'
    groups0 = port_groups(nurl, admin, project)
    u5 = os.path.join(work, 'undo-5.json')
    rc, out, err, _ = r.run(base + ['--os-cloud', 'lvs-password', '--driver',
                                    'ovn', '--fix', '--apply', '--yes',
                                    '--undo-file', u5])
    now = port_groups(nurl, admin, project)
    moved = [n for n in now if now[n] != groups0[n]]
    stateless = []
    for n in moved:
        for g in now[n]:
            sg = call('GET', api + f'security-groups/{g}', token=admin)[
                'security_group']
            stateless.append(sg['stateful'] is False)
    r.expect('--driver ovn --fix --apply: new stateless groups with the '
             'copied rules, the directors moved into them (revision-safe), '
             'exit 0, PASS on the cloud read back',
             rc == 0 and 'After applying: PASS' in out
             and sorted(moved) == ['director-1', 'director-2']
             and stateless and all(stateless),
             f'rc={rc} moved={moved} {out[-1500:]} {err[-400:]}')
    for line in out.splitlines():
        if 'created stateless group' in line or 'groups set to' in line:
            print('     | ' + line.strip()[:200])
    rc, out, err, _ = r.run(['check', '--os-cloud', 'lvs-password', '--undo',
                             u5])
    names = [g['name'] for g in call(
        'GET', api + f'security-groups?project_id={project}',
        token=admin)['security_groups']]
    r.expect('--undo: the directors back in their groups, the stateless '
             'groups deleted, the pairs as before',
             rc == 0 and port_groups(nurl, admin, project) == groups0
             and not any('stateless' in n for n in names)
             and pairs_by_port(nurl, admin, project) == snap,
             f'rc={rc} names={names} {out} {err[-400:]}')


def discovery_runs(r, args, runs):
    """Median reading time, whole-command time, Keystone's share, and the
    last summary line (each run saved to read its calls' times)."""
    times, line = [], ''
    save = os.path.join(r.cwd, 'timing')
    for _ in range(runs):
        shutil.rmtree(save, ignore_errors=True)
        rc, out, err, wall = r.run(args + ['--save', save])
        t, line = discovery_time(err)
        if t is None:
            continue
        calls = json.load(open(os.path.join(save, 'discovery.json')))['calls']
        auth = sum(c['millis'] for c in calls if c['method'] == 'POST') / 1e3
        times.append((t, wall, auth))
    if not times:
        return None
    return (statistics.median(t for t, _, _ in times),
            statistics.median(w for _, w, _ in times), len(times),
            line.strip(), statistics.median(a for _, _, a in times))


def big_project(r, nurl, token, project, n, runs):
    """N more ports on the VIP's network, then discovery timed again."""
    api = nurl.rstrip('/') + '/v2.0/'
    net = call('GET', api + f'networks?project_id={project}&name=tenant-net',
               token=token)['networks'][0]['id']
    v6 = call('POST', api + 'subnets', token=token, body={'subnet': {
        'network_id': net, 'cidr': '2001:db8:1::/64', 'ip_version': 6,
        'name': 'bulk-v6', 'project_id': project}})['subnet']['id']
    call('PUT', api + f'quotas/{project}', token=token,
         body={'quota': {'port': -1}})
    sg = call('POST', api + 'security-groups', token=token, body={
        'security_group': {'name': 'bulk-sg', 'project_id': project}})[
            'security_group']['id']
    t0 = time.monotonic()
    for start in range(0, n, 50):
        call('POST', api + 'ports', token=token, timeout=600, body={'ports': [
            {'network_id': net, 'project_id': project, 'name': f'bulk-{i}',
             'security_groups': [sg], 'device_owner': 'compute:nova',
             'fixed_ips': [{'subnet_id': v6}]}
            for i in range(start, min(n, start + 50))]})
        if start == 0:
            print(f'# big: first 50 ports in {time.monotonic() - t0:.1f}s',
                  flush=True)
    print(f'# big: {n} ports created in {time.monotonic() - t0:.1f}s')
    keep = ['--keepalived', os.path.join(EXAMPLE, 'keepalived-director-1.conf'),
            '--keepalived', os.path.join(EXAMPLE, 'keepalived-director-2.conf')]
    m = discovery_runs(r, ['check', '--vip', VIP, '--os-cloud', 'lvs-password',
                           '--format', 'json'] + keep, runs)
    if m:
        print(f'# discovery with {n + 8} ports on the network ({m[2]} runs): '
              f'median {m[0]:.3f} s reading (of which Keystone token '
              f'{m[4]:.3f} s), {m[1]:.3f} s whole command; last: {m[3]}')


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--keep', help='keep the work folder here')
    ap.add_argument('--runs', type=int, default=3,
                    help='runs for the discovery-time median')
    ap.add_argument('--big', type=int, default=0,
                    help='then add N ports and time discovery again')
    ap.add_argument('--vipwire', default=os.environ.get(
        'VIPWIRE', os.path.join(ROOT, 'target', 'release', 'vipwire')))
    a = ap.parse_args()
    venv_py = os.path.join(os.environ.get(
        'VIPWIRE_CLOUD_VENV', os.path.join(ROOT, '.venv-cloud')), 'bin',
        'python')
    if not os.access(a.vipwire, os.X_OK):
        print(f'vipwire binary not found at {a.vipwire}')
        return 2
    if not os.access(venv_py, os.X_OK):
        print(f'SKIP: no venv at {venv_py} (run conformance/cloud/setup.sh)')
        print('0 passed, 0 failed')
        return 0
    work = a.keep or tempfile.mkdtemp(prefix='vwcloud-')
    os.makedirs(work, exist_ok=True)
    bed = Bed(work)
    try:
        t0 = time.monotonic()
        kport, nport, pport, dead = (free_port() for _ in range(4))
        kurl = f'http://127.0.0.1:{kport}/v3'
        nurl = f'http://127.0.0.1:{nport}/'
        env_py = [venv_py, os.path.join(HERE, 'services.py')]
        k = bed.start('keystone', env_py + [
            'keystone', '--workdir', os.path.join(work, 'keystone'),
            '--port', str(kport), '--admin-password', ADMIN_PW])
        # The standalone (noauth) neutron-server needs no Keystone: it
        # starts alongside, to save its start-up time.
        sport = free_port()
        surl = f'http://127.0.0.1:{sport}/'
        s = bed.start('neutron_noauth', env_py + [
            'neutron', '--workdir', os.path.join(work, 'neutron-noauth'),
            '--port', str(sport), '--noauth'])
        kt = bed.wait_http('keystone', k, kurl)
        admin, project, ac_id, ac_secret = setup_identity(kurl, nurl)
        n = bed.start('neutron', env_py + [
            'neutron', '--workdir', os.path.join(work, 'neutron'),
            '--port', str(nport), '--keystone', kurl,
            '--service-password', SERVICE_PW])
        nt = bed.wait_http('neutron', n, nurl)
        ports = build_cloud(nurl, admin, project)
        bed.start('fault_proxy', [sys.executable,
                                  os.path.join(HERE, 'fault_proxy.py'),
                                  '--listen-port', str(pport), '--upstream',
                                  nurl, '--fail-when', 'marker='])
        ca, leaf, key = make_tls(work)
        tport = free_port()
        bed.start('tls_front', [sys.executable,
                                os.path.join(HERE, 'fault_proxy.py'),
                                '--listen-port', str(tport), '--upstream',
                                nurl, '--tls-cert', leaf, '--tls-key', key])
        race_port, del_port, rule_port = free_port(), free_port(), free_port()
        for port, extra in ((race_port, ['--race-pair', RACE_PAIR]),
                            (del_port, ['--delete-port-on-put', '2']),
                            (rule_port, ['--race-rule'])):
            bed.start(f'proxy_{port}', [sys.executable,
                                        os.path.join(HERE, 'fault_proxy.py'),
                                        '--listen-port', str(port),
                                        '--upstream', nurl] + extra,
                      env={'FAULT_PROXY_TOKEN': admin})
        bed.wait_http('neutron_noauth', s, surl)
        build_cloud(surl, None, 'standalone-project')
        clouds_yaml(os.path.join(work, 'clouds.yaml'), kurl,
                    f'http://127.0.0.1:{pport}/', ac_id, ac_secret, dead,
                    f'https://127.0.0.1:{tport}/', ca, surl,
                    f'http://127.0.0.1:{race_port}/',
                    f'http://127.0.0.1:{del_port}/',
                    f'http://127.0.0.1:{rule_port}/')
        time.sleep(0.3)
        print(f'# keystone up in {kt:.1f}s, neutron in {nt:.1f}s, '
              f'{ports} ports built; set-up {time.monotonic() - t0:.1f}s '
              f'(work: {work})')
        r = Runner(a.vipwire, work)
        tests(r, work, ac_secret, a.runs, kurl)
        import osc_compare  # needs the cloud as built, so before apply_tests
        osc_compare.tests(r, work)
        apply_tests(r, work, nurl, admin, project)
        if a.big:
            try:
                big_project(r, nurl, admin, project, a.big, a.runs)
            except (SetupError, OSError) as e:
                print(f'# big: set-up failed: {e}')
        print(f'{r.passed} passed, {r.failed} failed')
        return 1 if r.failed else 0
    except SetupError as e:
        print(f'set-up failed: {e}')
        print('0 passed, 1 failed')
        return 2
    finally:
        bed.stop()
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())
