"""A real OVN chassis on this machine: ovs-vswitchd (netdev datapath) and
ovn-controller, plus one network namespace per Neutron port.

Everything lives in the run's temp dir (its own conf.db, unix sockets, pid
and log files); the processes are started through realovn.Procs and so are
stopped by PID with the rest. Namespaces are named `vwovn<pid>-<n>` and
all deleted by close(), even after a failure.

Per port: namespace vwovn<pid>-<n> holding `eth0` (the Neutron port's MAC,
link up, NO IP address and IPv6 disabled so its kernel never answers an
injected frame, tx checksum offload off), the other end of the veth
`vwo<pid%1000>-<n>` on br-int with external_ids:iface-id=<port id>.
"""

import os
import socket
import subprocess
import time

VSWITCH_SCHEMA = '/usr/share/openvswitch/vswitch.ovsschema'


def _run(args, env=None, check=True, input=None):
    r = subprocess.run(args, env=env, capture_output=True, text=True,
                       input=input)
    if check and r.returncode:
        raise RuntimeError(f'{" ".join(args)}: exit {r.returncode}: '
                           f'{r.stderr.strip()}')
    return r.stdout


class Chassis:
    def __init__(self, work, procs, central, hostname):
        self.work = work
        self.procs = procs
        self.central = central
        self.hostname = hostname
        self.db = os.path.join(work, 'conf.sock')
        self.env = central.env
        self.vswitchd = None
        self.controller = None
        self.namespaces = []
        self.ports = {}  # port id -> (namespace, host-side ifname)
        self.tag = f'{os.getpid() % 100000}'

    def vsctl(self, *args):
        return _run(['ovs-vsctl', f'--db=unix:{self.db}', '--timeout=20',
                     *args], env=self.env)

    def start(self):
        w = self.work
        conf = os.path.join(w, 'conf.db')
        _run(['ovsdb-tool', 'create', conf, VSWITCH_SCHEMA], env=self.env)
        self.procs.start('ovsdb-server-conf', [
            'ovsdb-server', '--no-chdir', f'--remote=punix:{self.db}',
            f'--unixctl={os.path.join(w, "conf.ctl")}',
            f'--pidfile={os.path.join(w, "conf.pid")}',
            f'--log-file={os.path.join(w, "conf.log")}', conf],
            self.env, os.path.join(w, 'conf.out'))
        _wait(lambda: os.path.exists(self.db), 'conf.db socket')
        self.vsctl('--no-wait', 'init')
        self.vswitchd = self.procs.start('ovs-vswitchd', [
            'ovs-vswitchd', '--no-chdir', f'unix:{self.db}',
            f'--unixctl={os.path.join(w, "vswitchd.ctl")}',
            f'--pidfile={os.path.join(w, "vswitchd.pid")}',
            f'--log-file={os.path.join(w, "vswitchd.log")}'],
            self.env, os.path.join(w, 'vswitchd.out'))
        self.vsctl('add-br', 'br-int', '--', 'set', 'Bridge', 'br-int',
                   'datapath_type=netdev', 'fail-mode=secure',
                   'other-config:disable-in-band=true')
        self.vsctl('set', 'Open_vSwitch', '.',
                   f'external_ids:system-id={self.hostname}',
                   f'external_ids:hostname={self.hostname}',
                   'external_ids:ovn-encap-type=geneve',
                   'external_ids:ovn-encap-ip=127.0.0.1',
                   f'external_ids:ovn-remote=unix:{self.central.sb}',
                   'external_ids:ovn-bridge=br-int')
        self.controller = self.procs.start('ovn-controller', [
            # 23.03 has no --unixctl: its socket goes to OVN_RUNDIR (= w).
            'ovn-controller', '--no-chdir', f'unix:{self.db}',
            f'--pidfile={os.path.join(w, "controller.pid")}',
            f'--log-file={os.path.join(w, "controller.log")}'],
            self.env, os.path.join(w, 'controller.out'))
        _wait(lambda: self.hostname in (self.central.sbctl(
            '--columns=name', 'list', 'Chassis', check=False) or ''),
            'the chassis in the SB', timeout=30)

    def alive(self):
        return all(p is not None and p.poll() is None
                   for p in (self.vswitchd, self.controller))

    def add_port(self, port_id, mac):
        n = len(self.namespaces)
        ns = f'vwovn{self.tag}-{n}'
        host_if = f'vwo{self.tag}-{n}'[:15]
        peer = f'vwp{self.tag}-{n}'[:15]
        _run(['ip', 'netns', 'add', ns])
        self.namespaces.append(ns)
        _run(['ip', 'link', 'add', host_if, 'type', 'veth', 'peer', 'name',
              peer])
        _run(['ip', 'link', 'set', peer, 'netns', ns])
        cmds = [f'link set {peer} name eth0',
                f'link set eth0 address {mac}', 'link set lo up']
        _run(['ip', '-n', ns, '-batch', '-'], input='\n'.join(cmds) + '\n')
        # No IPv6 (no DAD/RS/MLD of the namespace's own), no IP at all, and
        # disabled before eth0 comes up: an MLD report or DAD sent at link-up
        # would teach the switch the port's MAC (ls_in_put_fdb for a port
        # with `unknown` addresses), which the frames under test do not
        # (seen in a large run on a loaded machine).
        _run(['ip', 'netns', 'exec', ns, 'sysctl', '-qw',
              'net.ipv6.conf.all.disable_ipv6=1'], check=False)
        _run(['ip', 'netns', 'exec', ns, 'sysctl', '-qw',
              'net.ipv6.conf.eth0.disable_ipv6=1'], check=False)
        _run(['ip', '-n', ns, 'link', 'set', 'eth0', 'up'])
        _run(['ip', 'netns', 'exec', ns, 'ethtool', '-K', 'eth0', 'tx',
              'off'], check=False)
        _run(['sysctl', '-qw', f'net.ipv6.conf.{host_if}.disable_ipv6=1'],
             check=False)
        _run(['ip', 'link', 'set', host_if, 'up'])
        _run(['ethtool', '-K', host_if, 'tx', 'off'], check=False)
        self.vsctl('add-port', 'br-int', host_if, '--', 'set', 'Interface',
                   host_if, f'external_ids:iface-id={port_id}')
        self.ports[port_id] = (ns, host_if)
        return ns

    def wait_bound(self, port_ids, timeout=30):
        """Waits until the SB Port_Binding of each port names this chassis."""
        want = set(port_ids)

        def bound():
            out = self.central.sbctl('--format=csv', '--no-headings',
                                     '--columns=logical_port,chassis',
                                     'list', 'Port_Binding', check=False)
            if out is None:
                return False
            have = set()
            for line in out.splitlines():
                lp, _, ch = line.partition(',')
                if ch.strip() and ch.strip() != '[]':
                    have.add(lp.strip('"'))
            return want <= have
        _wait(bound, 'port bindings', timeout=timeout)
        # ovn-controller installs the flows after claiming: let it settle.
        self.central.nbctl('--timeout=30', '--wait=hv', 'sync')

    def remove_ports(self):
        for pid, (ns, host_if) in list(self.ports.items()):
            _run(['ovs-vsctl', f'--db=unix:{self.db}', '--timeout=10',
                  '--if-exists', 'del-port', 'br-int', host_if],
                 env=self.env, check=False)
        self._delete_namespaces()
        self.ports = {}

    def _delete_namespaces(self):
        for ns in self.namespaces:
            subprocess.run(['ip', 'netns', 'del', ns], capture_output=True)
        self.namespaces = []

    def close(self):
        try:
            self.remove_ports()
        finally:
            self._delete_namespaces()


def _wait(cond, what, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise RuntimeError(f'timed out waiting for {what}')
