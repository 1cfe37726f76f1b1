#!/usr/bin/env bash
# Installs what the live-cloud tests need: a cached venv with the real
# neutron-server 29.0.0 and Keystone 30.0.0 (and keystonemiddleware, a Neutron
# dependency) from PyPI, and the real `openstack` CLI (python-openstackclient
# 10.5.0: its openstacksdk, osc-lib and cliff requirements are met by the
# versions Neutron's install brings, so it adds only itself and
# python-manilaclient) for osc_compare.py. Idempotent and fast on re-run; as root on a fresh
# machine it first installs Debian's openssl and python3-venv when missing.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${VIPWIRE_CLOUD_VENV:-$ROOT/.venv-cloud}"
NEUTRON_VERSION=29.0.0
KEYSTONE_VERSION=30.0.0
OSC_VERSION=10.5.0
PY="${PYTHON:-python3}"

have() {
    [[ -x $VENV/bin/python ]] && "$VENV/bin/python" - <<PYEOF 2>/dev/null
import importlib.metadata as m, sys
try:
    ok = (m.version("neutron") == "$NEUTRON_VERSION"
          and m.version("keystone") == "$KEYSTONE_VERSION"
          and m.version("python-openstackclient") == "$OSC_VERSION")
except m.PackageNotFoundError:
    ok = False
sys.exit(0 if ok else 1)
PYEOF
}

# Debian packages: openssl makes the test CA of the TLS tests; python3-venv
# the venv.
need_pkgs=()
command -v openssl >/dev/null 2>&1 || need_pkgs+=(openssl)
"$PY" -c 'import venv, ensurepip' 2>/dev/null || need_pkgs+=(python3-venv)
if ((${#need_pkgs[@]})); then
    if [[ $(id -u) == 0 ]]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
    else
        echo "missing Debian packages: ${need_pkgs[*]} (apt-get install them as root)" >&2
        exit 2
    fi
fi
if have; then
    exit 0
fi
# An existing venv (Neutron and Keystone already in) only gains the CLI.
[[ -x $VENV/bin/python ]] || "$PY" -m venv "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check \
    "neutron==$NEUTRON_VERSION" "keystone==$KEYSTONE_VERSION" \
    "python-openstackclient==$OSC_VERSION"
"$VENV/bin/python" -c 'import importlib.metadata as m; print(*(f"{p} {m.version(p)}" for p in ("neutron", "keystone", "python-openstackclient")))'
