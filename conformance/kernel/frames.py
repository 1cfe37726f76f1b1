"""Ethernet frames from `vipwire trace` packet fields, with correct checksums.

A packet is a dict of the kv fields of docs/trace-packets.md (strings or ints):
smac, dmac, src, dst, proto, sport, dport, flags, seq, ack, win, len,
icmp_type, icmp_code, icmp_id, inner, ttl. `build_frame(pkt, marker)` returns
the bytes to send on an AF_PACKET socket; the 16-bit marker goes into the IPv4
identification or the IPv6 flow label so the receiver can recognise the frame
(neither field is looked at by conntrack or by the matches we use).
"""

import ipaddress
import struct

PROTO_NUM = {'icmp': 1, 'tcp': 6, 'udp': 17, 'icmpv6': 58, 'ipv6-icmp': 58,
             'vrrp': 112, 'gre': 47, 'esp': 50, 'ah': 51, 'sctp': 132}
PROTO_NAME = {v: k for k, v in PROTO_NUM.items() if k != 'ipv6-icmp'}
FLAG_BITS = {'F': 0x01, 'S': 0x02, 'R': 0x04, 'P': 0x08, 'A': 0x10,
             'U': 0x20, 'E': 0x40, 'C': 0x80}
# Ethertype of the barrier frames: IEEE "local experimental". br_netfilter only
# hands IPv4/IPv6/ARP (and VLAN/PPPoE-wrapped ones) to iptables, so barriers
# cross the bridges without touching a rule or conntrack.
ETH_BARRIER = 0x88B5


def proto_num(p):
    if isinstance(p, int):
        return p
    p = str(p).lower()
    if p.isdigit():
        return int(p)
    return PROTO_NUM[p]


def parse_flags(s):
    if s in (None, '', 'none'):
        return 0
    bits = 0
    for c in str(s).upper():
        bits |= FLAG_BITS[c]
    return bits


def mac_bytes(m):
    return bytes(int(x, 16) for x in m.split(':'))


