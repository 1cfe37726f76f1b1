"""Self-tests of the checklab harness (no root, no kernel; under 2 s).

    python3 -m unittest discover -s conformance/checklab -p 'test_*.py'

Tests that use `vipwire` (target/release/vipwire or $VIPWIRE) skip without it.
"""

import copy
import ipaddress
import json
import os
import re
import subprocess
import sys
import tempfile
import unittest
from collections import Counter

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import run  # noqa: E402
import variants  # noqa: E402
from frames import frame_marker  # noqa: E402

DOC_NETS = [ipaddress.ip_network(n) for n in
            ('203.0.113.0/24', '198.51.100.0/24', '192.0.2.0/24')]
IPV4 = re.compile(r'(?<![\d.])(\d{1,3}(?:\.\d{1,3}){3})(?:/(\d+))?(?![\d.])')
VIPWIRE = run.find_vipwire(None)


def tcp_packet(outcome='PASS', drop=None, flags=0x12):
    return {'what': 'TCP SYN-ACK', 'from_port': 'a', 'to_port': 'b', 'role': 'plain',
            'outcome': outcome, 'drop': drop, 'hops': [],
            'payload': {'type': 'ip', 'src': '203.0.113.8', 'dst': '203.0.113.50', 'proto': 6,
                        'sport': 80, 'dport': 40001, 'tcp_flags': flags, 'seq': 5000000,
                        'ack': 1000001, 'window': 64240, 'payload_len': 0, 'icmp_type': 0,
                        'icmp_code': 0, 'icmp_id': 0, 'inner': None, 'ttl': 64,
                        'src_mac': [250, 22, 62, 115, 182, 82],
                        'dst_mac': [250, 22, 62, 91, 224, 117]}}


SPOOF = ('-A neutron-openvswi-sX -m comment --comment '
         '"Drop traffic without an IP/MAC allow rule." -j DROP')


