package conditions

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var (
	t0 = time.Date(2026, 2, 19, 10, 10, 11, 0, time.UTC)
	t1 = t0.Add(time.Minute)
)

func cond(typ string, status metav1.ConditionStatus, reason, msg string, gen int64) metav1.Condition {
	return metav1.Condition{Type: typ, Status: status, Reason: reason, Message: msg, ObservedGeneration: gen}
}

func TestSetInsertsAndStampsTransitionTime(t *testing.T) {
	out, changed, err := Set(nil, cond("Validated", metav1.ConditionTrue, "OK", "fine", 3), t0)
	if err != nil || !changed {
		t.Fatalf("Set = changed %v, err %v; want changed, no error", changed, err)
	}
	if len(out) != 1 || !out[0].LastTransitionTime.Time.Equal(t0) || out[0].ObservedGeneration != 3 {
		t.Fatalf("unexpected result %+v", out)
	}
}

func TestSetKeepsTransitionTimeWhenOnlyReasonChanges(t *testing.T) {
	in, _, _ := Set(nil, cond("A", metav1.ConditionFalse, "One", "m1", 1), t0)
	out, changed, err := Set(in, cond("A", metav1.ConditionFalse, "Two", "m2", 2), t1)
	if err != nil || !changed {
		t.Fatalf("changed=%v err=%v", changed, err)
	}
	got := out[0]
	if !got.LastTransitionTime.Time.Equal(t0) {
		t.Errorf("LastTransitionTime = %v, want kept %v", got.LastTransitionTime, t0)
	}
	if got.Reason != "Two" || got.Message != "m2" || got.ObservedGeneration != 2 {
		t.Errorf("reason/message/generation not refreshed: %+v", got)
	}
	if in[0].Reason != "One" {
		t.Errorf("input was mutated: %+v", in[0])
	}
}

func TestSetMovesTransitionTimeOnStatusChange(t *testing.T) {
	in, _, _ := Set(nil, cond("A", metav1.ConditionFalse, "One", "m", 1), t0)
	out, changed, _ := Set(in, cond("A", metav1.ConditionTrue, "OK", "m", 1), t1)
	if !changed || !out[0].LastTransitionTime.Time.Equal(t1) {
		t.Fatalf("changed=%v ltt=%v; want changed and %v", changed, out[0].LastTransitionTime, t1)
	}
}

func TestSetNoOpIsNotAChange(t *testing.T) {
	in, _, _ := Set(nil, cond("A", metav1.ConditionTrue, "OK", "m", 4), t0)
	out, changed, err := Set(in, cond("A", metav1.ConditionTrue, "OK", "m", 4), t1)
	if err != nil || changed {
		t.Fatalf("changed=%v err=%v; want a no-op", changed, err)
	}
	if !Equal(in, out) {
		t.Fatalf("no-op changed the list: %+v -> %+v", in, out)
	}
}

func TestSetNoDuplicatesStableOrder(t *testing.T) {
	var out []metav1.Condition
	for i, typ := range []string{"B", "A", "C", "A", "B"} {
		var err error
		out, _, err = Set(out, cond(typ, metav1.ConditionTrue, "OK", "", int64(i)), t0)
		if err != nil {
			t.Fatal(err)
		}
	}
	var types []string
	for _, c := range out {
		types = append(types, c.Type)
	}
	if got, want := len(types), 3; got != want || types[0] != "B" || types[1] != "A" || types[2] != "C" {
		t.Fatalf("types = %v, want [B A C]", types)
	}
}

func TestSetRejectsInvalidInput(t *testing.T) {
	for name, c := range map[string]metav1.Condition{
		"reason with space":   cond("A", metav1.ConditionTrue, "Not OK", "", 1),
		"empty reason":        cond("A", metav1.ConditionTrue, "", "", 1),
		"reason starts digit": cond("A", metav1.ConditionTrue, "1Bad", "", 1),
		"empty type":          cond("", metav1.ConditionTrue, "OK", "", 1),
		"bad status":          cond("A", "Maybe", "OK", "", 1),
	} {
		t.Run(name, func(t *testing.T) {
			in := []metav1.Condition{cond("Z", metav1.ConditionTrue, "OK", "", 1)}
			out, changed, err := Set(in, c, t0)
			if err == nil || changed || len(out) != 1 {
				t.Fatalf("Set accepted %+v: err=%v changed=%v out=%v", c, err, changed, out)
			}
		})
	}
	for _, ok := range []string{"OK", "ProviderNotFound", "a_b", "A,B:C"} {
		if err := ValidateReason(ok); err != nil {
			t.Errorf("ValidateReason(%q) = %v", ok, err)
		}
	}
}

func TestRemoveAndOrder(t *testing.T) {
	in := []metav1.Condition{cond("X", "True", "OK", "", 1), cond("B", "True", "OK", "", 1), cond("A", "True", "OK", "", 1)}
	out := Order(in, "A", "B")
	if out[0].Type != "A" || out[1].Type != "B" || out[2].Type != "X" {
		t.Fatalf("Order = %v", out)
	}
	if in[0].Type != "X" {
		t.Fatal("Order mutated its input")
	}
	rm, ok := Remove(in, "B")
	if !ok || len(rm) != 2 || Find(rm, "B") != nil || len(in) != 3 {
		t.Fatalf("Remove = %v, %v", rm, ok)
	}
	if _, ok := Remove(in, "nope"); ok {
		t.Fatal("Remove reported a missing type as removed")
	}
	if !IsTrue(in, "A") || IsTrue(in, "nope") {
		t.Fatal("IsTrue wrong")
	}
}
