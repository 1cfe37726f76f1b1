#!/usr/bin/env python3
"""Seeded generator of Neutron API JSON scenarios for the conformance harness.

    gen.py --seed S --count N --out DIR     writes DIR/rand-S-<i>.json

Each scenario is one whole compute host (HOST, 1-30 ports, 1-5 groups per
port, 0-30 rules per group) plus ports on another host that are members of
the same groups. Only the API's accepted shapes are produced (no `::/0`
pairs, no duplicate rule inside one group, port ranges only for protocols
with ports, ICMP code only with a type), with the orders the API returns:
fixed IPs sorted by address string, pairs by (mac, ip), and rules listed in
shuffled order with increasing `standard_attr_id` giving creation order.
Addresses: 203.0.113.0/24, 198.51.100.0/24, 192.0.2.0/24, 2001:db8::/32.
Pure standard library (no Neutron needed).
"""

import argparse
import ipaddress
import json
import os
import random
import uuid

HOST = 'compute-1'
OTHER_HOST = 'compute-2'
V4_NETS = ['203.0.113.0/24', '198.51.100.0/24', '192.0.2.0/24']


class Builder:
    """Builds API-shaped resources with deterministic ids."""

    def __init__(self, rng):
        self.rng = rng
        self.attr_id = 100
        self.data = {'networks': [], 'subnets': [], 'ports': [],
                     'security_groups': []}
        self.project = self.uuid().replace('-', '')

    def uuid(self, prefix=None):
        u = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        if prefix:
            u = prefix + u[len(prefix):]
        return u

    def next_attr(self):
        self.attr_id += self.rng.randint(1, 3)
        return self.attr_id

    def mac(self):
        return 'fa:16:3e:%02x:%02x:%02x' % tuple(
            self.rng.randrange(256) for _ in range(3))

    def network(self, cidrs):
        net = {'id': self.uuid(), 'name': f'net{len(self.data["networks"])}',
               'status': 'ACTIVE', 'admin_state_up': True,
               'port_security_enabled': True, 'project_id': self.project,
               'subnets': []}
        self.data['networks'].append(net)
        subnets = []
        for cidr in cidrs:
            version = ipaddress.ip_network(cidr).version
            sn = {'id': self.uuid(), 'network_id': net['id'],
                  'name': f'sub-{cidr}', 'cidr': cidr, 'ip_version': version,
                  'enable_dhcp': True, 'project_id': self.project,
                  'gateway_ip': str(ipaddress.ip_network(cidr)[1])}
            if version == 6:
                sn['ipv6_address_mode'] = None
                sn['ipv6_ra_mode'] = None
            net['subnets'].append(sn['id'])
            self.data['subnets'].append(sn)
            subnets.append(sn)
        return net, subnets

    def group(self, name=None, stateful=True, gid=None):
        sg = {'id': gid or self.uuid(), 'name': name or 'sg',
              'stateful': stateful, 'project_id': self.project,
              'tenant_id': self.project, 'description': '',
              'security_group_rules': []}
        self.data['security_groups'].append(sg)
        return sg

    def rule(self, sg, direction, ethertype='IPv4', protocol=None,
             port_range_min=None, port_range_max=None, remote_ip_prefix=None,
             remote_group_id=None, rid=None, attr=None):
        normalized = None
        if remote_ip_prefix:
            normalized = str(ipaddress.ip_network(remote_ip_prefix,
                                                  strict=False))
        r = {'id': rid or self.uuid(), 'security_group_id': sg['id'],
             'direction': direction, 'ethertype': ethertype,
             'protocol': protocol, 'port_range_min': port_range_min,
             'port_range_max': port_range_max,
             'remote_ip_prefix': remote_ip_prefix,
             'normalized_cidr': normalized,
             'remote_group_id': remote_group_id,
             'remote_address_group_id': None,
             'standard_attr_id': attr if attr is not None else self.next_attr(),
             'project_id': self.project, 'tenant_id': self.project,
             'description': '', 'belongs_to_default_sg': False,
             'revision_number': 0}
        sg['security_group_rules'].append(r)
        return r

    def port(self, net, fixed, pairs=(), groups=(), host=HOST, mac=None,
             port_security=True, device_owner='compute:nova', pid=None,
             name=None, sort_fixed=True):
        """fixed: list of (subnet, ip); pairs: list of (ip, mac or None)."""
        mac = mac or self.mac()
        fixed_ips = [{'subnet_id': sn['id'], 'ip_address': ip}
                     for sn, ip in fixed]
        if sort_fixed:
            # models_v2.Port.fixed_ips: order_by (ip_address, subnet_id).
            fixed_ips.sort(key=lambda f: (f['ip_address'], f['subnet_id']))
        aap = [{'ip_address': ip, 'mac_address': m or mac} for ip, m in pairs]
        aap.sort(key=lambda a: (a['mac_address'], a['ip_address']))
        p = {'id': pid or self.uuid(),
             'name': name or f'port{len(self.data["ports"])}',
             'network_id': net['id'], 'binding:host_id': host,
             'mac_address': mac, 'fixed_ips': fixed_ips,
             'allowed_address_pairs': aap,
             'security_groups': [g['id'] for g in groups],
             'port_security_enabled': port_security,
             'device_owner': device_owner, 'device_id': self.uuid(),
             'status': 'ACTIVE', 'admin_state_up': True,
             'project_id': self.project, 'tenant_id': self.project,
             'revision_number': 1}
        self.data['ports'].append(p)
        return p

    def finish(self, shuffle_rules=True):
        if shuffle_rules:
            for sg in self.data['security_groups']:
                self.rng.shuffle(sg['security_group_rules'])
        return self.data


