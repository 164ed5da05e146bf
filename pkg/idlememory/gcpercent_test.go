package idlememory

import "testing"

func TestGCPercent(t *testing.T) {
	tests := []struct {
		name    string
		env     string
		set     bool
		percent int
		apply   bool
	}{
		{name: "unset: the server's default", percent: DefaultGCPercent, apply: true},
		{name: "set but empty: as unset (Go reads it as its own 100)", env: "", set: true, percent: DefaultGCPercent, apply: true},
		{name: "set: Go has applied it", env: "100", set: true},
		{name: "off: Go has applied it", env: "off", set: true},
		{name: "unparsable: Go's to judge", env: "lots", set: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			percent, apply := GCPercent(tt.env, tt.set)
			if percent != tt.percent || apply != tt.apply {
				t.Errorf("GCPercent(%q, %v) = %d, %v; want %d, %v", tt.env, tt.set, percent, apply, tt.percent, tt.apply)
			}
		})
	}
}
