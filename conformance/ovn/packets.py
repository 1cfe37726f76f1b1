#!/usr/bin/env python3
"""Real delivery through a real OVN chassis: which ports receive each frame.

    packets.py --out DIR [--case NAME ...] [--cases] [--seed S --count N]
               [--frames K] [--frame-seed F]

Run with the neutron venv's python, as root. Starts what realovn.py starts
plus a chassis (chassis.py: ovs-vswitchd with the netdev datapath and
ovn-controller, system-id and hostname `compute-1`, geneve on 127.0.0.1)
BEFORE Neutron, so ports bind. Every port of the cloud is moved to
`binding:host_id = compute-1` before it is built (one real chassis; a port
with an empty host stays unbound), so every non-virtual port gets a
namespace with its MAC and no IP, its veth on br-int with
external_ids:iface-id=<port id>.

Then K seeded frames per cloud (TCP SYN, UDP, ICMP echo between ports by
fixed IP; from and to pair IPs; spoofed sources; ARP requests for fixed
and pair IPs; VRRP adverts to 224.0.0.18; between ports with IPv6, TCP and
the neighbour discovery Linux sends: a solicitation for a fixed or pair
address to its solicited-node group, an unsolicited advertisement of an
own, pair or foreign address to ff02::1; after 40% of the SYNs the
receiver's SYN-ACK), each built by hand (struct,
conformance/kernel/frames.py) and sent with AF_PACKET from the sender's
namespace; every other namespace sniffs. Written to DIR/<cloud>/:

    neutron.json, nb.json, lflows.txt   as realovn.py (of this binding)
    frames.txt     the frames as `vipwire trace --neutron` packet lines
    delivery.jsonl one JSON object per frame, in order:
                   {"from": port id, "frame": line, "delivered_to": [ids]}
                   (+ "arp_reply_to_sender": MAC when an ARP reply reached
                   the sender, e.g. from OVN's ARP responder)

Compare with `vipwire trace --driver ovn --neutron DIR/<cloud>/neutron.json
--packets DIR/<cloud>/frames.txt --format json`. ovs-vswitchd and
ovn-controller are checked alive after each frame. Only namespaces this
run creates are used, only addresses from the cloud (203.0.113.0/24,
198.51.100.0/24, 192.0.2.0/24, 2001:db8::/32).
"""

import argparse
import ipaddress
import json
import os
import random
import select
import socket
import struct
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CONF_DIR = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(CONF_DIR, 'kernel'))

import frames  # noqa: E402  conformance/kernel/frames.py
import lab  # noqa: E402  conformance/kernel/lab.py (NetnsSocket)
import realovn  # noqa: E402

PACKET_OUTGOING = 4
SETTLE = 0.15      # quiet time after a frame before reading the sniffers
BCAST = 'ff:ff:ff:ff:ff:ff'
VRRP_GROUP = '224.0.0.18'
VRRP_MAC = '01:00:5e:00:00:12'
KV_ORDER = ['from', 'smac', 'dmac', 'src', 'dst', 'proto', 'nd', 'target',
            'sport', 'dport', 'flags', 'seq', 'ack', 'win', 'len',
            'icmp_type', 'icmp_code', 'icmp_id', 'ttl', 'arp_op', 'sha', 'spa',
            'tha', 'tpa']
ALL_NODES = 'ff02::1'


def solicited_node(addr):
    """RFC 4291 2.7.1: ff02::1:ffXX:XXXX of an address, and its MAC (RFC 2464 7)."""
    low = ipaddress.IPv6Address(addr).packed[13:]
    group = ipaddress.IPv6Address(bytes.fromhex('ff02' + '00' * 9 + '01ff')
                                  + low)
    return str(group), '33:33:' + ':'.join('%02x' % b for b in group.packed[12:])


