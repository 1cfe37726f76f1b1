#!/usr/bin/env python3
"""Writes the hand-picked edge-case scenarios to conformance/cases/*.json.

    handpicked.py [--out DIR]

Every case is rendered for host `compute-1` (ports on `compute-2` only feed
remote-group members). Each case keeps the orders the API returns; ids are
fixed by a per-case seed so re-running gives byte-identical files.
"""

import argparse
import json
import os
import random

from gen import Builder

CASES = {}


def case(fn):
    CASES[fn.__name__] = fn
    return fn


def _base(seed, v6=False):
    rng = random.Random(seed)
    b = Builder(rng)
    cidrs = ['203.0.113.0/24'] + (['2001:db8:1::/64'] if v6 else [])
    net, subs = b.network(cidrs)
    return b, net, subs


def _allow_all(b, sg, v6=True):
    b.rule(sg, 'egress', 'IPv4')
    if v6:
        b.rule(sg, 'egress', 'IPv6')


@case
def lvs_dr_director_any_pair():
    """Director with a 0.0.0.0/0 pair (same MAC) next to VIP pairs on RSs."""
    b, net, (v4,) = _base(1)
    sg = b.group('default')
    _allow_all(b, sg)
    b.rule(sg, 'ingress', 'IPv4', remote_group_id=sg['id'])
    b.rule(sg, 'ingress', 'IPv4', 'tcp', 80, 80)
    b.rule(sg, 'ingress', 'IPv4', 'vrrp')
    b.port(net, [(v4, '203.0.113.5')], [('0.0.0.0/0', None),
                                        ('203.0.113.241', None)], [sg],
           name='director-1')
    b.port(net, [(v4, '203.0.113.7')], [('203.0.113.241', None)], [sg],
           name='director-2')
    for ip in ('203.0.113.8', '203.0.113.10'):
        b.port(net, [(v4, ip)], [('203.0.113.241', None)], [sg],
               name='rs-' + ip)
    for ip in ('203.0.113.11', '203.0.113.13'):
        b.port(net, [(v4, ip)], [('203.0.113.241', None)], [sg],
               host='compute-2', name='rs-' + ip)
    return b.finish()


@case
def pair_wide_ipv6():
    """Dual-stack port with a 2001:db8::/32 pair (the API refuses ::/0)."""
    b, net, (v4, v6) = _base(2, v6=True)
    sg = b.group('default')
    _allow_all(b, sg)
    b.rule(sg, 'ingress', 'IPv6', remote_group_id=sg['id'])
    b.rule(sg, 'ingress', 'IPv4', remote_group_id=sg['id'])
    b.port(net, [(v4, '203.0.113.20'), (v6, '2001:db8:1::20')],
           [('2001:db8::/32', None), ('0.0.0.0/0', None)], [sg])
    b.port(net, [(v6, '2001:db8:1::21')], [], [sg], host='compute-2')
    return b.finish()


@case
def pair_foreign_mac():
    """Pairs carrying other ports' MACs (the report's second remedy)."""
    b, net, (v4,) = _base(3)
    sg = b.group('web')
    _allow_all(b, sg, v6=False)
    b.port(net, [(v4, '203.0.113.5')],
           [('203.0.113.241', 'fa:16:3e:00:00:08'),
            ('203.0.113.241', 'fa:16:3e:00:00:0a'),
            ('203.0.113.241', 'FA:16:3E:00:00:0B'),
            ('203.0.113.241', None)], [sg], mac='fa:16:3e:00:00:05')
    return b.finish()


@case
def pairs_stored_as_given():
    """Pair strings keep the case given (the API stores and sorts them as
    raw strings: uppercase sorts first); the kernel prints them lowercase."""
    b, net, (v4, v6) = _base(21, v6=True)
    sg = b.group('default')
    _allow_all(b, sg)
    b.rule(sg, 'ingress', 'IPv6', remote_group_id=sg['id'])
    b.port(net, [(v4, '203.0.113.35'), (v6, '2001:db8:1::35')],
           [('2001:db8:1::/48', None), ('2001:DB8:7::/64', None),
            ('2001:DB8:1::5', 'FA:16:3E:00:00:09'),
            ('2001:db8:1::5', 'fa:16:3e:00:00:02')], [sg],
           mac='fa:16:3e:00:00:01')
    return b.finish()


