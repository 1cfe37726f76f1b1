#!/usr/bin/env python3
"""Conformance oracle: runs the real Neutron 29.0.0 OVSHybridIptablesFirewallDriver.

Usage:
    neutron_oracle.py INPUT.json HOST OUTDIR
    neutron_oracle.py --batch JOBS.tsv      (lines: INPUT<TAB>HOST<TAB>OUTDIR)

INPUT.json holds Neutron API list responses merged: top-level `networks`,
`subnets`, `ports`, `security_groups` (rules inside each group as
`security_group_rules`). For every port bound to HOST the script drives the
agent's own code path, in a throw-away network namespace:

    SecurityGroupAgentRpc (agent side) -> SecurityGroupServerAPIShim
      -> RemoteResourceCache (the agent's push-notification cache)
      -> a local stand-in for the server's bulk_pull RPC that serves
         OVOs built from INPUT.json

so rule conversion, provider (DHCP/RA) rules, remote-group member IPs and
the firewall calls (defer_apply, update_security_group_rules,
update_security_group_members, prepare_port_filter, process_trusted_ports)
are all Neutron's. Then it writes the normalised `iptables-save`,
`ip6tables-save` and `ipset save` text to OUTDIR/{iptables,ip6tables,ipset}.txt.

Neutron is imported once; each scenario runs in a forked child that joins a
fresh namespace (`ip netns add vwconf-...`, always deleted afterwards).

Deliberate choices (see docs/conformance.md):
- ports are handed to the agent in ascending port-id order (zones 4097.. in
  that order); the real agent iterates a Python set.
- a port's security groups keep the order of the port's JSON
  `security_groups`; the real agent uses list(set(...)), i.e. hash order.
- the stand-in server returns rules of a group in ascending
  `standard_attr_id` (JSON order where it is missing).
"""

import argparse
import ctypes
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import normalise  # noqa: E402

# The chain prefix comes from the binary name (cut to 16 chars) at import time.
sys.argv[0] = 'neutron-openvswitch-agent'

CLONE_NEWNET = 0x40000000
NETNS_PREFIX = 'vwconf-'


class OracleError(Exception):
    """A scenario could not be run."""


# --------------------------------------------------------------------------
# Neutron bootstrap (done once, before any fork)
# --------------------------------------------------------------------------

def bootstrap(lock_dir):
    """Imports Neutron and configures it like an OVS agent with iptables_hybrid."""
    from oslo_concurrency import lockutils
    from oslo_config import cfg
    from oslo_log import log as logging

    from neutron.conf.agent import common as agent_conf
    from neutron.conf import common as common_conf

    logging.register_options(cfg.CONF)
    common_conf.register_core_common_config_opts(cfg.CONF)
    agent_conf.register_root_helper(cfg.CONF)
    agent_conf.register_agent_state_opts_helper(cfg.CONF)
    cfg.CONF(args=[], project='neutron', default_config_files=[])
    lockutils.set_defaults(lock_path=lock_dir)
    cfg.CONF.set_override('root_helper', '', 'AGENT')
    cfg.CONF.set_override('root_helper_daemon', None, 'AGENT')

    from neutron.agent import securitygroups_rpc as agent_sg_rpc  # noqa
    cfg.CONF.set_override('firewall_driver', 'iptables_hybrid',
                          'SECURITYGROUP')
    cfg.CONF.set_override('enable_security_group', True, 'SECURITYGROUP')
    cfg.CONF.set_override('enable_ipset', True, 'SECURITYGROUP')
    logging.setup(cfg.CONF, 'neutron')
    if not os.environ.get('VWCONF_DEBUG'):
        import logging as pylogging
        pylogging.getLogger().setLevel(pylogging.ERROR)

    # privsep in-process: we are root already and must stay in our namespace.
    from oslo_privsep import priv_context
    import neutron.privileged as privileged
    for value in vars(privileged).values():
        if isinstance(value, priv_context.PrivContext):
            value.set_client_mode(False)

    from neutron import objects
    objects.register_objects()
    # Modules the agent path imports lazily; import them before forking.
    from neutron.agent.linux import iptables_firewall  # noqa
    from neutron.agent import resource_cache  # noqa
    from neutron.api.rpc.handlers import securitygroups_rpc  # noqa


