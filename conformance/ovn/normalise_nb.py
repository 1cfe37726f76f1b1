#!/usr/bin/env python3
"""Normalised OVN Northbound rows and logical flows of one Neutron cloud.

    normalise_nb.py RAW.json NEUTRON.json            prints the nb.json document
    normalise_nb.py --lflows LFLOWS.txt NEUTRON.json RAW.json
                                                     prints the lflows.txt text

RAW.json is what realovn.py --keep-raw saves (`ovsdb-client transact` select
results plus the column types of the schema); NEUTRON.json is the cloud's
GET output (api_build.py format). Standard library only.

This is the contract with `vipwire rules --driver ovn --neutron NEUTRON.json
--format json`: one JSON document, keys sorted, 2-space indent, a trailing
newline:

    {"acls": [...], "address_sets": [...], "logical_switch_ports": [...],
     "logical_switches": [...], "port_groups": [...]}

Normalisations (every one of them; also in docs/conformance-ovn.md):

N1 Which rows. The NB may hold several clouds (one project each); a cloud's
   rows are: the Logical_Switches named `neutron-<network id>` of its
   networks; every Logical_Switch_Port those switches list; the Port_Groups
   `pg_<group id, - as _>` of its security groups and `neutron_pg_drop`;
   the ACLs those port groups (and kept switches) list; the Address_Sets
   whose name or external_ids mention one of the cloud's Neutron ids.
   Port_Group.ports keeps only the cloud's ports (matters for the shared
   `neutron_pg_drop`).
N2 Columns. Every column of the table except `_uuid` and `_version`, with
   empty sets, empty maps and empty strings omitted; booleans and integers
   kept as they are (false and 0 too). Map entries are all kept, also those
   whose value is the empty string (Neutron writes many, e.g.
   `neutron:device_id: ""`).
   Dropped: the status columns OVN itself writes, not Neutron
   (DROPPED_COLUMNS: `Logical_Switch_Port.up`, which northd sets from the
   SB binding and so depends on whether a chassis claimed the port, and
   `Logical_Switch_Port.dynamic_addresses`).
N3 Types. A column whose schema type allows at most one value (`max` 1,
   e.g. the optional `ACL.name`, `Logical_Switch_Port.enabled`) is its bare
   value when present (omitted when empty). A set column (`max` > 1 or
   "unlimited") is a sorted list of strings (integers in decimal). A map
   column is a JSON object (keys and values as strings; integer values in
   decimal).
N4 References (UUIDs to other rows) are replaced by the referenced row's
   `name` (Logical_Switch.ports and Port_Group.ports -> LSP names, i.e.
   Neutron port ids). A reference to an ACL becomes its key (N5). A
   reference to a DHCP_Options row (which has no name) becomes
   `dhcp:<cidr>` with the row's `cidr` (the subnet's CIDR). A reference to
   any other table becomes `<ref:Table>`; a dangling one `<ref:missing>`.
N5 ACL rows lose their UUID and get a synthetic `"key"`:
   `"<direction> <priority> <match> <action>"`; Port_Group.acls and
   Logical_Switch.acls are sorted lists of keys.
N6 Order. Rows sorted by `name` (ACLs by `key`).
N7 Per-run values. Values that change from run to run and that the GET
   output cannot give are replaced by placeholders:
   - none found in the five tables with Neutron 29.0.0 + OVN 23.03 so far
     (checked by building the same cloud twice, see the doc); the table
     PLACEHOLDERS below lists the ones applied.
   Neutron ids (networks, subnets, ports, groups, rules) and
   `neutron:revision_number` are kept: the GET output carries them.
N8 Comma-separated sets. `Logical_Switch_Port.options:virtual-parents` is
   written by Neutron from a Python set (`SetLSwitchPortToVirtualTypeCommand`
   joins `set(...)`), so its order follows the interpreter's string hash seed
   and changes from run to run: its items are sorted.

Logical flows (`normalise_lflows`), from `ovn-sbctl lflow-list`:

L1 Only the datapaths of the cloud's switches (`neutron-<network id>`),
   sorted by name; the datapath header line becomes
   `Datapath: "neutron-<network id>" Pipeline: ingress|egress`: the
   datapath's SB UUID and the `aka` alias (the network name) are dropped.
L2 Only the stages modelled: STAGES below; the `table=N` number is kept.
L3 Within a stage, flows sorted by descending priority, then match text,
   then action text; each as `  table=N (stage), priority=P, match=(M),
   action=(A)` with the padding after the priority removed.
L4 Any UUID in a match or action that is not a Neutron id of the cloud is
   replaced by `<uuid>`.
L5 The DHCP server MAC: Neutron draws a random `server_mac` (and DHCPv6
   `server_id`) for each subnet's DHCP_Options row, and northd puts it in
   the ls_out_acl flows that let DHCP replies through (`eth.src == <mac>
   && ip4.src == <gateway> && udp.src == 67 ...`, and the IPv6 link-local
   address derived from it for DHCPv6). Every such MAC (any case) becomes
   `<dhcp-server-mac>` and its EUI-64 link-local `<dhcp-server-lla>`. The
   GET output cannot give it, so the Rust side prints the placeholders.
"""