class Variants(unittest.TestCase):
    def test_seeded_and_independent(self):
        self.assertEqual(variants.variant(3, 7), variants.variant(3, 7))
        self.assertNotEqual(variants.variant(3, 7), variants.variant(3, 8))
        self.assertNotEqual(variants.variant(3, 7), variants.variant(4, 7))

    def test_only_documentation_addresses(self):
        for i in range(60):
            for name, text in variants.variant(1, i).items():
                for ip, plen in IPV4.findall(text):
                    if ip == '0.0.0.0' and plen == '0':
                        continue
                    addr = ipaddress.ip_address(ip)
                    self.assertTrue(any(addr in n for n in DOC_NETS),
                                    'variant %d %s: %s' % (i, name, ip))
                    self.assertNotEqual(ip, '192.0.2.254', 'the lab host uses it')

    def test_api_constraints(self):
        seen = Counter()
        for i in range(80):
            v = variants.variant(2, i)
            cloud = json.loads(v['neutron.json'])
            summary = json.loads(v['variant.json'])
            seen[summary['hosts']] += 1
            seen[summary['service']] += 1
            seen[summary['groups']] += 1
            groups = {g['id'] for g in cloud['security_groups']}
            for p in cloud['ports']:
                if p.get('port_security_enabled') is False:
                    self.assertEqual(p['security_groups'], [])
                    self.assertEqual(p['allowed_address_pairs'], [])
                self.assertTrue(set(p['security_groups']) <= groups)
                pairs = [(a['mac_address'], a['ip_address']) for a in p['allowed_address_pairs']]
                self.assertEqual(pairs, sorted(set(pairs)), p['name'])
                if summary['hosts'] == 'none':
                    self.assertNotIn('binding:host_id', p)
            for g in cloud['security_groups']:
                keys = [variants.rule_key(r) for r in g['security_group_rules']]
                self.assertEqual(len(keys), len(set(keys)))
                for r in g['security_group_rules']:
                    self.assertFalse(r['remote_ip_prefix'] and r['remote_group_id'])
            if summary['service'] == 'udp/53':
                self.assertIn('protocol UDP', v['keepalived-director-1.conf'])
                self.assertIn('virtual_server 203.0.113.241 53', v['keepalived-director-2.conf'])
        # every dimension is drawn
        for k in ('given', 'redrawn', 'none', 'tcp/80', 'udp/53', 'shared', 'separate',
                  'shared+extra'):
            self.assertGreater(seen[k], 0, k)

    def test_extensions(self):
        """The second stream draws every extension, as keepalived and Neutron
        would have them, and a variant without extensions is the base draw."""
        seen = Counter()
        for i in range(250):
            v = variants.variant(6, i)
            summary = json.loads(v['variant.json'])
            ext = summary.get('ext', {})
            cloud = json.loads(v['neutron.json'])
            ports = {p['name']: p for p in cloud['ports']}
            confs = {d: v['keepalived-%s.conf' % d] for d in variants.DIRECTORS}
            for k in ext:
                seen[k] += 1
            for d, conf in confs.items():
                own = ports[d]['fixed_ips'][0]['ip_address']
                self.assertEqual('use_vmac' in conf, d in ext.get('use_vmac', []))
                if ext.get('auth') == 'AH':
                    self.assertIn('auth_type AH', conf)
                    self.assertIn('state BACKUP', conf)
                    self.assertNotIn('state MASTER', conf)
                    seen['AH ' + ext.get('vrrp_rule', 'no rule')] += 1
                else:
                    self.assertIn('auth_type PASS', conf)
                self.assertEqual('real_server %s ' % own in conf, d in ext.get('local_rs', []))
                self.assertEqual('sorry_server 203.0.113.13 ' in conf, 'sorry_server' in ext)
                vmac = [a['ip_address'] for a in ports[d]['allowed_address_pairs']
                        if a['mac_address'] == variants.VMAC]
                kind = ext.get('vmac_pairs', {}).get(d, 'none')
                self.assertEqual(sorted(vmac), sorted(
                    {'none': [], 'vip': [variants.VIP], 'any': ['0.0.0.0/0'],
                     'vip+own': [variants.VIP, own]}[kind]), (i, d))
            both = ''.join(confs.values())
            for kind in ext.get('checkers', []):
                self.assertIn('%s {' % kind.split()[0], both)
                if kind.startswith('UDP_CHECK') and len(ext['checkers']) == 1:
                    self.assertEqual('require_reply' in kind, 'require_reply' in both)
                seen[kind] += 1
            rules = [r for g in cloud['security_groups'] for r in g['security_group_rules']]
            if ext.get('vrrp_rule', '').startswith(('ah', '51')):
                self.assertTrue(any(r['protocol'] in ('ah', '51') for r in rules))
        for k in ('use_vmac', 'vmac_pairs', 'auth', 'vrrp_rule', 'local_rs', 'checkers',
                  'checker_rule', 'sorry_server', 'SSL_GET', 'DNS_CHECK', 'UDP_CHECK',
                  'UDP_CHECK require_reply', 'PING_CHECK', 'SMTP_CHECK', 'HTTP_GET',
                  'AH ah-group', 'AH vrrp-group', 'AH any-group'):
            self.assertGreater(seen[k], 0, k)
        self.assertEqual(variants.VMAC, '00:00:5e:00:01:33')

    def test_base_draw_unchanged_by_extensions(self):
        """Extensions draw from their own stream, after the base draw: with the
        extensions off, variant I of seed S is what it was before them."""
        for i in range(20):
            d = variants.Draw(8, i)
            d.extensions = lambda: None
            base = d.draw()
            full = variants.variant(8, i)
            if 'ext' not in json.loads(full['variant.json']):
                self.assertEqual(base, full)
            b, f = json.loads(base['neutron.json']), json.loads(full['neutron.json'])
            self.assertEqual([p['fixed_ips'] for p in b['ports']],
                             [p['fixed_ips'] for p in f['ports']])
            self.assertEqual([g['id'] for g in b['security_groups']],
                             [g['id'] for g in f['security_groups']])

    def test_one_host(self):
        cloud = variants.base_cloud()
        one = variants.one_host(cloud, 'h')
        for p in one['ports']:
            if p['device_owner'].startswith('network:'):
                self.assertEqual(p['binding:host_id'], 'network-1')
            else:
                self.assertEqual(p['binding:host_id'], 'h')
        self.assertEqual(cloud, variants.base_cloud(), 'the input is not changed')

    @unittest.skipUnless(VIPWIRE, 'no vipwire binary')
    def test_check_accepts_variants(self):
        with tempfile.TemporaryDirectory() as d:
            for i in range(15):
                vd = os.path.join(d, str(i))
                variants.write(variants.variant(5, i), vd)
                r = subprocess.run([VIPWIRE, 'check', os.path.join(vd, 'scenario.yaml'),
                                    '--format', 'json'], capture_output=True, text=True)
                self.assertIn(r.returncode, (0, 1), r.stderr)
                self.assertTrue(json.loads(r.stdout)['check']['flows'])


