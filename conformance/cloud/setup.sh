#!/usr/bin/env bash
# Installs what the live-cloud tests need: a cached venv with the real
# neutron-server 29.0.0 and Keystone 30.0.0 (and keystonemiddleware, a Neutron
# dependency) from PyPI. Idempotent and fast on re-run; as root on a fresh
# machine it first installs Debian's python3-venv if venv is missing.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${VIPWIRE_CLOUD_VENV:-$ROOT/.venv-cloud}"
NEUTRON_VERSION=29.0.0
KEYSTONE_VERSION=30.0.0
PY="${PYTHON:-python3}"

have() {
    [[ -x $VENV/bin/python ]] && "$VENV/bin/python" - <<PYEOF 2>/dev/null
import importlib.metadata as m, sys
ok = (m.version("neutron") == "$NEUTRON_VERSION"
      and m.version("keystone") == "$KEYSTONE_VERSION")
sys.exit(0 if ok else 1)
PYEOF
}

if have; then
    exit 0
fi
if ! "$PY" -c 'import venv, ensurepip' 2>/dev/null; then
    if [[ $(id -u) == 0 ]]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    else
        echo "python3 venv is missing (apt-get install python3-venv)" >&2
        exit 2
    fi
fi
"$PY" -m venv "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check \
    "neutron==$NEUTRON_VERSION" "keystone==$KEYSTONE_VERSION"
"$VENV/bin/python" -c 'import importlib.metadata as m; print("neutron", m.version("neutron"), "keystone", m.version("keystone"))'
