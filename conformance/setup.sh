#!/usr/bin/env bash
# Installs what the Neutron conformance oracle needs: iptables, ipset, iproute2
# (Debian) and a cached venv with neutron==29.0.0. Idempotent and fast on re-run.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VIPWIRE_NEUTRON_VENV:-$ROOT/.venv-neutron}"
NEUTRON_VERSION=29.0.0

need_pkgs=()
command -v iptables-save >/dev/null 2>&1 || need_pkgs+=(iptables)
command -v ipset >/dev/null 2>&1 || need_pkgs+=(ipset)
command -v ip >/dev/null 2>&1 || need_pkgs+=(iproute2)
# /etc/protocols: Neutron and iptables both print protocol names from it.
[[ -e /etc/protocols ]] || need_pkgs+=(netbase)
if ((${#need_pkgs[@]})); then
    "$ROOT/scripts/setup-deps" "${need_pkgs[@]}"
fi

if [[ -x $VENV/bin/python ]] &&
    [[ "$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("neutron"))' 2>/dev/null)" == "$NEUTRON_VERSION" ]]; then
    exit 0
fi
PY="${PYTHON:-python3}"
"$PY" -m venv "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check "neutron==$NEUTRON_VERSION"
"$VENV/bin/python" -c 'import importlib.metadata as m; print("neutron", m.version("neutron"))'
