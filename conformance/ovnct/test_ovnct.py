"""Self-tests of the ovnct harness that need no root: which hops of check's
JSON are replayed, in which zone, committed or not, how the frame is steered,
the per-zone ruleset, and how counter deltas become a kernel state.

    python3 -m unittest discover -s conformance/ovnct -p 'test_*.py'
"""

import os
import struct
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import run as R  # noqa: E402
import ctnl  # noqa: E402
from frames import build_frame  # noqa: E402

PA, PB, PD = 'aaaaaaaa-0000', 'bbbbbbbb-0000', 'dddddddd-0000'
COMMIT_ACL = ('priority=2002, match=(reg0[7] == 1 && (inport == @pg_x && ip4)), '
              'action=(reg0[1] = 1; next;)')
REPLY_ACL = ('priority=65532, match=(ct.est && !ct.rel && !ct.new && !ct.inv && ct.rpl && '
             'ct_mark.blocked == 0), action=(next;)')
ORIG_HINT = ('priority=4, match=(!ct.new && ct.est && !ct.rpl && ct_mark.blocked == 0), '
             'action=(reg0[8] = 1; reg0[10] = 1; next;)')
EST_ACL = ('priority=2002, match=(reg0[8] == 1 && (inport == @pg_x && ip4)), '
           'action=(next;)')


def payload(src, dst, flags=0x02, sport=40001, dport=80, proto=6):
    return {'type': 'ip', 'src': src, 'dst': dst, 'proto': proto, 'sport': sport,
            'dport': dport, 'tcp_flags': flags, 'seq': 1000, 'ack': 0, 'window': 64240,
            'payload_len': 0, 'src_mac': [0xfa, 0x16, 0x3e, 0, 0, 1],
            'dst_mac': [0xfa, 0x16, 0x3e, 0, 0, 2], 'ttl': 64}


def hop(port, side, zone, state, rules=(), reason=None):
    return {'port_id': port, 'side': side, 'host': 'h',
            'trace': {'zone': zone, 'ctstate': state, 'ct_reason': reason,
                      'path': [{'kind': 'lflow', 'rule_text': r} for r in rules]}}


def pkt(what, pl, hops, role='plain', outcome='PASS'):
    return {'what': what, 'payload': pl, 'hops': hops, 'role': role, 'outcome': outcome}


def dr_flow():
    """client SYN to the director (zone 3, committed on both sides), the
    director's DR copy (zone 3 out, zone 7 in), the client's ACK INVALID in zone 3."""
    vip, cl, rs = '203.0.113.241', '203.0.113.50', '203.0.113.8'
    return {'name': 'TCP client-1 -> %s:80 via director-1 to rs-1' % vip, 'packets': [
        pkt('ARP who-has', {'type': 'arp'}, []),
        pkt('TCP SYN', payload(cl, vip), [hop(PA, 'egress', 1, 'NEW', [COMMIT_ACL]),
                                          hop(PD, 'ingress', 3, 'NEW', [COMMIT_ACL])]),
        pkt('DR TCP SYN', payload(cl, vip), [hop(PD, 'egress', 3, 'NEW', [COMMIT_ACL]),
                                             hop(PB, 'ingress', 7, 'NEW', [COMMIT_ACL])],
            role='dr-forward'),
        pkt('TCP SYN-ACK', payload(vip, cl, 0x12, 80, 40001),
            [hop(PB, 'egress', 7, 'ESTABLISHED', [REPLY_ACL]),
             hop(PA, 'ingress', 1, 'ESTABLISHED')]),
        pkt('TCP ACK', payload(cl, vip, 0x10),
            [hop(PA, 'egress', 1, 'ESTABLISHED', [ORIG_HINT, EST_ACL]),
             hop(PD, 'ingress', 3, 'INVALID', reason='packet (index 3) in dir 0 invalid, '
                 'state SYN_SENT')], outcome='DROP'),
        pkt('DR TCP ACK', payload(cl, vip, 0x10), [], role='dr-forward', outcome='SKIPPED'),
    ]}