@case
def pair_repeats_fixed_ip():
    """Pairs equal to a fixed IP: same text twice in s<port> (the manager
    keeps the last copy), as /32, and with another MAC."""
    b, net, (v4, v6) = _base(22, v6=True)
    sg = b.group('default')
    _allow_all(b, sg)
    b.rule(sg, 'ingress', 'IPv4', remote_group_id=sg['id'])
    b.port(net, [(v4, '203.0.113.45'), (v4, '203.0.113.46'),
                 (v6, '2001:db8:1::45')],
           [('203.0.113.45', None), ('203.0.113.46/32', None),
            ('203.0.113.45', 'fa:16:3e:00:00:77'), ('2001:db8:1::45', None)],
           [sg], mac='fa:16:3e:00:00:45')
    return b.finish()


@case
def pair_cidr_host_bits():
    """CIDR pairs with host bits set (kernel prints the network)."""
    b, net, (v4, v6) = _base(4, v6=True)
    sg = b.group('default')
    _allow_all(b, sg)
    b.rule(sg, 'ingress', 'IPv4', remote_group_id=sg['id'])
    b.rule(sg, 'ingress', 'IPv6', remote_group_id=sg['id'])
    b.port(net, [(v4, '203.0.113.30'), (v6, '2001:db8:1::30')],
           [('203.0.113.201/30', None), ('198.51.100.77/24', None),
            ('2001:db8:1::5/64', None), ('192.0.2.9/32', None)], [sg])
    return b.finish()


@case
def ipv6_only_port():
    """Port with IPv6 fixed IPs only (no IPv4 spoof chain)."""
    b, net, (v4, v6) = _base(5, v6=True)
    sg = b.group('default')
    _allow_all(b, sg)
    b.rule(sg, 'ingress', 'IPv6', 'ipv6-icmp')
    b.rule(sg, 'ingress', 'IPv6', 'tcp', 22, 22, remote_ip_prefix='2001:db8::/32')
    b.port(net, [(v6, '2001:db8:1::40'), (v6, '2001:db8:1::4a')], [], [sg],
           mac='fa:16:3e:12:34:56')
    return b.finish()


@case
def no_fixed_ips():
    """Ports without fixed IPs (so without groups: the API refuses groups
    there), one with a pair only; a grouped port beside them."""
    b, net, (v4,) = _base(6)
    sg = b.group('default')
    _allow_all(b, sg)
    b.rule(sg, 'ingress', 'IPv4', remote_group_id=sg['id'])
    b.port(net, [], [], [])
    b.port(net, [], [('203.0.113.241', None)], [])
    b.port(net, [(v4, '203.0.113.50')], [], [sg])
    return b.finish()


@case
def port_security_off():
    """port_security_enabled=false next to a filtered port."""
    b, net, (v4,) = _base(7)
    sg = b.group('default')
    _allow_all(b, sg)
    b.port(net, [(v4, '203.0.113.60')], [], [], port_security=False)
    b.port(net, [(v4, '203.0.113.61')], [], [sg])
    return b.finish()


@case
def stateless_group():
    """A stateless group (stateful=false) gives CT --notrack."""
    b, net, (v4, v6) = _base(8, v6=True)
    sg = b.group('stateless', stateful=False)
    _allow_all(b, sg)
    b.rule(sg, 'ingress', 'IPv4', 'tcp', 80, 80)
    b.rule(sg, 'ingress', 'IPv6', 'udp', 53, 53)
    b.port(net, [(v4, '203.0.113.70'), (v6, '2001:db8:1::70')], [], [sg])
    return b.finish()


@case
def stateless_and_stateful_mixed():
    """Port whose first group is stateful and second stateless, and reverse."""
    b, net, (v4,) = _base(9)
    full = b.group('stateful')
    less = b.group('stateless', stateful=False)
    _allow_all(b, full)
    b.rule(less, 'ingress', 'IPv4', 'tcp', 443, 443)
    b.port(net, [(v4, '203.0.113.80')], [], [full, less])
    b.port(net, [(v4, '203.0.113.81')], [], [less, full])
    return b.finish()


@case
def stateless_group_without_rules_first():
    """A stateless first group without rules: the driver decides statefulness
    from the first group's first rule, so this port stays stateful."""
    b, net, (v4,) = _base(20)
    bare = b.group('stateless-bare', stateful=False)
    full = b.group('stateful')
    _allow_all(b, full)
    b.port(net, [(v4, '203.0.113.85')], [], [bare, full])
    b.port(net, [(v4, '203.0.113.86')], [], [bare])
    return b.finish()


