"""Seeded rulesets for the kernel differential harness.

Two families:
- `neutron_ruleset`: what Neutron's iptables_hybrid driver programs for the
  lab's ports (brief section 2), from randomly drawn security groups, pairs and
  port-security flags. Written here from the documented facts; the exact text
  does not matter for the differential test because both sides get the
  kernel's own iptables-save output.
- `handwritten_ruleset`: random rules exercising every match and target the
  engine claims to support, in raw, mangle, nat and filter.
Each returns (iptables text, ip6tables text, ipset text).
"""

import ipaddress

PFX = 'neutron-openvswi-'
VIP4 = '203.0.113.241'
VIP6 = '2001:db8::f1'
ZONE0 = 4097


def port_sfx(pid):
    return pid[:11]


def chain_sfx(pid):
    # chain suffix: direction letter + 10 UUID chars = 11 chars
    return pid[:10]


def setname(fam, sg):
    return ('N' + fam + sg)[:29]


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
    r = {'direction': rng.choice(['ingress', 'ingress', 'egress']),
         'ethertype': rng.choice(['IPv4', 'IPv4', 'IPv6']),
         'protocol': rng.choice([None, 'tcp', 'tcp', 'udp', 'icmp', 'vrrp', 'tcp']),
         'port_min': None, 'port_max': None, 'remote_ip_prefix': None,
         'remote_group_id': None}
    if r['protocol'] == 'icmp' and r['ethertype'] == 'IPv6':
        r['protocol'] = 'ipv6-icmp'
    if r['protocol'] in ('tcp', 'udp') and rng.random() < 0.8:
        lo = rng.choice([22, 53, 80, 443, 8080, 5000])
        r['port_min'] = lo
        r['port_max'] = lo if rng.random() < 0.7 else lo + rng.randint(1, 20)
    elif r['protocol'] in ('icmp', 'ipv6-icmp') and rng.random() < 0.5:
        r['port_min'] = rng.choice([0, 8, 3, 128, 129, 1]) if r['protocol'] == 'ipv6-icmp' \
            else rng.choice([0, 8, 3, 11])
        if rng.random() < 0.3:
            r['port_max'] = rng.choice([0, 1, 3, 4])
    k = rng.random()
    if k < 0.3:
        r['remote_ip_prefix'] = rng.choice(
            ['203.0.113.0/24', '203.0.113.16/28', '198.51.100.0/24', '203.0.113.11/32',
             '0.0.0.0/0', '203.0.113.10/31'] if r['ethertype'] == 'IPv4' else
            ['2001:db8::/64', '2001:db8::a/127', '::/0', '2001:db8:1::/48'])
    elif k < 0.55:
        r['remote_group_id'] = rng.choice(sgs)['id']
    return r


def _proto_args(r, v6):
    p = r['protocol']
    if p is None:
        return ''
    if p in ('tcp', 'udp'):
        s = '-p %s -m %s' % (p, p)
        if r['port_min'] is not None:
            if r['port_min'] == r['port_max']:
                s = '-p %s -m %s --dport %d' % (p, p, r['port_min'])
            else:
                s = '-p %s -m multiport --dports %d:%d' % (p, r['port_min'], r['port_max'])
        return s
    if p in ('icmp', 'ipv6-icmp'):
        if v6:
            s = '-p ipv6-icmp'
            if r['port_min'] is not None:
                t = str(r['port_min']) + ('/%d' % r['port_max'] if r['port_max'] is not None else '')
                s += ' -m icmp6 --icmpv6-type ' + t
            return s
        s = '-p icmp'
        if r['port_min'] is not None:
            t = str(r['port_min']) + ('/%d' % r['port_max'] if r['port_max'] is not None else '')
            s += ' -m icmp --icmp-type ' + t
        return s
    return '-p %s' % p


def _members(cloud, sg_id, v6):
    out = []
    for p in cloud['ports'] + cloud['remote']:
        if sg_id not in p['sgs']:
            continue
        if v6:
            if p.get('has_ip6', True):
                out.append(p['ip6'])
        elif p.get('has_ip4', True):
            out.append(p['ip4'])
        for ip, _ in p['pairs']:
            if (':' in ip) == v6:
                if ip in ('0.0.0.0/0', '::/0'):
                    out += ['0.0.0.0/1', '128.0.0.0/1'] if not v6 else ['::/1', '8000::/1']
                else:
                    out.append(str(ipaddress.ip_network(ip, strict=False)))
    return sorted(set(out))


