#!/usr/bin/env bash
# Runs go test over the given packages, keeps the full log under _output/, and
# ends with a summary: every package result and every failed test. Exits non-zero
# when anything failed.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
mkdir -p _output
log=${TEST_LOG:-_output/test.log}
timeout=${TEST_TIMEOUT:-60m}

go test -count=1 -timeout "$timeout" "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

summary() {
  echo
  echo "==================== test summary ===================="
  grep -E '^(ok|FAIL|---)\s|^\?\s' "$log" | grep -v '^?' || true
  passed=$(grep -cE '^ok\s' "$log" || true)
  failed=$(grep -cE '^FAIL\s' "$log" || true)
  failed_tests=$(grep -cE '^\s*--- FAIL' "$log" || true)
  echo "packages passed: $passed, packages failed: $failed, failed tests: $failed_tests"
  if [ "$status" -ne 0 ]; then
    echo "RESULT: FAIL (go test exit status $status; full log: $log)"
  else
    echo "RESULT: PASS"
  fi
}
# Printed, and kept at the end of the log (.ci/run repeats it from there).
summary >"$log.summary"
cat "$log.summary"
cat "$log.summary" >>"$log"
rm -f "$log.summary"
exit "$status"
