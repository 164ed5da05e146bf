#!/usr/bin/env bash
# `make bench`: measures gitops-reverser against its baselines in one run on this
# machine and prints a table (figure, ours, baseline, ratio, target). Results (JSON)
# and CPU profiles of our server go to the git-ignored .bench/.
# Extra flags go to hack/bench (e.g. BENCH_FLAGS="-phases=api -targets=200").
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
mkdir -p .bench
go build -o .bench/bench ./hack/bench
# shellcheck disable=SC2086
exec .bench/bench -out .bench ${BENCH_FLAGS:-}