import json
import re
import sys

NB_TABLES = ['Logical_Switch', 'Logical_Switch_Port', 'Port_Group', 'ACL',
             'Address_Set', 'DHCP_Options']
OUT_TABLES = {'Logical_Switch': 'logical_switches',
              'Logical_Switch_Port': 'logical_switch_ports',
              'Port_Group': 'port_groups', 'ACL': 'acls',
              'Address_Set': 'address_sets'}

# N2: status columns written by ovn-northd, not by Neutron.
DROPPED_COLUMNS = {('Logical_Switch_Port', 'up'),
                   ('Logical_Switch_Port', 'dynamic_addresses')}

# (table, column, map key or None) -> placeholder, for per-run values.
PLACEHOLDERS = {}

# N8: map values that are comma-separated sets whose order is per-run.
COMMA_SETS = {('Logical_Switch_Port', 'options', 'virtual-parents')}

STAGES = ['ls_in_check_port_sec', 'ls_in_apply_port_sec', 'ls_in_pre_acl',
          'ls_in_pre_lb', 'ls_in_pre_stateful', 'ls_in_acl_hint',
          'ls_in_acl', 'ls_in_arp_rsp', 'ls_in_l2_lkup', 'ls_out_pre_acl',
          'ls_out_pre_lb', 'ls_out_pre_stateful', 'ls_out_acl_hint',
          'ls_out_acl', 'ls_out_check_port_sec', 'ls_out_apply_port_sec']

MAC_RE = re.compile(r'^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$')
UUID_RE = re.compile(r'[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-'
                     r'[0-9a-f]{12}')


def acl_key(row):
    return (f'{row["direction"]} {row["priority"]} {row["match"]} '
            f'{row["action"]}')


def pg_name(group_id):
    return 'pg_' + group_id.replace('-', '_')


def neutron_ids(neutron):
    ids = set()
    for kind in ('networks', 'subnets', 'ports', 'security_groups'):
        for obj in neutron.get(kind, []):
            ids.add(obj['id'])
            for r in obj.get('security_group_rules', []):
                ids.add(r['id'])
    return ids


def _atoms(value):
    """The elements of an OVSDB JSON value (a bare atom = one element)."""
    if isinstance(value, list) and value and value[0] == 'set':
        return value[1]
    return [value]


def _mentions(row, ids):
    name = row.get('name', '')
    if any(i in name or i.replace('-', '_') in name for i in ids):
        return True
    ext = row.get('external_ids')
    if isinstance(ext, list) and ext and ext[0] == 'map':
        return any(v in ids for _, v in ext[1])
    return False


