#!/usr/bin/env bash
# make test-cluster: our images and Helm chart on a real one-node cluster
# (test/cluster, test/node). Needs root; `make test-cluster` first builds the
# node tools (kubelet, kube-scheduler, kube-proxy), installs Debian's
# containerd, runc and CNI plugins (hack/node-packages.sh) and builds the
# images (hack/image.sh). Prints each step as it happens (go test -v); the
# full log is _output/test-cluster.log.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
start=$SECONDS
# -p 1: one package at a time. test/node's cleanup test removes every KUBE-
# and CNI- iptables chain, which would cut the install test's node off.
TEST_LOG=_output/test-cluster.log hack/run-tests.sh -p 1 -tags cluster -v ./test/node/ ./test/cluster/
echo "make test-cluster finished in $((SECONDS - start))s"
