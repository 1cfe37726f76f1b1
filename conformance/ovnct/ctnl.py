"""A few ctnetlink messages (NETLINK_NETFILTER, subsystem CTNETLINK), enough
to do what the OVS kernel module does to a TCP conntrack after every lookup.

Since Linux 5.11 (commit "net: openvswitch: Be liberal in tcp conntrack",
net/openvswitch/conntrack.c `__ovs_ct_lookup`), the `ct()` action marks a TCP
connection BE_LIBERAL in both directions as soon as a lookup finds it
confirmed, in TCP state ESTABLISHED and ASSURED: from then on the kernel's
window checks (`tcp_in_window`, net/netfilter/nf_conntrack_proto_tcp.c) let
out-of-window segments of that connection pass as ESTABLISHED instead of
INVALID. iptables' conntrack does not do this, so the harness does it
through ctnetlink after each TCP lookup (a GET of the entry, then a NEW
without NLM_F_CREATE that changes only CTA_PROTOINFO_TCP_FLAGS_*, which
ctnetlink applies to an existing entry).

Attribute numbers are the uapi ones (include/uapi/linux/netfilter/
nfnetlink_conntrack.h, nf_conntrack_common.h, nf_conntrack_tcp.h).
"""

import ctypes
import errno
import ipaddress
import os
import socket
import struct

NETLINK_NETFILTER = 12
NFNL_SUBSYS_CTNETLINK = 1
IPCTNL_MSG_CT_NEW, IPCTNL_MSG_CT_GET = 0, 1
NLM_F_REQUEST, NLM_F_ACK = 0x1, 0x4
NLMSG_ERROR = 2
NLA_F_NESTED = 0x8000

CTA_TUPLE_ORIG, CTA_STATUS, CTA_PROTOINFO, CTA_ZONE = 1, 3, 4, 18
CTA_TUPLE_IP, CTA_TUPLE_PROTO = 1, 2
CTA_IP_V4_SRC, CTA_IP_V4_DST = 1, 2
CTA_PROTO_NUM, CTA_PROTO_SRC_PORT, CTA_PROTO_DST_PORT = 1, 2, 3
CTA_PROTOINFO_TCP = 1
CTA_PROTOINFO_TCP_STATE = 1
CTA_PROTOINFO_TCP_FLAGS_ORIGINAL, CTA_PROTOINFO_TCP_FLAGS_REPLY = 4, 5

IPS_ASSURED = 1 << 2
TCP_CONNTRACK_ESTABLISHED = 3
IP_CT_TCP_FLAG_BE_LIBERAL = 0x08
TCP_STATES = ['NONE', 'SYN_SENT', 'SYN_RECV', 'ESTABLISHED', 'FIN_WAIT', 'CLOSE_WAIT',
              'LAST_ACK', 'TIME_WAIT', 'CLOSE', 'SYN_SENT2']


def nla(kind, data, nested=False):
    hdr = struct.pack('=HH', 4 + len(data), kind | (NLA_F_NESTED if nested else 0))
    return hdr + data + b'\0' * ((4 - len(data) % 4) % 4)


def parse_nla(data):
    """{type: payload} of a run of attributes (the nested flag cleared)."""
    out, i = {}, 0
    while i + 4 <= len(data):
        ln, kind = struct.unpack_from('=HH', data, i)
        if ln < 4:
            break
        out[kind & 0x3fff] = data[i + 4:i + ln]
        i += (ln + 3) & ~3
    return out


def tuple_attr(src, dst, sport, dport, proto=6):
    ip = nla(CTA_IP_V4_SRC, ipaddress.IPv4Address(src).packed) + \
        nla(CTA_IP_V4_DST, ipaddress.IPv4Address(dst).packed)
    pr = nla(CTA_PROTO_NUM, struct.pack('B', proto)) + \
        nla(CTA_PROTO_SRC_PORT, struct.pack('!H', sport)) + \
        nla(CTA_PROTO_DST_PORT, struct.pack('!H', dport))
    return nla(CTA_TUPLE_ORIG, nla(CTA_TUPLE_IP, ip, True) + nla(CTA_TUPLE_PROTO, pr, True), True)


def message(msg_type, flags, seq, attrs):
    body = struct.pack('=BBH', socket.AF_INET, 0, 0) + attrs
    return struct.pack('=IHHII', 16 + len(body), (NFNL_SUBSYS_CTNETLINK << 8) | msg_type,
                       NLM_F_REQUEST | flags, seq, 0) + body


