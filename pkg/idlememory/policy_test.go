package idlememory

import (
	"testing"
	"time"
)

const mib = 1 << 20

func TestPolicyRelease(t *testing.T) {
	p := Policy{Every: 10 * time.Second, QuietRate: mib, MinRelease: 16 * mib}
	prev := Sample{Allocated: 1000 * mib, Retained: 120 * mib, Live: 60 * mib}
	tests := []struct {
		name    string
		cur     Sample
		elapsed time.Duration
		floor   uint64
		want    bool
	}{
		{"quiet after a burst", Sample{Allocated: 1002 * mib, Retained: 120 * mib, Live: 60 * mib}, 10 * time.Second, 0, true},
		{"busy: 1 MiB/s is not quiet", Sample{Allocated: 1010 * mib, Retained: 120 * mib, Live: 60 * mib}, 10 * time.Second, 0, false},
		{"busy over a short window", Sample{Allocated: 1002 * mib, Retained: 120 * mib, Live: 60 * mib}, time.Second, 0, false},
		{"quiet, little to give back", Sample{Allocated: 1000 * mib, Retained: 75 * mib, Live: 60 * mib}, 10 * time.Second, 0, false},
		{"quiet, exactly MinRelease", Sample{Allocated: 1000 * mib, Retained: 76 * mib, Live: 60 * mib}, 10 * time.Second, 0, true},
		{"retained under live (live counted before a sweep)", Sample{Allocated: 1000 * mib, Retained: 50 * mib, Live: 60 * mib}, 10 * time.Second, 0, false},
		{"what stayed after the last release is not released again", Sample{Allocated: 1000 * mib, Retained: 90 * mib, Live: 60 * mib}, 10 * time.Second, 85 * mib, false},
		{"grown well past the last release's floor", Sample{Allocated: 1000 * mib, Retained: 110 * mib, Live: 60 * mib}, 10 * time.Second, 85 * mib, true},
		{"no time passed", Sample{Allocated: 1000 * mib, Retained: 120 * mib, Live: 60 * mib}, 0, 0, false},
		{"counter went back (never from the runtime)", Sample{Allocated: 10 * mib, Retained: 120 * mib, Live: 60 * mib}, 10 * time.Second, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := p.Release(prev, tt.cur, tt.elapsed, tt.floor); got != tt.want {
				t.Errorf("Release(%+v, %+v, %s, floor %d) = %v, want %v", prev, tt.cur, tt.elapsed, tt.floor, got, tt.want)
			}
		})
	}
}
