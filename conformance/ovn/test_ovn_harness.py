#!/usr/bin/env python3
"""Self-tests of the OVN harness pieces that need neither root, OVN nor Neutron.

    python3 -m unittest discover -s conformance/ovn -p 'test_ovn_*.py'

Covers normalise_nb (column types, references, ACL keys, dropped status
columns, row selection per cloud, logical-flow normalisation with the DHCP
server MAC), the committed expected/ files (shape and format), the packet
lines and ARP frames of packets.py, and realovn.vrrp_pair_macs.
"""

import copy
import glob
import json
import os
import struct
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

import normalise_nb  # noqa: E402

NET = '11111111-1111-4111-8111-111111111111'
PORT = '22222222-2222-4222-8222-222222222222'
OTHER_PORT = '99999999-9999-4999-8999-999999999999'
SG = '33333333-3333-4333-8333-333333333333'
RULE = '44444444-4444-4444-8444-444444444444'

NEUTRON = {
    'networks': [{'id': NET, 'name': 'n'}],
    'subnets': [],
    'ports': [{'id': PORT, 'name': 'p'}],
    'security_groups': [{'id': SG, 'name': 'g', 'security_group_rules': [
        {'id': RULE}]}],
}


def uuid(n):
    return ['uuid', f'00000000-0000-4000-8000-{n:012d}']


def opt(typ):
    return {'type': {'key': typ, 'min': 0, 'max': 1}}


def ref(table, maxn='unlimited'):
    return {'type': {'key': {'type': 'uuid', 'refTable': table}, 'min': 0,
                     'max': maxn}}


STRMAP = {'type': {'key': 'string', 'value': 'string', 'min': 0,
                   'max': 'unlimited'}}
STRSET = {'type': {'key': 'string', 'min': 0, 'max': 'unlimited'}}

RAW = {
    'schema': {
        'Logical_Switch': {'name': {'type': 'string'},
                           'ports': ref('Logical_Switch_Port'),
                           'acls': ref('ACL'), 'external_ids': STRMAP,
                           'other_config': STRMAP},
        'Logical_Switch_Port': {
            'name': {'type': 'string'}, 'type': {'type': 'string'},
            'addresses': STRSET, 'port_security': STRSET,
            'enabled': opt('boolean'), 'up': opt('boolean'),
            'dhcpv4_options': ref('DHCP_Options', 1),
            'options': STRMAP, 'external_ids': STRMAP,
            'tag': opt('integer')},
        'Port_Group': {'name': {'type': 'string'},
                       'ports': ref('Logical_Switch_Port'),
                       'acls': ref('ACL'), 'external_ids': STRMAP},
        'ACL': {'direction': {'type': 'string'},
                'priority': {'type': 'integer'},
                'match': {'type': 'string'}, 'action': {'type': 'string'},
                'log': {'type': 'boolean'}, 'label': {'type': 'integer'},
                'name': opt('string'), 'external_ids': STRMAP},
        'Address_Set': {'name': {'type': 'string'}, 'addresses': STRSET,
                        'external_ids': STRMAP},
    },
    'tables': {
        'Logical_Switch': [
            {'_uuid': uuid(1), 'name': 'neutron-' + NET,
             'ports': ['set', [uuid(2), uuid(3)]], 'acls': ['set', []],
             'external_ids': ['map', [['neutron:mtu', '1442']]],
             'other_config': ['map', []]},
            {'_uuid': uuid(9), 'name': 'neutron-other',
             'ports': ['set', []], 'acls': ['set', []],
             'external_ids': ['map', []], 'other_config': ['map', []]}],
        'Logical_Switch_Port': [
            {'_uuid': uuid(2), 'name': PORT, 'type': '',
             'addresses': 'fa:16:3e:00:00:01 203.0.113.5',
             'port_security': ['set', ['fa:16:3e:00:00:01 203.0.113.5 '
                                       '0.0.0.0/0', 'VRRPv3 x']],
             'enabled': True, 'up': False, 'dhcpv4_options': uuid(7),
             'options': ['map', [['requested-chassis', 'compute-1']]],
             'external_ids': ['map', [['neutron:device_id', '']]],
             'tag': ['set', []]},
            {'_uuid': uuid(3), 'name': OTHER_PORT, 'type': 'virtual',
             'addresses': ['set', []], 'port_security': ['set', []],
             'enabled': ['set', []], 'up': True,
             'dhcpv4_options': ['set', []], 'options': ['map', []],
             'external_ids': ['map', []], 'tag': 5}],
        'Port_Group': [
            {'_uuid': uuid(4), 'name': 'neutron_pg_drop',
             'ports': ['set', [uuid(2), uuid(3), uuid(99)]],
             'acls': ['set', [uuid(5)]], 'external_ids': ['map', []]},
            {'_uuid': uuid(6), 'name': 'pg_' + SG.replace('-', '_'),
             'ports': uuid(2), 'acls': uuid(8),
             'external_ids': ['map', [['neutron:security_group_id', SG]]]},
            {'_uuid': uuid(10), 'name': 'pg_not_this_cloud',
             'ports': ['set', []], 'acls': ['set', []],
             'external_ids': ['map', []]}],
        'ACL': [
            {'_uuid': uuid(5), 'direction': 'to-lport', 'priority': 1000,
             'match': 'outport == @neutron_pg_drop && ip', 'action': 'drop',
             'log': False, 'label': 0, 'name': ['set', []],
             'external_ids': ['map', []]},
            {'_uuid': uuid(8), 'direction': 'from-lport', 'priority': 1002,
             'match': 'inport == @pg_x && ip4', 'action': 'allow-related',
             'log': False, 'label': 0, 'name': ['set', []],
             'external_ids': ['map', [['neutron:security_group_rule_id',
                                       RULE]]]}],
        'Address_Set': [],
        'DHCP_Options': [
            {'_uuid': uuid(7), 'cidr': '203.0.113.0/24',
             'options': ['map', [['server_mac', 'fa:16:3e:aa:bb:cc'],
                                 ['server_id', '203.0.113.1']]]}],
    },
}