class HopPlan(unittest.TestCase):
    def test_order_zones_commits(self):
        hops = R.hop_plan({'flows': [dr_flow()]}, 'r')
        self.assertEqual([(h['what'], h['side'], h['zone'], h['model'], h['commit'])
                          for h in hops], [
            ('TCP SYN', 'egress', 1, 'NEW', True),
            ('TCP SYN', 'ingress', 3, 'NEW', True),
            ('DR TCP SYN', 'egress', 3, 'NEW', True),
            ('DR TCP SYN', 'ingress', 7, 'NEW', True),
            ('TCP SYN-ACK', 'egress', 7, 'ESTABLISHED', False),
            ('TCP SYN-ACK', 'ingress', 1, 'ESTABLISHED', False),
            ('TCP ACK', 'egress', 1, 'ESTABLISHED', False),
            ('TCP ACK', 'ingress', 3, 'INVALID', False)])
        self.assertEqual([h['packet'] for h in hops], [1, 1, 2, 2, 3, 3, 4, 4])
        self.assertTrue(all(h['run'] == 'r' for h in hops))

    def test_dr_half_only_client_packets_in_forwarding_zone(self):
        hops = R.hop_plan({'flows': [dr_flow()]}, 'r')
        self.assertEqual([(h['what'], h['zone']) for h in hops if h['dr_half']],
                         [('TCP ACK', 3)])
        # zone 7 (the real server's) saw the copy coming in, not going out
        self.assertFalse(any(h['dr_half'] for h in hops if h['zone'] == 7))

    def test_untracked_arp_skipped_hops_left_out(self):
        f = dr_flow()
        f['packets'].append(pkt('VRRP', payload('203.0.113.5', '224.0.0.18', proto=112),
                                [hop(PD, 'egress', 3, 'UNTRACKED'),
                                 hop(PB, 'ingress', 7, 'UNTRACKED')]))
        hops = R.hop_plan({'flows': [f]}, 'r')
        self.assertEqual(len(hops), 8)
        self.assertNotIn('VRRP', [h['what'] for h in hops])

    def test_one_zone_one_port(self):
        f = dr_flow()
        f['packets'][1]['hops'][1]['port_id'] = PB  # zone 3 now also PB's
        with self.assertRaises(R.SetupError):
            R.hop_plan({'flows': [f]}, 'r')

    def test_directions(self):
        hops = R.hop_plan({'flows': [dr_flow()]}, 'r')
        self.assertEqual([h['model_dir'] for h in hops],
                         [None, None, None, None, 'reply', None, 'original', None])
        syn_ack = dict(hops[4], kernel='ESTABLISHED', kernel_reply=True)
        self.assertTrue(R.agrees(syn_ack))
        self.assertFalse(R.agrees(dict(syn_ack, kernel_reply=False)))
        self.assertFalse(R.agrees(dict(syn_ack, kernel='NEW')))
        unknown = dict(hops[5], kernel='ESTABLISHED', kernel_reply=False)
        self.assertTrue(R.agrees(unknown))

    def test_committed(self):
        self.assertTrue(R.committed({'path': [{'rule_text': COMMIT_ACL}]}))
        self.assertFalse(R.committed({'path': [{'rule_text': EST_ACL}]}))
        # reg0[1] in a match is a test, not a commit
        self.assertFalse(R.committed({'path': [{'rule_text':
                                                'priority=1, match=(reg0[1] == 1), action=(next;)'}]}))
        self.assertTrue(R.committed({'path': [{'rule_text':
                                               'priority=65532, match=(ct.rel), action=(ct_commit_nat;)'}]}))
        self.assertFalse(R.committed({'path': []}))

    def test_reproduction_keeps_own_run_and_zone(self):
        hops = R.hop_plan({'flows': [dr_flow()]}, 'r') + R.hop_plan({'flows': [dr_flow()]}, 's')
        rep = R.reproduction(hops, 7)
        self.assertEqual([(h['what'], h['side']) for h in rep],
                         [('TCP SYN', 'ingress'), ('DR TCP SYN', 'egress'), ('TCP ACK', 'ingress')])
        self.assertEqual(len(R.reproduction(hops, 15)), 3)
        self.assertTrue(all(h['run'] == 's' for h in R.reproduction(hops, 15)))


class Frames(unittest.TestCase):
    def test_steered_mac_and_fields(self):
        hops = R.hop_plan({'flows': [dr_flow()]}, 'r')
        for h in hops:
            f = R.steered_fields(h)
            self.assertEqual(f['dmac'], R.COMMIT_MAC if h['commit'] else R.DROP_MAC)
            self.assertEqual(h['fields']['dmac'], 'fa:16:3e:00:00:02')  # untouched
            frame = build_frame(f, 77)
            dmac = ':'.join('%02x' % b for b in frame[:6])
            self.assertEqual(dmac, f['dmac'])
            self.assertEqual(frame[6:12], bytes([0xfa, 0x16, 0x3e, 0, 0, 1]))
            self.assertEqual(struct.unpack('!H', frame[18:20])[0], 77)
        ack = R.steered_fields(hops[-1])
        self.assertEqual((ack['flags'], ack['src'], ack['dst'], ack['sport'], ack['dport']),
                         ('A', '203.0.113.50', '203.0.113.241', 40001, 80))

    def test_sink_macs_unicast_and_distinct(self):
        for m in (R.COMMIT_MAC, R.DROP_MAC):
            self.assertFalse(int(m.split(':')[0], 16) & 1)
        self.assertNotEqual(R.COMMIT_MAC, R.DROP_MAC)