class Frames(unittest.TestCase):
    def test_fields(self):
        f = run.frame_fields(tcp_packet()['payload'])
        self.assertEqual(f['smac'], 'fa:16:3e:73:b6:52')
        self.assertEqual(f['flags'], 'SA')
        self.assertEqual(run.flag_letters(0), 'none')
        self.assertEqual(run.flag_letters(0x11), 'FA')
        frame = run.build_frame(f, 77)
        self.assertEqual(frame_marker(frame), ('ip', 77))
        self.assertEqual(frame[47], 0x12)  # TCP flags byte
        self.assertTrue(run.is_multicast('01:00:5e:00:00:12'))
        self.assertFalse(run.is_multicast('fa:16:3e:00:00:01'))


class Steering(unittest.TestCase):
    """A unicast frame to a MAC no lab port owns (use_vmac's VRRP MAC) is
    steered to its receiver's br-int port first; port MACs and multicast are not."""

    def test_steer_only_foreign_unicast(self):
        vm = [{'id': 'aaaaaaaa-1111', 'mac': 'fa:16:3e:00:00:01'},
              {'id': 'bbbbbbbb-2222', 'mac': 'fa:16:3e:00:00:02'}]
        net = [{'id': 'cccccccc-3333', 'mac': 'fa:16:3e:00:00:03'}]
        lab = run.CheckLab('t', vm, net)
        calls = []
        lab.steer = lambda mac, r: calls.append((mac, r))
        lab.drain = lambda: None
        lab._sock = lambda i: type('S', (), {'send': lambda self, f: None})()
        lab._wait = lambda *a, **k: True
        lab.qvo_sock = [None, None]
        for dmac in ('fa:16:3e:00:00:02', '01:00:5e:00:00:12', 'fa:16:3e:00:00:03'):
            lab.send(0, 1, b'', 1, 1, 'fa:16:3e:00:00:01', dmac)
        self.assertEqual(calls, [])
        lab.send(2, 0, b'', 1, 1, 'fa:16:3e:00:00:03', variants.VMAC)
        self.assertEqual(calls, [(variants.VMAC, 0)])
        self.assertEqual(lab.br_int_dev(0), 'qvoaaaaaaaa-11')
        self.assertEqual(lab.br_int_dev(2), 'qr-cccccccc-33')

    def test_features(self):
        own = {'name': 'TCP client-1 -> 203.0.113.241:80 via director-1 to director-1',
               'category': 'service'}
        vmac = {'payload': {'proto': 6, 'src_mac': [0, 0, 94, 0, 1, 51],
                            'dst_mac': 'fa:16:3e:00:00:01'}}
        self.assertEqual(run.features(own, vmac), ['VRRP MAC', 'own real server'])
        hc = {'name': 'SSL_GET director-1 -> rs-1 (tcp/203.0.113.8:443)',
              'category': 'health-check'}
        ah = {'payload': {'proto': 51, 'src_mac': 'fa:16:3e:00:00:01',
                          'dst_mac': '01:00:5e:00:00:12'}}
        self.assertEqual(run.features(hc, ah), ['AH', 'SSL_GET'])
        sorry = {'name': 'TCP client-1 -> 203.0.113.241:80 via director-2 to rs-4 (sorry '
                 'server, when no real server is up)', 'category': 'failover'}
        self.assertEqual(run.features(sorry, tcp_packet()), ['sorry server'])

    def test_ext_text(self):
        self.assertEqual(run.ext_text(None), '')
        t = run.ext_text({'use_vmac': ['director-1'], 'vmac_pairs': {'director-1': 'vip'},
                          'auth': 'AH', 'vrrp_rule': 'ah-group', 'local_rs': ['director-2'],
                          'checkers': ['DNS_CHECK', 'PING_CHECK'], 'sorry_server': 'rs-4'})
        self.assertEqual(t, '; use_vmac d1 (VMAC pairs d1=vip), auth AH (rule ah-group), own real '
                         'server d2, checkers DNS_CHECK+PING_CHECK, sorry rs-4')


