package conditions

import (
	"slices"
	"strings"

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
	var buf [8]metav1.Condition
	ready, gates, blocking := summarize(conds, created, buf[:0])
	s := Summary{Ready: ready, Gates: slices.Clone(gates)}
	if blocking >= 0 {
		s.BlockingGate = gates[blocking].Type
	}
	return s
}

// summarize computes Ready into gates (appended to, for callers that want the
// five gates; buf's array lives on the caller's stack, so a read of a list of
// 1,000 targets does not allocate five conditions per item). It returns the
// index in gates of the blocking gate, -1 when Ready.
func summarize(conds []metav1.Condition, created metav1.Time, gates []metav1.Condition) (metav1.Condition, []metav1.Condition, int) {
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
				Message:            notChecked[gate],
				LastTransitionTime: created,
			}
		}
		gates = append(gates, g)
		if c != nil && (minGen < 0 || g.ObservedGeneration < minGen) {
			minGen = g.ObservedGeneration
		}
		if blocking < 0 {
			if latest.Before(&g.LastTransitionTime) {
				latest = g.LastTransitionTime
			}
			if g.Status != metav1.ConditionTrue {
				blocking = len(gates) - 1
			}
		}
	}
	prev := Find(conds, v1alpha1.ConditionReady)
	ready := metav1.Condition{Type: v1alpha1.ConditionReady, ObservedGeneration: max(minGen, 0)}
	if blocking < 0 {
		ready.Status = metav1.ConditionTrue
		ready.Reason = v1alpha1.ReasonOK
		ready.Message = "All lifecycle gates satisfied"
	} else {
		b := gates[blocking]
		ready.Status = metav1.ConditionFalse
		ready.Reason = v1alpha1.ReadyReasonFor[b.Type]
		var prevMessage string
		if prev != nil {
			prevMessage = prev.Message
		}
		ready.Message = blockingMessage(b, prevMessage)
	}
	ready.LastTransitionTime = latest
	if latest.IsZero() {
		ready.LastTransitionTime = created
	}
	if prev != nil && prev.Status == ready.Status && !prev.LastTransitionTime.IsZero() {
		ready.LastTransitionTime = prev.LastTransitionTime
	}
	return ready, gates, blocking
}

// blockingMessage is Ready's message for the blocking gate g. prev, the stored
// Ready's message, is returned when it is that message already (compared part
// by part), so a read of an unchanged target allocates no string.
func blockingMessage(g metav1.Condition, prev string) string {
	var parts []string
	switch {
	case g.Type == v1alpha1.ConditionSnapshotSynced && g.Reason == v1alpha1.ReasonRunning:
		return "SnapshotSynced gate is still running"
	case g.Status == metav1.ConditionFalse:
		parts = []string{g.Type, " gate failed: ", g.Reason}
	case g.Reason == v1alpha1.ReasonNotChecked:
		return notChecked[g.Type]
	default:
		parts = []string{g.Type, " gate is not yet satisfied: ", g.Reason}
	}
	rest := prev
	for _, p := range parts {
		if !strings.HasPrefix(rest, p) {
			return strings.Join(parts, "")
		}
		rest = rest[len(p):]
	}
	if rest != "" {
		return strings.Join(parts, "")
	}
	return prev
}

// notChecked is each gate's message while it has not been evaluated, built
// once rather than per read.
var notChecked = func() map[string]string {
	m := make(map[string]string, len(v1alpha1.Gates))
	for _, g := range v1alpha1.Gates {
		m[g] = g + " gate has not been evaluated yet"
	}
	return m
}()

// WithReady returns the GitTarget conditions as served and the computed Ready:
// the stored gates in pipeline order (other types after them), then Ready. A
// stored Ready is replaced. conds is not modified.
//
// It runs for every item of every LIST and GET, so it allocates at most twice
// (the served list and Ready's message), and not at all in the common case:
// the lifecycle stores Ready through this same function (the status
// strategy), so the stored list usually is the served one already and is
// returned as it is.
func WithReady(conds []metav1.Condition, created metav1.Time) ([]metav1.Condition, metav1.Condition) {
	var buf [8]metav1.Condition
	ready, _, _ := summarize(conds, created, buf[:0])
	if served(conds, ready) {
		return conds, ready
	}
	out := make([]metav1.Condition, 0, len(conds)+1)
	for _, g := range v1alpha1.Gates {
		for _, c := range conds {
			if c.Type == g {
				out = append(out, c)
			}
		}
	}
	for _, c := range conds {
		if c.Type != v1alpha1.ConditionReady && gateRank(c.Type) == len(v1alpha1.Gates) {
			out = append(out, c)
		}
	}
	return append(out, ready), ready
}

// served reports whether conds is already what WithReady would build: gates in
// pipeline order, then other types, then exactly one Ready, equal to ready.
func served(conds []metav1.Condition, ready metav1.Condition) bool {
	n := len(conds)
	if n == 0 || !same(conds[n-1], ready) {
		return false
	}
	last := -1
	for _, c := range conds[:n-1] {
		r := gateRank(c.Type)
		if c.Type == v1alpha1.ConditionReady || r < last {
			return false
		}
		last = r
	}
	return true
}

// gateRank is a condition type's place in the served order: its gate's index,
// len(Gates) for any other type.
func gateRank(t string) int {
	if i := slices.Index(v1alpha1.Gates, t); i >= 0 {
		return i
	}
	return len(v1alpha1.Gates)
}
