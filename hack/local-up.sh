#!/usr/bin/env bash
# `make run`: the whole local stack (etcd, kube-apiserver with the aggregation
# layer, gitops-reverser-apiserver behind an APIService, a Git remote served by
# git http-backend) with state in .local/, the example applied. Ctrl-C stops it.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
echo "[stack] building hack/local-up"
go build -o bin/local-up ./hack/local-up
exec bin/local-up "$@"
