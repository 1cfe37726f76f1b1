"""Seeded rulesets for the kernel differential harness.

Two families:
- Neutron: `draw_cloud` draws security groups, pairs and port-security flags
  for the lab's ports and `cloud_json` writes them as a Neutron API document;
  `vipwire rules` renders it (its output equals the real Neutron's, see
  scripts/conformance neutron).
- `handwritten_ruleset`: random rules exercising every match and target the
  engine claims to support, in raw, mangle, nat and filter; it returns
  (iptables text, ip6tables text, ipset text).
"""

import ipaddress
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from gen import draw_protocol, draw_range  # noqa: E402  (conformance/gen.py)

VIP4 = '203.0.113.241'
VIP6 = '2001:db8::f1'


def port_sfx(pid):
    return pid[:11]


# ---------------------------------------------------------------- neutron

def draw_cloud(rng, ports):
    """Random security groups and per-port settings for the lab ports.

    ports: list of {'id','mac','ip4','ip6'}; returns a cloud dict used by
    `neutron_ruleset` and by the packet generator (pairs matter for spoofing)."""
    sgs = []
    for g in range(rng.randint(1, 3)):
        sg = {'id': '%08x-5e5e-4000-8000-%012x' % (rng.getrandbits(32), g),
              'rules': [], 'stateful': rng.random() > 0.12}
        for _ in range(rng.randint(0, 7)):
            sg['rules'].append(draw_sg_rule(rng, sgs + [sg]))
        sgs.append(sg)
    cports = []
    for p in ports:
        pairs = []
        for _ in range(rng.choice([0, 0, 1, 1, 2])):
            pairs.append(rng.choice([
                (VIP4, p['mac']), ('0.0.0.0/0', p['mac']), ('203.0.113.240/30', p['mac']),
                (VIP4, 'fa:16:3e:%02x:%02x:%02x' % (rng.randrange(256), 0xbb, 0x01)),
                (VIP6, p['mac']), ('2001:db8::f0/124', p['mac'])]))
        pairs = sorted(set(pairs), key=lambda x: (x[1], x[0]))
        groups = rng.sample(sgs, rng.randint(1, len(sgs)))
        cports.append({**p, 'pairs': pairs, 'sgs': [g['id'] for g in groups],
                       'port_security': rng.random() > 0.1,
                       'has_ip4': rng.random() > 0.05, 'has_ip6': rng.random() > 0.3})
    # Members on another host (remote-group ipsets), some with a /0 pair.
    remote = []
    for _ in range(rng.randint(0, 3)):
        remote.append({'ip4': '198.51.100.%d' % rng.randint(2, 250),
                       'ip6': '2001:db8:1::%x' % rng.randint(2, 250),
                       'pairs': [('0.0.0.0/0', None)] if rng.random() < 0.2 else [],
                       'sgs': [rng.choice(sgs)['id']]})
    return {'sgs': sgs, 'ports': cports, 'remote': remote}


def draw_sg_rule(rng, sgs):
    """A rule the Neutron API accepts: protocol, port range and ICMP type/code
    drawn from the whole API range, as the Neutron harness draws them
    (conformance/gen.py)."""
    r = {'direction': rng.choice(['ingress', 'ingress', 'egress']),
         'ethertype': rng.choice(['IPv4', 'IPv4', 'IPv6']),
         'remote_ip_prefix': None, 'remote_group_id': None}
    r['protocol'] = draw_protocol(rng, r['ethertype'])
    r['port_min'], r['port_max'] = draw_range(rng, r['protocol'])
    k = rng.random()
    if k < 0.3:
        r['remote_ip_prefix'] = rng.choice(
            ['203.0.113.0/24', '203.0.113.16/28', '198.51.100.0/24', '203.0.113.11/32',
             '0.0.0.0/0', '203.0.113.10/31'] if r['ethertype'] == 'IPv4' else
            ['2001:db8::/64', '2001:db8::a/127', '::/0', '2001:db8:1::/48'])
    elif k < 0.55:
        r['remote_group_id'] = rng.choice(sgs)['id']
    return r


