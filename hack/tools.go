//go:build tools

// Package hack keeps k8s.io/code-generator in go.mod: hack/update-codegen.sh
// sources kube_codegen.sh from the version pinned here.
package hack

import _ "k8s.io/code-generator"
