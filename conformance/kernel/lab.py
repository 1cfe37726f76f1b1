"""The real-kernel side: a Neutron iptables_hybrid compute host in namespaces.

Topology (all names prefixed so cleanup can find them):

    VM ns vwk-<tag>-vm<i>: eth0 (port MAC, no IP)
        |  veth
    host ns vwk-<tag>-host: tap<id> -- qbr<id> (Linux bridge, br_netfilter on)
                                        |
                                       qvb<id> == veth == qvo<id> -- br-int

br-int is a plain Linux bridge standing in for OVS br-int with bridge-netfilter
off, so a frame meets iptables only on the qbr crossings, as on a real host.
Frames go in and out through AF_PACKET sockets opened inside the namespaces.
"""

import ctypes
import os
import shutil
import socket
import subprocess
import time

from frames import frame_marker

CLONE_NEWNET = 0x40000000
ETH_P_ALL = 0x0003
_libc = ctypes.CDLL(None, use_errno=True)


def sh(args, ns=None, check=True, input=None):
    """Run a command (list), in namespace `ns` when given; returns stdout."""
    if ns:
        args = ['ip', 'netns', 'exec', ns] + args
    r = subprocess.run(args, input=input, capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError('%s: exit %d: %s' % (' '.join(args), r.returncode,
                                                r.stderr.strip()))
    return r.stdout


def ip_batch(lines, ns=None):
    """Many `ip` commands in one process (`ip [-n NS] -batch -`)."""
    pre = ['ip'] + (['-n', ns] if ns else [])
    sh(pre + ['-batch', '-'], input='\n'.join(lines) + '\n')


class NetnsSocket:
    """Opens AF_PACKET sockets inside a named network namespace via setns(2)."""

    def __init__(self, ns):
        self.ns = ns

    def packet_socket(self, ifname):
        own = os.open('/proc/self/ns/net', os.O_RDONLY)
        target = os.open('/run/netns/' + self.ns, os.O_RDONLY)
        try:
            if _libc.setns(target, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), 'setns ' + self.ns)
            s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
            s.bind((ifname, 0))
        finally:
            if _libc.setns(own, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), 'setns back')
            os.close(own)
            os.close(target)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        return s


def dev_names(port_id):
    # Neutron: prefix + the port UUID, cut to 14 chars (LINUX_DEV_LEN).
    sfx = port_id[:11]
    return {k: k + sfx for k in ('tap', 'qvb', 'qvo', 'qbr')}


