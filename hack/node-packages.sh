#!/usr/bin/env bash
# Installs what the one-node cluster of `make test-cluster` takes from Debian:
# containerd and runc (the container runtime), containernetworking-plugins (the
# bridge CNI), iptables and conntrack (kube-proxy). Needs root and apt; does
# nothing when all are present.
set -euo pipefail
need=()
command -v containerd >/dev/null || need+=(containerd)
command -v runc >/dev/null || need+=(runc)
[[ -x /usr/lib/cni/bridge ]] || need+=(containernetworking-plugins)
command -v iptables >/dev/null || need+=(iptables)
command -v conntrack >/dev/null || need+=(conntrack)
if [[ ${#need[@]} -eq 0 ]]; then
  echo "[node-packages] containerd, runc, CNI plugins, iptables: present"
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "[node-packages] need root to install: ${need[*]}" >&2
  exit 1
fi
echo "[node-packages] installing ${need[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
