#!/usr/bin/env bash
# Installs what the lab and the end-to-end tests need on a fresh Debian
# machine: the routers (FRR, BIRD), keepalived (the failover reference),
# iproute2 and friends. Idempotent and quiet when everything is present.
set -euo pipefail
need=()
command -v ip >/dev/null || need+=(iproute2)
[ -x /usr/lib/frr/bgpd ] || need+=(frr)
command -v bird >/dev/null || need+=(bird2)
command -v keepalived >/dev/null || need+=(keepalived)
command -v nft >/dev/null || need+=(nftables)
command -v openssl >/dev/null || need+=(openssl)
command -v ping >/dev/null || need+=(iputils-ping)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "install-deps: missing ${need[*]} and not root: end-to-end tests will skip" >&2
    exit 0
  fi
  echo "install-deps: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# Debian's packages start the daemons; the lab runs its own instances.
for svc in frr bird keepalived; do
  systemctl disable --now "$svc" >/dev/null 2>&1 || true
done