class Lab:
    """The namespaces of one run. Use as a context manager: it always cleans up."""

    def __init__(self, tag, ports, backend='nft'):
        """ports: list of dicts with 'id' (UUID) and 'mac'; backend: iptables
        'nft' (Debian's default) or 'legacy' (x_tables)."""
        sfx = '-legacy' if backend == 'legacy' else ''
        self.tool = {k: k.replace('tables', 'tables' + sfx, 1) for k in
                     ('iptables-restore', 'ip6tables-restore', 'iptables-save',
                      'ip6tables-save')}
        self.tag = tag
        self.host = 'vwk-%s-host' % tag
        self.ports = ports
        self.vm_ns = ['vwk-%s-vm%d' % (tag, i) for i in range(len(ports))]
        self.by_mac = {p['mac'].lower(): i for i, p in enumerate(ports)}
        self.vm_sock = []
        self.qvo_sock = []
        self.v4_flood_ok = False

    def __enter__(self):
        try:
            self.create()
        except BaseException:
            self.destroy()
            raise
        return self

    def __exit__(self, *exc):
        self.destroy()

    def create(self):
        h = self.host
        cmds = ['netns add ' + h] + ['netns add ' + v for v in self.vm_ns]
        ip_batch(cmds)
        # Per-netns br_netfilter switches off; only the qbr bridges turn it on
        # (the bridge option is OR-ed with the sysctl, kernel br_netfilter_hooks.c).
        sysctls = ['net.bridge.bridge-nf-call-iptables=0',
                   'net.bridge.bridge-nf-call-ip6tables=0',
                   'net.bridge.bridge-nf-call-arptables=0',
                   'net.ipv6.conf.all.disable_ipv6=1',
                   'net.ipv6.conf.default.disable_ipv6=1']
        sh(['sysctl', '-q', '-w'] + sysctls, ns=h)
        for v in self.vm_ns:
            sh(['sysctl', '-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1',
                'net.ipv6.conf.default.disable_ipv6=1'], ns=v)
        cmds = ['link add br-int type bridge nf_call_iptables 0 nf_call_ip6tables 0 '
                'stp_state 0 forward_delay 0 mcast_snooping 0',
                'link set br-int multicast off up',
                # One local address so the FIB local table exists, as on a real
                # host: without it addrtype calls every address BROADCAST
                # (kernel net/ipv4/fib_frontend.c __inet_dev_addr_type).
                'addr add 192.0.2.254/32 dev br-int']
        vm_cmds = []
        for i, p in enumerate(self.ports):
            d = dev_names(p['id'])
            vm = self.vm_ns[i]
            cmds += [
                'link add %s type veth peer name eth0 netns %s' % (d['tap'], vm),
                'link add %s type veth peer name %s' % (d['qvb'], d['qvo']),
                'link add %s type bridge nf_call_iptables 1 nf_call_ip6tables 1 '
                'stp_state 0 forward_delay 0 mcast_snooping 0' % d['qbr'],
                'link set %s master %s' % (d['tap'], d['qbr']),
                'link set %s master %s' % (d['qvb'], d['qbr']),
                'link set %s master br-int' % d['qvo'],
            ]
            vm_cmds.append((vm, ['link set eth0 address %s' % p['mac'],
                                 'link set eth0 multicast off up']))
            for dev in (d['tap'], d['qvb'], d['qvo'], d['qbr']):
                # no IGMP reports from the host's own devices (they would be
                # bridged through the qbr crossings and move counters)
                cmds.append('link set %s multicast off up' % dev)
        ip_batch(cmds, ns=h)
        for vm, c in vm_cmds:
            ip_batch(c, ns=vm)
        # No learning: spoofed source MACs must not move FDB entries; static
        # entries send each VM MAC to its own port.
        cmds = []
        for i, p in enumerate(self.ports):
            d = dev_names(p['id'])
            for dev in (d['tap'], d['qvb'], d['qvo']):
                cmds.append('link set dev %s type bridge_slave learning off' % dev)
        ip_batch(cmds, ns=h)
        # br-int passes multicast frames up to its own IP stack too, where
        # (with no br_netfilter on br-int, hence no ip_sabotage_in) they would
        # cross PREROUTING outside any qbr crossing. Drop them at br-int's
        # bridge-family LOCAL_IN, which no iptables counter sees. A host
        # without nft skips IPv4 multicast (IPv6 is off on the host's devices).
        self.v4_flood_ok = subprocess.run(
            ['ip', 'netns', 'exec', h, 'nft', 'add table bridge vwk; add chain bridge vwk '
             'in { type filter hook input priority 0; policy accept; }; '
             'add rule bridge vwk in iifname "qvo*" drop'],
            capture_output=True).returncode == 0 if shutil.which('nft') else False
        fdb = []
        for i, p in enumerate(self.ports):
            d = dev_names(p['id'])
            fdb.append('fdb add %s dev %s master static' % (p['mac'], d['qvo']))
            fdb.append('fdb add %s dev %s master static' % (p['mac'], d['tap']))
        sh(['bridge', '-n', h, '-batch', '-'], input='\n'.join(fdb) + '\n')
        for i, p in enumerate(self.ports):
            d = dev_names(p['id'])
            self.vm_sock.append(NetnsSocket(self.vm_ns[i]).packet_socket('eth0'))
            self.qvo_sock.append(NetnsSocket(h).packet_socket(d['qvo']))
        for s in self.vm_sock + self.qvo_sock:
            s.setblocking(False)
        time.sleep(0.05)
        self.drain()

    def destroy(self):
        for s in self.vm_sock + self.qvo_sock:
            s.close()
        self.vm_sock, self.qvo_sock = [], []
        for ns in [self.host] + self.vm_ns:
            subprocess.run(['ip', 'netns', 'del', ns], capture_output=True)

    def drain(self):
        for s in self.vm_sock + self.qvo_sock:
            while True:
                try:
                    s.recv(65535)
                except BlockingIOError:
                    break

    # -- rulesets and state ------------------------------------------------

    def load(self, ipt4, ipt6, ipsets):
        """Replace the host's rules and sets; flush conntrack."""
        empty = ''.join('*%s\nCOMMIT\n' % t for t in ('raw', 'mangle', 'nat', 'filter'))
        sh([self.tool['iptables-restore']], ns=self.host, input=empty)
        sh([self.tool['ip6tables-restore']], ns=self.host, input=empty)
        sh(['ipset', 'destroy'], ns=self.host, check=False)
        if ipsets.strip():
            sh(['ipset', 'restore'], ns=self.host, input=ipsets)
        if ipt4.strip():
            sh([self.tool['iptables-restore']], ns=self.host, input=ipt4)
        if ipt6.strip():
            sh([self.tool['ip6tables-restore']], ns=self.host, input=ipt6)
        self.flush_conntrack()

    def flush_conntrack(self):
        for fam in ('ipv4', 'ipv6'):
            sh(['conntrack', '-F', '-f', fam], ns=self.host, check=False)

    def save(self, v6):
        return sh([self.tool['ip6tables-save' if v6 else 'iptables-save'], '-c'], ns=self.host)

    def save_plain(self):
        """iptables-save then ip6tables-save, without counters: vipwire's input."""
        return sh([self.tool['iptables-save']], ns=self.host) + \
            sh([self.tool['ip6tables-save']], ns=self.host)

    def conntrack_list(self):
        return sh(['conntrack', '-L', '-f', 'ipv4'], ns=self.host, check=False) + \
            sh(['conntrack', '-L', '-f', 'ipv6'], ns=self.host, check=False)

    # -- injection ---------------------------------------------------------

    def receivers(self, p):
        """Port indices a frame reaches, in the order the kernel forwards it:
        the port owning the destination MAC, or for a multicast MAC every other
        port in br-int's flood order (the last port enslaved comes first, as
        measured with nat counters on this kernel)."""
        dmac = p['dmac'].lower()
        if int(dmac.split(':')[0], 16) & 1:
            return [i for i in reversed(range(len(self.ports))) if i != p['a']]
        return [self.by_mac[dmac]] if dmac in self.by_mac else []

    def inject(self, sender, receivers, frame, marker, barrier_seq, smac, dmac):
        """Send `frame` from VM `sender`, then a barrier frame to the same MAC.
        Returns (passed, delivered): whether the frame left the sender's qbr
        (seen on qvo<sender>) and, per receiver, whether it reached that VM."""
        from frames import barrier_frame
        out = self.vm_sock[sender]
        out.send(frame)
        out.send(barrier_frame(smac, dmac, barrier_seq))
        passed = self._wait(self.qvo_sock[sender], marker, barrier_seq, incoming=True)
        delivered = [self._wait(self.vm_sock[r], marker, barrier_seq, incoming=True)
                     for r in receivers]
        return passed, delivered

    def _wait(self, s, marker, barrier_seq, incoming, timeout=1.0):
        seen = False
        deadline = time.monotonic() + timeout
        while True:
            try:
                data, addr = s.recvfrom(65535)
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise RuntimeError('barrier %d never arrived' % barrier_seq)
                time.sleep(0.0002)
                continue
            if incoming and addr[2] == socket.PACKET_OUTGOING:
                continue
            m = frame_marker(data)
            if m == ('ip', marker):
                seen = True
            elif m == ('barrier', barrier_seq):
                return seen