def cloud_json(cloud, host):
    """The drawn cloud as one Neutron API document (networks, subnets, ports,
    security_groups), the lab's ports bound to `host` and the remote members to
    another host, for `vipwire rules` to render."""
    net = '0e70e70e-0000-4000-8000-000000000001'
    subnets = [('203.0.113.0/24', 4, '1'), ('2001:db8::/64', 6, '2'),
               ('198.51.100.0/24', 4, '3'), ('2001:db8:1::/64', 6, '4')]
    sub_id = {cidr: '5b5b5b5b-0000-4000-8000-00000000000' + n for cidr, _, n in subnets}

    def fixed(ip):
        cidr = next(c for c, _, _ in subnets
                    if ipaddress.ip_address(ip) in ipaddress.ip_network(c))
        return {'subnet_id': sub_id[cidr], 'ip_address': ip}

    def port(pid, mac, host_id, ips, pairs, sgs, port_security):
        return {'id': pid, 'name': pid[:8], 'network_id': net, 'binding:host_id': host_id,
                'mac_address': mac, 'fixed_ips': [fixed(ip) for ip in ips],
                'allowed_address_pairs': [
                    {'ip_address': ip, **({'mac_address': m} if m else {})}
                    for ip, m in (pairs if port_security else [])],
                'security_groups': sgs if port_security else [],
                'port_security_enabled': port_security, 'device_owner': 'compute:nova'}

    ports = [port(p['id'], p['mac'], host,
                  ([p['ip4']] if p['has_ip4'] else []) + ([p['ip6']] if p['has_ip6'] else []),
                  p['pairs'], p['sgs'], p['port_security'])
             for p in cloud['ports']]
    ports += [port('7e7e7e7e-0000-4000-8000-%012x' % i, 'fa:16:3e:7e:00:%02x' % i,
                   host + '-remote', [r['ip4'], r['ip6']], r['pairs'], r['sgs'], True)
              for i, r in enumerate(cloud['remote'])]
    groups = [{'id': g['id'], 'name': 'g%d' % i, 'stateful': g['stateful'],
               'security_group_rules': [
                   {'id': '%s-%04x' % (g['id'][:31], k), 'security_group_id': g['id'],
                    'direction': r['direction'], 'ethertype': r['ethertype'],
                    'protocol': r['protocol'], 'port_range_min': r['port_min'],
                    'port_range_max': r['port_max'],
                    'remote_ip_prefix': r['remote_ip_prefix'],
                    'remote_group_id': r['remote_group_id']}
                   for k, r in enumerate(g['rules'])]}
              for i, g in enumerate(cloud['sgs'])]
    return {'networks': [{'id': net, 'name': 'lab'}],
            'subnets': [{'id': sub_id[c], 'network_id': net, 'cidr': c, 'ip_version': v}
                        for c, v, _ in subnets],
            'ports': ports, 'security_groups': groups}


# ---------------------------------------------------------------- handwritten

def handwritten_ruleset(rng, ports, nat=True):
    """Random rules over every supported match and target, both families."""
    d = [port_sfx(p['id']) for p in ports]
    sets4 = {'vwk-net4': ['203.0.113.0/28', '203.0.113.240/29', '198.51.100.0/24'],
             'vwk-ip4': ['203.0.113.10', '203.0.113.12', '203.0.113.241']}
    sets6 = {'vwk-net6': ['2001:db8::/124', '2001:db8::f0/124'],
             'vwk-ip6': ['2001:db8::a', '2001:db8::c']}
    ipset = []
    for n, m in sets4.items():
        kind = 'hash:net' if 'net' in n else 'hash:ip'
        ipset.append('create %s %s family inet hashsize 1024 maxelem 65536' % (n, kind))
        ipset += ['add %s %s' % (n, x) for x in m]
    for n, m in sets6.items():
        kind = 'hash:net' if 'net' in n else 'hash:ip'
        ipset.append('create %s %s family inet6 hashsize 1024 maxelem 65536' % (n, kind))
        ipset += ['add %s %s' % (n, x) for x in m]
    texts = [_hand_family(rng, ports, d, v6, list((sets6 if v6 else sets4).keys()), nat)
             for v6 in (False, True)]
    return texts[0], texts[1], '\n'.join(ipset) + '\n'


