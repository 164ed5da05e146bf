package ownership

import (
	"testing"
	"time"
)

// TestMayTake: the preferred owner takes a free branch at once; any other
// replica only after it has seen the branch free for freeWait.
func TestMayTake(t *testing.T) {
	for _, tc := range []struct {
		name      string
		preferred bool
		seen      bool
		free      time.Duration // how long ago the branch was first seen free
		want      bool
	}{
		{"preferred, never seen free", true, false, 0, true},
		{"preferred, just seen free", true, true, 0, true},
		{"not preferred, never seen free", false, false, time.Hour, false},
		{"not preferred, free for a moment", false, true, freeWait - time.Nanosecond, false},
		{"not preferred, free for freeWait", false, true, freeWait, true},
		{"not preferred, free for long", false, true, time.Hour, true},
	} {
		if got := mayTake(tc.preferred, tc.seen, t0.Add(-tc.free), t0); got != tc.want {
			t.Errorf("%s: mayTake = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestObserveFreeWait: the wait for a branch starts when it is first seen
// free, goes on while it stays free, and starts over once it is seen held.
func TestObserveFreeWait(t *testing.T) {
	b := newBranchLocks(nil, "r1", nil)
	since := func() (time.Time, bool) { s, ok := b.freeSince["k"]; return s, ok }

	b.observe("k", true, false, t0)
	if _, ok := since(); ok {
		t.Fatal("a held branch started a wait")
	}
	b.observe("k", false, false, t0.Add(time.Second))
	if s, ok := since(); !ok || !s.Equal(t0.Add(time.Second)) {
		t.Fatalf("first seen free: wait since %v, %v", s, ok)
	}
	b.observe("k", false, true, t0.Add(3*time.Second))
	if s, _ := since(); !s.Equal(t0.Add(time.Second)) {
		t.Errorf("seen free again: the wait restarted at %v", s)
	}
	b.observe("k", true, true, t0.Add(4*time.Second))
	if _, ok := since(); ok {
		t.Error("seen held: the wait did not stop")
	}
}

// TestRecordOnlyLiveTerms: a lock taken in a term that ended meanwhile is not
// kept; a kept one stops counting when its term ends, and clear forgets it.
func TestRecordOnlyLiveTerms(t *testing.T) {
	b := newBranchLocks(nil, "r1", nil)
	b.freeSince["a"], b.freeSince["b"] = t0, t0
	if b.record("a", heldLock{term: endedTerm()}) || b.owns("a") || b.count() != 0 {
		t.Error("a lock of an ended term was kept")
	}
	if _, ok := b.freeSince["a"]; !ok {
		t.Error("a refused lock ended the free wait")
	}
	live := liveTerm(1)
	if !b.record("b", heldLock{term: live}) || !b.owns("b") || b.count() != 1 {
		t.Fatal("a lock of a live term was not kept")
	}
	if _, ok := b.freeSince["b"]; ok {
		t.Error("a taken branch still waits")
	}
	live.cancel()
	if b.owns("b") || b.count() != 0 {
		t.Error("a lock outlived its term")
	}
	b.clear()
	if len(b.locks) != 0 {
		t.Errorf("clear left %d locks", len(b.locks))
	}
}
