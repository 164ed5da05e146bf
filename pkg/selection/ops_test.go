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
	if ts.MayDelete(plain) || !ts.MayDelete(tagged) {
		t.Errorf("MayDelete from the file: plain %v (want false), tagged %v (want true)", ts.MayDelete(plain), ts.MayDelete(tagged))
	}
	all := Resolve(clusterResources, []*v1alpha1.WatchRule{wr("shop", v1alpha1.ResourceRule{APIGroups: []string{""}, Resources: []string{"configmaps"}})}, nil)
	if ts := all[gvr("", "v1", "configmaps")]; ts.Narrowed(OpDelete) || !ts.Allows(plain, OpDelete) {
		t.Error("a rule without operations does not mirror every operation")
	}
}

// TestMayDeleteAnOwnedArchive: a file lacks its object's owner references,
// so a wildcard rule with every operation (which leaves owned objects out)
// does not delete the archive a rule naming the type without DELETE keeps
// (a Job of a CronJob); without such a rule it does.
func TestMayDeleteAnOwnedArchive(t *testing.T) {
	jobs := gvr("batch", "v1", "jobs")
	job := object("batch/v1", "Job", "shop", "nightly-1")
	wildcard := v1alpha1.ResourceRule{APIGroups: []string{"*"}, Resources: []string{"*"}}
	archive := v1alpha1.ResourceRule{APIGroups: []string{"batch"}, Resources: []string{"jobs"}, Operations: []v1alpha1.OperationType{"CREATE", "UPDATE"}}
	resources := append([]APIResource{res("batch", "v1", "jobs", true, true)}, clusterResources...)
	both := Resolve(resources, []*v1alpha1.WatchRule{wr("shop", wildcard, archive)}, nil)[jobs]
	if both == nil {
		t.Fatal("jobs not selected")
	}
	if both.MayDelete(job) {
		t.Error("the wildcard deletes the file a jobs rule without DELETE archives")
	}
	alone := Resolve(resources, []*v1alpha1.WatchRule{wr("shop", wildcard)}, nil)[jobs]
	if !alone.MayDelete(job) {
		t.Error("the wildcard alone keeps a Job's file")
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