# --------------------------------------------------------------------------
# Scenario -> OVOs (what the server would send to the agent)
# --------------------------------------------------------------------------

def _need(obj, field, what):
    if field not in obj:
        raise OracleError(f'{what}: missing field {field!r}')
    return obj[field]


class FakeServer:
    """Serves bulk_pull like the server's ResourcesPullRpcCallback, from JSON."""

    def __init__(self, data):
        self.ports = [self._port(p) for p in data.get('ports', [])]
        self.groups = []
        self.rules = []
        for sg in data.get('security_groups', []):
            group, rules = self._group(sg)
            self.groups.append(group)
            self.rules.extend(rules)

    @staticmethod
    def _std(src):
        # Standard attributes every pushed OVO carries.
        return dict(revision_number=src.get('revision_number', 1),
                    description=src.get('description') or '')

    @staticmethod
    def _roundtrip(obj):
        # Same serialisation the RPC layer does between server and agent.
        return type(obj).clean_obj_from_primitive(obj.obj_to_primitive())

    def _port(self, p):
        from neutron.objects import ports as port_obj
        from neutron.objects.port.extensions import allowedaddresspairs as aap
        from neutron.objects.port.extensions import port_security as ps
        from neutron_lib import context as n_ctx
        from neutron_lib.utils import net
        import netaddr
        ctx = n_ctx.get_admin_context()
        pid = _need(p, 'id', 'port')
        what = f'port {pid}'
        fixed = []
        for ip in p.get('fixed_ips') or []:
            fixed.append(port_obj.IPAllocation(
                ctx, port_id=pid, subnet_id=_need(ip, 'subnet_id', what),
                network_id=_need(p, 'network_id', what),
                ip_address=netaddr.IPAddress(_need(ip, 'ip_address', what))))
        pairs = []
        for pair in p.get('allowed_address_pairs') or []:
            # The server stores a pair without MAC with the port's MAC and
            # keeps the strings as given (AuthenticIPNetwork/AuthenticEUI).
            mac = pair.get('mac_address') or _need(p, 'mac_address', what)
            pairs.append(aap.AllowedAddressPair(
                ctx, port_id=pid,
                mac_address=net.AuthenticEUI(mac),
                ip_address=net.AuthenticIPNetwork(
                    _need(pair, 'ip_address', what))))
        kw = dict(
            id=pid, project_id=p.get('project_id') or p.get('tenant_id'),
            name=p.get('name') or '',
            network_id=_need(p, 'network_id', what),
            mac_address=net.AuthenticEUI(_need(p, 'mac_address', what)),
            admin_state_up=p.get('admin_state_up', True),
            device_id=p.get('device_id') or '',
            device_owner=p.get('device_owner') or '',
            status=p.get('status') or 'ACTIVE',
            fixed_ips=fixed, allowed_address_pairs=pairs,
            security_group_ids=set(p.get('security_groups') or []),
            security=ps.PortSecurity(
                ctx, id=pid,
                port_security_enabled=p.get('port_security_enabled', True)),
            **self._std(p),
        )
        return self._roundtrip(port_obj.Port(ctx, **kw))

    def _group(self, sg):
        from neutron.objects import securitygroup as sg_obj
        from neutron_lib import context as n_ctx
        from neutron_lib.utils import net
        ctx = n_ctx.get_admin_context()
        gid = _need(sg, 'id', 'security group')
        raw = list(sg.get('security_group_rules') or [])
        # Creation order: ascending standard_attr_id (stable for ties/absent).
        order = sorted(range(len(raw)), key=lambda i: (
            raw[i].get('standard_attr_id') is None,
            raw[i].get('standard_attr_id') or 0, i))
        rules = []
        for i in order:
            r = raw[i]
            what = f'security group {gid} rule {r.get("id")}'
            prefix = r.get('remote_ip_prefix')
            kw = dict(
                id=_need(r, 'id', what),
                project_id=r.get('project_id') or r.get('tenant_id'),
                security_group_id=gid,
                remote_group_id=r.get('remote_group_id'),
                direction=_need(r, 'direction', what),
                ethertype=_need(r, 'ethertype', what),
                protocol=r.get('protocol'),
                port_range_min=r.get('port_range_min'),
                port_range_max=r.get('port_range_max'),
                remote_ip_prefix=(net.AuthenticIPNetwork(prefix)
                                  if prefix else None),
                remote_address_group_id=r.get('remote_address_group_id'),
                # What SecurityGroupRule.from_db_object computes.
                normalized_cidr=(net.AuthenticIPNetwork(prefix).cidr
                                 if prefix else None),
                belongs_to_default_sg=bool(
                    r.get('belongs_to_default_sg', False)),
                **self._std(r),
            )
            rules.append(self._roundtrip(sg_obj.SecurityGroupRule(ctx, **kw)))
        group = sg_obj.SecurityGroup(
            ctx, id=gid, name=sg.get('name') or '',
            project_id=sg.get('project_id') or sg.get('tenant_id'),
            shared=bool(sg.get('shared', False)),
            stateful=sg.get('stateful', True),
            is_default=sg.get('name') == 'default',
            rules=rules, **self._std(sg))
        return self._roundtrip(group), rules

    def bulk_pull(self, context, resource_type, filter_kwargs=None):
        pool = {'Port': self.ports, 'SecurityGroup': self.groups,
                'SecurityGroupRule': self.rules}.get(resource_type, [])
        filters = filter_kwargs or {}

        def match(obj):
            for key, values in filters.items():
                attr = getattr(obj, key)
                if isinstance(attr, (list, tuple, set)):
                    if not any(v in attr for v in values):
                        return False
                elif attr not in values:
                    return False
            return True
        return [o for o in pool if match(o)]


