#!/usr/bin/env python3
"""Builds clouds through the real Neutron 29.0.0 ML2/OVN driver into a real OVN.

    realovn.py --out DIR [--cases] [--case NAME ...] [--seed S --count N]
               [--keep-raw] [--chassis]

Run with the neutron venv's python (.venv-neutron/bin/python), as root.

What it starts, all in one temp dir with its own unix sockets, pid files,
logs and databases (OVS_RUNDIR/OVN_RUNDIR etc. point there, never at
/var/run/ovn or /var/run/openvswitch; no systemd unit is touched):

- NB and SB `ovsdb-server` (schemas from /usr/share/ovn), `ovn-northd`;
- the real neutron-server 29.0.0 WSGI app in this process, as
  conformance/api_build.py starts it (noauth, sqlite, wsgiref on 127.0.0.1,
  ephemeral port) but with `mechanism_drivers = ovn` and the [ovn] settings
  of BRIEF section 7;
- with --chassis (step 4, chassis.py): ovs-vswitchd (netdev datapath) and
  ovn-controller.

Every process started is stopped by its PID at exit (try/finally, atexit
and SIGTERM/SIGINT/SIGHUP handlers), even on failure.

Each cloud (a conformance/cases/*.json or conformance/ovn/cases/*.json
hand case, or a gen.py random cloud,
`rand-S-I` = scenario I of seed S) is replayed through the API with
api_build.replay in its own project. Written to DIR/<name>/:

    neutron.json   the GET lists (networks, subnets, ports, security groups
                   with rules), exactly as api_build.py writes them: vipwire's
                   --neutron input
    nb.json        the normalised NB rows of that cloud (normalise_nb.py)
    lflows.txt     `ovn-sbctl lflow-list` for the modelled stages, normalised
    refused.txt    the API calls the server refused (only when some were)
    nb.raw.json    the raw OVSDB select results (with --keep-raw)

All clouds share one NB; each cloud's rows are picked by the Neutron ids of
its GET output (see normalise_nb.py).
"""

import argparse
import atexit
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CONF_DIR = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, CONF_DIR)

import normalise_nb  # noqa: E402

NB_SCHEMA = '/usr/share/ovn/ovn-nb.ovsschema'
SB_SCHEMA = '/usr/share/ovn/ovn-sb.ovsschema'

# api_build.CONF with the ML2/OVN settings of BRIEF section 7. {paste}, {db}
# and {locks} are filled in by api_build.Server; NB/SB paths by ovn_conf().
OVN_CONF = """[DEFAULT]
core_plugin = ml2
service_plugins =
auth_strategy = noauth
api_paste_config = {paste}
allow_overlapping_ips = true
transport_url = fake://
log_file = @WORK@/neutron.log
use_stderr = false
[database]
connection = sqlite:///{db}
[ml2]
type_drivers = geneve,flat
tenant_network_types = geneve
mechanism_drivers = ovn
extension_drivers = port_security
overlay_ip_version = 4
[ml2_type_geneve]
vni_ranges = 1:65536
max_header_size = 38
[ovn]
ovn_nb_connection = unix:@NB@
ovn_sb_connection = unix:@SB@
ovn_metadata_enabled = false
enable_distributed_floating_ip = false
neutron_sync_mode = off
[quotas]
quota_network = -1
quota_subnet = -1
quota_port = -1
quota_security_group = -1
quota_security_group_rule = -1
[oslo_concurrency]
lock_path = {locks}
[oslo_messaging_notifications]
driver = noop
"""


def log(msg):
    print(f'# ovn: {msg}', file=sys.stderr, flush=True)


class Procs:
    """Processes this harness started; stopped by PID, newest first."""

    def __init__(self):
        self.procs = []
        self.stopped = False

    def start(self, name, args, env, logpath):
        out = open(logpath, 'ab')
        p = subprocess.Popen(args, env=env, stdout=out, stderr=out,
                             stdin=subprocess.DEVNULL, start_new_session=True)
        out.close()
        self.procs.append((name, p))
        return p

    def check_alive(self):
        dead = [(n, p.returncode) for n, p in self.procs if p.poll() is not None]
        return dead

    def stop(self):
        for name, p in reversed(self.procs):
            if p.poll() is None:
                try:
                    p.terminate()
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 5
        for name, p in reversed(self.procs):
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.procs = []