@case
def remote_groups():
    """Self reference, a remote group with members on another host, an
    empty remote group, and IPv6 members."""
    b, net, (v4, v6) = _base(10, v6=True)
    web = b.group('web')
    db = b.group('db')
    empty = b.group('empty')
    _allow_all(b, web)
    b.rule(web, 'ingress', 'IPv4', remote_group_id=web['id'])
    b.rule(web, 'ingress', 'IPv6', remote_group_id=web['id'])
    b.rule(web, 'ingress', 'IPv4', 'tcp', 5432, 5432, remote_group_id=db['id'])
    b.rule(web, 'egress', 'IPv4', 'tcp', 5432, 5432, remote_group_id=db['id'])
    b.rule(web, 'ingress', 'IPv4', remote_group_id=empty['id'])
    b.port(net, [(v4, '203.0.113.90'), (v6, '2001:db8:1::90')],
           [('203.0.113.99', None)], [web])
    b.port(net, [(v4, '203.0.113.91')], [], [web])
    b.port(net, [(v4, '203.0.113.92')], [('198.51.100.0/24', None)], [db],
           host='compute-2')
    b.port(net, [(v6, '2001:db8:1::93')], [], [web], host='compute-2')
    return b.finish()


@case
def protocols_and_ports():
    """Port ranges, single ports, ICMP type/code, protocol numbers."""
    b, net, (v4, v6) = _base(11, v6=True)
    sg = b.group('protos')
    rules = [
        ('ingress', 'IPv4', 'tcp', 22, 22, None),
        ('ingress', 'IPv4', 'tcp', 1000, 2000, None),
        ('ingress', 'IPv4', 'tcp', 1, 65535, None),
        ('ingress', 'IPv4', 'udp', 53, 53, '198.51.100.7/24'),
        ('ingress', 'IPv4', 'icmp', 8, 0, None),
        ('ingress', 'IPv4', 'icmp', 3, None, None),
        ('ingress', 'IPv4', 'icmp', 0, 0, None),
        ('ingress', 'IPv4', 'icmp', None, None, '0.0.0.0/0'),
        ('ingress', 'IPv4', '6', 8080, 8080, None),
        ('ingress', 'IPv4', '17', 5000, 5001, None),
        ('ingress', 'IPv4', '112', None, None, None),
        ('ingress', 'IPv4', 'vrrp', None, None, '203.0.113.0/24'),
        ('ingress', 'IPv4', '132', 9, 9, None),
        ('ingress', 'IPv4', 'sctp', 100, 200, None),
        ('ingress', 'IPv4', '47', None, None, None),
        ('ingress', 'IPv4', '0', None, None, '192.0.2.0/24'),
        ('ingress', 'IPv4', '4', None, None, None),
        ('ingress', 'IPv4', 'udplite', None, None, None),
        ('ingress', 'IPv4', 'dccp', 33, 33, None),
        ('egress', 'IPv4', 'udp', 123, 123, '192.0.2.1'),
        ('egress', 'IPv4', None, None, None, None),
        ('ingress', 'IPv6', 'ipv6-icmp', 128, 0, None),
        ('ingress', 'IPv6', 'ipv6-icmp', 135, None, None),
        ('ingress', 'IPv6', '58', None, None, '2001:db8::/32'),
        ('ingress', 'IPv6', 'tcp', 443, 443, '2001:db8::1/48'),
        ('ingress', 'IPv6', 'tcp', 1, 65535, '::/0'),
        ('egress', 'IPv6', None, None, None, None),
    ]
    for d, e, p, lo, hi, pfx in rules:
        b.rule(sg, d, e, p, lo, hi, remote_ip_prefix=pfx)
    b.port(net, [(v4, '203.0.113.100'), (v6, '2001:db8:1::100')], [], [sg])
    return b.finish()


@case
def duplicate_rules_across_groups():
    """The same rule in two groups, and equivalent prefixes in one group."""
    b, net, (v4,) = _base(12)
    a = b.group('a')
    c = b.group('c')
    for sg in (a, c):
        b.rule(sg, 'ingress', 'IPv4', 'tcp', 80, 80)
        b.rule(sg, 'egress', 'IPv4')
    b.rule(a, 'ingress', 'IPv4', 'tcp', 22, 22, remote_ip_prefix='198.51.100.7/24')
    b.rule(a, 'ingress', 'IPv4', 'tcp', 22, 22, remote_ip_prefix='198.51.100.0/24')
    b.port(net, [(v4, '203.0.113.110')], [], [a, c])
    return b.finish()