def run_scenario_in_child(data, host):
    """Runs inside the namespace (forked child). Returns nothing; dumps after."""
    from neutron_lib import context as n_ctx
    from neutron.agent import resource_cache
    from neutron.agent import rpc as agent_rpc
    from neutron.agent import securitygroups_rpc as agent_sg_rpc
    from neutron.api.rpc.handlers import resources_rpc
    from neutron.api.rpc.handlers import securitygroups_rpc as sg_rpc

    server = FakeServer(data)

    class _Client:
        def set_max_timeout(self, timeout):
            pass

    class _Puller:
        client = _Client()

        def bulk_pull(self, context, resource_type, filter_kwargs=None):
            return server.bulk_pull(context, resource_type, filter_kwargs)

    # ResourcesPullRpcApi is a singleton built by __new__: hand it ours.
    resources_rpc.ResourcesPullRpcApi._instance = _Puller()

    rcache = resource_cache.RemoteResourceCache(
        agent_rpc.CacheBackedPluginApi.RESOURCE_TYPES)
    shim = sg_rpc.SecurityGroupServerAPIShim(rcache)

    # Deterministic group order (the agent itself uses list(set)).
    json_groups = {p['id']: list(p.get('security_groups') or [])
                   for p in data.get('ports', [])}
    real_devices_info = shim._get_devices_info

    def ordered_devices_info(context, devices):
        result = real_devices_info(context, devices)
        for dev, port in result.items():
            order = json_groups.get(dev, [])
            port['security_groups'] = sorted(
                port['security_groups'],
                key=lambda g: order.index(g) if g in order else len(order))
        return result
    shim._get_devices_info = ordered_devices_info

    ctx = n_ctx.get_admin_context()
    sg_agent = agent_sg_rpc.SecurityGroupAgentRpc(
        ctx, shim, defer_refresh_firewall=True, integration_bridge=None)
    shim.register_legacy_sg_notification_callbacks(sg_agent)

    devices = sorted(p['id'] for p in data.get('ports', [])
                     if p.get('binding:host_id') == host)
    sg_agent.prepare_devices_filter(devices)


