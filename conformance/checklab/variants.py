#!/usr/bin/env python3
"""Seeded random variants of the field report's cloud (examples/lvs-dr).

    variants.py --seed S --count N --out DIR      # writes DIR/<name>/ per variant

A variant is the report's eight ports (same ids, MACs and fixed IPs: two
directors, four real servers, a client VM, the tenant router) with drawn:

- allowed_address_pairs on the directors and real servers (none, the VIP /32,
  0.0.0.0/0, a client /32 or /24, the VIP with another MAC) and sometimes on
  the client;
- security groups: one shared group, or separate groups for the client, the
  directors and the real servers (plus the shared one on some ports), now
  and then a stateless one; the
  report's default rules, each kept or dropped, plus drawn rules (the service
  port from 0.0.0.0/0, a /24 or a /32, port ranges, ICMP, VRRP, remote-group
  rules, narrowed egress rules);
- port_security_enabled=false on some ports (then, as the API demands, no
  groups and no pairs);
- the service: TCP port 80 or UDP port 53 (keepalived `protocol UDP`), the
  scheduler, which real servers serve, their health checker, VRRP multicast
  or unicast, which director is master;
- the clients: the client VM, an outside network behind the router, or both;
- binding hosts: as given, redrawn over three compute hosts, or removed from
  every port (a tenant's view of the API; vipwire then puts each port on a
  host of its own).

A second stream (`random.Random("checklab/S/I/ext")`), drawn after the base
draw above (which it leaves unchanged), adds keepalived features and the
Neutron settings that decide them:

- `use_vmac` on one or both directors (adverts, gratuitous ARP, ARP and ping
  answers from the VRRP MAC 00:00:5e:00:01:33), with pairs for that MAC on
  the directors: none, (VIP, VMAC), (VIP and own IP, VMAC), (0.0.0.0/0, VMAC);
- `auth_type AH` (adverts are IP protocol 51; both directors `state BACKUP`,
  as keepalived refuses an initial MASTER with AH), with VRRP rules that allow
  protocol 112 only, 51 (`ah` or `51`), or everything from the remote group;
- a director that is its own real server (`real_server <own IP>`);
- other health checkers: HTTP_GET, SSL_GET (443), DNS_CHECK (udp 53),
  UDP_CHECK (with or without require_reply), PING_CHECK, SMTP_CHECK (25),
  one kind for all real servers or mixed, with rules that allow their ports
  or miss them (PING_CHECK: an ICMP rule of any type and code the API takes,
  type 255 being the kernel's "any");
- `sorry_server <rs-4> <port>`.

Only documentation addresses appear: 203.0.113.0/24 (the tenant subnet),
198.51.100.0/24 (outside clients), 192.0.2.0/24 (other rule prefixes; the lab
host itself uses 192.0.2.254). A variant is a function of (seed, index) alone:
`random.Random("checklab/S/I")`, so variant I of seed S is regenerated without
drawing the ones before it.
"""

import argparse
import copy
import json
import os
import random
import sys
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BASE = os.path.join(ROOT, 'examples', 'lvs-dr')

VIP = '203.0.113.241'
CLIENT_IP = '203.0.113.50'
OUTSIDE = '198.51.100.0/24'
OUTSIDE_CLIENT = '198.51.100.1'
DIRECTORS = ['director-1', 'director-2']
REAL_SERVERS = ['rs-1', 'rs-2', 'rs-3', 'rs-4']
HOSTS = ['compute-1', 'compute-2', 'compute-3']
# Prefixes a drawn rule may name besides 0.0.0.0/0 (documentation ranges only).
PREFIXES = ['203.0.113.0/24', '198.51.100.0/24', '192.0.2.0/24']
VRID = 51
VMAC = '00:00:5e:00:01:%02x' % VRID  # keepalived's use_vmac: the VRRP virtual MAC
# Health checkers: (IP protocol, port on the wire; None = the real server's port).
CHECKERS = {'TCP_CHECK': ('tcp', None), 'HTTP_GET': ('tcp', None), 'SSL_GET': ('tcp', 443),
            'DNS_CHECK': ('udp', 53), 'UDP_CHECK': ('udp', None), 'PING_CHECK': ('icmp', None),
            'SMTP_CHECK': ('tcp', 25), 'MISC_CHECK': (None, None)}