@case
def many_groups():
    """Five groups on one port, rule order decided by standard_attr_id."""
    b, net, (v4, v6) = _base(13, v6=True)
    groups = [b.group(f'g{i}') for i in range(5)]
    for i, sg in enumerate(groups):
        b.rule(sg, 'ingress', 'IPv4', 'tcp', 1000 + i, 1000 + i)
        b.rule(sg, 'ingress', 'IPv6', 'udp', 2000 + i, 2000 + i)
        b.rule(sg, 'egress', 'IPv4', 'tcp', 3000 + i, 3100 + i)
        b.rule(sg, 'ingress', 'IPv4', remote_group_id=groups[(i + 1) % 5]['id'])
    b.port(net, [(v4, '203.0.113.120'), (v6, '2001:db8:1::120')], [],
           [groups[3], groups[0], groups[4], groups[1], groups[2]])
    b.port(net, [(v4, '203.0.113.121')], [], groups[:2], host='compute-2')
    return b.finish()


@case
def uuid_prefix_collision():
    """Ports and groups whose UUIDs share their first 10/11 characters."""
    b, net, (v4,) = _base(14)
    sg1 = b.group('x', gid='abcdef12-3400-4000-8000-000000000001')
    sg2 = b.group('y', gid='abcdef12-3499-4000-8000-000000000002')
    b.rule(sg1, 'ingress', 'IPv4', remote_group_id=sg1['id'])
    b.rule(sg2, 'ingress', 'IPv4', remote_group_id=sg2['id'])
    b.rule(sg1, 'egress', 'IPv4')
    b.rule(sg2, 'ingress', 'IPv4', 'tcp', 80, 80)
    b.port(net, [(v4, '203.0.113.130')], [], [sg1],
           pid='12345678-9a00-4000-8000-000000000001')
    b.port(net, [(v4, '203.0.113.131')], [], [sg2],
           pid='12345678-9a11-4000-8000-000000000002')
    # Shares 10 chars (chains) but not 11 (devices, conntrack zone).
    b.port(net, [(v4, '203.0.113.132')], [('203.0.113.241', None)], [sg1],
           pid='12345678-9b00-4000-8000-000000000003')
    return b.finish()


@case
def trusted_ports():
    """network:dhcp and router ports bound to the host (trusted)."""
    b, net, (v4,) = _base(15)
    sg = b.group('default')
    _allow_all(b, sg)
    b.port(net, [(v4, '203.0.113.2')], [], [], device_owner='network:dhcp',
           port_security=False)
    b.port(net, [(v4, '203.0.113.1')], [], [],
           device_owner='network:router_interface', port_security=False)
    b.port(net, [(v4, '203.0.113.140')], [], [sg])
    return b.finish()


@case
def empty_host():
    """No port bound to the host: only the base chains."""
    b, net, (v4,) = _base(16)
    sg = b.group('default')
    _allow_all(b, sg)
    b.port(net, [(v4, '203.0.113.150')], [], [sg], host='compute-2')
    return b.finish()


@case
def no_rules_group():
    """A group without rules and a port whose group list is empty."""
    b, net, (v4,) = _base(17)
    sg = b.group('bare')
    b.port(net, [(v4, '203.0.113.160')], [], [sg])
    b.port(net, [(v4, '203.0.113.161')], [], [])
    return b.finish()


@case
def fixed_ip_order():
    """Several fixed IPs in API order (string-sorted: .10 before .9)."""
    b, net, (v4, v6) = _base(18, v6=True)
    sg = b.group('default')
    _allow_all(b, sg)
    b.rule(sg, 'ingress', 'IPv4', remote_group_id=sg['id'])
    b.port(net, [(v4, '203.0.113.9'), (v4, '203.0.113.10'),
                 (v4, '203.0.113.100'), (v6, '2001:db8:1::a'),
                 (v6, '2001:db8:1::1:0')],
           [('203.0.113.200', None), ('203.0.113.19', 'fa:16:3e:aa:00:01')],
           [sg])
    return b.finish()


@case
def remote_prefix_host_bits():
    """Rule prefixes with host bits and /0 prefixes."""
    b, net, (v4, v6) = _base(19, v6=True)
    sg = b.group('default')
    for pfx in ('198.51.100.7/24', '0.0.0.0/0', '203.0.113.77/28',
                '192.0.2.1', '192.0.2.1/32'):
        b.rule(sg, 'ingress', 'IPv4', 'tcp', 80, 80, remote_ip_prefix=pfx)
    for pfx in ('2001:db8::1/48', '::/0', '2001:db8:1::7'):
        b.rule(sg, 'egress', 'IPv6', 'udp', 53, 53, remote_ip_prefix=pfx)
    b.port(net, [(v4, '203.0.113.170'), (v6, '2001:db8:1::170')], [], [sg])
    return b.finish()


