#!/usr/bin/env python3
"""Builds scenarios through the real Neutron 29.0.0 API server and GETs them back.

    api_build.py --seed S --count N --out DIR     writes DIR/api-S-<i>.json

The server is Neutron's own WSGI app (`neutron.wsgi.api:application`) under
wsgiref on 127.0.0.1 (ephemeral port), ML2 without mechanism drivers,
`auth_strategy=noauth` (admin), the fake oslo.messaging transport, a sqlite
schema made by `model_base.BASEV2.metadata.create_all` (migrations fail on
sqlite) and the stock default security-group rule templates posted first.

Each scenario is a gen.py random host replayed as API calls (groups, then
rules in creation order, then ports) in its own project; whatever the API
refuses is skipped and counted. The file written is the merged GET list
responses (networks, subnets, ports, security_groups with their rules) of
that project: ids, orders, stored strings and the automatic rules of new
groups are the server's own. Run with the venv's python; it must not share
a process with the agent-side oracle (both use the global cfg.CONF).
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import gen  # noqa: E402

CONF = """[DEFAULT]
core_plugin = ml2
service_plugins =
auth_strategy = noauth
api_paste_config = {paste}
allow_overlapping_ips = true
transport_url = fake://
[database]
connection = sqlite:///{db}
[ml2]
type_drivers = flat,vxlan
tenant_network_types = vxlan
mechanism_drivers =
extension_drivers = port_security
[ml2_type_vxlan]
vni_ranges = 1:10000
[oslo_concurrency]
lock_path = {locks}
[oslo_messaging_notifications]
driver = noop
"""

# Neutron's stock templates (what its migrations seed).
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


class ApiError(Exception):
    """The API answered with an error."""

    def __init__(self, status, body):
        super().__init__(f'{status}: {body[:300]}')
        self.status = status


class Server:
    """The real Neutron API in this process, on 127.0.0.1."""

    def __init__(self, workdir):
        paste = os.path.join(sys.prefix, 'etc', 'neutron', 'api-paste.ini')
        db = os.path.join(workdir, 'neutron.db')
        locks = os.path.join(workdir, 'locks')
        os.makedirs(locks, exist_ok=True)
        with open(os.path.join(workdir, 'neutron.conf'), 'w') as f:
            f.write(CONF.format(paste=paste, db=db, locks=locks))
        os.environ['OS_NEUTRON_CONFIG_DIR'] = workdir
        os.environ['OS_NEUTRON_CONFIG_FILES'] = 'neutron.conf'
        sys.argv = ['neutron-api']
        import logging
        import sqlalchemy
        from neutron.db.migration.models import head  # noqa: F401 all models
        from neutron_lib.db import model_base
        model_base.BASEV2.metadata.create_all(
            sqlalchemy.create_engine(f'sqlite:///{db}'))
        from neutron.wsgi import api
        logging.getLogger().setLevel(logging.CRITICAL)
        from wsgiref.simple_server import make_server, WSGIRequestHandler

        class Quiet(WSGIRequestHandler):
            def log_message(self, *args):
                pass
        self.httpd = make_server('127.0.0.1', 0, api.application,
                                 handler_class=Quiet)
        self.base = f'http://127.0.0.1:{self.httpd.server_port}/v2.0/'
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, method=method,
                                     data=data, headers={
                                         'Content-Type': 'application/json'})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                raw = r.read()
                return json.loads(raw) if raw else {}
        except urllib.error.HTTPError as e:
            raise ApiError(e.code, e.read().decode(errors='replace')) from e

    def stop(self):
        self.httpd.shutdown()


def replay(srv, spec, project):
    """Creates spec's resources in `project`; returns (GET lists, skipped)."""
    skipped = []
    ids = {}
    for net in spec['networks']:
        r = srv.call('POST', 'networks', {'network': {
            'name': net['name'], 'project_id': project}})['network']
        ids[net['id']] = r['id']
    for sn in spec['subnets']:
        body = {'network_id': ids[sn['network_id']], 'cidr': sn['cidr'],
                'ip_version': sn['ip_version'], 'project_id': project,
                'name': sn['name'], 'enable_dhcp': sn['enable_dhcp'],
                'gateway_ip': sn['gateway_ip']}
        try:
            r = srv.call('POST', 'subnets', {'subnet': body})['subnet']
        except ApiError as e:
            # A subnet the API refuses (e.g. gen.py's two overlapping
            # CIDRs on one network): the cloud goes on without it, and the
            # ports lose their addresses in it below.
            if e.status >= 500:
                raise
            skipped.append(f'subnet {body}: {e}')
            continue
        ids[sn['id']] = r['id']
    for sg in spec['security_groups']:
        name = sg['name'] if sg['name'] != 'default' else 'default-sg'
        r = srv.call('POST', 'security-groups', {'security_group': {
            'name': name, 'stateful': sg['stateful'],
            'project_id': project}})['security_group']
        ids[sg['id']] = r['id']
    rules = sorted((r for sg in spec['security_groups']
                    for r in sg['security_group_rules']),
                   key=lambda r: r['standard_attr_id'])
    for r in rules:
        body = {k: r[k] for k in ('direction', 'ethertype', 'protocol',
                                  'port_range_min', 'port_range_max',
                                  'remote_ip_prefix') if r.get(k) is not None}
        body['security_group_id'] = ids[r['security_group_id']]
        body['project_id'] = project
        if r.get('remote_group_id'):
            body['remote_group_id'] = ids[r['remote_group_id']]
        try:
            srv.call('POST', 'security-group-rules',
                     {'security_group_rule': body})
        except ApiError as e:
            skipped.append(f'rule {body}: {e}')
    for p in spec['ports']:
        fixed = [f for f in p['fixed_ips'] if f['subnet_id'] in ids]
        if p['fixed_ips'] and not fixed:
            skipped.append(f'port {p["name"]}: every subnet of its fixed IPs '
                           'was refused')
            continue
        body = {'network_id': ids[p['network_id']], 'project_id': project,
                'name': p['name'], 'mac_address': p['mac_address'],
                'fixed_ips': [{'subnet_id': ids[f['subnet_id']],
                               'ip_address': f['ip_address']}
                              for f in fixed],
                'device_owner': p['device_owner'],
                'device_id': p['device_id'],
                'binding:host_id': p['binding:host_id'],
                'port_security_enabled': p['port_security_enabled'],
                'security_groups': [ids[g] for g in p['security_groups']]}
        if p['port_security_enabled']:
            body['allowed_address_pairs'] = p['allowed_address_pairs']
        try:
            srv.call('POST', 'ports', {'port': body})
        except ApiError as e:
            # e.g. a pair the API refuses: retry without the pairs.
            skipped.append(f'port {p["name"]}: {e}')
            if body.pop('allowed_address_pairs', None):
                try:
                    srv.call('POST', 'ports', {'port': body})
                except ApiError as e2:
                    skipped.append(f'port {p["name"]} again: {e2}')
    return get_lists(srv, project), skipped


