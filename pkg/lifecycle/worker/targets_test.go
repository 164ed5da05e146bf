package worker

import (
	"testing"

	"github.com/configbutler/gitops-reverser/pkg/lifecycle/mirror"
)

// TestTargetCeilings: a snapshot request sets a target's ceiling to its
// selection and supersedes older requests; Restrict narrows the ceiling and
// never widens it; a snapshot planned before a narrowing finds it narrowed;
// a target without a ceiling is not bounded.
func TestTargetCeilings(t *testing.T) {
	s := newTargetSet()
	s.add("a/t")
	free := &mirror.Target{Key: "a/t", Selection: cmsIn("a", "b")}
	if s.bound(free) != free || s.narrowed(free) || !s.allows(liveChange("a/t", "z", "1")) {
		t.Fatal("a target without a ceiling is bounded")
	}
	s.requestSnapshot(&mirror.Target{Key: "a/t", Selection: cmsIn("a", "b")}, "fp1")
	s.requestSnapshot(&mirror.Target{Key: "a/t", Selection: cmsIn("a", "b")}, "fp2")
	if s.snapshotCurrent("a/t", "fp1") || !s.snapshotCurrent("a/t", "fp2") || s.snapshotCurrent("x/t", "fp2") {
		t.Error("an older snapshot request is still current, or the latest is not, or an unserved target's is")
	}
	planned := s.bound(&mirror.Target{Key: "a/t", Selection: cmsIn("a", "b", "c")})
	if planned.Selection.Fingerprint() != cmsIn("a", "b").Fingerprint() || s.narrowed(planned) {
		t.Errorf("bounded to %v", planned.Selection)
	}
	s.narrow("a/t", cmsIn("a"))
	if !s.narrowed(planned) {
		t.Error("a plan of the wider ceiling is not found narrowed")
	}
	s.narrow("a/t", cmsIn("a", "b"))
	for ns, want := range map[string]bool{"a": true, "b": false, "c": false} {
		if got := s.allows(liveChange("a/t", ns, "1")); got != want {
			t.Errorf("allows a change in %s: %v, want %v", ns, got, want)
		}
	}
	s.requestSnapshot(&mirror.Target{Key: "a/t", Selection: cmsIn("b")}, "fp3")
	if !s.allows(liveChange("a/t", "b", "1")) || s.allows(liveChange("a/t", "a", "1")) {
		t.Error("a new snapshot request does not set the ceiling to its selection")
	}
	if served, empty := s.remove("a/t"); !served || !empty || s.snapshotCurrent("a/t", "fp3") || len(s.keys()) != 0 {
		t.Errorf("remove: served %v, empty %v", served, empty)
	}
}