def nd_frame(p, marker):
    """An ICMPv6 neighbour solicitation (135) or advertisement (136), hop
    limit 255, with the sender's link-layer address option (RFC 4861 4.3,
    4.4): as Linux sends them. An unsolicited advertisement has the override
    flag only. The marker goes into the flow label (frames.py)."""
    src = ipaddress.IPv6Address(p['src'])
    dst = ipaddress.IPv6Address(p['dst'])
    target = ipaddress.IPv6Address(p['target']).packed
    if p['nd'] == 'ns':
        head = struct.pack('!BBHI', 135, 0, 0, 0)
        opt = struct.pack('!BB', 1, 1) + frames.mac_bytes(p['smac'])
    else:
        head = struct.pack('!BBHI', 136, 0, 0, 0x20000000)
        opt = struct.pack('!BB', 2, 1) + frames.mac_bytes(p['smac'])
    msg = head + target + opt
    c = frames.csum(struct.pack('!16s16sII', src.packed, dst.packed, len(msg),
                                58) + msg)
    msg = msg[:2] + struct.pack('!H', c) + msg[4:]
    ip = struct.pack('!IHBB16s16s', (6 << 28) | (marker & 0xfffff), len(msg),
                     58, 255, src.packed, dst.packed)
    return (frames.mac_bytes(p['dmac']) + frames.mac_bytes(p['smac'])
            + struct.pack('!H', 0x86DD) + ip + msg)


def arp_frame(p):
    """An Ethernet ARP frame from a packet dict (proto=arp)."""
    op = int(p['arp_op'])
    dmac = p.get('dmac') or (BCAST if op == 1 else p['tha'])
    body = struct.pack('!HHBBH6s4s6s4s', 1, 0x0800, 6, 4, op,
                       frames.mac_bytes(p['sha']),
                       ipaddress.IPv4Address(p['spa']).packed,
                       frames.mac_bytes(p['tha']),
                       ipaddress.IPv4Address(p['tpa']).packed)
    return (frames.mac_bytes(dmac) + frames.mac_bytes(p['smac'])
            + struct.pack('!H', 0x0806) + body + b'\0' * 18)


def line_of(p):
    # ARP lines carry no smac/dmac (vipwire: the Ethernet source is `sha`,
    # a request is broadcast); the frame sent has smac = sha.
    return ' '.join(f'{k}={p[k]}' for k in KV_ORDER
                    if k in p and not (p['proto'] == 'arp'
                                       and k in ('smac', 'dmac')))


class Port:
    def __init__(self, neutron_port):
        p = neutron_port
        self.id = p['id']
        self.mac = p['mac_address'].lower()
        self.net = p['network_id']
        self.ip4 = [f['ip_address'] for f in p['fixed_ips']
                    if ':' not in f['ip_address']]
        self.ip6 = [f['ip_address'] for f in p['fixed_ips']
                    if ':' in f['ip_address']]
        self.pairs4, self.pairs6 = [], []
        self.mac_pairs4 = []
        for a in p.get('allowed_address_pairs', []):
            net = ipaddress.ip_network(a['ip_address'], strict=False)
            host = str(net.network_address) if net.prefixlen == net.max_prefixlen \
                else str(net[min(5, net.num_addresses - 1)])
            if a['ip_address'].endswith('/0'):
                host = {4: '192.0.2.77', 6: '2001:db8:ff::77'}[net.version]
            (self.pairs4 if net.version == 4 else self.pairs6).append(host)
            pmac = (a.get('mac_address') or self.mac).lower()
            if net.version == 4 and pmac != self.mac:
                # keepalived's use_vmac: frames leave from the pair's MAC.
                self.mac_pairs4.append((host, pmac))