class Central:
    """NB + SB ovsdb-servers and ovn-northd in `work` on private sockets."""

    def __init__(self, work, procs):
        self.work = work
        self.procs = procs
        self.nb = os.path.join(work, 'nb.sock')
        self.sb = os.path.join(work, 'sb.sock')
        self.fake_chassis = []
        env = dict(os.environ)
        for var in ('OVS_RUNDIR', 'OVS_LOGDIR', 'OVS_DBDIR', 'OVS_SYSCONFDIR',
                    'OVN_RUNDIR', 'OVN_LOGDIR', 'OVN_DBDIR', 'OVN_SYSCONFDIR'):
            env[var] = work
        self.env = env

    def start(self):
        w = self.work
        for db, schema in (('nb', NB_SCHEMA), ('sb', SB_SCHEMA)):
            path = os.path.join(w, f'{db}.db')
            subprocess.run(['ovsdb-tool', 'create', path, schema],
                           check=True, env=self.env)
            self.procs.start(f'ovsdb-server-{db}', [
                'ovsdb-server', '--no-chdir',
                f'--remote=punix:{os.path.join(w, db + ".sock")}',
                f'--unixctl={os.path.join(w, db + ".ctl")}',
                f'--pidfile={os.path.join(w, db + ".pid")}',
                f'--log-file={os.path.join(w, db + ".log")}',
                path], self.env, os.path.join(w, f'{db}.out'))
        wait_for(lambda: os.path.exists(self.nb) and os.path.exists(self.sb),
                 'NB/SB sockets')
        self.procs.start('ovn-northd', [
            'ovn-northd', '--no-chdir',
            f'--ovnnb-db=unix:{self.nb}', f'--ovnsb-db=unix:{self.sb}',
            f'--unixctl={os.path.join(w, "northd.ctl")}',
            f'--pidfile={os.path.join(w, "northd.pid")}',
            f'--log-file={os.path.join(w, "northd.log")}'],
            self.env, os.path.join(w, 'northd.out'))
        wait_for(lambda: self.nbctl('--timeout=5', 'show', check=False)
                 is not None, 'NB reachable')

    def nbctl(self, *args, check=True):
        return self._ctl('ovn-nbctl', self.nb, args, check)

    def sbctl(self, *args, check=True):
        return self._ctl('ovn-sbctl', self.sb, args, check)

    def _ctl(self, tool, sock, args, check):
        r = subprocess.run([tool, f'--db=unix:{sock}', *args], env=self.env,
                           capture_output=True, text=True)
        if r.returncode:
            if check:
                raise RuntimeError(f'{tool} {args}: {r.stderr.strip()}')
            return None
        return r.stdout

    def sync(self):
        """Waits until northd has turned the current NB into the SB."""
        self.nbctl('--timeout=30', '--wait=sb', 'sync')
        self.keep_fake_chassis_alive()

    def add_fake_chassis(self, hostname, encap_ip):
        """A Chassis + Chassis_Private row as ovn-controller would write them
        (kernel datapath), with no controller behind it: ML2/OVN then binds
        ports to `hostname` (vif_type ovs) as on a real compute node."""
        self.sbctl('chassis-add', hostname, 'geneve', encap_ip)
        # The feature flags ovn-controller 23.03 announces: northd picks
        # its flows by them (without ct-no-masked-label it writes
        # ct_label.blocked and ct_lb instead of ct_mark.blocked and
        # ct_lb_mark).
        other = {'ct-no-masked-label': 'true', 'datapath-type': 'system',
                 'iface-types': 'geneve,internal,patch,system,tap,vxlan',
                 'is-interconn': 'false', 'mac-binding-timestamp': 'true',
                 'ovn-bridge-mappings': '', 'ovn-chassis-mac-mappings': '',
                 'ovn-cms-options': '', 'ovn-ct-lb-related': 'true',
                 'ovn-enable-lflow-cache': 'true', 'ovn-monitor-all': 'false',
                 'port-up-notif': 'true'}
        self.sbctl('set', 'Chassis', hostname, f'hostname={hostname}',
                   *[f'other_config:{k}="{v}"' for k, v in other.items()])
        uuid = self.sbctl('--bare', '--columns=_uuid', 'find', 'Chassis',
                          f'name={hostname}').strip()
        self.sbctl('create', 'Chassis_Private', f'name={hostname}',
                   f'chassis={uuid}')
        self.fake_chassis.append(hostname)

    def keep_fake_chassis_alive(self):
        """Neutron calls a chassis dead once NB_Global.nb_cfg runs more than
        one ahead of its Chassis_Private.nb_cfg (every --wait=sb bumps it);
        a real ovn-controller keeps up, so the fake ones follow here."""
        if not self.fake_chassis:
            return
        cfg = self.nbctl('get', 'NB_Global', '.', 'nb_cfg').strip()
        for h in self.fake_chassis:
            self.sbctl('set', 'Chassis_Private', h, f'nb_cfg={cfg}')

    def query(self, db, sock, tables):
        """Raw rows of `tables` (one transact of selects) plus the schema."""
        ops = [db] + [{'op': 'select', 'table': t, 'where': []}
                      for t in tables]
        r = subprocess.run(['ovsdb-client', 'transact', f'unix:{sock}',
                            json.dumps(ops)], env=self.env,
                           capture_output=True, text=True, check=True)
        res = json.loads(r.stdout)
        schema = json.loads(subprocess.run(
            ['ovsdb-client', 'get-schema', f'unix:{sock}', db], env=self.env,
            capture_output=True, text=True, check=True).stdout)
        return {'schema': {t: schema['tables'][t]['columns'] for t in tables},
                'tables': {t: r_['rows'] for t, r_ in zip(tables, res)}}

    def dump_nb(self):
        return self.query('OVN_Northbound', self.nb, normalise_nb.NB_TABLES)