# ---------------------------------------------------------------------------
# random scenarios
# ---------------------------------------------------------------------------

# What the API stores as a rule's protocol: None ('any' too), a name of
# neutron_lib IP_PROTOCOL_MAP (lowercased) or a number 0-255 as a string; the
# SecurityGroupRule OVO (IpProtocolEnum) refuses anything else, e.g. '06'.
PROTO_NAMES = ['ah', 'dccp', 'egp', 'esp', 'gre', 'hopopt', 'icmp', 'igmp',
               'ip', 'ipip', 'ipv6-encap', 'ipv6-frag', 'ipv6-icmp', 'icmpv6',
               'ipv6-nonxt', 'ipv6-opts', 'ipv6-route', 'ospf', 'pgm', 'rsvp',
               'sctp', 'tcp', 'udp', 'udplite', 'vrrp']
PROTO_NUMBERS = {'ah': 51, 'dccp': 33, 'egp': 8, 'esp': 50, 'gre': 47,
                 'hopopt': 0, 'icmp': 1, 'igmp': 2, 'ip': 0, 'ipip': 4,
                 'ipv6-encap': 41, 'ipv6-frag': 44, 'ipv6-icmp': 58,
                 'icmpv6': 58, 'ipv6-nonxt': 59, 'ipv6-opts': 60,
                 'ipv6-route': 43, 'ospf': 89, 'pgm': 113, 'rsvp': 46,
                 'sctp': 132, 'tcp': 6, 'udp': 17, 'udplite': 136,
                 'vrrp': 112}
# IP_PROTOCOL_NUM_TO_NAME_MAP: the last name of a number ('0' -> 'ip').
NUMBER_NAMES = {str(n): k for k, n in PROTO_NUMBERS.items() if k != 'icmpv6'}
# securitygroups_db _validate_ethertype_and_protocol: refused with IPv4.
V6_ONLY_PROTOCOLS = {'ipv6-encap', 'ipv6-frag', 'ipv6-icmp', 'icmpv6',
                     'ipv6-nonxt', 'ipv6-opts', 'ipv6-route',
                     '41', '43', '44', '58', '59', '60'}
# _validate_port_range: ports only for these (by name or number), 1-65535.
PORT_PROTOCOLS = {'dccp', 'sctp', 'tcp', 'udp', 'udplite',
                  '33', '132', '6', '17', '136'}
# ICMP type (port_range_min) and code (port_range_max): 0-255 each, a code
# only with a type.
ICMP_PROTOCOLS = {'icmp', '1', 'ipv6-icmp', 'icmpv6', '58'}


def draw_protocol(rng, ethertype):
    """A protocol the API accepts for `ethertype`, stored as the API stores it
    (IPv6: legacy 'icmp'/'icmpv6' become 'ipv6-icmp', '1' becomes '58')."""
    while True:
        k = rng.random()
        if k < 0.15:
            protocol = None
        elif k < 0.55:
            protocol = rng.choice(['tcp', 'tcp', 'udp', 'icmp', 'icmp', '1',
                                   'ipv6-icmp', 'icmpv6', '58', '6', '17',
                                   'vrrp', '112'])
        elif k < 0.8:
            protocol = rng.choice(PROTO_NAMES)
        else:
            protocol = str(rng.randrange(256))
        if ethertype == 'IPv4' and protocol in V6_ONLY_PROTOCOLS:
            continue
        if ethertype == 'IPv6':
            protocol = {'icmp': 'ipv6-icmp', 'icmpv6': 'ipv6-icmp',
                        '1': '58'}.get(protocol, protocol)
        return protocol


