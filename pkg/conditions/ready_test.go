package conditions

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
)

type seedExample struct {
	Status v1alpha1.GitTargetStatus `json:"status"`
}

// TestReadyReproducesSeedExamples: for each of the seed design's five status
// examples, Ready computed from the gates alone equals the seed's Ready field for
// field, and the served order is the seed's.
func TestReadyReproducesSeedExamples(t *testing.T) {
	files, _ := filepath.Glob("testdata/seed-example-*.yaml")
	if len(files) != 5 {
		t.Fatalf("found %d seed examples, want 5", len(files))
	}
	created := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var ex seedExample
			if err := yaml.UnmarshalStrict(raw, &ex); err != nil {
				t.Fatal(err)
			}
			want := Find(ex.Status.Conditions, v1alpha1.ConditionReady)
			gates, _ := Remove(ex.Status.Conditions, v1alpha1.ConditionReady)

			served, ready := WithReady(gates, created)
			if diff := cmp.Diff(*want, ready); diff != "" {
				t.Errorf("Ready differs from the seed (-seed +computed):\n%s", diff)
			}
			if diff := cmp.Diff(ex.Status.Conditions, served); diff != "" {
				t.Errorf("served conditions differ from the seed (-seed +served):\n%s", diff)
			}
			if ready.ObservedGeneration != ex.Status.ObservedGeneration {
				t.Errorf("Ready observedGeneration %d, seed top-level %d", ready.ObservedGeneration, ex.Status.ObservedGeneration)
			}
			// With the seed's stored Ready present, the result is the same.
			_, ready2 := WithReady(ex.Status.Conditions, created)
			if diff := cmp.Diff(*want, ready2); diff != "" {
				t.Errorf("with stored Ready (-seed +computed):\n%s", diff)
			}
		})
	}
}

func gate(typ string, status metav1.ConditionStatus, reason string, gen int64, at time.Time) metav1.Condition {
	return metav1.Condition{Type: typ, Status: status, Reason: reason, ObservedGeneration: gen, LastTransitionTime: metav1.NewTime(at)}
}

func allTrue(gen int64) []metav1.Condition {
	var out []metav1.Condition
	for i, g := range v1alpha1.Gates {
		out = append(out, gate(g, metav1.ConditionTrue, "OK", gen, t0.Add(time.Duration(i)*time.Second)))
	}
	return out
}

// TestReadyBlockPoints: every gate, when it is the first not True, gives the Ready
// reason of the seed's table.
func TestReadyBlockPoints(t *testing.T) {
	for i, g := range v1alpha1.Gates {
		for _, st := range []metav1.ConditionStatus{metav1.ConditionFalse, metav1.ConditionUnknown} {
			conds := allTrue(2)
			conds[i].Status, conds[i].Reason = st, "Something"
			s := SummarizeGitTarget(conds, metav1.NewTime(t0))
			if s.Ready.Status != metav1.ConditionFalse || s.Ready.Reason != v1alpha1.ReadyReasonFor[g] || s.BlockingGate != g {
				t.Errorf("gate %s=%s: Ready=%s/%s blocking=%s", g, st, s.Ready.Status, s.Ready.Reason, s.BlockingGate)
			}
		}
	}
	s := SummarizeGitTarget(allTrue(2), metav1.NewTime(t0))
	if s.Ready.Status != metav1.ConditionTrue || s.Ready.Reason != v1alpha1.ReasonOK || s.BlockingGate != "" {
		t.Errorf("all True: %+v", s.Ready)
	}
	if want := metav1.NewTime(t0.Add(4 * time.Second)); !s.Ready.LastTransitionTime.Equal(&want) {
		t.Errorf("Ready LTT %v, want the latest gate transition %v", s.Ready.LastTransitionTime, want)
	}
	// A later gate's failure does not hide an earlier one's.
	conds := allTrue(2)
	conds[1].Status, conds[3].Status = metav1.ConditionFalse, metav1.ConditionFalse
	if s := SummarizeGitTarget(conds, metav1.NewTime(t0)); s.BlockingGate != v1alpha1.ConditionEncryptionConfigured {
		t.Errorf("blocking = %s, want the first failing gate", s.BlockingGate)
	}
}