@case
def icmp_types_and_codes():
    """ICMP/ICMPv6 type and code forms the API accepts (0-255 each, a code
    only with a type), by protocol name and number: IPv4 type 255 comes back
    from the kernel as `--icmp-type any` whatever the code, so four different
    Neutron rules print alike; ICMPv6 type 255 is just type 255."""
    b, net, (v4, v6) = _base(23, v6=True)
    sg = b.group('icmp')
    _allow_all(b, sg, v6=False)
    rules = [
        ('ingress', 'IPv4', 'icmp', 255, None, None),
        ('ingress', 'IPv4', 'icmp', 255, 0, None),
        ('ingress', 'IPv4', '1', 255, 255, None),
        ('ingress', 'IPv4', 'icmp', 255, 7, None),
        ('ingress', 'IPv4', 'icmp', 0, None, None),
        ('ingress', 'IPv4', 'icmp', 0, 0, None),
        ('ingress', 'IPv4', 'icmp', 8, 255, None),
        ('ingress', 'IPv4', '1', 254, 3, None),
        ('ingress', 'IPv4', '1', 13, None, '198.51.100.0/24'),
        ('ingress', 'IPv4', 'icmp', 255, 3, '192.0.2.0/24'),
        ('ingress', 'IPv4', 'icmp', None, None, '203.0.113.0/28'),
        ('egress', 'IPv4', '1', 255, None, '192.0.2.9/32'),
        ('egress', 'IPv4', 'icmp', 3, 4, None),
        ('ingress', 'IPv6', 'ipv6-icmp', 255, None, None),
        ('ingress', 'IPv6', 'ipv6-icmp', 255, 0, None),
        ('ingress', 'IPv6', '58', 0, 0, None),
        ('ingress', 'IPv6', '58', 0, None, None),
        ('ingress', 'IPv6', 'ipv6-icmp', 128, 255, None),
        ('ingress', 'IPv6', 'ipv6-icmp', 136, 0, None),
        ('ingress', 'IPv6', '58', 1, 4, '2001:db8::/32'),
        ('egress', 'IPv6', 'ipv6-icmp', 255, None, None),
        ('egress', 'IPv6', '58', 134, 0, None),
    ]
    for d, e, p, lo, hi, pfx in rules:
        b.rule(sg, d, e, p, lo, hi, remote_ip_prefix=pfx)
    b.rule(sg, 'ingress', 'IPv4', 'icmp', 255, 9, remote_group_id=sg['id'])
    b.rule(sg, 'ingress', 'IPv6', '58', 255, 9, remote_group_id=sg['id'])
    b.port(net, [(v4, '203.0.113.180'), (v6, '2001:db8:1::180')], [], [sg])
    b.port(net, [(v4, '203.0.113.181'), (v6, '2001:db8:1::181')], [], [sg],
           host='compute-2')
    return b.finish()


@case
def icmp_type_255_only():
    """The only ingress rules are ICMP type 255 code 0: the kernel passes every
    IPv4 ICMP packet (type 255 is "any") but only ICMPv6 type 255 code 0."""
    b, net, (v4, v6) = _base(24, v6=True)
    sg = b.group('icmp255')
    _allow_all(b, sg)
    b.rule(sg, 'ingress', 'IPv4', 'icmp', 255, 0)
    b.rule(sg, 'ingress', 'IPv6', 'ipv6-icmp', 255, 0)
    b.port(net, [(v4, '203.0.113.190'), (v6, '2001:db8:1::190')], [], [sg])
    b.port(net, [(v4, '203.0.113.191'), (v6, '2001:db8:1::191')], [], [sg])
    return b.finish()


@case
def lvs_dr_example():
    """The repository's examples/lvs-dr/neutron.json (as the API returns)."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..',
                        'examples', 'lvs-dr', 'neutron.json')
    with open(path) as f:
        return json.load(f)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument('--out', default=os.path.join(here, 'cases'))
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    for name, fn in CASES.items():
        data = fn()
        with open(os.path.join(a.out, name + '.json'), 'w') as f:
            json.dump(data, f, indent=1)
            f.write('\n')
        print(name)


if __name__ == '__main__':
    main()
