package idlememory

import (
	"testing"
	"time"
)

const mib = 1 << 20

func TestPolicyStep(t *testing.T) {
	p := Policy{Every: 10 * time.Second, QuietRate: mib, MinRelease: 16 * mib}
	prev := Sample{Allocated: 1000 * mib, Retained: 120 * mib, Live: 60 * mib}
	tests := []struct {
		name       string
		cur        Sample
		elapsed    time.Duration
		armed      bool
		release    bool
		armedAfter bool
	}{
		{"quiet after a burst", Sample{Allocated: 1002 * mib, Retained: 120 * mib, Live: 60 * mib}, 10 * time.Second, true, true, false},
		{"quiet, no burst since the last release", Sample{Allocated: 1002 * mib, Retained: 120 * mib, Live: 60 * mib}, 10 * time.Second, false, false, false},
		{"busy: 1 MiB/s is a burst, which arms", Sample{Allocated: 1010 * mib, Retained: 120 * mib, Live: 60 * mib}, 10 * time.Second, false, false, true},
		{"busy over a short window", Sample{Allocated: 1002 * mib, Retained: 120 * mib, Live: 60 * mib}, time.Second, true, false, true},
		{"quiet, little to give back: stays armed", Sample{Allocated: 1000 * mib, Retained: 75 * mib, Live: 60 * mib}, 10 * time.Second, true, false, true},
		{"quiet, exactly MinRelease", Sample{Allocated: 1000 * mib, Retained: 76 * mib, Live: 60 * mib}, 10 * time.Second, true, true, false},
		{"retained under live (live counted before a sweep)", Sample{Allocated: 1000 * mib, Retained: 50 * mib, Live: 60 * mib}, 10 * time.Second, true, false, true},
		{"no time passed", Sample{Allocated: 1000 * mib, Retained: 120 * mib, Live: 60 * mib}, 0, true, false, true},
		{"counter went back (never from the runtime)", Sample{Allocated: 10 * mib, Retained: 120 * mib, Live: 60 * mib}, 10 * time.Second, true, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			release, armed := p.Step(prev, tt.cur, tt.elapsed, tt.armed)
			if release != tt.release || armed != tt.armedAfter {
				t.Errorf("Step(%+v, %+v, %s, armed %v) = release %v, armed %v; want %v, %v",
					prev, tt.cur, tt.elapsed, tt.armed, release, armed, tt.release, tt.armedAfter)
			}
		})
	}
}