def csum(data):
    if len(data) % 2:
        data += b'\0'
    s = sum(struct.unpack('!%dH' % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff


def _pseudo(src, dst, proto, length):
    if src.version == 4:
        return src.packed + dst.packed + struct.pack('!BBH', 0, proto, length)
    return src.packed + dst.packed + struct.pack('!IxxxB', length, proto)


def _l4_ports(pkt):
    return int(pkt.get('sport', 0)), int(pkt.get('dport', 0))


def _tcp(pkt, src, dst, payload):
    sport, dport = _l4_ports(pkt)
    hdr = struct.pack('!HHIIBBHHH', sport, dport, int(pkt.get('seq', 0)) & 0xffffffff,
                      int(pkt.get('ack', 0)) & 0xffffffff, 5 << 4,
                      parse_flags(pkt.get('flags')), int(pkt.get('win', 0)), 0, 0)
    seg = hdr + payload
    c = csum(_pseudo(src, dst, 6, len(seg)) + seg)
    return seg[:16] + struct.pack('!H', c) + seg[18:]


def _udp(pkt, src, dst, payload):
    sport, dport = _l4_ports(pkt)
    seg = struct.pack('!HHHH', sport, dport, 8 + len(payload), 0) + payload
    c = csum(_pseudo(src, dst, 17, len(seg)) + seg) or 0xffff
    return seg[:6] + struct.pack('!H', c) + seg[8:]


def parse_inner(s):
    """`SRC:SPORT>DST:DPORT/PROTO` (IPv6 addresses in brackets)."""
    left, right = s.split('>')
    dst_part, proto = right.rsplit('/', 1)

    def ep(x):
        if x.startswith('['):
            a, p = x[1:].split(']:')
        else:
            a, p = x.rsplit(':', 1)
        return ipaddress.ip_address(a), int(p)
    (isrc, isport), (idst, idport) = ep(left), ep(dst_part)
    return isrc, isport, idst, idport, proto_num(proto)


def _quoted(inner, ttl=64):
    """The offending packet an ICMP error quotes: IP header + 8 bytes of L4."""
    isrc, isport, idst, idport, iproto = parse_inner(inner)
    if iproto in (6, 17):
        l4 = struct.pack('!HHI', isport, idport, 1 if iproto == 6 else 0)
    elif iproto in (1, 58):
        # echo request quoted: type, code, csum, id (=sport), seq
        l4 = struct.pack('!BBHHH', 8 if iproto == 1 else 128, 0, 0, isport, 1)
    else:
        l4 = b'\0' * 8
    plen = 20 + 8 if iproto == 6 else len(l4)
    if isrc.version == 4:
        h = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + plen, 0x1234, 0, ttl,
                        iproto, 0, isrc.packed, idst.packed)
        h = h[:10] + struct.pack('!H', csum(h)) + h[12:]
        return h + l4
    h = struct.pack('!IHBB16s16s', 6 << 28, plen, iproto, ttl, isrc.packed, idst.packed)
    return h + l4


def _icmp(pkt, src, dst, payload, v6):
    t = int(pkt.get('icmp_type', 0))
    code = int(pkt.get('icmp_code', 0))
    if pkt.get('inner'):
        rest = struct.pack('!I', 1280 if (v6 and t == 2) else 0)
        body = rest + _quoted(pkt['inner'])
    else:
        body = struct.pack('!HH', int(pkt.get('icmp_id', 0)), 1) + payload
    msg = struct.pack('!BBH', t, code, 0) + body
    if v6:
        c = csum(_pseudo(src, dst, 58, len(msg)) + msg)
    else:
        c = csum(msg)
    return msg[:2] + struct.pack('!H', c) + msg[4:]


def _vrrp(payload, auth=1):
    # VRRPv2 advert: version 2, type 1, vrid 51, prio 100, 1 address, PASS auth
    # (or type 2, IP Authentication Header, with zero auth data), advert 1 s;
    # no pseudo-header in the v2 checksum (RFC 3768 5.3.8).
    msg = struct.pack('!BBBBBBH4s8s', 0x21, 51, 100, 1, auth, 1, 0,
                      bytes([203, 0, 113, 241]), b'pass\0\0\0\0' if auth == 1 else b'\0' * 8)
    return msg[:6] + struct.pack('!H', csum(msg)) + msg[8:]


def _ah(payload):
    # keepalived's `auth_type AH`: an IP Authentication Header (RFC 4302; next
    # header VRRP, 12-byte ICV as HMAC-MD5-96: 24 bytes, payload length 6-2),
    # SPI and sequence number, then the VRRP advert. Nothing on the path
    # verifies the ICV (conntrack tracks protocol 51 generically).
    return struct.pack('!BBHII12s', 112, 4, 0, 0x100, 1, b'\0' * 12) + _vrrp(payload, auth=2)


def build_frame(pkt, marker):
    src = ipaddress.ip_address(pkt['src'])
    dst = ipaddress.ip_address(pkt['dst'])
    proto = proto_num(pkt['proto'])
    v6 = src.version == 6
    payload = bytes((i * 7 + marker) & 0xff for i in range(int(pkt.get('len', 0))))
    if proto == 6:
        l4 = _tcp(pkt, src, dst, payload)
    elif proto == 17:
        l4 = _udp(pkt, src, dst, payload)
    elif proto in (1, 58):
        l4 = _icmp(pkt, src, dst, payload, v6)
    elif proto == 112:
        l4 = _vrrp(payload)
    elif proto == 51:
        l4 = _ah(payload)
    else:
        l4 = payload or b'\0' * 8
    ttl = int(pkt.get('ttl', 64))
    if not v6:
        ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(l4), marker & 0xffff, 0,
                         ttl, proto, 0, src.packed, dst.packed)
        ip = ip[:10] + struct.pack('!H', csum(ip)) + ip[12:]
        etype = 0x0800
    else:
        ip = struct.pack('!IHBB16s16s', (6 << 28) | (marker & 0xfffff), len(l4), proto,
                         ttl, src.packed, dst.packed)
        etype = 0x86DD
    eth = mac_bytes(pkt['dmac']) + mac_bytes(pkt['smac']) + struct.pack('!H', etype)
    return eth + ip + l4


def barrier_frame(smac, dmac, seq):
    return mac_bytes(dmac) + mac_bytes(smac) + struct.pack('!HI', ETH_BARRIER, seq) + b'\0' * 42


def frame_marker(frame):
    """(kind, value) of a received frame: ('ip', marker), ('barrier', seq) or None."""
    if len(frame) < 34:
        return None
    etype = struct.unpack('!H', frame[12:14])[0]
    if etype == ETH_BARRIER:
        return 'barrier', struct.unpack('!I', frame[14:18])[0]
    if etype == 0x0800:
        return 'ip', struct.unpack('!H', frame[18:20])[0]
    if etype == 0x86DD:
        return 'ip', struct.unpack('!I', frame[14:18])[0] & 0xffff
    return None
