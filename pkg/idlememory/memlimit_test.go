package idlememory

import "testing"

func TestMemoryLimit(t *testing.T) {
	tests := []struct {
		name      string
		env       string
		set       bool
		container string
		limit     int64
		apply     bool
	}{
		{name: "the chart's 512Mi: nine tenths", container: "536870912", limit: 536870912 / 10 * 9, apply: true},
		{name: "GOMEMLIMIT unset, no container limit", container: ""},
		{name: "GOMEMLIMIT set: Go has applied it", env: "400MiB", set: true, container: "536870912"},
		{name: "GOMEMLIMIT set but empty: the container's", env: "", set: true, container: "1073741824", limit: 1073741824 / 10 * 9, apply: true},
		{name: "a container limit that is not bytes", container: "512Mi"},
		{name: "zero", container: "0"},
		{name: "negative", container: "-1"},
		{name: "a trailing newline", container: "268435456\n", limit: 268435456 / 10 * 9, apply: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			limit, apply := MemoryLimit(tt.env, tt.set, tt.container)
			if limit != tt.limit || apply != tt.apply {
				t.Errorf("MemoryLimit(%q, %v, %q) = %d, %v; want %d, %v", tt.env, tt.set, tt.container, limit, apply, tt.limit, tt.apply)
			}
		})
	}
}
