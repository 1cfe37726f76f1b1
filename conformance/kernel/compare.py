"""Counters from `iptables-save -c` and the comparison with vipwire's trace.

A rule is keyed (table, chain, rule_num) with rule_num 1-based in its chain,
a built-in chain's policy (table, chain, 'policy'). The kernel side is the
per-rule packet-counter increase around one injected frame; the vipwire side
is the multiset of its "rule" and "policy" steps over the frame's crossings.
"""

from collections import Counter


def parse_counters(text):
    """{key: packets} and {key: rule text} from `iptables-save -c` output."""
    counts, texts = {}, {}
    table = None
    num = Counter()
    for line in text.splitlines():
        if line.startswith('*'):
            table = line[1:].strip()
            num = Counter()
        elif line.startswith(':') and table:
            parts = line[1:].split()
            if len(parts) >= 3 and parts[1] != '-':
                pk = int(parts[2].strip('[]').split(':')[0])
                key = (table, parts[0], 'policy')
                counts[key] = pk
                texts[key] = 'policy %s' % parts[1]
        elif line.startswith('[') and table:
            c, rest = line.split('] ', 1)
            pk = int(c[1:].split(':')[0])
            chain = rest.split()[1]
            num[chain] += 1
            key = (table, chain, num[chain])
            counts[key] = pk
            texts[key] = rest
    return counts, texts


def delta(before, after):
    d = Counter()
    for k, v in after.items():
        if v != before.get(k, 0):
            d[k] = v - before.get(k, 0)
    return d


def vipwire_steps(traces):
    """Counter of rule/policy keys over the given vipwire trace objects."""
    c = Counter()
    for t in traces:
        for s in t.get('path', []):
            if s['kind'] == 'rule':
                c[(s['table'], s['chain'], int(s['rule_num']))] += 1
            elif s['kind'] == 'policy':
                c[(s['table'], s['chain'], 'policy')] += 1
    return c


def fmt_key(k):
    return '%s:%s:%s' % k


def fmt_counter(c, texts=None):
    if not c:
        return '(none)'
    out = []
    for k in sorted(c, key=lambda k: (k[0], k[1], str(k[2]).zfill(6))):
        s = fmt_key(k) + ('x%d' % c[k] if c[k] != 1 else '')
        out.append(s)
    return ' '.join(out)