def select_cloud(raw, neutron):
    """N1: the rows (raw OVSDB form) of this cloud, by table."""
    t = raw['tables']
    ids = neutron_ids(neutron)
    switches = {'neutron-' + n['id'] for n in neutron['networks']}
    groups = {pg_name(g['id']) for g in neutron['security_groups']}
    groups.add('neutron_pg_drop')
    ls = [r for r in t['Logical_Switch'] if r['name'] in switches]
    lsp_uuids = {a[1] for r in ls for a in _atoms(r['ports'])}
    lsp = [r for r in t['Logical_Switch_Port'] if r['_uuid'][1] in lsp_uuids]
    pg = [r for r in t['Port_Group'] if r['name'] in groups]
    acl_uuids = {a[1] for r in pg + ls for a in _atoms(r['acls'])}
    acl = [r for r in t['ACL'] if r['_uuid'][1] in acl_uuids]
    aset = [r for r in t.get('Address_Set', []) if _mentions(r, ids)]
    return {'Logical_Switch': ls, 'Logical_Switch_Port': lsp,
            'Port_Group': pg, 'ACL': acl, 'Address_Set': aset}, lsp_uuids


def _ref_namer(raw):
    names = {}
    for table, rows in raw['tables'].items():
        for r in rows:
            u = r['_uuid'][1]
            if table == 'ACL':
                names[u] = acl_key(r)
            elif table == 'DHCP_Options':
                names[u] = f'dhcp:{r["cidr"]}'
            elif isinstance(r.get('name'), str):
                names[u] = r['name']
            else:
                names[u] = f'<ref:{table}>'
    return lambda u: names.get(u, '<ref:missing>')


def _scalar(atom, name_of):
    if isinstance(atom, list) and atom[0] in ('uuid', 'named-uuid'):
        return name_of(atom[1])
    return atom


def _string(v):
    if isinstance(v, bool):
        return 'true' if v else 'false'
    return str(v)


def normalise_row(table, row, coltypes, name_of, keep_refs=None):
    out = {}
    for col, ctype in coltypes.items():
        if col not in row or (table, col) in DROPPED_COLUMNS:
            continue
        v = row[col]
        typ = ctype['type']
        if isinstance(typ, dict) and 'value' in typ:  # map
            pairs = v[1] if isinstance(v, list) and v and v[0] == 'map' else []
            m = {_string(_scalar(k, name_of)): _string(_scalar(x, name_of))
                 for k, x in pairs}
            for key in list(m):
                ph = PLACEHOLDERS.get((table, col, key))
                if ph:
                    m[key] = ph
                elif (table, col, key) in COMMA_SETS:
                    m[key] = ','.join(sorted(m[key].split(',')))
            if m:
                out[col] = m
            continue
        maxn = typ.get('max', 1) if isinstance(typ, dict) else 1
        atoms = _atoms(v) if isinstance(v, list) and v and v[0] == 'set' \
            else [v]
        if keep_refs is not None and isinstance(typ, dict) and \
                isinstance(typ.get('key'), dict) and \
                typ['key'].get('refTable') == 'Logical_Switch_Port':
            atoms = [a for a in atoms if a[1] in keep_refs]
        vals = [_scalar(a, name_of) for a in atoms]
        if maxn == 1:
            if not vals or vals[0] == '':
                continue
            val = vals[0]
            ph = PLACEHOLDERS.get((table, col, None))
            out[col] = ph if ph else val
        else:
            if not vals:
                continue
            out[col] = sorted(_string(x) for x in vals)
    return out


def normalise(raw, neutron):
    """The nb.json document of this cloud (a dict; see write())."""
    rows, lsp_uuids = select_cloud(raw, neutron)
    name_of = _ref_namer(raw)
    doc = {}
    for table, key in OUT_TABLES.items():
        coltypes = raw['schema'][table]
        outrows = []
        for r in rows[table]:
            n = normalise_row(table, r, coltypes, name_of,
                              keep_refs=lsp_uuids)
            if table == 'ACL':
                n['key'] = acl_key(r)
            outrows.append(n)
        outrows.sort(key=lambda n: n.get('key' if table == 'ACL' else 'name',
                                         ''))
        doc[key] = outrows
    return doc