class NormaliseTests(unittest.TestCase):
    def setUp(self):
        self.doc = normalise_nb.normalise(RAW, NEUTRON)

    def test_tables_and_selection(self):
        self.assertEqual(sorted(self.doc), ['acls', 'address_sets',
                                            'logical_switch_ports',
                                            'logical_switches',
                                            'port_groups'])
        self.assertEqual([r['name'] for r in self.doc['logical_switches']],
                         ['neutron-' + NET])
        self.assertEqual([r['name'] for r in self.doc['port_groups']],
                         ['neutron_pg_drop', 'pg_' + SG.replace('-', '_')])
        self.assertEqual(len(self.doc['acls']), 2)

    def test_port_columns(self):
        lsp = {r['name']: r for r in self.doc['logical_switch_ports']}
        p = lsp[PORT]
        self.assertEqual(p['addresses'], ['fa:16:3e:00:00:01 203.0.113.5'])
        self.assertEqual(p['port_security'],
                         sorted(['fa:16:3e:00:00:01 203.0.113.5 0.0.0.0/0',
                                 'VRRPv3 x']))
        self.assertIs(p['enabled'], True)
        self.assertNotIn('up', p)           # N2: northd's status column
        self.assertNotIn('type', p)         # empty string omitted
        self.assertNotIn('tag', p)          # empty optional omitted
        self.assertEqual(p['dhcpv4_options'], 'dhcp:203.0.113.0/24')
        self.assertEqual(p['external_ids'], {'neutron:device_id': ''})
        v = lsp[OTHER_PORT]
        self.assertEqual(v['type'], 'virtual')
        self.assertEqual(v['tag'], 5)
        self.assertNotIn('options', v)

    def test_virtual_parents_sorted(self):
        # N8: Neutron joins a Python set, so the order is per-run.
        raw = copy.deepcopy(RAW)
        other = raw['tables']['Logical_Switch_Port'][1]
        other['options'] = ['map', [['virtual-ip', '203.0.113.100'],
                                    ['virtual-parents', f'{PORT},{NET}']]]
        doc = normalise_nb.normalise(raw, NEUTRON)
        v = {r['name']: r for r in doc['logical_switch_ports']}[OTHER_PORT]
        self.assertEqual(v['options'], {'virtual-ip': '203.0.113.100',
                                        'virtual-parents': f'{NET},{PORT}'})

    def test_references_and_keys(self):
        pgs = {r['name']: r for r in self.doc['port_groups']}
        drop = pgs['neutron_pg_drop']
        self.assertEqual(drop['ports'], sorted([PORT, OTHER_PORT]))
        self.assertEqual(drop['acls'],
                         ['to-lport 1000 outport == @neutron_pg_drop && ip '
                          'drop'])
        sg = pgs['pg_' + SG.replace('-', '_')]
        self.assertEqual(sg['ports'], [PORT])
        acl = self.doc['acls'][0]
        self.assertEqual(acl['key'], 'from-lport 1002 inport == @pg_x && '
                         'ip4 allow-related')
        self.assertIs(acl['log'], False)
        self.assertEqual(acl['label'], 0)
        self.assertNotIn('name', acl)
        self.assertNotIn('_uuid', acl)

    def test_dumps_format(self):
        text = normalise_nb.dumps(self.doc)
        self.assertTrue(text.endswith('}\n'))
        self.assertEqual(text, json.dumps(self.doc, indent=2,
                                          sort_keys=True) + '\n')

    def test_lflows(self):
        text = (
            'Datapath: "neutron-%s" aka "n" (aaaaaaaa-0000-4000-8000-'
            '000000000000)  Pipeline: ingress\n'
            '  table=8 (ls_in_acl           ), priority=2002 , match=(ip4),'
            ' action=(next;)\n'
            '  table=8 (ls_in_acl           ), priority=65532, match=(ct.inv),'
            ' action=(drop;)\n'
            '  table=2 (ls_in_lookup_fdb    ), priority=0    , match=(1),'
            ' action=(next;)\n'
            'Datapath: "neutron-%s" aka "n" (aaaaaaaa-0000-4000-8000-'
            '000000000000)  Pipeline: egress\n'
            '  table=4 (ls_out_acl          ), priority=34000, match=('
            'eth.src == FA:16:3E:AA:BB:CC && ip6.src == '
            'fe80::f816:3eff:feaa:bbcc && udp), action=(next;)\n'
            'Datapath: "neutron-other" (bbbbbbbb-0000-4000-8000-'
            '000000000000)  Pipeline: ingress\n'
            '  table=8 (ls_in_acl           ), priority=1, match=(1),'
            ' action=(next;)\n') % (NET, NET)
        out = normalise_nb.normalise_lflows(
            text, NEUTRON, normalise_nb.dhcp_server_macs(RAW))
        self.assertEqual(out.splitlines(), [
            f'Datapath: "neutron-{NET}" Pipeline: ingress',
            '  table=8 (ls_in_acl), priority=65532, match=(ct.inv), '
            'action=(drop;)',
            '  table=8 (ls_in_acl), priority=2002, match=(ip4), '
            'action=(next;)',
            f'Datapath: "neutron-{NET}" Pipeline: egress',
            '  table=4 (ls_out_acl), priority=34000, match=(eth.src == '
            '<dhcp-server-mac> && ip6.src == <dhcp-server-lla> && udp), '
            'action=(next;)'])

    def test_eui64(self):
        self.assertEqual(normalise_nb.eui64_lla('fa:16:3e:cc:96:30'),
                         'fe80::f816:3eff:fecc:9630')