def base_cloud():
    with open(os.path.join(BASE, 'neutron.json')) as f:
        return json.load(f)


def name_of(seed, index):
    return 's%d-%03d' % (seed, index)


class Draw:
    """One variant's drawing: the cloud, the keepalived settings, the scenario."""

    def __init__(self, seed, index):
        self.rng = random.Random('checklab/%d/%d' % (seed, index))
        # the extensions' own stream: the base draw stays what it was
        self.ext = random.Random('checklab/%d/%d/ext' % (seed, index))
        self.name = name_of(seed, index)
        self.cloud = base_cloud()
        self.ports = {p['name']: p for p in self.cloud['ports']}
        self.attr_id = 2000
        self.summary = {}
        # extensions (extensions() draws them; these defaults are the base draw)
        self.vmac_dirs = set()
        self.auth = 'PASS'
        self.local = set()
        self.rs_checkers = None  # {real server: [checker kinds]}
        self.sorry = None        # the sorry_server's port name

    # -- helpers -------------------------------------------------------------

    def uid(self, rng=None):
        return str(uuid.UUID(int=(rng or self.rng).getrandbits(128), version=4))

    def mac(self, name):
        return self.ports[name]['mac_address']

    def ip(self, name):
        return self.ports[name]['fixed_ips'][0]['ip_address']

    def foreign_mac(self):
        taken = {p['mac_address'] for p in self.cloud['ports']}
        while True:
            m = 'fa:16:3e:%02x:%02x:%02x' % tuple(self.rng.randrange(256) for _ in range(3))
            if m not in taken:
                return m

    # -- the load balancer ---------------------------------------------------

    def service(self):
        r = self.rng
        udp = r.random() < 0.35
        self.proto, self.port = ('udp', 53) if udp else ('tcp', 80)
        self.lb_algo = r.choice(['rr', 'wrr', 'lc', 'wlc', 'sh'])
        k = 4 if r.random() < 0.5 else r.randint(1, 3)
        self.rs = sorted(r.sample(REAL_SERVERS, k), key=REAL_SERVERS.index)
        choices = ['TCP_CHECK', 'MISC_CHECK', 'none'] + ([] if udp else ['HTTP_GET'])
        self.checker = r.choice(choices)
        self.unicast = r.random() < 0.25
        self.master = 'director-2' if r.random() < 0.2 else 'director-1'
        clients = r.choices(['port', 'outside', 'both'], [55, 25, 20])[0]
        self.clients = clients
        self.summary.update(service='%s/%d' % (self.proto, self.port), lb_algo=self.lb_algo,
                            real_servers=self.rs, checker=self.checker,
                            vrrp='unicast' if self.unicast else 'multicast',
                            master=self.master, clients=clients)

    def client_ips(self):
        """Client addresses of this variant (for /32 pairs and rules)."""
        ips = []
        if self.clients in ('port', 'both'):
            ips.append(CLIENT_IP)
        if self.clients in ('outside', 'both'):
            ips.append(OUTSIDE_CLIENT)
        return ips

    def client_nets(self):
        nets = []
        if self.clients in ('port', 'both'):
            nets.append('203.0.113.0/24')
        if self.clients in ('outside', 'both'):
            nets.append(OUTSIDE)
        return nets

    def keepalived(self, director):
        prio = 150 if director == self.master else 100
        state = 'MASTER' if director == self.master else 'BACKUP'
        # keepalived refuses an initial MASTER with AH: both start as BACKUP
        # and the priority elects the master
        conf_state = 'BACKUP' if self.auth == 'AH' else state
        other = [d for d in DIRECTORS if d != director][0]
        role = state if conf_state == state else '%s by priority' % state
        lines = ['! keepalived.conf of %s (%s), checklab variant %s' % (director, role, self.name),
                 'global_defs {', '    router_id LVS_%s' % director.replace('-', '_').upper(), '}',
                 '', 'vrrp_instance VI_1 {', '    state %s' % conf_state, '    interface eth0']
        if director in self.vmac_dirs:
            lines.append('    use_vmac')
        lines += ['    virtual_router_id %d' % VRID, '    priority %d' % prio, '    advert_int 1']
        if self.unicast:
            lines += ['    unicast_src_ip %s' % self.ip(director),
                      '    unicast_peer {', '        %s' % self.ip(other), '    }']
        lines += ['    authentication {', '        auth_type %s' % self.auth,
                  '        auth_pass vipwire',
                  '    }', '    virtual_ipaddress {', '        %s' % VIP, '    }', '}', '',
                  'virtual_server %s %d {' % (VIP, self.port), '    delay_loop 6',
                  '    lb_algo %s' % self.lb_algo, '    lb_kind DR',
                  '    protocol %s' % self.proto.upper()]
        if self.sorry:
            lines.append('    sorry_server %s %d' % (self.ip(self.sorry), self.port))
        servers = ([director] if director in self.local else []) + self.rs
        for name in servers:
            weight = 1 if name in DIRECTORS else 1 + REAL_SERVERS.index(name) % 2
            lines += ['', '    real_server %s %d {' % (self.ip(name), self.port),
                      '        weight %d' % weight]
            kinds = self.rs_checkers.get(name, [self.checker]) if self.rs_checkers else \
                [self.checker]
            for kind in kinds:
                lines += self.checker_lines(kind)
            lines.append('    }')
        lines += ['}', '']
        return '\n'.join(lines)

    def checker_lines(self, kind):
        """One checker block inside real_server { } (8 spaces deep)."""
        url = ['            url {', '                path /',
               '                status_code 200', '            }']
        if kind == 'TCP_CHECK':
            body = ['connect_timeout 3', 'connect_port %d' % self.port]
        elif kind == 'HTTP_GET':
            body = url + ['connect_timeout 3'] + \
                (['connect_port 80'] if self.proto == 'udp' else [])
        elif kind == 'SSL_GET':
            body = url + ['connect_timeout 3', 'connect_port 443']
        elif kind == 'DNS_CHECK':
            body = ['connect_port 53', 'type A', 'name example.org']
        elif kind in ('UDP_CHECK', 'UDP_CHECK require_reply'):
            body = ['connect_timeout 3'] + \
                (['connect_port 53'] if self.proto != 'udp' else []) + ['payload 00 01 02 03'] + \
                (['require_reply 00 01'] if kind.endswith('require_reply') else [])
        elif kind == 'PING_CHECK':
            body = ['retry 2']
        elif kind == 'SMTP_CHECK':
            body = ['connect_timeout 3', 'connect_port 25', 'helo_name checklab.example.org']
        elif kind == 'MISC_CHECK':
            body = ['misc_path "/usr/bin/true"']
        else:
            return []
        return (['        %s {' % kind.split()[0]] +
                [b if b.startswith('    ') else '            ' + b for b in body] +
                ['        }'])

    # -- pairs ---------------------------------------------------------------

    def director_pairs(self, name):
        r = self.rng
        own = self.mac(name)
        kind = r.choices(['none', 'vip', 'vip+any', 'any', 'vip+client32', 'vip+client24',
                          'vip-rs-macs', 'vip-foreign-mac'],
                         [8, 22, 18, 10, 10, 12, 12, 8])[0]
        pairs = []
        if kind.startswith('vip') and kind != 'vip-foreign-mac' and kind != 'vip-rs-macs':
            pairs.append((VIP, own))
        if kind in ('vip+any', 'any'):
            pairs.append(('0.0.0.0/0', own))
        if kind == 'vip+client32':
            pairs.append((r.choice(self.client_ips()) + '/32', own))
        if kind == 'vip+client24':
            pairs.append((r.choice(self.client_nets()), own))
        if kind == 'vip-rs-macs':
            # the report's second remedy: (VIP, real-server MAC) on the director
            pairs += [(VIP, own)] + [(VIP, self.mac(rs)) for rs in self.rs]
        if kind == 'vip-foreign-mac':
            pairs.append((VIP, self.foreign_mac()))
        return kind, pairs

    def rs_pairs(self, name):
        r = self.rng
        own = self.mac(name)
        kind = r.choices(['none', 'vip', 'vip-foreign-mac', 'any', 'vip+client24'],
                         [12, 55, 10, 13, 10])[0]
        pairs = {'none': [], 'vip': [(VIP, own)], 'vip-foreign-mac': [(VIP, self.foreign_mac())],
                 'any': [('0.0.0.0/0', own)],
                 'vip+client24': [(VIP, own), (r.choice(self.client_nets()), own)]}[kind]
        return kind, pairs

    def pairs(self):
        r = self.rng
        summary = {}
        same = r.random() < 0.6
        first = None
        for d in DIRECTORS:
            kind, pairs = self.director_pairs(d)
            if same and first is not None:
                kind, pairs = first[0], [(ip, self.mac(d) if mac == self.mac(DIRECTORS[0])
                                          else mac) for ip, mac in first[1]]
            first = first or (kind, pairs)
            self.set_pairs(d, pairs)
            summary[d] = kind
        same = r.random() < 0.6
        first = None
        for rs in REAL_SERVERS:
            kind, pairs = self.rs_pairs(rs)
            if same and first is not None and first[0] in ('none', 'vip', 'any'):
                kind, pairs = first[0], [(ip, self.mac(rs)) for ip, _ in first[1]]
            first = first or (kind, pairs)
            self.set_pairs(rs, pairs)
            summary[rs] = kind
        kind = r.choices(['none', 'any', 'other24'], [85, 5, 10])[0]
        self.set_pairs('client-1', {'none': [], 'any': [('0.0.0.0/0', self.mac('client-1'))],
                                    'other24': [('192.0.2.0/24', self.mac('client-1'))]}[kind])
        summary['client-1'] = kind
        self.summary['pairs'] = summary

    def set_pairs(self, name, pairs):
        seen, out = set(), []
        for ip, mac in pairs:
            if (ip, mac) not in seen:
                seen.add((ip, mac))
                out.append({'ip_address': ip, 'mac_address': mac})
        # GET returns pairs sorted by the (mac, ip) strings
        out.sort(key=lambda p: (p['mac_address'], p['ip_address']))
        self.ports[name]['allowed_address_pairs'] = out

    # -- security groups -----------------------------------------------------

    def rule(self, group, direction, ethertype='IPv4', protocol=None, pmin=None, pmax=None,
             prefix=None, remote_group=None, rng=None):
        self.attr_id += 1
        return {'id': self.uid(rng), 'security_group_id': group['id'], 'direction': direction,
                'ethertype': ethertype, 'protocol': protocol, 'port_range_min': pmin,
                'port_range_max': pmax, 'remote_ip_prefix': prefix,
                'remote_group_id': remote_group, 'standard_attr_id': self.attr_id,
                'description': '', 'normalized_cidr': prefix}

    def default_rules(self, g, keep):
        """The report's default group rules, each kept with probability `keep`."""
        r = self.rng
        out = []
        # the IPv4 egress rule goes less often: without it little else is tested
        if r.random() < max(keep, 0.9):
            out.append(self.rule(g, 'egress', 'IPv4'))
        if r.random() < keep:
            out.append(self.rule(g, 'egress', 'IPv6'))
        for eth in ('IPv4', 'IPv6'):
            if r.random() < keep:
                out.append(self.rule(g, 'ingress', eth, remote_group=g['id']))
        if r.random() < keep:
            out.append(self.rule(g, 'ingress', protocol='icmp', prefix='0.0.0.0/0'))
        return out

    def drawn_rules(self, g, groups, role):
        """Extra rules; `role` shifts the odds (the service matters on LB ports)."""
        r = self.rng
        out = []
        lb = role in ('lb', 'shared')
        svc = self.proto if r.random() < 0.85 else ('tcp' if self.proto == 'udp' else 'udp')
        if r.random() < (0.45 if lb else 0.15):
            out.append(self.rule(g, 'ingress', protocol=svc, pmin=self.port, pmax=self.port,
                                 prefix=r.choice(['0.0.0.0/0', None])))
        if r.random() < (0.3 if lb else 0.1):
            out.append(self.rule(g, 'ingress', protocol=svc, pmin=self.port, pmax=self.port,
                                 prefix=r.choice(PREFIXES)))
        if r.random() < 0.1:
            out.append(self.rule(g, 'ingress', protocol=svc, pmin=self.port, pmax=self.port,
                                 prefix=r.choice(self.client_ips()) + '/32'))
        if r.random() < 0.1:
            lo, hi = r.choice([(1, 1024), (50, 90), (53, 80), (1, 65535)])
            out.append(self.rule(g, 'ingress', protocol=svc, pmin=lo, pmax=hi,
                                 prefix=r.choice(['0.0.0.0/0', '203.0.113.0/24'])))
        if r.random() < 0.15:
            out.append(self.rule(g, 'ingress', protocol='icmp', pmin=8, pmax=0,
                                 prefix='0.0.0.0/0'))
        if r.random() < 0.25 and groups:
            other = r.choice(groups)
            proto = r.choice([None, svc, 'tcp'])
            pmin = pmax = None
            if proto and r.random() < 0.6:
                pmin = pmax = self.port
            out.append(self.rule(g, 'ingress', protocol=proto, pmin=pmin, pmax=pmax,
                                 remote_group=other['id']))
        if r.random() < (0.2 if role in ('lb', 'shared') else 0.05):
            if r.random() < 0.5:
                out.append(self.rule(g, 'ingress', protocol='vrrp', remote_group=g['id']))
            else:
                out.append(self.rule(g, 'ingress', protocol='112', prefix='203.0.113.0/24'))
        if r.random() < 0.12:
            out.append(self.rule(g, 'egress', protocol=r.choice(['tcp', 'udp', svc]),
                                 prefix=r.choice([None, '0.0.0.0/0'])))
        if r.random() < 0.1:
            out.append(self.rule(g, 'egress', prefix=r.choice(['203.0.113.0/24'] + PREFIXES)))
        if r.random() < 0.08:
            out.append(self.rule(g, 'egress', protocol='icmp'))
        return out

    def groups(self):
        r = self.rng
        default = self.cloud['security_groups'][0]
        layout = r.choices(['shared', 'separate', 'shared+extra'], [40, 40, 20])[0]
        self.summary['groups'] = layout
        default['security_group_rules'] = []
        groups = [default]
        role_group = {}
        if layout == 'separate':
            for role in ('clients', 'lb', 'rs'):
                g = {'id': self.uid(), 'name': '%s-sg' % role, 'description': '',
                     'stateful': True, 'security_group_rules': []}
                groups.append(g)
                role_group[role] = g
        elif layout == 'shared+extra':
            g = {'id': self.uid(), 'name': 'web', 'description': '', 'stateful': True,
                 'security_group_rules': []}
            groups.append(g)
            role_group['lb'] = role_group['rs'] = g
        # rules: the default group keeps the report's rules with high odds when
        # it is the only group; role groups start from the same template
        for g in groups:
            role = 'shared' if g is default else next(k for k, v in role_group.items() if v is g)
            keep = 0.85 if g is default and layout == 'shared' else 0.6
            rules = self.default_rules(g, keep) + self.drawn_rules(g, groups, role)
            g['security_group_rules'] = dedup_rules(rules)
        # now and then a stateless role group (`stateful: false`): a port whose
        # first group it is gets `CT --notrack` instead of its zone
        stateless = []
        for g in groups[1:]:
            if r.random() < 0.08:
                g['stateful'] = False
                stateless.append(g['name'])
        if stateless:
            self.summary['stateless'] = stateless
        self.cloud['security_groups'] = groups
        self.role_group = {role: role_group.get(role, default) for role in ('clients', 'lb', 'rs')}
        for name, p in self.ports.items():
            if p['device_owner'].startswith('network:'):
                continue
            role = 'lb' if name in DIRECTORS else 'rs' if name in REAL_SERVERS else 'clients'
            g = role_group.get(role)
            if g is None:
                sgs = [default['id']]
            elif layout == 'separate':
                sgs = [g['id']] + ([default['id']] if r.random() < 0.3 else [])
            else:
                sgs = [default['id'], g['id']]
            p['security_groups'] = sgs

    def port_security(self):
        r = self.rng
        off = [n for n in DIRECTORS + REAL_SERVERS + ['client-1'] if r.random() < 0.07]
        for n in off:
            p = self.ports[n]
            p['port_security_enabled'] = False
            p['security_groups'] = []
            p['allowed_address_pairs'] = []
        self.summary['port_security_off'] = off

    # -- hosts ---------------------------------------------------------------

    def hosts(self):
        r = self.rng
        mode = r.choices(['given', 'redrawn', 'none'], [40, 25, 35])[0]
        self.summary['hosts'] = mode
        for p in self.cloud['ports']:
            if mode == 'none':
                p.pop('binding:host_id', None)
            elif mode == 'redrawn' and not p['device_owner'].startswith('network:'):
                p['binding:host_id'] = r.choice(HOSTS)

    # -- extensions (their own stream: the base draw above is unchanged) -----

    def extensions(self):
        """use_vmac (and pairs for its MAC), AH adverts (and the VRRP rules
        that decide them), directors that are their own real servers, the
        other health checkers (and rules for their ports), a sorry server."""
        x = self.ext
        ext = {}
        secured = [d for d in DIRECTORS if self.ports[d].get('port_security_enabled') is not False]
        # use_vmac: on both directors, or on one
        if x.random() < 0.3:
            self.vmac_dirs = set(DIRECTORS if x.random() < 0.8 else [x.choice(DIRECTORS)])
            ext['use_vmac'] = sorted(self.vmac_dirs)
        # pairs for the VMAC: mostly with use_vmac, now and then without it
        if self.vmac_dirs or x.random() < 0.05:
            kinds = ['none', 'vip', 'vip+own', 'any']
            first = x.choices(kinds, [20, 30, 25, 25] if self.vmac_dirs else [0, 1, 1, 1])[0]
            same = x.random() < 0.7
            vp = {}
            for d in DIRECTORS:
                kind = first if same or d == DIRECTORS[0] else x.choice(kinds)
                if d not in secured:
                    continue
                add = {'none': [], 'vip': [(VIP, VMAC)],
                       'vip+own': [(VIP, VMAC), (self.ip(d), VMAC)],
                       'any': [('0.0.0.0/0', VMAC)]}[kind]
                have = [(a['ip_address'], a['mac_address'])
                        for a in self.ports[d]['allowed_address_pairs']]
                self.set_pairs(d, have + add)
                vp[d] = kind
            ext['vmac_pairs'] = vp
        # AH adverts (IP protocol 51), and which VRRP rule the directors' group has
        if x.random() < 0.3:
            self.auth = 'AH'
            ext['auth'] = 'AH'
        if x.random() < (0.6 if self.auth == 'AH' else 0.08):
            g = self.role_group['lb']
            if self.auth == 'AH':
                kind = x.choice(['vrrp-group', '112-net', 'ah-group', '51-net', 'any-group'])
            else:
                kind = x.choice(['ah-group', '51-net'])
            proto = {'vrrp': 'vrrp', '112': '112', 'ah': 'ah', '51': '51', 'any': None}[
                kind.split('-')[0]]
            if kind.endswith('group'):
                r = self.rule(g, 'ingress', protocol=proto, remote_group=g['id'], rng=x)
            else:
                r = self.rule(g, 'ingress', protocol=proto, prefix='203.0.113.0/24', rng=x)
            g['security_group_rules'] = dedup_rules(g['security_group_rules'] + [r])
            ext['vrrp_rule'] = kind
        # a director that is also one of its own real servers
        if x.random() < 0.25:
            self.local = set(x.choice([[self.master], [d for d in DIRECTORS if d != self.master],
                                       DIRECTORS]))
            ext['local_rs'] = sorted(self.local)
        # health checkers beyond the base draw's: one kind for all, or mixed
        if x.random() < 0.5:
            kinds = ['TCP_CHECK', 'HTTP_GET', 'SSL_GET', 'DNS_CHECK', 'UDP_CHECK',
                     'UDP_CHECK require_reply', 'PING_CHECK', 'SMTP_CHECK']
            if x.random() < 0.6:
                one = x.choice(kinds)
                self.rs_checkers = {n: [one] for n in REAL_SERVERS + DIRECTORS}
                self.checker = one
            else:
                self.rs_checkers = {n: x.sample(kinds, x.choice([1, 1, 2]))
                                    for n in REAL_SERVERS + DIRECTORS}
                self.checker = 'mixed'
            used = sorted({k for n in self.rs + sorted(self.local) for k in self.rs_checkers[n]})
            ext['checkers'] = used
            self.summary['checker'] = self.checker
            # a rule for a checker's port on the real servers' group, or a near miss
            if x.random() < 0.6:
                kind = x.choice(used)
                proto, port = CHECKERS[kind.split()[0]]
                if proto != 'icmp':
                    port = port or (80 if kind == 'HTTP_GET' else
                                    53 if kind.startswith('UDP_CHECK') else self.port)
                g = self.role_group['rs']
                how = x.choices(['any', 'net', 'group', 'other-net', 'other-proto'],
                                [25, 25, 25, 12, 13])[0]
                if how == 'other-proto' and proto != 'icmp':
                    proto = 'udp' if proto == 'tcp' else 'tcp'
                pmin = pmax = port
                if proto == 'icmp':
                    pmin, pmax = icmp_type_code(x)
                kw = {'any': {'prefix': r_any(x)}, 'net': {'prefix': '203.0.113.0/24'},
                      'group': {'remote_group': self.role_group['lb']['id']},
                      'other-net': {'prefix': '198.51.100.0/24'},
                      'other-proto': {'prefix': '203.0.113.0/24'}}[how]
                r = self.rule(g, 'ingress', protocol=proto, pmin=pmin, pmax=pmax, rng=x, **kw)
                g['security_group_rules'] = dedup_rules(g['security_group_rules'] + [r])
                span = '-' if pmin is None else str(pmin)
                if proto == 'icmp' and pmax is not None:
                    span += '/%d' % pmax
                ext['checker_rule'] = '%s %s/%s %s' % (kind.split()[0], proto, span, how)
        # sorry_server: rs-4 (a path like a real server's)
        if x.random() < 0.25:
            self.sorry = 'rs-4'
            ext['sorry_server'] = 'rs-4'
        if ext:
            self.summary['ext'] = ext

    # -- the scenario --------------------------------------------------------

    def scenario(self):
        lines = ['# checklab variant %s (conformance/checklab/variants.py)' % self.name,
                 'neutron: neutron.json', 'firewall_driver: iptables_hybrid', 'directors:']
        for d in DIRECTORS:
            lines += ['  - port: %s' % d, '    keepalived: keepalived-%s.conf' % d]
        lines += ['real_server_defaults: {vip_on_lo: true, arp_ignore: 1, arp_announce: 2}',
                  'clients:']
        if self.clients in ('port', 'both'):
            lines.append('  - port: client-1')
        if self.clients in ('outside', 'both'):
            lines.append('  - {cidr: %s, router_port: router-1}' % OUTSIDE)
        sources = ['0.0.0.0/0'] if self.clients != 'outside' else [OUTSIDE]
        lines.append('client_sources: [%s]' % ', '.join(sources))
        return '\n'.join(lines) + '\n'

    def draw(self):
        self.service()
        self.groups()
        self.pairs()
        self.port_security()
        self.hosts()
        self.extensions()
        files = {'neutron.json': json.dumps(self.cloud, indent=1) + '\n',
                 'scenario.yaml': self.scenario(),
                 'variant.json': json.dumps({'name': self.name, **self.summary},
                                            indent=1) + '\n'}
        for d in DIRECTORS:
            files['keepalived-%s.conf' % d] = self.keepalived(d)
        return files