def dumps(doc):
    return json.dumps(doc, indent=2, sort_keys=True) + '\n'


_DP_RE = re.compile(r'^Datapath: "?([^"\s]+)"?.*Pipeline: (\w+)\s*$')
_FLOW_RE = re.compile(r'^\s*table=(\d+)\s*\(([\w]+)\s*\), priority=(\d+)\s*,'
                      r' match=\((.*)\), action=\((.*)\)\s*$')


def dhcp_server_macs(raw):
    """L5: server_mac / server_id of every DHCP_Options row."""
    macs = set()
    for r in raw['tables'].get('DHCP_Options', []):
        opts = r.get('options')
        if isinstance(opts, list) and opts and opts[0] == 'map':
            for k, v in opts[1]:
                if k in ('server_mac', 'server_id') and MAC_RE.match(v):
                    macs.add(v.lower())
    return macs


def eui64_lla(mac):
    b = [int(x, 16) for x in mac.split(':')]
    b[0] ^= 0x02
    w = [b[0] << 8 | b[1], b[2] << 8 | 0xff, 0xfe << 8 | b[3],
         b[4] << 8 | b[5]]
    import ipaddress
    return str(ipaddress.IPv6Address('fe80::' + ':'.join(
        '%x' % x for x in w)))


def normalise_lflows(text, neutron, server_macs=()):
    """L1-L5: the lflows.txt text of this cloud."""
    switches = {'neutron-' + n['id'] for n in neutron['networks']}
    ids = neutron_ids(neutron)
    stages = set(STAGES)
    subs = []
    for mac in sorted(server_macs):
        subs.append((re.compile(re.escape(mac), re.I), '<dhcp-server-mac>'))
        subs.append((re.compile(re.escape(eui64_lla(mac)) + r'(?![0-9a-f:])',
                                re.I), '<dhcp-server-lla>'))

    def fix(s):
        s = UUID_RE.sub(lambda m: m.group(0) if m.group(0) in ids
                        else '<uuid>', s)
        for rx, ph in subs:
            s = rx.sub(ph, s)
        return s

    dps = {}
    cur = None
    for line in text.splitlines():
        m = _DP_RE.match(line)
        if m:
            cur = None
            if m.group(1) in switches:
                cur = dps.setdefault((m.group(1), m.group(2)), [])
            continue
        if cur is None:
            continue
        f = _FLOW_RE.match(line)
        if not f:
            if line.strip():
                raise ValueError(f'unparsed lflow line: {line!r}')
            continue
        if f.group(2) not in stages:
            continue
        cur.append((int(f.group(1)), f.group(2), int(f.group(3)),
                    fix(f.group(4)), fix(f.group(5))))
    out = []
    order = {'ingress': 0, 'egress': 1}
    for (dp, pipe) in sorted(dps, key=lambda k: (k[0], order.get(k[1], 9))):
        out.append(f'Datapath: "{dp}" Pipeline: {pipe}')
        flows = sorted(dps[(dp, pipe)],
                       key=lambda f: (f[0], -f[2], f[3], f[4]))
        for table, stage, prio, match, action in flows:
            out.append(f'  table={table} ({stage}), priority={prio}, '
                       f'match=({match}), action=({action})')
    return ''.join(line + '\n' for line in out)


def main(argv):
    if len(argv) == 5 and argv[1] == '--lflows':
        with open(argv[2]) as f, open(argv[3]) as g, open(argv[4]) as h:
            sys.stdout.write(normalise_lflows(
                f.read(), json.load(g), dhcp_server_macs(json.load(h))))
        return 0
    if len(argv) != 3:
        print(__doc__.split('\n\n')[1], file=sys.stderr)
        return 2
    with open(argv[1]) as f, open(argv[2]) as g:
        sys.stdout.write(dumps(normalise(json.load(f), json.load(g))))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
