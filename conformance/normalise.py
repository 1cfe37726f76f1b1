"""Normalises iptables-save / ip6tables-save / ipset save text for diffing.

Both the oracle's dumps and vipwire's output go through the same functions:
- save files: `#` lines dropped, chain counters `[n:m]` set to `[0:0]`;
- ipset: the random ` initval 0x...` dropped, sets sorted by name and the
  `add` lines of each set sorted: the kernel lists members in hash order,
  and the set order follows the agent's Python set/dict iteration and the
  slots freed by its `-n` swap sets, so neither order carries meaning.
Pure standard library.
"""

import re

_COUNTERS = re.compile(r'\[\d+:\d+\]')
_INITVAL = re.compile(r' initval 0x[0-9a-fA-F]+')


def save(text):
    """Normalises iptables-save or ip6tables-save text."""
    out = []
    for line in text.splitlines():
        if line.startswith('#') or not line.strip():
            continue
        if line.startswith(':') or line.startswith('['):
            line = _COUNTERS.sub('[0:0]', line)
        out.append(line)
    return '\n'.join(out) + '\n' if out else ''


def ipset(text):
    """Normalises `ipset save` text: sets sorted by name, members sorted."""
    blocks = []
    for line in text.splitlines():
        if line.startswith('#') or not line.strip():
            continue
        if line.startswith('add ') and blocks:
            blocks[-1][1].append(line)
        else:
            blocks.append((_INITVAL.sub('', line), []))
    blocks.sort(key=lambda b: b[0].split()[1] if len(b[0].split()) > 1
                else b[0])
    out = []
    for head, members in blocks:
        out.append(head)
        out.extend(sorted(members))
    return '\n'.join(out) + '\n' if out else ''


FILES = (('iptables.txt', save), ('ip6tables.txt', save), ('ipset.txt', ipset))
