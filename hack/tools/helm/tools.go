//go:build tools

// Package tools pins the helm CLI built by hack/tools/install.sh.
package tools

import _ "helm.sh/helm/v3/cmd/helm"