def wait_for(cond, what, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise RuntimeError(f'timed out waiting for {what}')


def start_neutron(work, central):
    """The real neutron-server API (ML2/OVN) in this process."""
    import api_build
    conf = OVN_CONF.replace('@NB@', central.nb).replace(
        '@SB@', central.sb).replace('@WORK@', work)
    api_build.CONF = conf
    srv = api_build.Server(work)
    # api_build silences everything (CRITICAL); here the log goes to
    # neutron.log in the work dir, and ERROR lines explain a 500.
    import logging
    logging.getLogger().setLevel(
        logging.INFO if os.environ.get('VWCONF_OVN_DEBUG') else logging.ERROR)
    # The OVN mech driver connects to NB/SB from its post-fork callback; the
    # WSGI app publishes the process events. Wait for neutron_pg_drop.
    wait_for(lambda: 'neutron_pg_drop' in (central.nbctl(
        '--columns=name', 'list', 'Port_Group', check=False) or ''),
        'neutron_pg_drop (ML2/OVN initialised)', timeout=60)
    retry_locked_calls(srv, os.path.join(work, 'neutron.log'))
    for t in api_build.DEFAULT_TEMPLATES:
        srv.call('POST', 'default-security-group-rules',
                 {'default_security_group_rule': t})
    return srv


def retry_locked_calls(srv, log_path, tries=5):
    """Repeats an API call that failed with 500 because sqlite said
    `database is locked`: the ML2/OVN driver's own threads (hash ring probe,
    maintenance periodics) write to the same sqlite file as the request, and
    sqlite then fails the request's transaction, which is rolled back. Any
    other 500 is passed on."""
    import api_build
    call = srv.call

    def locked_since(start):
        try:
            with open(log_path, errors='replace') as f:
                f.seek(start)
                return 'database is locked' in f.read()
        except OSError:
            return False

    def call_retrying(method, path, body=None):
        for attempt in range(tries):
            start = os.path.getsize(log_path) \
                if os.path.exists(log_path) else 0
            try:
                return call(method, path, body)
            except api_build.ApiError as e:
                if e.status != 500 or attempt == tries - 1 or \
                        not locked_since(start):
                    raise
                srv.locked_retries = getattr(srv, 'locked_retries', 0) + 1
                if method == 'POST' and path == 'subnets':
                    # ML2 deleted the half-made subnet: create and delete
                    # each bumped the network's revision_number, which the
                    # GET output cannot tell (build_cloud rebuilds).
                    srv.subnet_retried = True
                time.sleep(0.2 * (attempt + 1))
    srv.call = call_retrying


def fill_defaults(spec):
    """Hand cases omit some keys api_build.replay reads; fill them in."""
    spec = json.loads(json.dumps(spec))
    for sn in spec.get('subnets', []):
        sn.setdefault('enable_dhcp', True)
        sn.setdefault('name', '')
        sn.setdefault('gateway_ip', None)
    for n in spec.get('networks', []):
        n.setdefault('name', '')
    for p in spec.get('ports', []):
        p.setdefault('name', '')
        p.setdefault('device_owner', '')
        p.setdefault('device_id', '')
        p.setdefault('binding:host_id', '')
        p.setdefault('port_security_enabled', True)
        p.setdefault('allowed_address_pairs', [])
        p.setdefault('security_groups', [])
    for i, sg in enumerate(spec.get('security_groups', [])):
        sg.setdefault('stateful', True)
        sg.setdefault('name', 'sg')
        for j, r in enumerate(sg.get('security_group_rules', [])):
            r.setdefault('standard_attr_id', 1_000_000 + i * 1000 + j)
    return spec


def vrrp_pair_macs(spec):
    """Random clouds only: ML2/OVN refuses (400 InvalidVirtualMACAddress,
    on bound ports) a pair MAC that is neither the port's nor an RFC 5798
    VRRP MAC, and api_build.replay would then drop all the port's pairs. So
    a foreign pair MAC fa:16:3e:xx:yy:zz becomes 00:00:5e:00:01:zz (IPv4
    pair) or 00:00:5e:00:02:zz (IPv6), keeping its case."""
    spec = json.loads(json.dumps(spec))
    for p in spec.get('ports', []):
        own = p.get('mac_address', '').lower()
        for a in p.get('allowed_address_pairs', []):
            mac = a.get('mac_address')
            if not mac or mac.lower() == own:
                continue
            low = mac.lower()
            if low.startswith('00:00:5e:00:01') or \
                    low.startswith('00:00:5e:00:02'):
                continue
            fam = '02' if ':' in a['ip_address'] else '01'
            new = f'00:00:5e:00:{fam}:{low[-2:]}'
            a['mac_address'] = new.upper() if mac.isupper() else new
    return spec


def load_clouds(args):
    """(name, spec) for the hand cases asked for and the random clouds."""
    import gen
    out = []
    if args.cases or args.case:
        # The shared hand cases, then the OVN-only ones (conformance/ovn/cases).
        for path in sorted(glob.glob(os.path.join(CONF_DIR, 'cases',
                                                  '*.json'))) + sorted(
                glob.glob(os.path.join(HERE, 'cases', '*.json'))):
            name = os.path.basename(path)[:-5]
            if args.case and name not in args.case:
                continue
            with open(path) as f:
                out.append((name, json.load(f)))
    picked = []
    for name in args.case:
        # `--case rand-S-I`: random cloud I of seed S alone (to replay a
        # failure of a large run).
        parts = name.split('-')
        if len(parts) == 3 and parts[0] == 'rand' and \
                parts[1].isdigit() and parts[2].isdigit():
            picked.append((int(parts[1]), int(parts[2])))
    picked += [(args.seed, i) for i in range(args.count)]
    for seed, i in picked:
        out.append((f'rand-{seed}-{i}', vrrp_pair_macs(
            gen.random_scenario(seed * 1_000_003 + i))))
    return out


# At most this many extra readings of the NB and the API per cloud.
SETTLE_READS = 20


def build_cloud(srv, central, name, spec, outdir, keep_raw=False,
                project=None):
    """Replays spec; writes neutron.json, nb.json, lflows.txt into outdir."""
    import api_build
    t0 = time.monotonic()
    project = project or 'ovn' + name.replace('-', '').replace('_', '')[:40]
    log_path = os.path.join(central.work, 'neutron.log')
    log_start = os.path.getsize(log_path) if os.path.exists(log_path) else 0
    srv.subnet_retried = False
    data, refused = api_build.replay(srv, fill_defaults(spec), project)
    if srv.subnet_retried:
        # A subnet POST failed in create_subnet_postcommit (sqlite locked)
        # and was repeated: its network's revision now counts a subnet that
        # no longer exists (seen in a large run: Logical_Switch revision 1,
        # GET revision 5 with 2 subnets). A fresh project builds it clean.
        raise api_build.ApiError(
            500, 'a subnet POST was repeated after its postcommit failed '
            '(sqlite locked); the network revision counts the deleted try')
    if any(': 500: ' in r for r in refused):
        refused = refused + server_errors(log_path, log_start)
    t_api = time.monotonic() - t0
    central.sync()
    raw = central.dump_nb()
    # Settle: Neutron's background work (OVSDB event handlers, status
    # updates) can still move the NB or the API's revisions after the last
    # call returned, most of all on a loaded machine (seen once in a large
    # run: a switch one revision step behind). Read both again until two
    # readings agree.
    for reread in range(SETTLE_READS):
        time.sleep(0.5)
        central.sync()
        raw2, data2 = central.dump_nb(), api_build.get_lists(srv, project)
        if raw2 == raw and data2 == data:
            break
        raw, data = raw2, data2
    else:
        log(f'{name}: NB or API still changing after {SETTLE_READS} re-reads')
    if reread:
        log(f'{name}: NB or API moved after the last call; settled after '
            f'{reread + 1} re-reads')
    nb = normalise_nb.normalise(raw, data)
    lflows = normalise_nb.normalise_lflows(
        central.sbctl('lflow-list'), data, normalise_nb.dhcp_server_macs(raw))
    os.makedirs(outdir, exist_ok=True)
    write_json(os.path.join(outdir, 'neutron.json'), data, indent=1)
    with open(os.path.join(outdir, 'nb.json'), 'w') as f:
        f.write(normalise_nb.dumps(nb))
    with open(os.path.join(outdir, 'lflows.txt'), 'w') as f:
        f.write(lflows)
    rp = os.path.join(outdir, 'refused.txt')
    if refused:
        with open(rp, 'w') as f:
            f.write(''.join(s.replace('\n', ' ') + '\n' for s in refused))
    elif os.path.exists(rp):
        os.remove(rp)
    if keep_raw:
        write_json(os.path.join(outdir, 'nb.raw.json'), raw)
    return data, refused, t_api, time.monotonic() - t0


NOISE = ('workers count is zero', 'hash_ring', 'ovsdb_monitor',
         'wsgi_utils', 'auto-allocated', 'memcache', 'Failed to bind')


def server_errors(log_path, start):
    """The neutron-server ERROR lines logged since `start` (for a 500)."""
    try:
        with open(log_path, errors='replace') as f:
            f.seek(start)
            lines = [ln.rstrip() for ln in f if ' ERROR ' in ln
                     and not any(n in ln for n in NOISE)]
    except OSError:
        return []
    return ['server log: ' + ln.split(' ERROR ', 1)[1][:400]
            for ln in lines[:40]]


def build_with_retry(sess, name, spec, out, keep_raw=False, tries=3):
    """build_cloud; a call the server fails with 500 outside the per-rule and
    per-port refusals (seen rarely: sqlite busy under the OVN driver's
    background threads) restarts the cloud in a fresh project."""
    import api_build
    for attempt in range(tries):
        project = None if attempt == 0 else \
            'ovn' + name.replace('-', '').replace('_', '')[:36] + f'r{attempt}'
        try:
            return build_cloud(sess.srv, sess.central, name, spec, out,
                               keep_raw, project=project)
        except api_build.ApiError as e:
            if e.status < 500 or attempt == tries - 1:
                raise
            log(f'{name}: server error {str(e)[:120]}; retrying')


def write_json(path, obj, indent=2):
    with open(path, 'w') as f:
        json.dump(obj, f, indent=indent, sort_keys=True)
        f.write('\n')


class Session:
    """Central + neutron (+ chassis) with guaranteed clean-up."""

    def __init__(self, chassis=False, hostname='compute-1',
                 fake_chassis=('compute-1', 'compute-2')):
        self.work = tempfile.mkdtemp(prefix='vwconf-ovn-')
        self.procs = Procs()
        self.central = None
        self.srv = None
        self.chassis = None
        self.want_chassis = chassis
        self.hostname = hostname
        self.fake = [h for h in fake_chassis if not (chassis and h == hostname)]
        self._closed = False
        atexit.register(self.close)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._on_signal)

    def _on_signal(self, signum, frame):
        self.close()
        sys.exit(128 + signum)

    def start(self):
        t0 = time.monotonic()
        self.central = Central(self.work, self.procs)
        self.central.start()
        t_central = time.monotonic() - t0
        for i, h in enumerate(self.fake):
            self.central.add_fake_chassis(h, f'127.0.0.{101 + i}')
        if self.want_chassis:
            import chassis
            self.chassis = chassis.Chassis(self.work, self.procs,
                                           self.central, self.hostname)
            self.chassis.start()
        self.srv = start_neutron(self.work, self.central)
        log(f'central up in {t_central:.1f}s, neutron (ML2/OVN) up in '
            f'{time.monotonic() - t0:.1f}s in all')
        return self

    def close(self):
        if self._closed:
            return
        self._closed = True
        try:
            if self.chassis is not None:
                self.chassis.close()
        finally:
            try:
                if self.srv is not None:
                    self.srv.stop()
            except Exception:
                pass
            self.procs.stop()
            if os.environ.get('VWCONF_OVN_KEEP_WORK'):
                log(f'work dir kept: {self.work}')
            else:
                shutil.rmtree(self.work, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--out', required=True)
    ap.add_argument('--cases', action='store_true',
                    help='all conformance/cases/*.json')
    ap.add_argument('--case', action='append', default=[],
                    help='only this hand case (repeatable)')
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--count', type=int, default=0)
    ap.add_argument('--keep-raw', action='store_true')
    a = ap.parse_args()
    logging_quiet()
    sess = Session()
    try:
        sess.start()
        for name, spec in load_clouds(a):
            out = os.path.join(a.out, name)
            try:
                data, refused, t_api, t_all = build_with_retry(
                    sess, name, spec, out, a.keep_raw)
            except Exception as e:  # report and go on with the next cloud
                log(f'{name}: ERROR {type(e).__name__}: {str(e)[:300]}')
                print(f'ERROR {name}', flush=True)
                continue
            log(f'{name}: {len(data["ports"])} ports, {len(refused)} refused,'
                f' API {t_api:.1f}s, all {t_all:.1f}s; sqlite-locked retries '
                f'so far {getattr(sess.srv, "locked_retries", 0)}')
            print(out, flush=True)
            dead = sess.procs.check_alive()
            if dead:
                raise RuntimeError(f'daemons died: {dead}')
        return 0
    finally:
        sess.close()


def logging_quiet():
    import logging
    logging.getLogger().setLevel(logging.CRITICAL)


if __name__ == '__main__':
    rc = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Neutron's background threads (hash ring, OVSDB monitors) would go on
    # touching the deleted sqlite file during interpreter shutdown.
    os._exit(rc)