PROTO_KINDS = (2, 3, 4, 14)


def _hand_match(rng, ports, d, v6, sets, k, pre):
    """One random match clause of kind k (text); `pre`: a PREROUTING-hook chain
    (no output device there)."""
    def addr():
        if v6:
            return rng.choice(['2001:db8::a', '2001:db8::/124', '2001:db8::f1', '2001:db8::/64',
                               '2001:db8:1::/48', '2001:db8::b/127'])
        return rng.choice(['203.0.113.10', '203.0.113.0/28', '203.0.113.241',
                           '203.0.113.0/24', '198.51.100.0/24', '203.0.113.12/31'])
    neg = '! ' if rng.random() < 0.2 else ''
    if k == 0:
        return '%s-s %s' % (neg, addr())
    if k == 1:
        return '%s-d %s' % (neg, addr())
    if k == 2:
        p = rng.choice(['tcp', 'udp'])
        m = '-p %s -m %s' % (p, p)
        if rng.random() < 0.7:
            m += ' %s--dport %s' % (neg, rng.choice(['22', '80', '1000:2000', '53', '443']))
        if rng.random() < 0.3:
            m += ' --sport %s' % rng.choice(['1024:65535', '80', '53'])
        if p == 'tcp' and rng.random() < 0.3:
            m += rng.choice([' --syn', ' ! --syn', ' --tcp-flags SYN,ACK SYN',
                             ' --tcp-flags RST RST', ' --tcp-flags FIN,SYN,RST,ACK ACK',
                             ' --tcp-flags ALL NONE'])
        return m
    if k == 3:
        p = rng.choice(['tcp', 'udp'])
        opt = rng.choice(['--dports', '--sports', '--ports'])
        return '-p %s -m multiport %s%s %s' % (p, neg, opt,
                                               rng.choice(['22,80,443', '1000:2000,53', '80']))
    if k == 4:
        return _hand_icmp(rng, v6, neg)
    if k == 5:
        return '-m state %s--state %s' % (neg, rng.choice(
            ['NEW', 'ESTABLISHED', 'RELATED,ESTABLISHED', 'INVALID', 'UNTRACKED']))
    if k == 6:
        return '-m conntrack %s--ctstate %s' % (neg, rng.choice(
            ['NEW', 'ESTABLISHED', 'RELATED', 'INVALID', 'UNTRACKED', 'NEW,INVALID']))
    if k == 7:
        return '-m mac %s--mac-source %s' % (neg, rng.choice([p['mac'] for p in ports]))
    if k == 8:
        i = rng.randrange(len(d))
        if pre:
            return rng.choice(['-m physdev %s--physdev-in tap%s' % (neg, d[i]),
                               '-m physdev --physdev-in qvb+', '-m physdev --physdev-is-in'])
        return rng.choice([
            '-m physdev %s--physdev-in tap%s' % (neg, d[i]),
            '-m physdev --physdev-out tap%s --physdev-is-bridged' % d[i],
            '-m physdev --physdev-in qvb+', '-m physdev --physdev-out qvb%s' % d[i],
            '-m physdev %s--physdev-is-bridged' % neg, '-m physdev --physdev-is-in',
            '-m physdev --physdev-in tap+ ! --physdev-out qvb%s' % d[i]])
    if k == 9:
        return '-m set %s--match-set %s %s' % (neg, rng.choice(sets), rng.choice(['src', 'dst']))
    if k == 10:
        return '-m comment --comment "hand %d"' % rng.randrange(100)
    if k == 11:
        if v6:
            return '-m iprange %s--src-range 2001:db8::a-2001:db8::c' % neg
        return '-m iprange %s--%s-range %s' % (neg, rng.choice(['src', 'dst']), rng.choice(
            ['203.0.113.10-203.0.113.12', '203.0.113.200-203.0.113.250']))
    if k == 12:
        return '-m addrtype %s--dst-type %s' % (neg, rng.choice(
            ['UNICAST', 'LOCAL', 'MULTICAST', 'BROADCAST']))
    if k == 13:
        return '-m mark %s--mark %s' % (neg, rng.choice(['0x1', '0x2/0x2', '0x0']))
    if k == 14:
        return rng.choice(['-p udp', '-p tcp', '-p vrrp', '-p icmp' if not v6 else '-p ipv6-icmp'])
    if k == 15:
        return '-i qbr%s' % d[rng.randrange(len(d))]
    return '-i qbr+' if pre else '-o qbr+'