# --------------------------------------------------------------------------
# Dumps and normalisation
# --------------------------------------------------------------------------

def dump(outdir):
    os.makedirs(outdir, exist_ok=True)
    for cmd, name, norm in ((['iptables-save'], 'iptables.txt', normalise.save),
                            (['ip6tables-save'], 'ip6tables.txt',
                             normalise.save),
                            (['ipset', 'save'], 'ipset.txt', normalise.ipset)):
        text = subprocess.run(cmd, check=True, capture_output=True,
                              text=True).stdout
        with open(os.path.join(outdir, name), 'w') as f:
            f.write(norm(text))


# --------------------------------------------------------------------------
# Namespaces and forking
# --------------------------------------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True)


def _setns(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OracleError(f'setns({path}): {os.strerror(err)}')
    finally:
        os.close(fd)


_TOOLS = ('iptables', 'iptables-save', 'iptables-restore', 'ip6tables',
          'ip6tables-save', 'ip6tables-restore')


def backend_path(backend, tmpdir):
    """PATH for the chosen iptables backend ('nft', 'legacy' or 'default').

    Neutron runs `iptables-save`/`iptables-restore` by name, so a directory
    of wrappers first in PATH selects the backend for it and for our dumps.
    """
    path = os.environ.get('PATH', '/usr/sbin:/usr/bin:/sbin:/bin')
    if backend == 'default':
        return path
    shim = os.path.join(tmpdir, 'iptables-' + backend)
    os.makedirs(shim, exist_ok=True)
    for tool in _TOOLS:
        family, _, verb = tool.partition('-')
        name = f'{family}-{backend}' + (f'-{verb}' if verb else '')
        target = shutil.which(name)
        if not target:
            raise OracleError(f'{name} not found')
        with open(os.path.join(shim, tool), 'w') as f:
            f.write(f'#!/bin/sh\nexec {target} "$@"\n')
        os.chmod(os.path.join(shim, tool), 0o755)
    return shim + ':' + path


class _Running:
    """A scenario whose child runs in namespace `ns`."""

    def __init__(self, pid, ns, errfile, start):
        self.pid, self.ns, self.errfile, self.start = pid, ns, errfile, start


def start_one(input_path, host, outdir, tag, path=None, lock_dir=None):
    """Forks the child of one scenario; returns _Running or (False, 0, err)."""
    start = time.monotonic()
    try:
        with open(input_path) as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        return False, 0.0, f'{input_path}: {e}'
    ns = f'{NETNS_PREFIX}{os.getpid()}-{tag}'
    subprocess.run(['ip', 'netns', 'add', ns], check=True)
    try:
        errfile = tempfile.TemporaryFile(mode='w+')
        pid = os.fork()
    except BaseException:
        subprocess.run(['ip', 'netns', 'delete', ns], check=False)
        raise
    if pid == 0:
        code = 0
        try:
            _setns(f'/run/netns/{ns}')
            if path:
                os.environ['PATH'] = path
            if lock_dir:
                # Own external locks: parallel children must not queue.
                from oslo_config import cfg
                os.makedirs(lock_dir, exist_ok=True)
                cfg.CONF.set_override('lock_path', lock_dir,
                                      'oslo_concurrency')
            subprocess.run(['ip', 'link', 'set', 'lo', 'up'], check=True)
            run_scenario_in_child(data, host)
            dump(outdir)
        except BaseException:  # report everything to the parent
            errfile.write(traceback.format_exc())
            errfile.flush()
            code = 1
        os._exit(code)
    return _Running(pid, ns, errfile, start)


def finish_one(run, status):
    """Collects a child's result; always deletes its namespace."""
    try:
        run.errfile.seek(0)
        err = run.errfile.read()
        run.errfile.close()
        ok = os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
        if not ok and not err:
            err = f'child ended with status {status}'
        return ok, time.monotonic() - run.start, err
    finally:
        subprocess.run(['ip', 'netns', 'delete', run.ns], check=False)


def run_one(input_path, host, outdir, tag, path=None):
    """Runs one scenario in a fresh namespace; returns (ok, seconds, error)."""
    run = start_one(input_path, host, outdir, tag, path)
    if isinstance(run, tuple):
        return run
    try:
        _, status = os.waitpid(run.pid, 0)
    except BaseException:
        subprocess.run(['ip', 'netns', 'delete', run.ns], check=False)
        raise
    return finish_one(run, status)


def run_many(jobs, parallel, path=None, lock_root=None):
    """Runs (input, host, outdir) jobs, `parallel` at a time.

    Yields (index, ok, seconds, error) as children finish.
    """
    running = {}
    pending = list(enumerate(jobs))
    try:
        while pending or running:
            while pending and len(running) < max(1, parallel):
                i, (inp, host, outdir) = pending.pop(0)
                lock_dir = (os.path.join(lock_root, f'c{i}')
                            if lock_root and parallel > 1 else None)
                run = start_one(inp, host, outdir, str(i), path, lock_dir)
                if isinstance(run, tuple):
                    yield (i,) + run
                else:
                    running[run.pid] = (i, run)
            if running:
                pid, status = os.wait()
                if pid in running:
                    i, run = running.pop(pid)
                    yield (i,) + finish_one(run, status)
    finally:
        for pid, (_, run) in running.items():
            try:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
            except OSError:
                pass
            subprocess.run(['ip', 'netns', 'delete', run.ns], check=False)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--batch', help='TSV file: INPUT HOST OUTDIR per line')
    ap.add_argument('--iptables', choices=('nft', 'legacy', 'default'),
                    default='nft', help='iptables backend (default nft)')
    ap.add_argument('args', nargs='*')
    a = ap.parse_args(argv)
    if os.environ.get('PYTHONHASHSEED') != '0':
        # Reproducible runs: the agent iterates Python sets in places.
        os.environ['PYTHONHASHSEED'] = '0'
        os.execv(sys.executable, [sys.executable, '-W', 'ignore',
                                  os.path.abspath(__file__)] + list(argv))
    if os.geteuid() != 0:
        print('neutron_oracle: needs root (network namespaces)',
              file=sys.stderr)
        return 2
    jobs = []
    if a.batch:
        with open(a.batch) as f:
            for n, line in enumerate(f, 1):
                line = line.rstrip('\n')
                if not line:
                    continue
                parts = line.split('\t')
                if len(parts) != 3:
                    print(f'{a.batch}:{n}: want 3 tab-separated fields',
                          file=sys.stderr)
                    return 2
                jobs.append(parts)
    elif len(a.args) == 3:
        jobs.append(a.args)
    else:
        ap.print_usage(sys.stderr)
        return 2

    lock_dir = tempfile.mkdtemp(prefix='vwconf-locks-')
    try:
        t0 = time.monotonic()
        path = backend_path(a.iptables, lock_dir)
        bootstrap(lock_dir)
        print(f'oracle: neutron imported in {time.monotonic() - t0:.1f}s',
              file=sys.stderr)
        failed = 0
        for i, (inp, host, outdir) in enumerate(jobs):
            ok, secs, err = run_one(inp, host, outdir, str(i), path)
            status = 'ok' if ok else 'ERROR'
            print(f'oracle {status} {inp} ({secs:.2f}s)', file=sys.stderr)
            if not ok:
                failed += 1
                print(err, file=sys.stderr)
        return 1 if failed else 0
    finally:
        shutil.rmtree(lock_dir, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