class Compare(unittest.TestCase):
    def kern(self, passed, delivered, counted=None):
        counted = counted or {}
        return {'passed': passed, 'delivered': delivered,
                'counted': {k: 1 for k in counted}, 'texts': counted}

    def test_verdicts(self):
        self.assertEqual(run.compare_packet(tcp_packet(), self.kern(True, True)), [])
        self.assertEqual(run.compare_packet(tcp_packet(), self.kern(True, False)),
                         ['verdict'])
        drop = {'kind': 'anti-spoof', 'side': 'egress', 'table': 'filter',
                'chain': 'neutron-openvswi-sX', 'rule_num': 2, 'rule_text': SPOOF}
        p = tcp_packet('DROP', drop)
        self.assertEqual(run.compare_packet(p, self.kern(True, True)), ['verdict'])
        key = ('filter', 'neutron-openvswi-sX', 2)
        self.assertEqual(run.compare_packet(p, self.kern(False, False, {key: SPOOF})), [])
        self.assertEqual(run.compare_packet(p, self.kern(False, False)), ['drop rule'])
        self.assertEqual(run.compare_packet(p, self.kern(True, False, {key: SPOOF})),
                         ['drop side'])
        host = tcp_packet('DROP', {'kind': 'host'})
        self.assertEqual(run.compare_packet(host, self.kern(True, True)), [])

    def test_paths(self):
        p = tcp_packet()
        p['hops'] = [{'port_id': 'a', 'side': 'egress', 'trace': {'path': [
            {'table': 'raw', 'chain': 'X', 'kind': 'rule', 'rule_num': 1,
             'rule_text': '-A X -j CT --zone 4097'},
            {'table': 'raw', 'chain': 'PREROUTING', 'kind': 'policy', 'rule_num': 2,
             'rule_text': 'ACCEPT'},
            {'table': 'raw', 'chain': 'X', 'kind': 'return', 'rule_num': 3, 'rule_text': ''}]}},
            {'port_id': 'elsewhere', 'side': 'ingress', 'trace': {'path': [
                {'table': 'nat', 'chain': 'Y', 'kind': 'rule', 'rule_num': 1,
                 'rule_text': '-A Y -j ACCEPT'}]}}]
        # zone numbers differ between one host and the port's own host
        k = self.kern(True, True, {('raw', 'X', 5): '-A X -j CT --zone 4100',
                                   ('raw', 'PREROUTING', 'policy'): 'policy ACCEPT'})
        ctx = run.Ctx({'a'}, set(), run.ruleset_tables('*raw\nCOMMIT\n*nat\nCOMMIT\n'))
        self.assertIsNone(run.path_differs(p, k, ctx))
        st = run.Stats()
        self.assertEqual(run.judge(p, k, ctx, st), ([], None))
        # a table the ruleset does not have (iptables-legacy's mangle) is left out
        k['counted'][('mangle', 'PREROUTING', 'policy')] = 1
        self.assertEqual(run.judge(p, k, ctx, st), ([], None))
        k2 = self.kern(True, True, {('raw', 'X', 5): '-A X -j CT --zone 4100'})
        problems, pd = run.judge(p, k2, ctx, st)
        self.assertEqual(problems, ['path'])
        self.assertEqual(pd, {('raw', 'PREROUTING', 'policy'): (1, 0)})
        # nat-only differences between two zone-less ports are the lab's own
        pd = {('nat', 'PREROUTING', 'policy'): (1, 0)}
        self.assertTrue(run.path_explained(pd, p, {'a', 'b'}))
        self.assertFalse(run.path_explained(pd, p, {'a'}))
        self.assertFalse(run.path_explained({('filter', 'F', 'policy'): (1, 0)}, p, {'a', 'b'}))

    def test_plan_stops_at_skipped(self):
        arp = {'what': 'ARP', 'outcome': 'DROP', 'payload': {'type': 'arp'}}
        skipped = dict(tcp_packet(), outcome='SKIPPED')
        check = {'check': {'flows': [{'name': 'f', 'outcome': 'DROP',
                                      'packets': [tcp_packet(), arp, skipped, skipped]}]}}
        plan = run.replay_plan(check)
        self.assertEqual([i for i, _ in plan[0][1]], [0, 1])

    def test_kernel_json_round_trip(self):
        key = ('filter', 'neutron-openvswi-sX', 2)
        obs = [{'flow': 'f', 'packet': 0, 'what': 'TCP SYN-ACK', 'passed': False,
                'delivered': False, 'counted': ['filter:neutron-openvswi-sX:2 x1',
                                                'raw:PREROUTING:policy x1']}]
        ctx = run.Ctx({'a', 'b'}, set(), {'raw', 'filter'})
        text = run.kernel_json({'filter:neutron-openvswi-sX:2': SPOOF}, obs, ctx)
        k = json.loads(text)
        self.assertEqual(k['lab_ports'], ['a', 'b'])
        self.assertEqual(k['tables'], ['filter', 'raw'])
        kern = run.parse_observed(k['packets'][0], k['rules'])
        self.assertEqual(kern['counted'], {key: 1, ('raw', 'PREROUTING', 'policy'): 1})
        self.assertEqual(kern['texts'][key], SPOOF)