def draw_range(rng, protocol):
    """(port_range_min, port_range_max) the API accepts for `protocol`: ports
    1-65535 with min <= max (1-65535 whole is stored as none), or an ICMP
    type 0-255 with an optional code 0-255."""
    if protocol in PORT_PROTOCOLS and rng.random() < 0.7:
        lo = rng.choice([1, 22, 53, 80, 443, 1024, 8080, 65535,
                         rng.randint(1, 65535), rng.randint(1, 65535)])
        k = rng.random()
        if k < 0.5:
            hi = lo
        elif k < 0.8:
            hi = min(65535, lo + rng.randint(1, 1000))
        else:
            hi = rng.randint(lo, 65535)
        if (lo, hi) == (1, 65535):
            return None, None  # _make_canonical_port_range
        return lo, hi
    if protocol in ICMP_PROTOCOLS and rng.random() < 0.7:
        t = rng.choice([0, 255, 8, 3, 11, 128, 135, rng.randrange(256),
                        rng.randrange(256), rng.randrange(256)])
        if rng.random() < 0.4:
            return t, None
        return t, rng.choice([0, 255, rng.randrange(256), rng.randrange(256)])
    return None, None


def rule_key(direction, ethertype, protocol, pmin, pmax, remote_ip,
             remote_group):
    """securitygroups_db `_rule_to_key`: rules the API calls duplicates
    ('tcp' = '6', '0.0.0.0/0' = none, '192.0.2.5' = '192.0.2.5/32') get the
    same key."""
    if protocol is not None:
        if protocol in PROTO_NUMBERS:
            protocol = (protocol, str(PROTO_NUMBERS[protocol]))
        else:
            protocol = (NUMBER_NAMES.get(protocol, protocol), protocol)
    if remote_ip in ('0.0.0.0/0', '::/0'):
        remote_ip = None
    elif remote_ip and '/' not in remote_ip:
        remote_ip += '/128' if ':' in remote_ip else '/32'
    return (direction, ethertype, protocol, pmin, pmax, remote_ip,
            remote_group)


class Addresses:
    """Hands out distinct host addresses per subnet."""

    def __init__(self, rng):
        self.rng = rng
        self.used = set()

    def host(self, subnet):
        net = ipaddress.ip_network(subnet['cidr'])
        for _ in range(1000):
            if net.version == 4:
                ip = net[self.rng.randint(2, net.num_addresses - 2)]
            else:
                ip = net[self.rng.randint(2, 0xffff)]
            if ip not in self.used:
                self.used.add(ip)
                return str(ip)
        raise RuntimeError(f'subnet {subnet["cidr"]} exhausted')


def random_pair(rng, b, addrs, v4_sub, v6_sub, own_mac):
    kind = rng.random()
    mac = None
    if rng.random() < 0.25:
        mac = b.mac()  # foreign MAC
        if rng.random() < 0.3:
            mac = mac.upper()  # the API stores pair MACs as given
    if kind < 0.12:
        return '0.0.0.0/0', mac
    if kind < 0.5 and v4_sub:
        return addrs.host(v4_sub), mac
    if kind < 0.65 and v4_sub:
        ip = addrs.host(v4_sub)
        return f'{ip}/{rng.choice([24, 28, 30, 31, 32])}', mac
    if kind < 0.75:
        return rng.choice(['2001:db8::/32', '2001:db8:1::/48',
                           '2001:db8::5/64', '2001:DB8:7::/64']), mac
    if kind < 0.9 and v6_sub:
        return addrs.host(v6_sub), mac
    if v4_sub:
        return addrs.host(v4_sub), mac
    return '2001:db8:ffff::1', mac