def draw_frames(rng, ports, k):
    """k frames (packet dicts with 'from' and 'to' port objects)."""
    out = []
    by_net = {}
    for p in ports:
        by_net.setdefault(p.net, []).append(p)
    nets = [ps for ps in by_net.values() if len(ps) >= 2]
    if not nets:
        return out
    for _ in range(k):
        ps = rng.choice(nets)
        a, b = rng.sample(ps, 2)
        kinds = ['tcp', 'tcp', 'udp', 'icmp', 'from_pair', 'to_pair',
                 'spoof', 'arp_fixed', 'arp_pair', 'vrrp']
        if a.ip6 and b.ip6:
            kinds += ['tcp6', 'nd_ns', 'nd_na']
        if a.mac_pairs4:
            kinds += ['from_pair_mac', 'arp_pair_mac']
        kind = rng.choice(kinds)
        v6 = kind in ('tcp6', 'nd_ns', 'nd_na')
        src_list = a.ip6 if v6 else a.ip4
        dst_list = b.ip6 if v6 else b.ip4
        src = rng.choice(src_list) if src_list else \
            ('2001:db8:1::99' if v6 else '203.0.113.199')
        dst = rng.choice(dst_list) if dst_list else \
            ('2001:db8:1::98' if v6 else '203.0.113.198')
        f = {'from': a.id, 'smac': a.mac, 'dmac': b.mac, 'src': src,
             'dst': dst}
        tcp = {'proto': 'tcp', 'sport': rng.randint(1024, 65535),
               'dport': rng.choice([22, 80, 443, 8080,
                                    rng.randint(1, 65535)]),
               'flags': 'S', 'seq': rng.getrandbits(32), 'win': 64240}
        if kind in ('tcp', 'tcp6'):
            f.update(tcp)
        elif kind == 'udp':
            f.update(proto='udp', sport=rng.randint(1024, 65535),
                     dport=rng.choice([53, 123, 5000]), len=20)
        elif kind == 'icmp':
            f.update(proto='icmp', icmp_type=8, icmp_code=0,
                     icmp_id=rng.randint(1, 65535))
        elif kind == 'from_pair':
            f['src'] = rng.choice(a.pairs4) if a.pairs4 else '203.0.113.241'
            f.update(tcp)
        elif kind == 'to_pair':
            f['dst'] = rng.choice(b.pairs4) if b.pairs4 else '203.0.113.241'
            f.update(tcp)
        elif kind == 'spoof':
            f['src'] = rng.choice(['203.0.113.250', '198.51.100.250',
                                   '192.0.2.250'])
            f.update(tcp)
        elif kind in ('arp_fixed', 'arp_pair'):
            tpa = (rng.choice(b.pairs4) if kind == 'arp_pair' and b.pairs4
                   else (rng.choice(b.ip4) if b.ip4 else '203.0.113.198'))
            spa = rng.choice(a.ip4) if a.ip4 else '203.0.113.199'
            f = {'from': a.id, 'smac': a.mac, 'proto': 'arp', 'arp_op': 1,
                 'sha': a.mac, 'spa': spa, 'tha': '00:00:00:00:00:00',
                 'tpa': tpa}
        elif kind == 'from_pair_mac':
            f['src'], f['smac'] = rng.choice(a.mac_pairs4)
            f.update(tcp)
        elif kind == 'arp_pair_mac':
            # Sender IP from any pair or fixed IP: port_security entries that
            # share a MAC allow the union of their addresses.
            spa_all = a.pairs4 + a.ip4
            _, pmac = rng.choice(a.mac_pairs4)
            f = {'from': a.id, 'smac': pmac, 'proto': 'arp', 'arp_op': 1,
                 'sha': pmac, 'spa': rng.choice(spa_all),
                 'tha': '00:00:00:00:00:00',
                 'tpa': rng.choice(b.ip4) if b.ip4 else '203.0.113.198'}
        elif kind == 'vrrp':
            f.update(dmac=VRRP_MAC, dst=VRRP_GROUP, proto='vrrp', ttl=255)
        elif kind == 'nd_ns':
            target = rng.choice(b.ip6 + b.pairs6)
            group, gmac = solicited_node(target)
            f = {'from': a.id, 'smac': a.mac, 'dmac': gmac, 'src': src,
                 'dst': group, 'proto': 'nd', 'nd': 'ns', 'target': target}
        elif kind == 'nd_na':
            # Unsolicited, from the advertised address itself (Linux, and
            # keepalived's for a VIP): own, a pair, or one it does not own.
            target = rng.choice(a.ip6 + a.pairs6 + ['2001:db8:1::250'])
            f = {'from': a.id, 'smac': a.mac, 'dmac': '33:33:00:00:00:01',
                 'src': target, 'dst': ALL_NODES, 'proto': 'nd', 'nd': 'na',
                 'target': target}
        out.append(f)
        if f.get('flags') == 'S' and rng.random() < 0.4:
            # The receiver's SYN-ACK right after (conntrack: the reply of
            # an allowed flow passes as ct.est whatever the rules say).
            out.append({'from': b.id, 'smac': b.mac, 'dmac': a.mac,
                        'src': f['dst'], 'dst': f['src'], 'proto': 'tcp',
                        'sport': f['dport'], 'dport': f['sport'],
                        'flags': 'SA', 'seq': rng.getrandbits(32),
                        'ack': (f['seq'] + 1) & 0xffffffff, 'win': 64240})
    return out[:k]


