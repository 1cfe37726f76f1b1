#!/usr/bin/env bash
# Installs what the kernel differential harness needs: iptables, ipset, iproute2,
# conntrack (to flush state between scenarios), nftables (a bridge-family
# drop on br-int) and tcpdump for debugging.
# Idempotent: does nothing when every tool is present.
set -euo pipefail

need=()
command -v iptables-restore >/dev/null 2>&1 || need+=(iptables)
command -v ipset >/dev/null 2>&1 || need+=(ipset)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v bridge >/dev/null 2>&1 || need+=(iproute2)
command -v conntrack >/dev/null 2>&1 || need+=(conntrack)
command -v tcpdump >/dev/null 2>&1 || need+=(tcpdump)
command -v nft >/dev/null 2>&1 || need+=(nftables)
command -v python3 >/dev/null 2>&1 || need+=(python3)
if ((${#need[@]} == 0)); then
    exit 0
fi
"$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/scripts/setup-deps" "${need[@]}"