def neutron_ruleset(cloud):
    """Render the host's iptables, ip6tables and ipset text."""
    texts = []
    sets_used = {}
    for v6 in (False, True):
        texts.append(_render_family(cloud, v6, sets_used))
    ipset = []
    for name, (fam, members) in sorted(sets_used.items()):
        ipset.append('create %s hash:net family %s hashsize 1024 maxelem 65536' % (name, fam))
        ipset += ['add %s %s' % (name, m) for m in members]
    return texts[0], texts[1], '\n'.join(ipset) + ('\n' if ipset else '')


def _render_family(cloud, v6, sets_used):
    plen = 128 if v6 else 32
    fam = 'IPv6' if v6 else 'IPv4'
    ports = sorted(cloud['ports'], key=lambda p: p['id'])
    sgs = {g['id']: g for g in cloud['sgs']}
    raw, flt = [], []
    chains = ['neutron-filter-top', PFX + 'FORWARD', PFX + 'INPUT', PFX + 'OUTPUT',
              PFX + 'local', PFX + 'sg-chain', PFX + 'sg-fallback']
    flt += ['-A INPUT -j %sINPUT' % PFX, '-A FORWARD -j neutron-filter-top',
            '-A FORWARD -j %sFORWARD' % PFX, '-A OUTPUT -j neutron-filter-top',
            '-A OUTPUT -j %sOUTPUT' % PFX, '-A neutron-filter-top -j %slocal' % PFX]
    fwd, inp, sgc, port_rules = [], [], [], []
    for zi, p in enumerate(ports):
        d = port_sfx(p['id'])
        c = chain_sfx(p['id'])
        if not p['port_security']:
            fwd.append('-A %sFORWARD -m physdev --physdev-out tap%s --physdev-is-bridged '
                       '-m comment --comment "Accept all packets when port security is disabled." '
                       '-j ACCEPT' % (PFX, d))
            fwd.append('-A %sFORWARD -m physdev --physdev-in tap%s --physdev-is-bridged '
                       '-m comment --comment "Accept all packets when port security is disabled." '
                       '-j ACCEPT' % (PFX, d))
            inp.append('-A %sINPUT -m physdev --physdev-in tap%s --physdev-is-bridged '
                       '-m comment --comment "Accept all packets when port security is disabled." '
                       '-j ACCEPT' % (PFX, d))
            continue
        stateful = all(sgs[g]['stateful'] for g in p['sgs'])
        if stateful:
            zone = ZONE0 + zi
            for m in ('-m physdev --physdev-in qvb%s' % d, '-i qvb%s' % d,
                      '-m physdev --physdev-in tap%s' % d):
                raw.append('-A %sPREROUTING %s -m comment --comment "Set zone for %s" '
                           '-j CT --zone %d' % (PFX, m, p['id'][:36], zone))
        else:
            for m in ('-m physdev --physdev-in qvb%s' % d, '-m physdev --physdev-in tap%s' % d):
                raw.append('-A %sPREROUTING %s -m comment --comment "Stateless port" '
                           '-j CT --notrack' % (PFX, m))
        fwd.append('-A %sFORWARD -m physdev --physdev-out tap%s --physdev-is-bridged -m comment '
                   '--comment "Direct traffic from the VM interface to the security group chain." '
                   '-j %ssg-chain' % (PFX, d, PFX))
        fwd.append('-A %sFORWARD -m physdev --physdev-in tap%s --physdev-is-bridged -m comment '
                   '--comment "Direct traffic from the VM interface to the security group chain." '
                   '-j %ssg-chain' % (PFX, d, PFX))
        sgc.append('-A %ssg-chain -m physdev --physdev-out tap%s --physdev-is-bridged -m comment '
                   '--comment "Jump to the VM specific chain." -j %si%s' % (PFX, d, PFX, c))
        sgc.append('-A %ssg-chain -m physdev --physdev-in tap%s --physdev-is-bridged -m comment '
                   '--comment "Jump to the VM specific chain." -j %so%s' % (PFX, d, PFX, c))
        inp.append('-A %sINPUT -m physdev --physdev-in tap%s --physdev-is-bridged -m comment '
                   '--comment "Direct incoming traffic from VM to the security group chain." '
                   '-j %so%s' % (PFX, d, PFX, c))
        ch_i, ch_o, ch_s = PFX + 'i' + c, PFX + 'o' + c, PFX + 's' + c
        chains += [ch_i, ch_o]
        my_ips = ([p['ip6']] if p['has_ip6'] else []) if v6 else ([p['ip4']] if p['has_ip4'] else [])
        my_pairs = [(ip, m or p['mac']) for ip, m in p['pairs'] if (':' in ip) == v6]
        # ingress chain
        r = []
        if v6:
            for t in (130, 135, 136):
                r.append('-A %s -p ipv6-icmp -m icmp6 --icmpv6-type %d -j RETURN' % (ch_i, t))
        if stateful:
            r.append('-A %s -m state --state RELATED,ESTABLISHED -m comment --comment '
                     '"Direct packets associated with a known session to the RETURN chain." '
                     '-j RETURN' % ch_i)
        if v6:
            for ip in my_ips + ['fe80::/64']:
                net = ip if '/' in ip else ip + '/128'
                r.append('-A %s -d %s -p udp -m udp --sport 547 --dport 546 -j RETURN' % (ch_i, net))
            r.append('-A %s -p ipv6-icmp -m icmp6 --icmpv6-type 134 -j RETURN' % ch_i)
        else:
            for ip in my_ips + ['255.255.255.255']:
                r.append('-A %s -d %s/32 -p udp -m udp --sport 67 --dport 68 -j RETURN' % (ch_i, ip))
        r += _group_rules(cloud, p, 'ingress', v6, ch_i, sets_used)
        if stateful:
            r.append('-A %s -m state --state INVALID -m comment --comment "Drop packets that '
                     'appear related to an existing connection (e.g. TCP ACK/FIN) but do not '
                     'have an entry in conntrack." -j DROP' % ch_i)
        r.append('-A %s -m comment --comment "Send unmatched traffic to the fallback chain." '
                 '-j %ssg-fallback' % (ch_i, PFX))
        # egress chain
        o = []
        if v6:
            for t in (131, 135, 143):
                o.append('-A %s -s ::/128 -d ff02::/16 -p ipv6-icmp -m icmp6 --icmpv6-type %d '
                         '-m comment --comment "Allow IPv6 ICMP traffic." -j RETURN' % (ch_o, t))
        else:
            o.append('-A %s -s 0.0.0.0/32 -d 255.255.255.255/32 -p udp -m udp --sport 68 '
                     '--dport 67 -m comment --comment "Allow DHCP client traffic." -j RETURN' % ch_o)
        spoof = []
        if my_ips or my_pairs:
            for ip, mac in my_pairs:
                net = ipaddress.ip_network(ip, strict=False)
                if net.prefixlen == 0:
                    spoof.append('-A %s -m mac --mac-source %s -m comment --comment "Allow '
                                 'traffic from defined IP/MAC pairs." -j RETURN' % (ch_s, mac))
                else:
                    spoof.append('-A %s -s %s -m mac --mac-source %s -m comment --comment '
                                 '"Allow traffic from defined IP/MAC pairs." -j RETURN'
                                 % (ch_s, net, mac))
            for ip in my_ips:
                spoof.append('-A %s -s %s/%d -m mac --mac-source %s -m comment --comment '
                             '"Allow traffic from defined IP/MAC pairs." -j RETURN'
                             % (ch_s, ip, plen, p['mac']))
            if v6:
                spoof.append('-A %s -s %s/128 -m mac --mac-source %s -m comment --comment '
                             '"Allow traffic from defined IP/MAC pairs." -j RETURN'
                             % (ch_s, eui64(p['mac']), p['mac']))
            spoof.append('-A %s -m comment --comment "Drop traffic without an IP/MAC allow '
                         'rule." -j DROP' % ch_s)
            chains.append(ch_s)
            o.append('-A %s -j %s' % (ch_o, ch_s))
        if v6:
            o.append('-A %s -p ipv6-icmp -m icmp6 --icmpv6-type 134 -m comment --comment '
                     '"Drop IPv6 Router Advts from VM Instance." -j DROP' % ch_o)
            o.append('-A %s -p ipv6-icmp -m comment --comment "Allow IPv6 ICMP traffic." '
                     '-j RETURN' % ch_o)
            o.append('-A %s -p udp -m udp --sport 546 --dport 547 -m comment --comment '
                     '"Allow DHCP client traffic." -j RETURN' % ch_o)
            o.append('-A %s -p udp -m udp --sport 547 --dport 546 -m comment --comment '
                     '"Prevent DHCP Spoofing by VM." -j DROP' % ch_o)
        else:
            o.append('-A %s -p udp -m udp --sport 68 --dport 67 -m comment --comment '
                     '"Allow DHCP client traffic." -j RETURN' % ch_o)
            o.append('-A %s -p udp -m udp --sport 67 --dport 68 -m comment --comment '
                     '"Prevent DHCP Spoofing by VM." -j DROP' % ch_o)
        if stateful:
            o.append('-A %s -m state --state RELATED,ESTABLISHED -m comment --comment "Direct '
                     'packets associated with a known session to the RETURN chain." -j RETURN'
                     % ch_o)
        o += _group_rules(cloud, p, 'egress', v6, ch_o, sets_used)
        if stateful:
            o.append('-A %s -m state --state INVALID -m comment --comment "Drop packets that '
                     'appear related to an existing connection (e.g. TCP ACK/FIN) but do not '
                     'have an entry in conntrack." -j DROP' % ch_o)
        o.append('-A %s -m comment --comment "Send unmatched traffic to the fallback chain." '
                 '-j %ssg-fallback' % (ch_o, PFX))
        port_rules += r + o + spoof
    sgc.append('-A %ssg-chain -j ACCEPT' % PFX)
    flt += fwd + inp + sgc + port_rules
    flt.append('-A %ssg-fallback -m comment --comment "Default drop rule for unmatched traffic." '
               '-j DROP' % PFX)
    out = ['*raw', ':PREROUTING ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]',
           ':%sOUTPUT - [0:0]' % PFX, ':%sPREROUTING - [0:0]' % PFX,
           '-A PREROUTING -j %sPREROUTING' % PFX, '-A OUTPUT -j %sOUTPUT' % PFX] + raw + ['COMMIT']
    out += ['*filter', ':INPUT ACCEPT [0:0]', ':FORWARD ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]']
    out += [':%s - [0:0]' % c for c in chains] + flt + ['COMMIT']
    return '\n'.join(out) + '\n'