class ExpectedFilesTests(unittest.TestCase):
    def test_every_case_has_files(self):
        cases = sorted(os.path.basename(p)[:-5] for p in glob.glob(
            os.path.join(os.path.dirname(HERE), 'cases', '*.json')))
        have = os.listdir(os.path.join(HERE, 'expected'))
        for c in cases:
            self.assertIn(c, have)
        for name in have:
            d = os.path.join(HERE, 'expected', name)
            for f in ('neutron.json', 'nb.json', 'lflows.txt'):
                self.assertTrue(os.path.exists(os.path.join(d, f)),
                                f'{name}/{f}')
            with open(os.path.join(d, 'nb.json')) as f:
                text = f.read()
            doc = json.loads(text)
            self.assertEqual(text, normalise_nb.dumps(doc), name)
            with open(os.path.join(d, 'neutron.json')) as f:
                neutron = json.load(f)
            lsp = {r['name'] for r in doc['logical_switch_ports']}
            self.assertEqual(lsp, {p['id'] for p in neutron['ports']}, name)
            for acl in doc['acls']:
                self.assertEqual(acl['key'], normalise_nb.acl_key(acl))


class PacketTests(unittest.TestCase):
    def setUp(self):
        sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'kernel'))
        import frames
        import packets
        self.frames = frames
        self.packets = packets

    def test_arp_line_and_frame(self):
        p = {'from': PORT, 'smac': 'fa:16:3e:00:00:01', 'proto': 'arp',
             'arp_op': 1, 'sha': 'fa:16:3e:00:00:01', 'spa': '203.0.113.5',
             'tha': '00:00:00:00:00:00', 'tpa': '203.0.113.6'}
        self.assertEqual(self.packets.line_of(p),
                         f'from={PORT} proto=arp arp_op=1 '
                         'sha=fa:16:3e:00:00:01 spa=203.0.113.5 '
                         'tha=00:00:00:00:00:00 tpa=203.0.113.6')
        f = self.packets.arp_frame(p)
        self.assertEqual(f[:6], b'\xff' * 6)
        self.assertEqual(struct.unpack('!H', f[12:14])[0], 0x0806)
        self.assertEqual(f[38:42], bytes([203, 0, 113, 6]))
        self.assertEqual(len(f), 60)

    def test_ip_line(self):
        p = {'from': PORT, 'smac': 'a', 'dmac': 'b', 'src': '203.0.113.5',
             'dst': '203.0.113.6', 'proto': 'tcp', 'sport': 1, 'dport': 2,
             'flags': 'S', 'seq': 3, 'win': 4}
        self.assertEqual(self.packets.line_of(p),
                         f'from={PORT} smac=a dmac=b src=203.0.113.5 '
                         'dst=203.0.113.6 proto=tcp sport=1 dport=2 flags=S '
                         'seq=3 win=4')

    def test_nd_line_and_frame(self):
        group, gmac = self.packets.solicited_node('2001:db8:1::a:bc')
        self.assertEqual((group, gmac),
                         ('ff02::1:ff0a:bc', '33:33:ff:0a:00:bc'))
        p = {'from': PORT, 'smac': 'fa:16:3e:00:00:01', 'dmac': gmac,
             'src': '2001:db8:1::5', 'dst': group, 'proto': 'nd', 'nd': 'ns',
             'target': '2001:db8:1::a:bc'}
        self.assertEqual(self.packets.line_of(p),
                         f'from={PORT} smac=fa:16:3e:00:00:01 '
                         f'dmac={gmac} src=2001:db8:1::5 dst={group} '
                         'proto=nd nd=ns target=2001:db8:1::a:bc')
        f = self.packets.nd_frame(p, 7)
        self.assertEqual(struct.unpack('!H', f[12:14])[0], 0x86DD)
        self.assertEqual((f[20], f[21]), (58, 255))     # ICMPv6, hop limit
        self.assertEqual(f[54], 135)
        self.assertEqual(f[62:78], bytes.fromhex(
            '20010db80001000000000000000a00bc'))
        self.assertEqual(f[78:86], bytes.fromhex('0101fa163e000001'))
        # The checksum over the pseudo-header and message sums to 0xffff.
        msg = f[54:]
        pseudo = f[22:54] + struct.pack('!II', len(msg), 58)
        self.assertEqual(self.frames.csum(pseudo + msg), 0)
        na = dict(p, nd='na', src='2001:db8:1::5', dst='ff02::1',
                  dmac='33:33:00:00:00:01', target='2001:db8:1::5')
        f = self.packets.nd_frame(na, 7)
        self.assertEqual((f[54], f[58]), (136, 0x20))   # override flag only
        self.assertEqual(f[78:80], bytes([2, 1]))        # target LL address



class VrrpMacTests(unittest.TestCase):
    def test_foreign_pair_macs(self):
        import realovn
        spec = {'ports': [{'mac_address': 'fa:16:3e:00:00:01',
                           'allowed_address_pairs': [
                               {'ip_address': '203.0.113.9',
                                'mac_address': 'fa:16:3e:00:00:07'},
                               {'ip_address': '2001:db8::9',
                                'mac_address': 'FA:16:3E:00:00:0B'},
                               {'ip_address': '203.0.113.8',
                                'mac_address': 'fa:16:3e:00:00:01'},
                               {'ip_address': '203.0.113.10'}]}]}
        out = realovn.vrrp_pair_macs(spec)
        macs = [a.get('mac_address')
                for a in out['ports'][0]['allowed_address_pairs']]
        self.assertEqual(macs, ['00:00:5e:00:01:07', '00:00:5E:00:02:0B',
                                'fa:16:3e:00:00:01', None])


if __name__ == '__main__':
    unittest.main()