class Sniffers:
    def __init__(self, chassis):
        self.socks = {}
        for pid, (ns, _) in chassis.ports.items():
            self.socks[pid] = lab.NetnsSocket(ns).packet_socket('eth0')
            self.socks[pid].setblocking(False)

    def drain(self):
        for s in self.socks.values():
            while True:
                try:
                    s.recv(65535)
                except BlockingIOError:
                    break

    def collect(self, settle=SETTLE):
        """{port id: [frames received]} until `settle` s without traffic."""
        got = {pid: [] for pid in self.socks}
        fds = {s.fileno(): pid for pid, s in self.socks.items()}
        deadline = time.monotonic() + settle
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            r, _, _ = select.select(list(fds), [], [], left)
            for fd in r:
                pid = fds[fd]
                s = self.socks[pid]
                while True:
                    try:
                        data, addr = s.recvfrom(65535)
                    except BlockingIOError:
                        break
                    if addr[2] != PACKET_OUTGOING:
                        got[pid].append(data)
        return got

    def close(self):
        for s in self.socks.values():
            s.close()


def is_same(sent, recv, kind, marker):
    if kind == 'arp':
        return len(recv) >= 42 and recv[12:42] == sent[12:42]
    m = frames.frame_marker(recv)
    if m != ('ip', marker):
        return False
    # Same addresses (IPv4 18..19 is the marker; compare src/dst).
    if sent[12:14] == b'\x08\x00':
        return recv[26:34] == sent[26:34]
    return recv[22:54] == sent[22:54]


def send_frames(chassis, frames_list, log_fh, marker0=1):
    sn = Sniffers(chassis)
    results = []
    try:
        for i, f in enumerate(frames_list):
            marker = (marker0 + i) & 0xffff or 1
            if f['proto'] == 'arp':
                data = arp_frame(f)
            elif f['proto'] == 'nd':
                data = nd_frame(f, marker)
            else:
                data = frames.build_frame(f, marker)
            sender = f['from']
            sn.drain()
            sn.socks[sender].send(data)
            got = sn.collect()
            delivered = sorted(pid for pid, fl in got.items()
                               if pid != sender and any(
                                   is_same(data, r, 'arp' if f['proto'] ==
                                           'arp' else 'ip', marker)
                                   for r in fl))
            rec = {'from': sender, 'frame': line_of(f),
                   'delivered_to': delivered}
            if f.get('nd') == 'ns':
                # OVN's ND responder answers with an advertisement to the
                # sender: ICMPv6 136 whose target is the one solicited.
                for r in got.get(sender, []):
                    if (len(r) >= 78 and r[12:14] == b'\x86\xdd'
                            and r[20] == 58 and r[54] == 136
                            and r[62:78] == data[62:78]):
                        rec['nd_reply_to_sender'] = ':'.join(
                            '%02x' % x for x in r[6:12])
            if f['proto'] == 'arp':
                for r in got.get(sender, []):
                    if (len(r) >= 42 and r[12:14] == b'\x08\x06'
                            and r[20:22] == b'\x00\x02'
                            and r[28:32] == data[38:42]):
                        rec['arp_reply_to_sender'] = ':'.join(
                            '%02x' % x for x in r[22:28])
            if not chassis.alive():
                rec['error'] = 'ovs-vswitchd or ovn-controller died'
                results.append(rec)
                log_fh.write(json.dumps(rec, sort_keys=True) + '\n')
                raise RuntimeError(rec['error'] + f' after frame {i}')
            results.append(rec)
            log_fh.write(json.dumps(rec, sort_keys=True) + '\n')
    finally:
        sn.close()
    return results