def get_request(seq, zone, src, dst, sport, dport):
    return message(IPCTNL_MSG_CT_GET, NLM_F_ACK, seq,
                   tuple_attr(src, dst, sport, dport) + nla(CTA_ZONE, struct.pack('!H', zone)))


def liberal_request(seq, zone, src, dst, sport, dport):
    flags = struct.pack('BB', IP_CT_TCP_FLAG_BE_LIBERAL, IP_CT_TCP_FLAG_BE_LIBERAL)
    tcp = nla(CTA_PROTOINFO_TCP_FLAGS_ORIGINAL, flags) + nla(CTA_PROTOINFO_TCP_FLAGS_REPLY, flags)
    return message(IPCTNL_MSG_CT_NEW, NLM_F_ACK, seq,
                   tuple_attr(src, dst, sport, dport) + nla(CTA_ZONE, struct.pack('!H', zone)) +
                   nla(CTA_PROTOINFO, nla(CTA_PROTOINFO_TCP, tcp, True), True))


def parse_entry(payload):
    """(status, tcp state, original flags, reply flags) of a CT_NEW message body."""
    attrs = parse_nla(payload[4:])
    status = struct.unpack('!I', attrs[CTA_STATUS])[0] if CTA_STATUS in attrs else 0
    state, fo, fr = None, 0, 0
    if CTA_PROTOINFO in attrs:
        tcp = parse_nla(parse_nla(attrs[CTA_PROTOINFO]).get(CTA_PROTOINFO_TCP, b''))
        if CTA_PROTOINFO_TCP_STATE in tcp:
            state = tcp[CTA_PROTOINFO_TCP_STATE][0]
        if CTA_PROTOINFO_TCP_FLAGS_ORIGINAL in tcp:
            fo = tcp[CTA_PROTOINFO_TCP_FLAGS_ORIGINAL][0]
        if CTA_PROTOINFO_TCP_FLAGS_REPLY in tcp:
            fr = tcp[CTA_PROTOINFO_TCP_FLAGS_REPLY][0]
    return status, state, fo, fr


def ovs_should_liberalise(entry):
    """OVS's condition (the entry is confirmed: ctnetlink lists no other)."""
    status, state, fo, fr = entry
    return (state == TCP_CONNTRACK_ESTABLISHED and bool(status & IPS_ASSURED) and
            not (fo & fr & IP_CT_TCP_FLAG_BE_LIBERAL))


class CtNetlink:
    """A ctnetlink socket opened inside the named network namespace."""

    def __init__(self, ns):
        libc = ctypes.CDLL(None, use_errno=True)
        own = os.open('/proc/self/ns/net', os.O_RDONLY)
        target = os.open('/run/netns/' + ns, os.O_RDONLY)
        try:
            if libc.setns(target, 0x40000000) != 0:
                raise OSError(ctypes.get_errno(), 'setns ' + ns)
            self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
            self.sock.bind((0, 0))
        finally:
            if libc.setns(own, 0x40000000) != 0:
                raise OSError(ctypes.get_errno(), 'setns back')
            os.close(own)
            os.close(target)
        self.sock.settimeout(2.0)
        self.seq = 0

    def close(self):
        self.sock.close()

    def _call(self, build, *args):
        """Send one request; returns (errno, [CT_NEW payloads])."""
        self.seq += 1
        self.sock.send(build(self.seq, *args))
        entries = []
        while True:
            data = self.sock.recv(65536)
            i = 0
            while i + 16 <= len(data):
                ln, kind, _, seq, _ = struct.unpack_from('=IHHII', data, i)
                body = data[i + 16:i + ln]
                i += (ln + 3) & ~3
                if seq != self.seq:
                    continue
                if kind == NLMSG_ERROR:
                    return -struct.unpack_from('=i', body)[0], entries
                if kind & 0xff == IPCTNL_MSG_CT_NEW:
                    entries.append(body)

    def get(self, zone, src, dst, sport, dport):
        """The TCP entry with that original tuple in `zone`, parsed, or None."""
        err, entries = self._call(get_request, zone, src, dst, sport, dport)
        if err == errno.ENOENT or not entries:
            return None
        if err:
            raise OSError(err, 'ctnetlink get')
        return parse_entry(entries[0])

    def liberalise(self, zone, src, dst, sport, dport):
        err, _ = self._call(liberal_request, zone, src, dst, sport, dport)
        if err:
            raise OSError(err, 'ctnetlink update (BE_LIBERAL)')
