// Package conditions is the one place where status conditions are changed and
// summarized (the seed design's "deterministic condition mechanics"). It is pure:
// no I/O, time comes from the caller, inputs are never mutated, so callers can
// use it on objects shared with a watch cache.
//
//   - a condition list behaves as a map keyed by Type: no duplicates, stable order;
//   - LastTransitionTime changes only when Status changes;
//   - Reason and Message are always refreshed; ObservedGeneration is stamped;
//   - reasons must match the metav1.Condition reason pattern;
//   - every write reports whether anything changed, so writers skip no-op writes.
package conditions

import (
	"fmt"
	"regexp"
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// reasonPattern is metav1.Condition's reason validation (see its kubebuilder marker).
var reasonPattern = regexp.MustCompile(`^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$`)

// maxMessageLength is metav1.Condition's message limit.
const maxMessageLength = 32768

// ValidateReason reports whether reason is acceptable for a metav1.Condition.
func ValidateReason(reason string) error {
	if len(reason) > 1024 || !reasonPattern.MatchString(reason) {
		return fmt.Errorf("invalid condition reason %q: must match %s", reason, reasonPattern)
	}
	return nil
}

// Find returns the condition of the given type, or nil.
func Find(conds []metav1.Condition, condType string) *metav1.Condition {
	for i := range conds {
		if conds[i].Type == condType {
			return &conds[i]
		}
	}
	return nil
}

// IsTrue reports whether the condition of the given type exists and is True.
func IsTrue(conds []metav1.Condition, condType string) bool {
	c := Find(conds, condType)
	return c != nil && c.Status == metav1.ConditionTrue
}

// Set upserts c into conds and returns the new list (conds is not modified) and
// whether anything but LastTransitionTime bookkeeping changed. c.LastTransitionTime
// is ignored: it is now for a new condition or a Status change, else kept.
// A condition of a new type is appended, so existing order is stable.
func Set(conds []metav1.Condition, c metav1.Condition, now time.Time) ([]metav1.Condition, bool, error) {
	if c.Type == "" {
		return conds, false, fmt.Errorf("condition type must not be empty")
	}
	if err := ValidateReason(c.Reason); err != nil {
		return conds, false, err
	}
	if len(c.Message) > maxMessageLength {
		c.Message = c.Message[:maxMessageLength]
	}
	switch c.Status {
	case metav1.ConditionTrue, metav1.ConditionFalse, metav1.ConditionUnknown:
	default:
		return conds, false, fmt.Errorf("invalid condition status %q for %s", c.Status, c.Type)
	}
	out := slices.Clone(conds)
	ts := metav1.NewTime(now.UTC().Truncate(time.Second))
	existing := Find(out, c.Type)
	if existing == nil {
		c.LastTransitionTime = ts
		return append(out, c), true, nil
	}
	if existing.Status == c.Status {
		c.LastTransitionTime = existing.LastTransitionTime
	} else {
		c.LastTransitionTime = ts
	}
	changed := existing.Status != c.Status || existing.Reason != c.Reason ||
		existing.Message != c.Message || existing.ObservedGeneration != c.ObservedGeneration
	*existing = c
	return out, changed, nil
}

// Remove returns conds without the condition of the given type, and whether it was there.
func Remove(conds []metav1.Condition, condType string) ([]metav1.Condition, bool) {
	i := slices.IndexFunc(conds, func(c metav1.Condition) bool { return c.Type == condType })
	if i < 0 {
		return conds, false
	}
	return slices.Delete(slices.Clone(conds), i, i+1), true
}

// Order returns a copy of conds with the given types first, in that order, and any
// other types after them in their existing order.
func Order(conds []metav1.Condition, types ...string) []metav1.Condition {
	rank := func(t string) int {
		if i := slices.Index(types, t); i >= 0 {
			return i
		}
		return len(types)
	}
	out := slices.Clone(conds)
	slices.SortStableFunc(out, func(a, b metav1.Condition) int { return rank(a.Type) - rank(b.Type) })
	return out
}

// Equal reports whether two lists hold the same conditions in the same order,
// including transition times.
func Equal(a, b []metav1.Condition) bool {
	return slices.EqualFunc(a, b, same)
}

// same reports whether two conditions are equal, transition time included.
func same(x, y metav1.Condition) bool {
	return x.Type == y.Type && x.Status == y.Status && x.Reason == y.Reason &&
		x.Message == y.Message && x.ObservedGeneration == y.ObservedGeneration &&
		x.LastTransitionTime.Equal(&y.LastTransitionTime)
}