# iptables 1.8.9 ICMP type names (libxt_icmp.h, libip6t_icmp6.c), a few
# unambiguous prefixes and other cases, `any` (IPv4 only).
ICMP_NAMES = ['any', 'echo-reply', 'pong', 'destination-unreachable', 'network-unreachable',
              'host-unreachable', 'protocol-unreachable', 'port-unreachable',
              'fragmentation-needed', 'host-prohibited', 'communication-prohibited',
              'source-quench', 'redirect', 'host-redirect', 'echo-request', 'ping',
              'router-advertisement', 'router-solicitation', 'time-exceeded', 'ttl-exceeded',
              'ttl-zero-during-reassembly', 'parameter-problem', 'ip-header-bad',
              'timestamp-request', 'timestamp-reply', 'address-mask-request',
              'address-mask-reply', 'echo-req', 'ECHO-REQUEST', 'host-unr', 'An']
ICMPV6_NAMES = ['destination-unreachable', 'no-route', 'communication-prohibited',
                'beyond-scope', 'address-unreachable', 'port-unreachable', 'failed-policy',
                'reject-route', 'packet-too-big', 'time-exceeded', 'ttl-exceeded',
                'ttl-zero-during-transit', 'parameter-problem', 'bad-header',
                'unknown-header-type', 'unknown-option', 'echo-request', 'ping', 'echo-reply',
                'pong', 'router-solicitation', 'router-advertisement',
                'neighbour-solicitation', 'neighbor-solicitation', 'neighbour-advertisement',
                'neighbor-advertisement', 'redirect', 'echo-req', 'Neighbor-Adv']


def _hand_icmp(rng, v6, neg):
    """An icmp/icmp6 match with any type form iptables takes: a name, `TYPE`
    (every code) or `TYPE/CODE` over 0-255 (IPv4 255 is `any`), numbers also
    in hex or octal."""
    k = rng.random()
    if k < 0.35:
        t = rng.choice(ICMPV6_NAMES if v6 else ICMP_NAMES)
    else:
        ty = rng.choice([255, 255, 0, 3, 8, 11] + ([1, 128, 129, 135, 136] if v6 else []) +
                        [rng.randrange(256)] * 3)
        t = str(ty)
        if rng.random() < 0.1:
            t = rng.choice([hex(ty), '0%o' % ty if ty else '0'])
        if rng.random() < 0.5:
            t += '/%d' % rng.choice([0, 0, 255, 1, 3, 4, rng.randrange(256)])
    if v6:
        return '-p ipv6-icmp -m icmp6 %s--icmpv6-type %s' % (neg, t)
    return '-p icmp -m icmp %s--icmp-type %s' % (neg, t)


def _hand_rule(rng, ports, d, v6, sets, chain, targets, pre=False):
    kinds, has_proto = [], False
    for _ in range(rng.choice([0, 1, 1, 2, 2, 3])):
        k = rng.randrange(17)
        if k in PROTO_KINDS:
            if has_proto:
                continue
            has_proto = True
        if k not in kinds:
            kinds.append(k)
    ms = [_hand_match(rng, ports, d, v6, sets, k, pre) for k in kinds]
    return ' '.join(['-A', chain] + ms + ['-j ' + rng.choice(targets)])