def get_lists(srv, project):
    """The GET lists of `project`: vipwire's --neutron input."""
    q = f'?project_id={project}'
    return {
        'networks': srv.call('GET', 'networks' + q)['networks'],
        'subnets': srv.call('GET', 'subnets' + q)['subnets'],
        'ports': srv.call('GET', 'ports' + q)['ports'],
        'security_groups': srv.call('GET', 'security-groups' + q)[
            'security_groups'],
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--count', type=int, default=1)
    ap.add_argument('--out', required=True)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    work = tempfile.mkdtemp(prefix='vwconf-api-')
    try:
        t0 = time.monotonic()
        srv = Server(work)
        for t in DEFAULT_TEMPLATES:
            srv.call('POST', 'default-security-group-rules',
                     {'default_security_group_rule': t})
        print(f'# api: server up in {time.monotonic() - t0:.1f}s',
              file=sys.stderr)
        for i in range(a.count):
            t0 = time.monotonic()
            spec = gen.random_scenario(a.seed * 1_000_003 + i)
            data, skipped = replay(srv, spec, f'api{a.seed}x{i}')
            path = os.path.join(a.out, f'api-{a.seed}-{i}.json')
            with open(path, 'w') as f:
                json.dump(data, f, indent=1)
                f.write('\n')
            print(f'# api: {path} in {time.monotonic() - t0:.1f}s, '
                  f'{len(skipped)} refused', file=sys.stderr)
            for s in skipped[:3]:
                print(f'#   refused {s[:200]}', file=sys.stderr)
            print(path)
        srv.stop()
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())
