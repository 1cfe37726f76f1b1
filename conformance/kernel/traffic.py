"""Seeded packet sequences between the lab's VMs: flows that drive conntrack.

Each packet is a dict of `vipwire trace` kv fields (without the per-crossing
in/out/physdev fields) plus 'a' (sending port index) and 'b' (receiving port
index: the port whose MAC is the destination MAC). Flows: TCP handshakes with
data, FIN and RST; LVS-DR flows where the director forwards the client's
packets (client source IP, director MAC) and the real server answers the
client directly, so the director's zone sees only the original direction;
UDP request/reply; ICMP echo; ICMP errors quoting an earlier flow (RELATED)
or no flow; VRRP adverts; IPv6 neighbour discovery, MLD and RA; and random
single packets with spoofed addresses and odd flags.
"""

import ipaddress

VIP4 = '203.0.113.241'
VIP6 = '2001:db8::f1'
CLIENT4 = '198.51.100.7'
CLIENT6 = '2001:db8:1::7'


def multicast_mac(ip):
    """Ethernet address of an IPv4 or IPv6 multicast group (RFC 1112, RFC 2464)."""
    a = ipaddress.ip_address(ip).packed
    if len(a) == 4:
        return '01:00:5e:%02x:%02x:%02x' % (a[1] & 0x7f, a[2], a[3])
    return '33:33:%02x:%02x:%02x:%02x' % tuple(a[12:])