@unittest.skipUnless(VIPWIRE, 'no vipwire binary')
class Recorded(unittest.TestCase):
    """The stored kernel observations of the fixed cases against a fresh check."""

    def load(self, case):
        d = os.path.join(run.CASES, case)
        r = subprocess.run([VIPWIRE, 'check', os.path.join(d, 'scenario.yaml'), '--format',
                            'json'], capture_output=True, text=True)
        self.assertIn(r.returncode, (0, 1), r.stderr)
        with open(os.path.join(d, 'kernel.json')) as f:
            return json.loads(r.stdout), json.load(f)

    def test_a_flipped_observation_disagrees(self):
        check, kernel = self.load('field-report-fixed')
        st = run.Stats()
        n, bad = run.compare_recorded(check, kernel, set(), st)
        if bad:
            self.skipTest('check changed since the recording: re-record (README of cases)')
        self.assertGreater(n, 100)
        k2 = copy.deepcopy(kernel)
        k2['packets'][5]['delivered'] = not k2['packets'][5]['delivered']
        n2, bad2 = run.compare_recorded(check, k2, set(), run.Stats())
        self.assertEqual(len(bad2), 1)
        self.assertIn('[verdict]', bad2[0])

    def test_keepalived_features_recorded(self):
        """The case with use_vmac, AH, an own real server, the checkers and a
        sorry server: the kernel's recording covers each, and agrees."""
        check, kernel = self.load('keepalived-features')
        n, bad = run.compare_recorded(check, kernel, set(), run.Stats())
        if bad:
            self.skipTest('check changed since the recording: re-record (README of cases)')
        tags = Counter()
        for flow, steps in run.replay_plan(check):
            for i, pkt in steps:
                if pkt['payload']['type'] == 'ip':
                    tags.update(run.features(flow, pkt))
        for t in ('AH', 'VRRP MAC', 'own real server', 'sorry server', 'SSL_GET', 'DNS_CHECK',
                  'PING_CHECK', 'UDP_CHECK', 'SMTP_CHECK'):
            self.assertGreater(tags[t], 0, t)
        self.assertEqual(n, len(kernel['packets']))


if __name__ == '__main__':
    unittest.main()