def _hand_family(rng, ports, d, v6, sets, nat=True):
    rej = 'REJECT --reject-with ' + ('icmp6-adm-prohibited' if v6 else 'icmp-admin-prohibited')
    lines = ['*raw', ':PREROUTING ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]', ':vwk-raw - [0:0]',
             # skb->mark survives the qvb->qvo veth inside one netns; reset it so
             # each crossing starts at mark 0 as vipwire's packet lines do.
             '-A PREROUTING -m physdev --physdev-in qvb+ -j MARK --set-xmark 0x0/0xffffffff',
             '-A PREROUTING -j vwk-raw']
    for i in range(len(d)):
        z = 4097 + i
        if rng.random() < 0.15:
            lines.append('-A vwk-raw -m physdev --physdev-in tap%s -j %s' % (
                d[i], rng.choice(['CT --notrack', 'NOTRACK'])))
        elif rng.random() < 0.85:
            lines.append('-A vwk-raw -m physdev --physdev-in tap%s -j CT --zone %d' % (d[i], z))
        lines.append('-A vwk-raw -m physdev --physdev-in qvb%s -j CT --zone %d' % (d[i], z))
    for _ in range(rng.randint(0, 2)):
        lines.append(_hand_rule(rng, ports, d, v6, sets, 'vwk-raw', ['RETURN', 'ACCEPT'], True))
    lines.append('COMMIT')
    lines += ['*mangle', ':PREROUTING ACCEPT [0:0]', ':INPUT ACCEPT [0:0]',
              ':FORWARD ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]', ':POSTROUTING ACCEPT [0:0]']
    for _ in range(rng.randint(0, 3)):
        lines.append(_hand_rule(rng, ports, d, v6, sets, 'PREROUTING',
                                ['MARK --set-xmark 0x1/0xffffffff', 'MARK --set-xmark 0x2/0x2',
                                 'ACCEPT', 'LOG --log-prefix "vwk "'], True))
    for _ in range(rng.randint(0, 1)):
        lines.append(_hand_rule(rng, ports, d, v6, sets, 'FORWARD', ['ACCEPT', 'DROP']))
    lines.append('COMMIT')
    if rng.random() < 0.4 and nat:
        lines += ['*nat', ':PREROUTING ACCEPT [0:0]', ':INPUT ACCEPT [0:0]',
                  ':OUTPUT ACCEPT [0:0]', ':POSTROUTING ACCEPT [0:0]']
        for _ in range(rng.randint(1, 2)):
            lines.append(_hand_rule(rng, ports, d, v6, sets, 'PREROUTING', ['ACCEPT', 'RETURN'],
                                    True))
        lines.append('-A POSTROUTING -m comment --comment "nat post" -j ACCEPT')
        lines.append('COMMIT')
    user = ['vwk-a', 'vwk-b', 'vwk-c']
    pol = rng.choice(['ACCEPT', 'ACCEPT', 'DROP'])
    lines += ['*filter', ':INPUT ACCEPT [0:0]', ':FORWARD %s [0:0]' % pol,
              ':OUTPUT ACCEPT [0:0]'] + [':%s - [0:0]' % u for u in user]
    tgt = ['ACCEPT', 'DROP', rej, 'RETURN', 'LOG --log-prefix "vwk-fw "',
           'MARK --set-xmark 0x1/0xffffffff']
    for _ in range(rng.randint(2, 9)):
        lines.append(_hand_rule(rng, ports, d, v6, sets, 'FORWARD',
                                tgt + ['vwk-a', 'vwk-b', 'vwk-c']))
    # jumps/gotos into user chains (no loops: a -> b -> c only)
    for _ in range(rng.randint(1, 5)):
        lines.append(_hand_rule(rng, ports, d, v6, sets, 'vwk-a', tgt + ['vwk-b', 'vwk-c']))
    if rng.random() < 0.5:
        lines.append('-A vwk-a -g vwk-c')
    for _ in range(rng.randint(1, 4)):
        lines.append(_hand_rule(rng, ports, d, v6, sets, 'vwk-b', tgt + ['vwk-c']))
    for _ in range(rng.randint(0, 4)):
        lines.append(_hand_rule(rng, ports, d, v6, sets, 'vwk-c', tgt))
    if rng.random() < 0.5:
        lines.append('-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT')
    lines.append('COMMIT')
    return '\n'.join(lines) + '\n'
