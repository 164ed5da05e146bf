package stream

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
	"github.com/configbutler/gitops-reverser/pkg/lifecycle/mirror"
	"github.com/configbutler/gitops-reverser/pkg/selection"
)

// TestStreamKeepsToOperations: the live stream passes on only the
// operations the rules list (rules[].operations, the seed system's field):
// an Added event is a create, Modified an update, Deleted a delete. An
// object leaving a label selection is a delete for the rules that took it.
func TestStreamKeepsToOperations(t *testing.T) {
	cmGVR := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	const path = "p/v1/configmaps/demo/x.yaml"
	type step struct {
		event watch.EventType
		label string
		want  string // "write", "delete" or "none"
	}
	cases := []struct {
		name  string
		ops   []v1alpha1.OperationType
		steps []step
	}{
		{"all (none listed)", nil, []step{{watch.Added, "yes", "write"}, {watch.Modified, "yes", "write"}, {watch.Modified, "no", "delete"}, {watch.Deleted, "yes", "delete"}}},
		{"*", []v1alpha1.OperationType{v1alpha1.OperationAll}, []step{{watch.Added, "yes", "write"}, {watch.Deleted, "yes", "delete"}}},
		{"CREATE, UPDATE: an archive", []v1alpha1.OperationType{v1alpha1.OperationCreate, v1alpha1.OperationUpdate},
			[]step{{watch.Added, "yes", "write"}, {watch.Modified, "yes", "write"}, {watch.Modified, "no", "none"}, {watch.Deleted, "yes", "none"}}},
		{"CREATE: first versions", []v1alpha1.OperationType{v1alpha1.OperationCreate},
			[]step{{watch.Added, "yes", "write"}, {watch.Modified, "yes", "none"}, {watch.Deleted, "yes", "none"}}},
		{"UPDATE, DELETE", []v1alpha1.OperationType{v1alpha1.OperationUpdate, v1alpha1.OperationDelete},
			[]step{{watch.Added, "yes", "none"}, {watch.Modified, "yes", "write"}, {watch.Modified, "no", "delete"}, {watch.Deleted, "yes", "delete"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wrule := &v1alpha1.WatchRule{ObjectMeta: metav1.ObjectMeta{Namespace: "demo", Name: "r"}, Spec: v1alpha1.WatchRuleSpec{
				Rules: []v1alpha1.ResourceRule{{Operations: tc.ops, Resources: []string{"configmaps"},
					LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"mirror": "yes"}}}}}}
			sel := selection.Resolve([]selection.APIResource{{GVR: cmGVR, Namespaced: true, Preferred: true}}, []*v1alpha1.WatchRule{wrule}, nil)
			r := New(nil, nil, nil, nil)
			f := &feed{gvr: cmGVR, light: map[string]*lightMeta{}}
			r.reg.feeds[cmGVR] = f
			pending := sink{}
			r.reg.targets["demo/t"] = &targetStream{cfg: &mirror.Target{Key: "demo/t", Path: "p", Selection: sel}, sink: pending, live: true}
			for i, s := range tc.steps {
				clear(pending)
				u := cm("demo", "x", nil)
				u.SetResourceVersion(string(rune('a' + i)))
				u.SetLabels(map[string]string{"mirror": s.label})
				r.feeder.deliver(f, u, s.event)
				c := pending[path]
				if got := outcome(c); got != s.want {
					t.Errorf("step %d (%s, mirror=%s): %s, want %s", i, s.event, s.label, got, s.want)
				}
			}
		})
	}
}

func outcome(c *mirror.Change) string {
	switch {
	case c == nil:
		return "none"
	case c.Object == nil:
		return "delete"
	}
	return "write"
}

// TestBufferedWritesAreNotIgnored: while a target snapshots, its buffer keeps
// the latest event per object; one that replaced an earlier write goes live
// marked mirrored, since ignoreChangesBy can no longer ask about the earlier
// write (a human's edit followed by the tool's re-apply is not lost).
func TestBufferedWritesAreNotIgnored(t *testing.T) {
	cmGVR := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	wrule := &v1alpha1.WatchRule{ObjectMeta: metav1.ObjectMeta{Namespace: "demo", Name: "r"}, Spec: v1alpha1.WatchRuleSpec{
		Rules:           []v1alpha1.ResourceRule{{Resources: []string{"configmaps"}}},
		IgnoreChangesBy: &v1alpha1.ChangeAuthors{Users: []string{"flux"}}}}
	sel := selection.Resolve([]selection.APIResource{{GVR: cmGVR, Namespaced: true, Preferred: true}}, []*v1alpha1.WatchRule{wrule}, nil)
	r := New(nil, nil, nil, nil)
	pending := sink{}
	r.reg.targets["demo/t"] = &targetStream{cfg: &mirror.Target{Key: "demo/t", Path: "p", Selection: sel}, sink: pending, buffer: map[string]bufferedEvent{}}
	obj := func(name, rv string) *unstructured.Unstructured {
		o := cm("demo", name, nil)
		o.SetResourceVersion(rv)
		return o
	}
	r.reg.route(cmGVR, nil, obj("twice", "101"), false)
	r.reg.route(cmGVR, nil, obj("twice", "102"), false)
	r.reg.route(cmGVR, nil, obj("once", "103"), false)
	r.GoLive("demo/t", map[schema.GroupVersionResource]string{cmGVR: "100"})
	twice, once := pending["p/v1/configmaps/demo/twice.yaml"], pending["p/v1/configmaps/demo/once.yaml"]
	if twice == nil || once == nil || twice.Ignore == nil {
		t.Fatalf("changes after GoLive: %v", pending)
	}
	if !twice.Mirrored || once.Mirrored {
		t.Errorf("mirrored: coalesced %v (want true), single %v (want false)", twice.Mirrored, once.Mirrored)
	}
}
