package snapshot

import (
	"context"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
	"github.com/configbutler/gitops-reverser/pkg/lifecycle/mirror"
	"github.com/configbutler/gitops-reverser/pkg/render"
)

// TestLeaveOutAndFailures: an object that cannot be rendered (a Secret
// without keys here reaches the encryption and fails) and writes left out as
// blocked are counted and named, never failing the plan; the rest stays
// planned, and a stale file under a shortened name is deleted only when it
// holds the object whose path it is.
func TestLeaveOutAndFailures(t *testing.T) {
	long := strings.Repeat("l", 253)
	longPath := render.Path("base", cmGVR, "demo", long)
	gone := strings.Repeat("g", 253)
	gonePath := render.Path("base", cmGVR, "demo", gone)
	foreignShort := gonePath[:strings.LastIndex(gonePath, "%~")] + "%~" + strings.Repeat("0", 32) + ".yaml"
	tree := memTree{
		gonePath:     "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + gone + "\n  namespace: demo\n",
		foreignShort: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + gone + "\n  namespace: demo\n", // names an object whose path is another
	}
	objs := objects(map[schema.GroupVersionResource][]*unstructured.Unstructured{
		cmGVR: {cm("demo", "a", "v"), cm("demo", "b", "v"), cm("demo", long, "v")},
	})
	tgt := &mirror.Target{Key: "demo/t", Path: "base", Selection: demoSelection(cmGVR)}
	p, err := Compute(context.Background(), tgt, tree, nil, objs, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := (v1alpha1.SnapshotStats{Created: 3, Deleted: 1}); p.Stats != want {
		t.Fatalf("stats %+v, want %+v", p.Stats, want)
	}
	if len(p.Deleted) != 1 || p.Deleted[0] != gonePath {
		t.Fatalf("deleted %v, want only %s (the other shortened file names another path)", p.Deleted, gonePath)
	}
	p.LeaveOut([]string{"base/v1/configmaps/demo/a.yaml", longPath})
	if want := (v1alpha1.SnapshotStats{Created: 1, Deleted: 1, Failed: 2}); p.Stats != want {
		t.Fatalf("after LeaveOut: stats %+v, want %+v", p.Stats, want)
	}
	var paths []string
	for _, c := range p.Changes {
		paths = append(paths, c.Path)
	}
	if strings.Join(paths, " ") != "base/v1/configmaps/demo/b.yaml "+gonePath {
		t.Fatalf("changes after LeaveOut: %v", paths)
	}
	for _, l := range p.Learned {
		if l.Path == "base/v1/configmaps/demo/a.yaml" || l.Path == longPath {
			t.Fatalf("the index would learn a file that was left out: %+v", l)
		}
	}
	if len(p.Failed) != 2 || !strings.Contains(p.Failed[0].String(), ErrBlocked.Error()) {
		t.Fatalf("failures %v", p.Failed)
	}

	// A Secret the plan cannot encrypt (no keys reach EncryptSecret when the
	// target has none: the plan counts it as skipped instead), so use a
	// Secret whose keys are broken: no recipients.
	sec := &unstructured.Unstructured{Object: map[string]interface{}{"apiVersion": "v1", "kind": "Secret",
		"metadata": map[string]interface{}{"name": "s", "namespace": "demo"}, "data": map[string]interface{}{"k": "dg=="}}}
	tgt = &mirror.Target{Key: "demo/t", Path: "base", Keys: &mirror.Keys{}, Selection: demoSelection(secGVR, cmGVR)}
	p, err = Compute(context.Background(), tgt, memTree{}, nil, objects(map[schema.GroupVersionResource][]*unstructured.Unstructured{
		secGVR: {sec}, cmGVR: {cm("demo", "a", "v")},
	}), nil)
	if err != nil {
		t.Fatalf("one Secret that cannot be encrypted failed the plan: %v", err)
	}
	if p.Stats.Failed != 1 || p.Stats.Created != 1 || len(p.Failed) != 1 || !strings.HasPrefix(p.Failed[0].Object, "secrets demo/s") {
		t.Fatalf("stats %+v failures %v", p.Stats, p.Failed)
	}
}