def run_cloud(sess, name, spec, outdir, k, frame_seed, plug_virtual=False):
    spec = realovn.fill_defaults(spec)
    for p in spec['ports']:
        if p.get('binding:host_id'):
            p['binding:host_id'] = sess.hostname
    t0 = time.monotonic()
    data, refused, _, _ = realovn.build_with_retry(sess, name, spec, outdir)
    t_build = time.monotonic() - t0
    with open(os.path.join(outdir, 'nb.json')) as f:
        nb = json.load(f)
    lsp_type = {r['name']: r.get('type', '')
                for r in nb['logical_switch_ports']}
    ports = [Port(p) for p in data['ports']
             if lsp_type.get(p['id'], '') == '' or
             (plug_virtual and lsp_type.get(p['id']) == 'virtual')]
    ch = sess.chassis
    t1 = time.monotonic()
    try:
        for p in ports:
            ch.add_port(p.id, p.mac)
        bound = [p.id for p in ports
                 if lsp_type.get(p.id, '') == '' and any(
                     q['id'] == p.id and q['binding:host_id']
                     for q in data['ports'])]
        ch.wait_bound(bound)
        t_plumb = time.monotonic() - t1
        rng = random.Random(f'{frame_seed}:{name}')
        fl = draw_frames(rng, ports, k)
        with open(os.path.join(outdir, 'frames.txt'), 'w') as f:
            f.write(''.join(line_of(x) + '\n' for x in fl))
        t2 = time.monotonic()
        with open(os.path.join(outdir, 'delivery.jsonl'), 'w') as fh:
            res = send_frames(ch, fl, fh)
        t_frames = time.monotonic() - t2
    finally:
        ch.remove_ports()
    realovn.log(f'{name}: {len(ports)} ports plugged, {len(res)} frames; '
                f'build {t_build:.1f}s, plug+bind {t_plumb:.1f}s, frames '
                f'{t_frames:.1f}s ({t_frames / max(1, len(res)):.2f}s each)')
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--out', required=True)
    ap.add_argument('--cases', action='store_true')
    ap.add_argument('--case', action='append', default=[])
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--count', type=int, default=0)
    ap.add_argument('--frames', type=int, default=20)
    ap.add_argument('--frame-seed', type=int, default=1)
    ap.add_argument('--plug-virtual', action='store_true',
                    help='also give type=virtual ports a namespace')
    a = ap.parse_args()
    sess = realovn.Session(chassis=True, hostname='compute-1', fake_chassis=())
    try:
        sess.start()
        rc = 0
        for name, spec in realovn.load_clouds(a):
            out = os.path.join(a.out, name)
            os.makedirs(out, exist_ok=True)
            try:
                run_cloud(sess, name, spec, out, a.frames, a.frame_seed,
                          a.plug_virtual)
                print(out, flush=True)
            except Exception as e:
                realovn.log(f'{name}: ERROR {type(e).__name__}: {e}')
                print(f'ERROR {name}', flush=True)
                rc = 1
                if sess.chassis and not sess.chassis.alive():
                    realovn.log('chassis died; stopping')
                    break
        return rc
    finally:
        sess.close()


if __name__ == '__main__':
    rc = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(rc)
