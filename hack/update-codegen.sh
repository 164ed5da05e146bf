#!/usr/bin/env bash
# Regenerates everything under pkg/generated and the zz_generated.* files with
# k8s.io/code-generator (the version pinned in go.mod). Never edit generated files.
set -o errexit -o nounset -o pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# On a fresh module cache the module is known from go.mod but not downloaded yet.
go mod download k8s.io/code-generator
CODEGEN_PKG=${CODEGEN_PKG:-$(go list -m -f '{{.Dir}}' k8s.io/code-generator)}
THIS_PKG=github.com/configbutler/gitops-reverser
BOILERPLATE="$ROOT/hack/boilerplate.go.txt"
# The generators are installed into the repo's bin/, not the user's GOPATH.
export GOBIN="$ROOT/bin/codegen"
mkdir -p "$GOBIN"

# shellcheck source=/dev/null
source "${CODEGEN_PKG}/kube_codegen.sh"

kube::codegen::gen_helpers --boilerplate "$BOILERPLATE" "$ROOT/pkg/apis"

kube::codegen::gen_openapi \
  --output-dir "$ROOT/pkg/generated/openapi" \
  --output-pkg "$THIS_PKG/pkg/generated/openapi" \
  --output-model-name-file zz_generated.model_name.go \
  --report-filename "$ROOT/hack/api-violations.list" \
  --update-report \
  --boilerplate "$BOILERPLATE" \
  "$ROOT/pkg/apis"

kube::codegen::gen_client \
  --with-watch \
  --with-applyconfig \
  --applyconfig-openapi-schema <(go run "$THIS_PKG/pkg/generated/openapi/cmd/models-schema") \
  --output-dir "$ROOT/pkg/generated" \
  --output-pkg "$THIS_PKG/pkg/generated" \
  --boilerplate "$BOILERPLATE" \
  "$ROOT/pkg/apis"
