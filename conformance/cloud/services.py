#!/usr/bin/env python3
"""The real Keystone 30.0.0 and neutron-server 29.0.0 from PyPI, one per process.

    services.py keystone --workdir W --port P --admin-password PW
    services.py neutron  --workdir W --port P --keystone URL --service-password PW
    services.py neutron  --workdir W --port P --noauth

Run with the venv's python (conformance/cloud/setup.sh). Each serves its own
WSGI app under wsgiref on 127.0.0.1:P until killed; both read the global
oslo.config object, so they never share a process.

keystone: sqlite, `keystone-manage db_sync`, `fernet_setup`,
`credential_setup`, `bootstrap` (admin user, project, roles admin/member/reader,
the identity endpoints in RegionOne), then the app from
`keystone.server.wsgi.initialize_public_application()`.

neutron: as conformance/api_build.py runs it (ML2 without mechanism drivers,
sqlite schema from the models, fake messaging), but with
`auth_strategy = keystone`: keystonemiddleware's auth_token in Neutron's own
paste pipeline validates every token against the Keystone above, with the
`neutron` service user. The `router` service plugin is loaded so routers and
floating IPs can be listed. With --noauth: `auth_strategy = noauth`, a
standalone Neutron (every request is admin), for `auth_type: none`.
"""

import argparse
import logging
import os
import subprocess
import sys

KEYSTONE_CONF = """[DEFAULT]
[database]
connection = sqlite:///{db}
[fernet_tokens]
key_repository = {fernet}
[fernet_receipts]
key_repository = {fernet}
[credential]
key_repository = {cred}
[token]
provider = fernet
"""

NEUTRON_CONF = """[DEFAULT]
core_plugin = ml2
service_plugins = router
auth_strategy = keystone
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
[keystone_authtoken]
www_authenticate_uri = {keystone}
auth_url = {keystone}
auth_type = password
username = neutron
password = {password}
project_name = service
user_domain_id = default
project_domain_id = default
"""


def quiet_server(app, port):
    from wsgiref.simple_server import make_server, WSGIRequestHandler

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args):
            pass
    return make_server('127.0.0.1', port, app, handler_class=Quiet)


def keystone(a):
    w = a.workdir
    fernet = os.path.join(w, 'fernet-keys')
    cred = os.path.join(w, 'credential-keys')
    for d in (fernet, cred):
        os.makedirs(d, mode=0o700, exist_ok=True)
    conf = os.path.join(w, 'keystone.conf')
    with open(conf, 'w') as f:
        f.write(KEYSTONE_CONF.format(db=os.path.join(w, 'keystone.db'),
                                     fernet=fernet, cred=cred))
    manage = os.path.join(os.path.dirname(sys.executable), 'keystone-manage')
    url = f'http://127.0.0.1:{a.port}/v3'
    user = 'root' if os.getuid() == 0 else os.environ.get('USER', 'nobody')
    for args in (['db_sync'],
                 ['fernet_setup', '--keystone-user', user,
                  '--keystone-group', user],
                 ['credential_setup', '--keystone-user', user,
                  '--keystone-group', user],
                 ['bootstrap', '--bootstrap-password', a.admin_password,
                  '--bootstrap-admin-url', url,
                  '--bootstrap-internal-url', url,
                  '--bootstrap-public-url', url,
                  '--bootstrap-region-id', 'RegionOne']):
        subprocess.run([manage, '--config-file', conf] + args, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.environ['OS_KEYSTONE_CONFIG_DIR'] = w
    os.environ['OS_KEYSTONE_CONFIG_FILES'] = 'keystone.conf'
    sys.argv = ['keystone-wsgi-public']
    from keystone.server import wsgi
    app = wsgi.initialize_public_application()
    logging.getLogger().setLevel(logging.CRITICAL)
    quiet_server(app, a.port).serve_forever()


def neutron(a):
    w = a.workdir
    paste = os.path.join(sys.prefix, 'etc', 'neutron', 'api-paste.ini')
    db = os.path.join(w, 'neutron.db')
    locks = os.path.join(w, 'locks')
    os.makedirs(locks, exist_ok=True)
    conf = NEUTRON_CONF.format(paste=paste, db=db, locks=locks,
                               keystone=a.keystone or 'http://127.0.0.1:9/v3',
                               password=a.service_password or 'unused')
    if a.noauth:
        conf = conf.replace('auth_strategy = keystone', 'auth_strategy = noauth')
    with open(os.path.join(w, 'neutron.conf'), 'w') as f:
        f.write(conf)
    os.environ['OS_NEUTRON_CONFIG_DIR'] = w
    os.environ['OS_NEUTRON_CONFIG_FILES'] = 'neutron.conf'
    sys.argv = ['neutron-api']
    import sqlalchemy
    from neutron.db.migration.models import head  # noqa: F401 all models
    from neutron_lib.db import model_base
    model_base.BASEV2.metadata.create_all(
        sqlalchemy.create_engine(f'sqlite:///{db}'))
    from neutron.wsgi import api
    logging.getLogger().setLevel(logging.CRITICAL)
    quiet_server(api.application, a.port).serve_forever()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('service', choices=['keystone', 'neutron'])
    ap.add_argument('--workdir', required=True)
    ap.add_argument('--port', type=int, required=True)
    ap.add_argument('--admin-password')
    ap.add_argument('--keystone')
    ap.add_argument('--service-password')
    ap.add_argument('--noauth', action='store_true')
    a = ap.parse_args()
    os.makedirs(a.workdir, exist_ok=True)
    if a.service == 'keystone':
        keystone(a)
    else:
        neutron(a)


if __name__ == '__main__':
    sys.exit(main())