class Ruleset(unittest.TestCase):
    def test_zone_rules(self):
        text = R.zone_ruleset({7, 3})
        self.assertIn('-A PREROUTING -m physdev --physdev-in vz3 -j CT --zone 3', text)
        self.assertIn('-A FORWARD -m physdev --physdev-in vz7 -j Z7', text)
        self.assertIn(':FORWARD DROP', text)
        z3 = [ln for ln in text.splitlines() if ln.startswith('-A Z3 ')]
        self.assertEqual(len(z3), len(R.ZONE_RULES))
        self.assertEqual(z3[R.RULE_NUM['NEW'] - 1], '-A Z3 -m conntrack --ctstate NEW')
        # the accept of existing entries comes before the drop of uncommitted ones
        self.assertLess(R.RULE_NUM['accept-existing'], R.RULE_NUM['drop'])
        self.assertTrue(all(R.RULE_NUM[s] < R.RULE_NUM['accept-existing'] for s in R.STATES))


class KernelState(unittest.TestCase):
    def c(self, zone, *names):
        return {('filter', 'Z%d' % zone, R.RULE_NUM[n]): 1 for n in names}

    def test_states(self):
        self.assertEqual(R.kernel_state(self.c(3, 'INVALID', 'drop'), 3),
                         ('INVALID', False, False))
        self.assertEqual(R.kernel_state(self.c(3, 'NEW', 'existing', 'accept-existing'), 3),
                         ('NEW', True, False))
        self.assertEqual(R.kernel_state(self.c(1, 'ESTABLISHED', 'reply', 'accept-existing'),
                                        1), ('ESTABLISHED', False, True))

    def test_problems(self):
        self.assertIsInstance(R.kernel_state({}, 3), str)
        self.assertIsInstance(R.kernel_state(self.c(3, 'NEW', 'INVALID'), 3), str)
        both = self.c(3, 'NEW')
        both.update(self.c(4, 'NEW'))
        self.assertIn('another zone', R.kernel_state(both, 3))
        twice = {('filter', 'Z3', R.RULE_NUM['NEW']): 2}
        self.assertIsInstance(R.kernel_state(twice, 3), str)

    def test_self_check_sequence(self):
        todo = R.self_check_hops()
        self.assertTrue(all(h['zone'] == R.SELF_ZONE for h, _ in todo))
        commits = [h['commit'] for h, _ in todo]
        self.assertEqual(commits, [False, False, True, False, False, True, False, False, False])
        self.assertEqual(todo[1][1], ('NEW', False, False))  # the first one vanished
        self.assertEqual(todo[-1][1][0], 'ESTABLISHED')
        self.assertEqual(R.self_check_hops(ovs=False)[-1][1][0], 'INVALID')