func TestReadyObservedGenerationIsLowestGate(t *testing.T) {
	conds := allTrue(5)
	conds[2].ObservedGeneration = 4
	if s := SummarizeGitTarget(conds, metav1.NewTime(t0)); s.Ready.ObservedGeneration != 4 {
		t.Fatalf("Ready observedGeneration %d, want 4", s.Ready.ObservedGeneration)
	}
	s := SummarizeGitTarget(nil, metav1.NewTime(t0))
	if s.Ready.ObservedGeneration != 0 || s.Ready.Status != metav1.ConditionFalse ||
		s.Ready.Reason != v1alpha1.ReasonValidationFailed || len(s.Gates) != 5 || s.Gates[0].Reason != v1alpha1.ReasonNotChecked {
		t.Fatalf("no gates: %+v", s)
	}
	if !s.Ready.LastTransitionTime.Equal(&metav1.Time{Time: t0}) {
		t.Fatalf("no gates: LTT %v, want creation time", s.Ready.LastTransitionTime)
	}
}

func TestReadyKeepsStoredTransitionTimeWhileStatusHolds(t *testing.T) {
	conds := allTrue(1)
	conds[0] = gate(v1alpha1.ConditionValidated, metav1.ConditionFalse, "ProviderNotFound", 1, t1)
	stored := gate(v1alpha1.ConditionReady, metav1.ConditionFalse, "ValidationFailed", 1, t0)
	s := SummarizeGitTarget(append(conds, stored), metav1.NewTime(t0))
	if !s.Ready.LastTransitionTime.Time.Equal(t0) {
		t.Fatalf("LTT %v, want the stored Ready's %v", s.Ready.LastTransitionTime, t0)
	}
	stored.Status = metav1.ConditionTrue
	s = SummarizeGitTarget(append(conds, stored), metav1.NewTime(t0))
	if !s.Ready.LastTransitionTime.Time.Equal(t1) {
		t.Fatalf("LTT %v, want the blocking gate's %v after a status change", s.Ready.LastTransitionTime, t1)
	}
}

// A client-sent Ready=True is never believed: Ready is recomputed from the gates.
func TestReadyIgnoresStoredReadyValue(t *testing.T) {
	conds := []metav1.Condition{gate(v1alpha1.ConditionReady, metav1.ConditionTrue, "OK", 9, t0)}
	served, ready := WithReady(conds, metav1.NewTime(t0))
	if ready.Status != metav1.ConditionFalse || len(served) != 1 || served[0].Status != metav1.ConditionFalse {
		t.Fatalf("served %+v", served)
	}
}

// TestWithReadyEqualsRemoveOrderAppend: the one-pass WithReady serves what the
// plain definition does (drop any stored Ready, order the gates, append the
// computed Ready) for lists in every order, with other types, duplicates and
// stored Readys; it allocates nothing when the stored list is the served one.
func TestWithReadyEqualsRemoveOrderAppend(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	types := append(append([]string{}, v1alpha1.Gates...), v1alpha1.ConditionReady, "Other", "Another")
	statuses := []metav1.ConditionStatus{metav1.ConditionTrue, metav1.ConditionFalse, metav1.ConditionUnknown}
	created := metav1.NewTime(t0)
	for i := range 5000 {
		var conds []metav1.Condition
		for range rng.IntN(9) {
			conds = append(conds, gate(types[rng.IntN(len(types))], statuses[rng.IntN(3)], "R", int64(rng.IntN(3)), t0.Add(time.Duration(rng.IntN(5))*time.Second)))
		}
		if i%3 == 0 { // a list as the lifecycle stores it
			conds, _ = WithReady(conds, created)
		}
		before := slices.Clone(conds)
		want := SummarizeGitTarget(conds, created).Ready
		ref := conds
		for {
			var removed bool
			if ref, removed = Remove(ref, v1alpha1.ConditionReady); !removed {
				break
			}
		}
		ref = append(Order(ref, v1alpha1.Gates...), want)

		got, ready := WithReady(conds, created)
		if diff := cmp.Diff(ref, got); diff != "" {
			t.Fatalf("case %d %+v: served (-want +got):\n%s", i, conds, diff)
		}
		if diff := cmp.Diff(want, ready); diff != "" {
			t.Fatalf("case %d: Ready (-want +got):\n%s", i, diff)
		}
		if !Equal(conds, before) {
			t.Fatalf("case %d: WithReady modified its input", i)
		}
		allocs := testing.AllocsPerRun(10, func() { WithReady(conds, created) })
		if Equal(conds, ref) && allocs != 0 {
			t.Fatalf("case %d: %v allocations for a list served as stored", i, allocs)
		}
		if allocs > 2 { // the served list and Ready's message
			t.Fatalf("case %d: %v allocations, want at most 2", i, allocs)
		}
	}
}
