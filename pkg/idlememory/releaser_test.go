package idlememory

import (
	"math"
	"runtime"
	"runtime/debug"
	"slices"
	"testing"
	"time"
)

// fakeClock steps 10 s a reading.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { c.t = c.t.Add(10 * time.Second); return c.t }

// TestReleaserTicks: no release on the first sample; one when quiet after
// start-up with memory to give; none while quiet again (a server allocating
// a little collects on its own); a burst arms the next one.
func TestReleaserTicks(t *testing.T) {
	samples := []Sample{
		{Allocated: 100 * mib, Retained: 120 * mib, Live: 60 * mib}, // first: nothing to compare with
		{Allocated: 101 * mib, Retained: 120 * mib, Live: 60 * mib}, // quiet after start-up: release
		{Allocated: 101 * mib, Retained: 70 * mib, Live: 60 * mib},  // read after the release
		{Allocated: 109 * mib, Retained: 95 * mib, Live: 60 * mib},  // quiet, garbage piling up: no release
		{Allocated: 400 * mib, Retained: 150 * mib, Live: 60 * mib}, // burst
		{Allocated: 401 * mib, Retained: 150 * mib, Live: 60 * mib}, // quiet again: release
		{Allocated: 401 * mib, Retained: 66 * mib, Live: 60 * mib},  // after it
	}
	i, released := 0, 0
	clock := &fakeClock{}
	r := &Releaser{policy: Default, now: clock.now, release: func() { released++ }, armed: true,
		read: func() Sample { s := samples[i]; i++; return s }}
	var got []bool
	for i < len(samples) {
		got = append(got, r.tick())
	}
	want := []bool{false, true, false, false, true}
	if !slices.Equal(got, want) {
		t.Fatalf("ticks %v, want %v", got, want)
	}
	if released != 2 {
		t.Errorf("released %d times, want 2", released)
	}
}

var sink [][]byte

// TestReleaserGivesMemoryBack: this process's heap, after 64 MiB were
// allocated and dropped, is given back by a quiet tick. The collector and
// the scavenger are off for the test, so only the release can do it.
func TestReleaserGivesMemoryBack(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(math.MaxInt64))
	for range 64 {
		sink = append(sink, make([]byte, mib))
	}
	sink = nil
	runtime.GC() // the 64 MiB are garbage now, still held

	clock := &fakeClock{}
	r := &Releaser{policy: Default, read: readRuntime, release: debug.FreeOSMemory, now: clock.now, armed: true}
	r.tick()
	before := readRuntime()
	if before.Retained-before.Live < 48*mib {
		t.Fatalf("set-up: retained %d MiB, live %d MiB: the dropped 64 MiB are not held", before.Retained/mib, before.Live/mib)
	}
	if !r.tick() {
		t.Fatalf("a quiet tick holding %d MiB over live did not release", (before.Retained-before.Live)/mib)
	}
	after := readRuntime()
	if after.Retained > before.Retained-48*mib {
		t.Errorf("retained %d MiB before the release, %d MiB after: want at least 48 MiB given back", before.Retained/mib, after.Retained/mib)
	}
}