class Netlink(unittest.TestCase):
    def test_liberal_request(self):
        m = ctnl.liberal_request(5, 7, '203.0.113.50', '203.0.113.8', 41001, 22)
        ln, kind, flags, seq, _ = struct.unpack_from('=IHHII', m)
        self.assertEqual((ln, kind, seq), (len(m), (1 << 8) | 0, 5))
        self.assertEqual(flags, ctnl.NLM_F_REQUEST | ctnl.NLM_F_ACK)  # no CREATE: update only
        attrs = ctnl.parse_nla(m[20:])
        self.assertEqual(attrs[ctnl.CTA_ZONE], struct.pack('!H', 7))
        tup = ctnl.parse_nla(attrs[ctnl.CTA_TUPLE_ORIG])
        ip = ctnl.parse_nla(tup[ctnl.CTA_TUPLE_IP])
        self.assertEqual(ip[ctnl.CTA_IP_V4_SRC], bytes([203, 0, 113, 50]))
        pr = ctnl.parse_nla(tup[ctnl.CTA_TUPLE_PROTO])
        self.assertEqual((pr[ctnl.CTA_PROTO_NUM], pr[ctnl.CTA_PROTO_SRC_PORT]),
                         (b'\x06', struct.pack('!H', 41001)))
        tcp = ctnl.parse_nla(ctnl.parse_nla(attrs[ctnl.CTA_PROTOINFO])[ctnl.CTA_PROTOINFO_TCP])
        self.assertEqual(tcp[ctnl.CTA_PROTOINFO_TCP_FLAGS_ORIGINAL], b'\x08\x08')
        self.assertEqual(tcp[ctnl.CTA_PROTOINFO_TCP_FLAGS_REPLY], b'\x08\x08')
        self.assertNotIn(ctnl.CTA_PROTOINFO_TCP_STATE, tcp)  # the state is left alone

    def test_condition(self):
        est, assured = ctnl.TCP_CONNTRACK_ESTABLISHED, ctnl.IPS_ASSURED
        self.assertTrue(ctnl.ovs_should_liberalise((assured, est, 0, 0)))
        self.assertFalse(ctnl.ovs_should_liberalise((0, est, 0, 0)))          # not assured
        self.assertFalse(ctnl.ovs_should_liberalise((assured, 2, 0, 0)))      # SYN_RECV
        self.assertFalse(ctnl.ovs_should_liberalise((assured, est, 8, 8)))    # already

    def test_parse_entry(self):
        body = b'\x02\x00\x00\x00' + ctnl.nla(ctnl.CTA_STATUS, struct.pack('!I', 0xe)) + \
            ctnl.nla(ctnl.CTA_PROTOINFO, ctnl.nla(ctnl.CTA_PROTOINFO_TCP, ctnl.nla(
                ctnl.CTA_PROTOINFO_TCP_STATE, b'\x03') + ctnl.nla(
                ctnl.CTA_PROTOINFO_TCP_FLAGS_ORIGINAL, b'\x08\x00'), True), True)
        self.assertEqual(ctnl.parse_entry(body), (0xe, 3, 8, 0))


class Trace(unittest.TestCase):
    def test_trace_plan(self):
        lines = ['# comment', 'from=a src=192.0.2.1 dst=192.0.2.2 proto=tcp sport=1 dport=2 '
                 'flags=S dmac=fa:16:3e:00:00:02', 'from=a proto=arp arp_op=1 spa=192.0.2.1 '
                 'tpa=192.0.2.2']
        results = [{'line': 2, 'packet': 1, 'path': [
            hop(PA, 'egress', 1, 'NEW', [COMMIT_ACL]), hop(PB, 'ingress', 2, 'UNTRACKED')]},
            {'line': 3, 'packet': 2, 'path': []}]
        hops = R.trace_plan(lines, results, 't')
        self.assertEqual(len(hops), 1)
        h = hops[0]
        self.assertEqual((h['zone'], h['model'], h['commit'], h['fields']['flags']),
                         (1, 'NEW', True, 'S'))
        self.assertEqual(h['fields']['smac'], '02:76:77:63:74:10')  # stand-in
        frame = build_frame(R.steered_fields(h), 3)
        self.assertEqual(frame[23], 6)  # IPv4 protocol byte: tcp

    def test_trace_dr_half(self):
        syn = 'from=%s src=203.0.113.50 dst=203.0.113.241 proto=tcp sport=1 dport=80 flags=%s'
        lines = [syn % ('client-1', 'S'), syn % ('director-1', 'S'), syn % ('client-1', 'A')]
        results = [
            {'line': 1, 'packet': 1, 'path': [hop(PA, 'egress', 1, 'NEW', [COMMIT_ACL]),
                                               hop(PD, 'ingress', 3, 'NEW', [COMMIT_ACL])]},
            {'line': 2, 'packet': 2, 'path': [hop(PD, 'egress', 3, 'NEW', [COMMIT_ACL]),
                                               hop(PB, 'ingress', 7, 'NEW', [COMMIT_ACL])]},
            {'line': 3, 'packet': 3, 'path': [hop(PA, 'egress', 1, 'INVALID'),
                                               hop(PD, 'ingress', 3, 'INVALID')]}]
        hops = R.trace_plan(lines, results, 't')
        self.assertEqual([(h['packet'], h['zone']) for h in hops if h['dr_half']], [(3, 3)])

    def test_probe_files_name_their_cloud(self):
        for cloud, frames in R.probe_files():
            self.assertTrue(os.path.exists(cloud), cloud)
            self.assertTrue(os.path.exists(frames))


if __name__ == '__main__':
    unittest.main()
