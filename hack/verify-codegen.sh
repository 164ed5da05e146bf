#!/usr/bin/env bash
# Fails when generated code is stale: regenerates into a copy of the tree and diffs.
set -o errexit -o nounset -o pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# Copy the sources (not bin/ or git metadata) so regeneration cannot touch the tree.
tar -C "$ROOT" --exclude=./bin --exclude=./.git --exclude=./_output --exclude=./.bench -cf - . | tar -C "$TMP" -xf -
mkdir -p "$TMP/bin" && [ -d "$ROOT/bin/codegen" ] && cp -r "$ROOT/bin/codegen" "$TMP/bin/" || true
(cd "$TMP" && hack/update-codegen.sh >/dev/null)

status=0
for d in pkg/generated pkg/apis; do
  if ! diff -Naupr "$ROOT/$d" "$TMP/$d"; then
    status=1
  fi
done
if [ $status -ne 0 ]; then
  echo "Generated code is out of date. Run hack/update-codegen.sh." >&2
  exit 1
fi
echo "Generated code is up to date."