class Traffic:
    def __init__(self, rng, ports, v4_flood=True):
        self.rng = rng
        self.ports = ports
        self.v4_flood = v4_flood

    def addr(self, i, v6):
        return self.ports[i]['ip6' if v6 else 'ip4']

    def pkt(self, a, b, v6, **f):
        p = {'a': a, 'b': b, 'smac': self.ports[a]['mac'], 'dmac': self.ports[b]['mac'],
             'src': self.addr(a, v6), 'dst': self.addr(b, v6)}
        p.update(f)
        return p

    def flood(self, a, v6, group, **f):
        """A multicast frame from port a: br-int floods it to every other port."""
        p = self.pkt(a, a, v6, dst=group, **f)
        p['b'] = -1
        p['dmac'] = multicast_mac(group)
        return p

    def two(self):
        a, b = self.rng.sample(range(len(self.ports)), 2)
        return a, b

    def sport(self):
        return self.rng.randint(1024, 65535)

    def dport(self):
        return self.rng.choice([22, 80, 80, 443, 53, 8080, 5001, 1500, self.rng.randint(1, 65535)])

    # -- flows -------------------------------------------------------------

    def tcp_flow(self, v6):
        rng = self.rng
        a, b = self.two()
        sp, dp = self.sport(), self.dport()
        x, y = rng.getrandbits(32), rng.getrandbits(32)
        w = 64240
        A = dict(proto='tcp', sport=sp, dport=dp, win=w)
        B = dict(proto='tcp', sport=dp, dport=sp, win=w)
        m = lambda i: (x + i) & 0xffffffff
        n = lambda i: (y + i) & 0xffffffff
        seq = [
            self.pkt(a, b, v6, flags='S', seq=m(0), **A),
            self.pkt(b, a, v6, flags='SA', seq=n(0), ack=m(1), **B),
            self.pkt(a, b, v6, flags='A', seq=m(1), ack=n(1), **A),
            self.pkt(a, b, v6, flags='PA', seq=m(1), ack=n(1), len=100, **A),
            self.pkt(b, a, v6, flags='A', seq=n(1), ack=m(101), **B),
            self.pkt(b, a, v6, flags='PA', seq=n(1), ack=m(101), len=50, **B),
        ]
        end = rng.random()
        if end < 0.5:
            seq += [self.pkt(a, b, v6, flags='FA', seq=m(101), ack=n(51), **A),
                    self.pkt(b, a, v6, flags='FA', seq=n(51), ack=m(102), **B),
                    self.pkt(a, b, v6, flags='A', seq=m(102), ack=n(52), **A)]
        elif end < 0.7:
            if rng.random() < 0.5:
                seq.append(self.pkt(a, b, v6, flags='R', seq=m(101), **A))
            else:
                seq.append(self.pkt(b, a, v6, flags='RA', seq=n(51), ack=m(101), **B))
            # a packet after the reset
            seq.append(self.pkt(a, b, v6, flags='PA', seq=m(101), ack=n(51), len=10, **A))
        elif end < 0.8:
            # out of window data
            seq.append(self.pkt(a, b, v6, flags='PA', seq=m(1 << 30), ack=n(51), len=10, **A))
        cut = rng.randint(1, len(seq)) if rng.random() < 0.3 else len(seq)
        return seq[:cut]

    def tcp_odd(self, v6):
        """A handshake, then one of the segments conntrack's TCP tracker is
        picky about (kernel net/netfilter/nf_conntrack_proto_tcp.c)."""
        rng = self.rng
        a, b = self.two()
        sp, dp = self.sport(), self.dport()
        x, y = rng.getrandbits(32), rng.getrandbits(32)
        m = lambda i: (x + i) & 0xffffffff
        n = lambda i: (y + i) & 0xffffffff
        w = rng.choice([64240, 1024, 0])
        A = dict(proto='tcp', sport=sp, dport=dp, win=64240)
        B = dict(proto='tcp', sport=dp, dport=sp, win=w)
        seq = [self.pkt(a, b, v6, flags='S', seq=m(0), **A)]
        k = rng.randrange(12)
        if k == 0:      # SYN-ACK acknowledging the wrong sequence number
            return seq + [self.pkt(b, a, v6, flags='SA', seq=n(0), ack=m(7), **B),
                          self.pkt(a, b, v6, flags='A', seq=m(1), ack=n(1), **A)]
        if k == 1:      # simultaneous open
            return seq + [self.pkt(b, a, v6, flags='S', seq=n(0), **B),
                          self.pkt(a, b, v6, flags='SA', seq=m(0), ack=n(1), **A),
                          self.pkt(b, a, v6, flags='SA', seq=n(0), ack=m(1), **B)]
        if k == 2:      # retransmitted SYN with another ISN
            return seq + [self.pkt(a, b, v6, flags='S', seq=m(1 << 20), **A),
                          self.pkt(b, a, v6, flags='SA', seq=n(0), ack=m((1 << 20) + 1), **B)]
        seq += [self.pkt(b, a, v6, flags='SA', seq=n(0), ack=m(1), **B),
                self.pkt(a, b, v6, flags='A', seq=m(1), ack=n(1), **A)]
        if k == 3:      # RST outside the window, then one at the right place
            return seq + [self.pkt(b, a, v6, flags='R', seq=n(1 << 28), **B),
                          self.pkt(a, b, v6, flags='PA', seq=m(1), ack=n(1), len=20, **A),
                          self.pkt(b, a, v6, flags='R', seq=n(1), **B),
                          self.pkt(a, b, v6, flags='PA', seq=m(21), ack=n(1), len=20, **A)]
        if k == 4:      # acknowledging data never sent
            return seq + [self.pkt(a, b, v6, flags='A', seq=m(1), ack=n(1 << 24), **A)]
        if k == 5:      # data beyond the peer's window
            return seq + [self.pkt(a, b, v6, flags='PA', seq=m(1 + (w or 1) + 70000),
                                   ack=n(1), len=100, **A)]
        if k == 6:      # data after FIN, then the FIN's ACK
            return seq + [self.pkt(a, b, v6, flags='FA', seq=m(1), ack=n(1), **A),
                          self.pkt(a, b, v6, flags='PA', seq=m(2), ack=n(1), len=10, **A),
                          self.pkt(b, a, v6, flags='A', seq=n(1), ack=m(2), **B)]
        if k == 7:      # SYN on an established connection (port reuse)
            return seq + [self.pkt(a, b, v6, flags='S', seq=m(1 << 31), **A),
                          self.pkt(b, a, v6, flags='A', seq=n(1), ack=m(1), **B)]
        if k == 8:      # RST-ACK from the responder, then a retransmission
            return seq + [self.pkt(b, a, v6, flags='RA', seq=n(1), ack=m(1), **B),
                          self.pkt(a, b, v6, flags='PA', seq=m(1), ack=n(1), len=5, **A)]
        if k == 9:      # old duplicate: data below the window
            return seq + [self.pkt(a, b, v6, flags='PA', seq=m(1), ack=n(1), len=100, **A),
                          self.pkt(b, a, v6, flags='A', seq=n(1), ack=m(101), **B),
                          self.pkt(a, b, v6, flags='PA', seq=m(-200000), ack=n(1), len=10,
                                   **A)]
        if k == 10:     # both FINs crossing, then last ACKs
            return seq + [self.pkt(a, b, v6, flags='FA', seq=m(1), ack=n(1), **A),
                          self.pkt(b, a, v6, flags='FA', seq=n(1), ack=m(1), **B),
                          self.pkt(a, b, v6, flags='A', seq=m(2), ack=n(2), **A),
                          self.pkt(b, a, v6, flags='A', seq=n(2), ack=m(2), **B),
                          self.pkt(a, b, v6, flags='S', seq=m(100000), **A)]
        # the responder's data with a zero window on the other side
        return seq + [self.pkt(b, a, v6, flags='PA', seq=n(1), ack=m(1), len=30, **B),
                      self.pkt(a, b, v6, flags='A', seq=m(1), ack=n(31), **dict(A, win=0)),
                      self.pkt(b, a, v6, flags='PA', seq=n(31), ack=m(1), len=30, **B)]

    def dr_flow(self, v6):
        """LVS-DR: client c -> director d (VIP) -> real server r -> client c."""
        rng = self.rng
        if len(self.ports) < 3:
            return self.tcp_flow(v6)
        c, d, r = rng.sample(range(len(self.ports)), 3)
        vip = VIP6 if v6 else VIP4
        cip = rng.choice([self.addr(c, v6), CLIENT6 if v6 else CLIENT4])
        sp, dp = self.sport(), rng.choice([80, 80, 443])
        x, y = rng.getrandbits(32), rng.getrandbits(32)
        m = lambda i: (x + i) & 0xffffffff
        n = lambda i: (y + i) & 0xffffffff
        A = dict(proto='tcp', sport=sp, dport=dp, win=64240, src=cip, dst=vip)
        B = dict(proto='tcp', sport=dp, dport=sp, win=64240, src=vip, dst=cip)

        def fwd(**f):
            # client -> director, then director -> real server (same L3, director's MAC)
            return [self.pkt(c, d, v6, **A, **f), self.pkt(d, r, v6, **A, **f)]
        seq = fwd(flags='S', seq=m(0))
        seq.append(self.pkt(r, c, v6, flags='SA', seq=n(0), ack=m(1), **B))
        seq += fwd(flags='A', seq=m(1), ack=n(1))
        seq += fwd(flags='PA', seq=m(1), ack=n(1), len=80)
        seq.append(self.pkt(r, c, v6, flags='PA', seq=n(1), ack=m(81), len=300, **B))
        seq += fwd(flags='A', seq=m(81), ack=n(301))
        if rng.random() < 0.5:
            seq += fwd(flags='FA', seq=m(81), ack=n(301))
            seq.append(self.pkt(r, c, v6, flags='FA', seq=n(301), ack=m(82), **B))
            seq += fwd(flags='A', seq=m(82), ack=n(302))
        cut = rng.randint(1, len(seq)) if rng.random() < 0.2 else len(seq)
        return seq[:cut]

    def udp_flow(self, v6):
        a, b = self.two()
        sp, dp = self.sport(), self.rng.choice([53, 123, 5000, 67, 68, 546, 547, 4789])
        seq = [self.pkt(a, b, v6, proto='udp', sport=sp, dport=dp, len=20),
               self.pkt(b, a, v6, proto='udp', sport=dp, dport=sp, len=40),
               self.pkt(a, b, v6, proto='udp', sport=sp, dport=dp, len=20)]
        k = self.rng.random()
        if k < 0.4:
            # port unreachable from b, quoting a's datagram: RELATED
            inner = self._ep(self.addr(a, v6), sp) + '>' + self._ep(self.addr(b, v6), dp) + '/udp'
            seq = seq[:1] + [self.err(b, a, v6, inner)]
        elif k < 0.55:
            inner = self._ep(self.addr(a, v6), sp + 1) + '>' + \
                self._ep(self.addr(b, v6), dp) + '/udp'
            seq = seq[:1] + [self.err(b, a, v6, inner)]      # no such flow
        return seq

    def _ep(self, ip, port):
        return '[%s]:%d' % (ip, port) if ':' in ip else '%s:%d' % (ip, port)

    def err(self, a, b, v6, inner):
        if v6:
            t, c = self.rng.choice([(1, 4), (1, 1), (3, 0), (2, 0)])
            return self.pkt(a, b, v6, proto='icmpv6', icmp_type=t, icmp_code=c, inner=inner)
        t, c = self.rng.choice([(3, 3), (3, 1), (11, 0), (3, 13)])
        return self.pkt(a, b, v6, proto='icmp', icmp_type=t, icmp_code=c, inner=inner)

    def icmp_echo(self, v6):
        a, b = self.two()
        i = self.rng.randint(1, 65535)
        pr = 'icmpv6' if v6 else 'icmp'
        rq, rp = (128, 129) if v6 else (8, 0)
        seq = [self.pkt(a, b, v6, proto=pr, icmp_type=rq, icmp_id=i, len=56),
               self.pkt(b, a, v6, proto=pr, icmp_type=rp, icmp_id=i, len=56)]
        r = self.rng.random()
        if r < 0.3:
            seq.append(self.pkt(b, a, v6, proto=pr, icmp_type=rp, icmp_id=i + 1, len=56))
        elif r < 0.5:
            # time exceeded / unreachable quoting the echo request: RELATED
            seq = seq[:1] + [self.err(b, a, v6, self._ep(self.addr(a, v6), i) + '>' +
                                      self._ep(self.addr(b, v6), 0) + '/' + pr)]
        return seq

    def tcp_error(self, v6):
        a, b = self.two()
        sp, dp = self.sport(), self.dport()
        x = self.rng.getrandbits(32)
        syn = self.pkt(a, b, v6, proto='tcp', sport=sp, dport=dp, flags='S', seq=x, win=64240)
        inner = self._ep(self.addr(a, v6), sp) + '>' + self._ep(self.addr(b, v6), dp) + '/tcp'
        return [syn, self.err(b, a, v6, inner)]

    def vrrp(self, v6):
        a, b = self.two()
        n = self.rng.randint(1, 2)
        if self.rng.random() < 0.5 and (v6 or self.v4_flood):
            # keepalived's default: adverts to the VRRP group, flooded by br-int
            return [self.flood(a, v6, 'ff02::12' if v6 else '224.0.0.18', proto='vrrp',
                               ttl=255) for _ in range(n)]
        return [self.pkt(a, b, v6, proto='vrrp', ttl=255) for _ in range(n)]

    def nd(self):
        """IPv6 neighbour discovery, MLD, RA, DHCPv6 between two VMs."""
        rng = self.rng
        a, b = self.two()
        k = rng.randrange(6)
        if k == 0:
            return [self.pkt(a, b, True, proto='icmpv6', icmp_type=135, ttl=255),
                    self.pkt(b, a, True, proto='icmpv6', icmp_type=136, ttl=255)]
        if k == 1:
            # DAD: from ::, to the solicited-node group of the target
            target = ipaddress.ip_address(self.addr(b, True)).packed
            group = 'ff02::1:ff%02x:%02x%02x' % tuple(target[13:])
            return [self.flood(a, True, group, proto='icmpv6', icmp_type=135, src='::',
                               ttl=255)]
        if k == 2:
            return [self.flood(a, True, 'ff02::16', proto='icmpv6',
                               icmp_type=rng.choice([131, 143]), src='::', ttl=1)]
        if k == 3:
            return [self.flood(a, True, 'ff02::1', proto='icmpv6', icmp_type=134,
                               src='fe80::1', ttl=255)]
        if k == 4:
            return [self.flood(a, True, 'ff02::1:2', proto='udp', sport=546, dport=547,
                               src='fe80::1'),
                    self.pkt(b, a, True, proto='udp', sport=547, dport=546)]
        return [self.pkt(a, b, True, proto='icmpv6', icmp_type=rng.choice([130, 133, 137, 200]))]

    def dhcp4(self):
        a, b = self.two()
        return [self.pkt(a, b, False, proto='udp', sport=68, dport=67, src='0.0.0.0',
                         dst='255.255.255.255', len=300),
                self.pkt(b, a, False, proto='udp', sport=67, dport=68, len=300)]

    def random_one(self, v6):
        rng = self.rng
        a, b = self.two()
        icmp = 'icmpv6' if v6 else 'icmp'
        p = self.pkt(a, b, v6, proto=rng.choice(['tcp', 'tcp', 'udp', icmp, icmp, 'vrrp', '50']))
        r = rng.random()
        if r < 0.25:
            p['src'] = rng.choice([VIP6, CLIENT6, '2001:db8::f3', '2001:db8::99', 'fe80::1']
                                  if v6 else [VIP4, CLIENT4, '203.0.113.242', '203.0.113.99',
                                              '192.0.2.1', self.addr(b, False)])
        elif r < 0.35:
            p['dst'] = rng.choice([VIP6, '2001:db8::99'] if v6 else
                                  [VIP4, '203.0.113.255', '224.0.0.18', '203.0.113.99'])
        if rng.random() < 0.12:
            p['smac'] = rng.choice(['fa:16:3e:bb:bb:01', 'fa:16:3e:%02x:00:00' % rng.randrange(256),
                                    self.ports[b]['mac']])
        if p['proto'] == 'tcp':
            p.update(sport=self.sport(), dport=self.dport(), win=rng.choice([0, 512, 64240]),
                     flags=rng.choice(['S', 'S', 'SA', 'A', 'PA', 'FA', 'R', 'RA', 'SF', 'none',
                                       'F', 'SR', 'FPU']),
                     seq=rng.getrandbits(32), ack=rng.getrandbits(32) if rng.random() < 0.6 else 0,
                     len=rng.choice([0, 0, 10]))
        elif p['proto'] == 'udp':
            p.update(sport=self.sport(), dport=self.dport(), len=rng.randint(0, 64))
        elif p['proto'] in ('icmp', 'icmpv6'):
            # Every type and code (0-255) can occur; the common ones more often.
            t = rng.choice([128, 129, 1, 2, 3, 4, 135, 136, 134, 133, 139] if v6 else
                           [8, 0, 3, 11, 13, 14, 5, 12, 9, 10, 17])
            if rng.random() < 0.4:
                t = rng.choice([255, rng.randrange(256)])
            p.update(icmp_type=t, icmp_code=rng.choice([0, 0, 1, 3, 255, rng.randrange(256)]),
                     icmp_id=rng.randint(0, 65535))
            if (v6 and t < 128) or (not v6 and t in (3, 11, 5, 12)):
                del p['icmp_id']
                p['inner'] = self._ep(p['dst'], self.sport()) + '>' + \
                    self._ep(p['src'], self.dport()) + '/' + rng.choice(['tcp', 'udp'])
        return [p]

    # -- a scenario's packets ----------------------------------------------

    def sequence(self, n, v6_share=0.3):
        """About n packets: several flows interleaved, order kept within each flow."""
        rng = self.rng
        flows = []
        total = 0
        while total < n:
            v6 = rng.random() < v6_share
            k = rng.random()
            if k < 0.14:
                f = self.tcp_flow(v6)
            elif k < 0.22:
                f = self.tcp_odd(v6)
            elif k < 0.40:
                f = self.dr_flow(v6)
            elif k < 0.52:
                f = self.udp_flow(v6)
            elif k < 0.60:
                f = self.icmp_echo(v6)
            elif k < 0.66:
                f = self.tcp_error(v6)
            elif k < 0.71:
                f = self.vrrp(v6)
            elif k < 0.76:
                f = self.nd() if v6 else self.dhcp4()
            else:
                f = self.random_one(v6)
            flows.append(f)
            total += len(f)
        out = []
        idx = [0] * len(flows)
        live = list(range(len(flows)))
        while live and len(out) < n:
            # mostly continue recent flows so that most of them finish
            j = rng.choice(live[:3]) if rng.random() < 0.7 else rng.choice(live)
            out.append(flows[j][idx[j]])
            idx[j] += 1
            if idx[j] == len(flows[j]):
                live.remove(j)
        return out