def icmp_type_code(rng):
    """ICMP type and code of a rule for PING_CHECK's echo requests: anything
    the API takes (type 0-255, code 0-255 or none). 8 and 8/0 pass echo
    requests, and so does type 255 with any code (the kernel's "any"); the
    others miss them."""
    return rng.choice([(None, None), (8, None), (8, 0), (255, None), (255, 0),
                       (255, rng.randrange(256)), (0, 0), (8, rng.randrange(1, 256)),
                       (rng.randrange(256), None), (rng.randrange(256), rng.randrange(256))])


def r_any(rng):
    """No remote prefix or 0.0.0.0/0: the same rule to the API."""
    return rng.choice([None, '0.0.0.0/0'])


def rule_key(rule):
    return tuple(rule[k] for k in ('direction', 'ethertype', 'protocol', 'port_range_min',
                                   'port_range_max', 'remote_ip_prefix', 'remote_group_id'))


def dedup_rules(rules):
    """The API refuses a rule equal to one the group has (`vrrp` = `112`,
    no prefix = 0.0.0.0/0): keep the first of each meaning."""
    seen, out = set(), []
    for r in rules:
        k = list(rule_key(r))
        k[2] = {'vrrp': '112', 'ah': '51'}.get(k[2], k[2])
        k[5] = None if k[5] == '0.0.0.0/0' else k[5]
        if tuple(k) in seen:
            continue
        seen.add(tuple(k))
        out.append(r)
    return out


def variant(seed, index):
    """{file name: text} of variant `index` of `seed`."""
    return Draw(seed, index).draw()


def write(files, d):
    os.makedirs(d, exist_ok=True)
    for name, text in files.items():
        with open(os.path.join(d, name), 'w') as f:
            f.write(text)


def one_host(cloud, host):
    """A copy of `cloud` with every VM port bound to `host` (network-owned ports
    keep theirs), as crates/lab/src/field.rs `one_host` does."""
    c = copy.deepcopy(cloud)
    for p in c['ports']:
        if not p.get('device_owner', '').startswith('network:'):
            p['binding:host_id'] = host
    return c


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--count', type=int, default=10)
    ap.add_argument('--first', type=int, default=0, help='index of the first variant')
    ap.add_argument('--out', required=True)
    a = ap.parse_args()
    for i in range(a.first, a.first + a.count):
        d = os.path.join(a.out, name_of(a.seed, i))
        write(variant(a.seed, i), d)
        print(d)
    return 0


if __name__ == '__main__':
    sys.exit(main())