def _group_rules(cloud, port, direction, v6, chain, sets_used):
    sgs = {g['id']: g for g in cloud['sgs']}
    fam = 'IPv6' if v6 else 'IPv4'
    seen, out = set(), []
    for gid in port['sgs']:
        for r in sgs[gid]['rules']:
            if r['direction'] != direction or r['ethertype'] != fam:
                continue
            args = []
            flag = '-s' if direction == 'ingress' else '-d'
            if r['remote_ip_prefix']:
                net = ipaddress.ip_network(r['remote_ip_prefix'], strict=False)
                if net.prefixlen:
                    args.append('%s %s' % (flag, net))
            pa = _proto_args(r, v6)
            setm = ''
            if r['remote_group_id']:
                name = setname(fam, r['remote_group_id'])
                members = _members(cloud, r['remote_group_id'], v6)
                if not members:
                    continue
                sets_used[name] = ('inet6' if v6 else 'inet', members)
                setm = '-m set --match-set %s %s' % (name, 'src' if direction == 'ingress' else 'dst')
            text = ' '.join(x for x in ['-A', chain] + args + [pa, setm, '-j RETURN'] if x)
            if text not in seen:
                seen.add(text)
                out.append(text)
    return out


def eui64(mac):
    b = [int(x, 16) for x in mac.split(':')]
    b[0] ^= 2
    e = b[:3] + [0xff, 0xfe] + b[3:]
    return str(ipaddress.ip_address(bytes([0xfe, 0x80] + [0] * 6 + e)))


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
        if v6:
            return '-p ipv6-icmp -m icmp6 %s--icmpv6-type %s' % (
                neg, rng.choice(['128', '129', '1', '1/4', '135', '136', '2']))
        return '-p icmp -m icmp %s--icmp-type %s' % (
            neg, rng.choice(['8', '0', '3', '3/3', '11', 'any', 'echo-request']))
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
