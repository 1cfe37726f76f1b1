#!/usr/bin/env bash
# Installs what the real-OVN conformance harness needs: Debian ovn-central
# (ovsdb-server schemas, ovn-northd), ovn-host (ovn-controller),
# openvswitch-switch (ovs-vswitchd, ovsdb-tool), iproute2 and ethtool (the
# chassis' namespaces), plus the neutron==29.0.0 venv of conformance/setup.sh
# (ovsdbapp, which the ML2/OVN driver needs, comes with neutron).
# Services are blocked while installing (scripts/setup-deps, policy-rc.d 101);
# realovn.py starts its own daemons on private unix sockets.
# Idempotent: a no-op once everything is there. Needs root to install.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

need=()
for pkg in ovn-central ovn-host openvswitch-switch iproute2 ethtool python3; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if ((${#need[@]})); then
    # setup-deps runs apt-get update before installing.
    "$ROOT/scripts/setup-deps" "${need[@]}"
fi
for tool in ovsdb-server ovsdb-tool ovn-northd ovn-nbctl ovn-sbctl ovs-vswitchd ovn-controller; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "ovn setup: $tool missing after install" >&2
        exit 2
    fi
done
bash "$ROOT/conformance/setup.sh"
