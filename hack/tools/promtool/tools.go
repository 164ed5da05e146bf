//go:build tools

// Package tools pins promtool (hack/tools/install.sh builds it): its own
// module, so Prometheus's dependency graph stays out of the others'.
package tools

import (
	_ "github.com/prometheus/prometheus/cmd/promtool"
)