def random_rule(rng, b, sg, groups, seen):
    for _ in range(20):
        ethertype = 'IPv4' if rng.random() < 0.7 else 'IPv6'
        direction = rng.choice(['ingress', 'egress'])
        protocol = draw_protocol(rng, ethertype)
        pmin, pmax = draw_range(rng, protocol)
        remote_ip = remote_group = None
        k = rng.random()
        if k < 0.35:
            remote_group = rng.choice(groups)['id']
        elif k < 0.75:
            if ethertype == 'IPv4':
                remote_ip = rng.choice([
                    '0.0.0.0/0', '203.0.113.0/24', '198.51.100.7/24',
                    '192.0.2.5/32', '192.0.2.5', '198.51.100.128/25',
                    '203.0.113.77/28'])
            else:
                remote_ip = rng.choice([
                    '::/0', '2001:db8::/32', '2001:db8::1/48',
                    '2001:db8:1::7/128', '2001:db8:2::/64',
                    '2001:DB8:3::/64', '2001:db8:0:0::1/64'])
        key = rule_key(direction, ethertype, protocol, pmin, pmax, remote_ip,
                       remote_group)
        if key in seen:
            continue
        seen.add(key)
        return b.rule(sg, direction, ethertype, protocol, pmin, pmax,
                      remote_ip, remote_group)
    return None


def random_scenario(seed):
    rng = random.Random(seed)
    b = Builder(rng)
    addrs = Addresses(rng)
    nets = []
    for i in range(rng.randint(1, 3)):
        v4 = V4_NETS[i] if rng.random() < 0.9 else None
        v6 = f'2001:db8:{i + 1:x}::/64' if rng.random() < 0.5 else None
        cidrs = [c for c in (v4, v6) if c] or [V4_NETS[i]]
        net, subs = b.network(cidrs)
        v4s = next((s for s in subs if s['ip_version'] == 4), None)
        v6s = next((s for s in subs if s['ip_version'] == 6), None)
        nets.append((net, v4s, v6s))

    groups = []
    for i in range(rng.randint(1, 8)):
        share = None
        if groups and rng.random() < 0.15:
            # UUIDs sharing their first 10 chars (chain name collisions).
            share = groups[-1]['id'][:10]
        gid = b.uuid(share)
        groups.append(b.group(name='default' if i == 0 else f'sg{i}',
                              stateful=rng.random() > 0.12, gid=gid))
    for sg in groups:
        seen = set()
        for _ in range(rng.randint(0, 30)):
            random_rule(rng, b, sg, groups, seen)

    n_local = rng.randint(1, 30)
    n_remote = rng.randint(0, 8)
    prev_id = None
    for i in range(n_local + n_remote):
        net, v4s, v6s = rng.choice(nets)
        host = HOST if i < n_local else OTHER_HOST
        fixed = []
        r = rng.random()
        if r < 0.05:
            pass  # no fixed IPs
        else:
            if v4s and (r < 0.85 or not v6s):
                fixed.append((v4s, addrs.host(v4s)))
                if rng.random() < 0.1:
                    fixed.append((v4s, addrs.host(v4s)))
            if v6s and (r >= 0.5 or not v4s):
                fixed.append((v6s, addrs.host(v6s)))
        port_security = rng.random() > 0.08
        mac = b.mac()
        pairs, pgroups = [], []
        if port_security:
            seen_pairs = set()
            for _ in range(rng.choice([0, 0, 0, 1, 1, 2, 3])):
                ip, pm = random_pair(rng, b, addrs, v4s, v6s, mac)
                if (ip, pm or mac) not in seen_pairs:
                    seen_pairs.add((ip, pm or mac))
                    pairs.append((ip, pm))
            if fixed and rng.random() < 0.1:
                # A pair repeating a fixed IP (same or other MAC, /32 or not).
                ip = fixed[0][1]
                if rng.random() < 0.5 and ':' not in ip:
                    ip += '/32'
                pm = None if rng.random() < 0.6 else b.mac()
                if (ip, pm or mac) not in seen_pairs:
                    pairs.append((ip, pm))
            # The API refuses groups on a port without fixed IPs
            # (PortSecurityAndIPRequiredForSecurityGroups).
            if fixed:
                pgroups = rng.sample(groups,
                                     rng.randint(1, min(5, len(groups))))
        share = None
        if prev_id and rng.random() < 0.08:
            share = prev_id[:10]
        owner = 'compute:nova'
        if rng.random() < 0.04:
            owner = rng.choice(['network:dhcp', 'network:router_interface'])
        p = b.port(net, fixed, pairs, pgroups, host=host, mac=mac,
                   port_security=port_security, device_owner=owner,
                   pid=b.uuid(share))
        prev_id = p['id']
    return b.finish()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--count', type=int, default=10)
    ap.add_argument('--out', required=True)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    for i in range(a.count):
        data = random_scenario(a.seed * 1_000_003 + i)
        path = os.path.join(a.out, f'rand-{a.seed}-{i}.json')
        with open(path, 'w') as f:
            json.dump(data, f, indent=1, sort_keys=False)
            f.write('\n')
        print(path)


if __name__ == '__main__':
    main()
