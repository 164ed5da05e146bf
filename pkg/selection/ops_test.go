package selection

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
)

// TestOpsOf: what a rule's operations list means.
func TestOpsOf(t *testing.T) {
	for _, c := range []struct {
		ops  []v1alpha1.OperationType
		want Ops
	}{
		{nil, OpsAll},
		{[]v1alpha1.OperationType{}, OpsAll},
		{[]v1alpha1.OperationType{"*"}, OpsAll},
		{[]v1alpha1.OperationType{"CREATE", "UPDATE"}, OpCreate | OpUpdate},
		{[]v1alpha1.OperationType{"DELETE"}, OpDelete},
		{[]v1alpha1.OperationType{"CREATE", "*"}, OpsAll},
		{[]v1alpha1.OperationType{"CREATE", "UPDATE", "DELETE"}, OpsAll},
	} {
		if got := OpsOf(c.ops); got != c.want {
			t.Errorf("OpsOf(%v) = %b, want %b", c.ops, got, c.want)
		}
	}
}

// TestAllowsUnitesTheRulesThatTakeAnObject: an object two rules take is
// mirrored for the union of their operations; one only the narrow rule
// takes, for that rule's only; rules without operations mirror all.
func TestAllowsUnitesTheRulesThatTakeAnObject(t *testing.T) {
	archive := wr("shop", v1alpha1.ResourceRule{Resources: []string{"configmaps"}, Operations: []v1alpha1.OperationType{"CREATE", "UPDATE"}})
	audited := wr("shop", v1alpha1.ResourceRule{Resources: []string{"configmaps"}, Operations: []v1alpha1.OperationType{"DELETE"},
		LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"audit": "yes"}}})
	sel := Resolve(clusterResources, []*v1alpha1.WatchRule{archive, audited}, nil)
	ts := sel[gvr("", "v1", "configmaps")]
	if ts == nil {
		t.Fatal("no group listed: configmaps not selected (no apiGroups means all groups)")
	}
	plain := object("v1", "ConfigMap", "shop", "a")
	tagged := object("v1", "ConfigMap", "shop", "b", func(u *unstructured.Unstructured) { u.SetLabels(map[string]string{"audit": "yes"}) })
	for _, c := range []struct {
		name string
		obj  *unstructured.Unstructured
		op   Ops
		want bool
	}{
		{"create, plain", plain, OpCreate, true},
		{"update, plain", plain, OpUpdate, true},
		{"delete, plain: no rule that takes it mirrors deletes", plain, OpDelete, false},
		{"delete, tagged: the audited rule takes it", tagged, OpDelete, true},
		{"create, tagged", tagged, OpCreate, true},
		{"another namespace", object("v1", "ConfigMap", "other", "a"), OpCreate, false},
	} {
		if got := ts.Allows(c.obj, c.op); got != c.want {
			t.Errorf("%s: Allows = %v, want %v", c.name, got, c.want)
		}
	}
	if !ts.Narrowed(OpDelete) {
		t.Error("Narrowed(delete) = false with a rule without DELETE")
	}
	if !ts.AnyAllows(OpDelete) {
		t.Error("AnyAllows(delete) = false though the audited rule mirrors deletes")
	}
	all := Resolve(clusterResources, []*v1alpha1.WatchRule{wr("shop", v1alpha1.ResourceRule{APIGroups: []string{""}, Resources: []string{"configmaps"}})}, nil)
	if ts := all[gvr("", "v1", "configmaps")]; ts.Narrowed(OpDelete) || !ts.Allows(plain, OpDelete) {
		t.Error("a rule without operations does not mirror every operation")
	}
}

// TestOperationsInTheFingerprint: narrowing a rule's operations changes the
// selection's fingerprint; listing them all does not (selections of rules
// written before operations existed keep their fingerprints).
func TestOperationsInTheFingerprint(t *testing.T) {
	fp := func(ops ...v1alpha1.OperationType) string {
		return Resolve(clusterResources, []*v1alpha1.WatchRule{wr("shop", v1alpha1.ResourceRule{APIGroups: []string{""}, Resources: []string{"configmaps"}, Operations: ops})}, nil).Fingerprint()
	}
	none := fp()
	if fp("CREATE", "UPDATE", "DELETE") != none || fp("*") != none {
		t.Error("listing every operation changed the fingerprint")
	}
	if fp("CREATE", "UPDATE") == none || fp("CREATE", "UPDATE") == fp("CREATE") {
		t.Error("narrowed operations did not change the fingerprint")
	}
}
