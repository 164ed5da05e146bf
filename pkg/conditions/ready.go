package conditions

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
)

// Summary is a GitTarget's Ready condition computed from its gates.
type Summary struct {
	// Ready is the computed Ready condition.
	Ready metav1.Condition
	// BlockingGate is the first gate in pipeline order that is not True ("" when Ready).
	BlockingGate string
	// Gates are the five gates in pipeline order; a gate not evaluated yet is
	// reported Unknown/NotChecked. Ready is not included.
	Gates []metav1.Condition
}

// SummarizeGitTarget computes Ready from the stored gate conditions, per the seed's
// Ready semantics: True/OK iff all five gates are True, else False with the reason
// the seed maps the first non-True gate to. Ready's ObservedGeneration is the lowest
// of the stored gates' (0 before any gate is written), so `kubectl wait
// --for=condition=Ready` keeps waiting after a spec change until every gate has
// caught up.
//
// Ready's LastTransitionTime is kept from a stored Ready with the same status
// (written by the lifecycle through the same function); otherwise it is the latest
// transition among the gates that decide it, so the result is a pure function of
// stored fields. created is used when no gate has a transition time yet.
func SummarizeGitTarget(conds []metav1.Condition, created metav1.Time) Summary {
	s := Summary{Gates: make([]metav1.Condition, 0, len(v1alpha1.Gates))}
	var (
		minGen   int64 = -1
		latest   metav1.Time
		blocking = -1
	)
	for _, gate := range v1alpha1.Gates {
		c := Find(conds, gate)
		var g metav1.Condition
		if c != nil {
			g = *c
		} else {
			g = metav1.Condition{
				Type:               gate,
				Status:             metav1.ConditionUnknown,
				Reason:             v1alpha1.ReasonNotChecked,
				Message:            gate + " gate has not been evaluated yet",
				LastTransitionTime: created,
			}
		}
		s.Gates = append(s.Gates, g)
		if c != nil && (minGen < 0 || g.ObservedGeneration < minGen) {
			minGen = g.ObservedGeneration
		}
		if blocking < 0 {
			if latest.Before(&g.LastTransitionTime) {
				latest = g.LastTransitionTime
			}
			if g.Status != metav1.ConditionTrue {
				blocking = len(s.Gates) - 1
			}
		}
	}
	ready := metav1.Condition{Type: v1alpha1.ConditionReady, ObservedGeneration: max(minGen, 0)}
	if blocking < 0 {
		ready.Status = metav1.ConditionTrue
		ready.Reason = v1alpha1.ReasonOK
		ready.Message = "All lifecycle gates satisfied"
	} else {
		b := s.Gates[blocking]
		s.BlockingGate = b.Type
		ready.Status = metav1.ConditionFalse
		ready.Reason = v1alpha1.ReadyReasonFor[b.Type]
		ready.Message = blockingMessage(b)
	}
	ready.LastTransitionTime = latest
	if latest.IsZero() {
		ready.LastTransitionTime = created
	}
	if prev := Find(conds, v1alpha1.ConditionReady); prev != nil && prev.Status == ready.Status && !prev.LastTransitionTime.IsZero() {
		ready.LastTransitionTime = prev.LastTransitionTime
	}
	s.Ready = ready
	return s
}

func blockingMessage(g metav1.Condition) string {
	switch {
	case g.Type == v1alpha1.ConditionSnapshotSynced && g.Reason == v1alpha1.ReasonRunning:
		return "SnapshotSynced gate is still running"
	case g.Status == metav1.ConditionFalse:
		return fmt.Sprintf("%s gate failed: %s", g.Type, g.Reason)
	case g.Reason == v1alpha1.ReasonNotChecked:
		return g.Type + " gate has not been evaluated yet"
	default:
		return fmt.Sprintf("%s gate is not yet satisfied: %s", g.Type, g.Reason)
	}
}

// WithReady returns the GitTarget conditions as served: the stored gates in
// pipeline order (other types after them), then the computed Ready. A stored Ready
// is replaced. conds is not modified.
func WithReady(conds []metav1.Condition, created metav1.Time) ([]metav1.Condition, Summary) {
	s := SummarizeGitTarget(conds, created)
	out, _ := Remove(conds, v1alpha1.ConditionReady)
	out = Order(out, v1alpha1.Gates...)
	return append(out, s.Ready), s
}
