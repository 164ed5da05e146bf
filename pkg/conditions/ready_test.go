package conditions

import (
	"os"
	"path/filepath"
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

			served, s := WithReady(gates, created)
			if diff := cmp.Diff(*want, s.Ready); diff != "" {
				t.Errorf("Ready differs from the seed (-seed +computed):\n%s", diff)
			}
			if diff := cmp.Diff(ex.Status.Conditions, served); diff != "" {
				t.Errorf("served conditions differ from the seed (-seed +served):\n%s", diff)
			}
			if s.Ready.ObservedGeneration != ex.Status.ObservedGeneration {
				t.Errorf("Ready observedGeneration %d, seed top-level %d", s.Ready.ObservedGeneration, ex.Status.ObservedGeneration)
			}
			// With the seed's stored Ready present, the result is the same.
			_, s2 := WithReady(ex.Status.Conditions, created)
			if diff := cmp.Diff(*want, s2.Ready); diff != "" {
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
	served, s := WithReady(conds, metav1.NewTime(t0))
	if s.Ready.Status != metav1.ConditionFalse || len(served) != 1 || served[0].Status != metav1.ConditionFalse {
		t.Fatalf("served %+v", served)
	}
}
