//go:build tools

// Package tools pins the sops CLI built by hack/tools/install.sh.
package tools

import _ "github.com/getsops/sops/v3/cmd/sops"
