package stream

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
	"github.com/configbutler/gitops-reverser/pkg/lifecycle/mirror"
	"github.com/configbutler/gitops-reverser/pkg/selection"
)

// sink coalesces changes by path, as a branch worker does.
type sink map[string]*mirror.Change

func (s sink) Enqueue(changes ...*mirror.Change) {
	for _, c := range changes {
		s[c.Path] = c
	}
}

func cm(ns, name string, data map[string]interface{}) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]interface{}{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]interface{}{"name": name, "namespace": ns, "resourceVersion": "5"}, "data": data,
	}}
}

// TestStreamBarrier: the seed's barrier between snapshot and stream. Before
// GoLive a target's events are buffered (the latest per object); GoLive
// applies those newer than the snapshot's view of their type and drops those
// the snapshot already saw; after it, events go straight to the worker. An
// event for another namespace or type, or a Secret for a target without
// encryption, never reaches it.
func TestStreamBarrier(t *testing.T) {
	cmGVR := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	secGVR := schema.GroupVersionResource{Version: "v1", Resource: "secrets"}
	r := New(nil, nil, nil, nil)
	pending := sink{}
	tc := &mirror.Target{Key: "demo/t", Path: "base", Selection: selection.Selection{
		cmGVR:  {Resource: selection.APIResource{GVR: cmGVR, Namespaced: true}, Namespaces: sets.New("demo")},
		secGVR: {Resource: selection.APIResource{GVR: secGVR, Namespaced: true}, Namespaces: sets.New("demo")},
	}}
	// What BeginBuffer does once the informers are synced.
	r.reg.targets[tc.Key] = &targetStream{cfg: tc, sink: pending, buffer: map[string]bufferedEvent{}}

	obj := func(ns, name, rv string) *unstructured.Unstructured {
		o := cm(ns, name, map[string]interface{}{"rv": rv})
		o.SetResourceVersion(rv)
		return o
	}
	r.reg.route(cmGVR, nil, obj("demo", "seen", "90"), false)            // the snapshot (listed at 100) has it
	r.reg.route(cmGVR, nil, obj("demo", "after", "101"), false)          // changed after the list
	r.reg.route(cmGVR, nil, obj("demo", "twice", "95"), false)           // buffered twice: the latest counts
	r.reg.route(cmGVR, nil, obj("demo", "twice", "120"), false)          //
	r.reg.route(cmGVR, nil, obj("demo", "gone", "130"), true)            // deleted after the list
	r.reg.route(cmGVR, nil, obj("other", "elsewhere", "140"), false)     // another namespace
	r.reg.route(secGVR, nil, obj("demo", "no-encryption", "150"), false) // no keys: never written
	if len(pending) != 0 {
		t.Fatalf("events reached the worker before GoLive: %v", pending)
	}
	r.GoLive(tc.Key, map[schema.GroupVersionResource]string{cmGVR: "100", secGVR: "100"})
	want := map[string]string{ // path -> "delete" or the resourceVersion written
		"base/v1/configmaps/demo/after.yaml": "101",
		"base/v1/configmaps/demo/twice.yaml": "120",
		"base/v1/configmaps/demo/gone.yaml":  "delete",
	}
	check := func(stage string) {
		t.Helper()
		if len(pending) != len(want) {
			t.Errorf("%s: pending %d changes, want %d", stage, len(pending), len(want))
		}
		for path, v := range want {
			c, ok := pending[path]
			switch {
			case !ok:
				t.Errorf("%s: %s not pending", stage, path)
			case v == "delete" && c.Object != nil:
				t.Errorf("%s: %s should be a delete", stage, path)
			case v != "delete" && (c.Object == nil || c.Object.GetResourceVersion() != v):
				t.Errorf("%s: %s pending at the wrong version", stage, path)
			}
		}
	}
	check("after GoLive")
	if !r.Live(tc.Key) {
		t.Error("not live after GoLive")
	}
	// A feed still delivering a backlog after GoLive: states at or below the
	// cut are the snapshot's or older, and are not routed (they would commit
	// an older state); the first event past the cut is.
	r.reg.route(cmGVR, nil, obj("demo", "seen", "60"), false)
	r.reg.route(cmGVR, nil, obj("demo", "late", "100"), true)
	check("backlog at or below the cut")
	// Live: events go straight to the worker, coalesced per file.
	r.reg.route(cmGVR, nil, obj("demo", "seen", "200"), false)
	r.reg.route(cmGVR, nil, obj("demo", "after", "201"), false)
	want["base/v1/configmaps/demo/seen.yaml"] = "200"
	want["base/v1/configmaps/demo/after.yaml"] = "201"
	check("live")
}

func TestNewerThan(t *testing.T) {
	if !newerThan("11", "10") || newerThan("10", "10") || newerThan("9", "10") || !newerThan("x", "10") {
		t.Error("newerThan wrong")
	}
}

// TestRestrict: narrowing a registered target stops routing what left its
// selection and drops it from the buffer; it never widens; it reports whether
// anything narrowed.
func TestRestrict(t *testing.T) {
	cmGVR := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	secGVR := schema.GroupVersionResource{Version: "v1", Resource: "secrets"}
	both := selection.Selection{
		cmGVR:  {Resource: selection.APIResource{GVR: cmGVR, Namespaced: true}, Namespaces: sets.New("a", "b")},
		secGVR: {Resource: selection.APIResource{GVR: secGVR, Namespaced: true}, Namespaces: sets.New("a")},
	}
	r := New(nil, nil, nil, nil)
	pending := sink{}
	tc := &mirror.Target{Key: "a/t", Path: "p", Keys: &mirror.Keys{}, Selection: both}
	r.reg.targets[tc.Key] = &targetStream{cfg: tc, sink: pending, buffer: map[string]bufferedEvent{}}
	r.reg.route(cmGVR, nil, cm("b", "buffered", nil), false)
	onlyA := selection.Selection{cmGVR: {Resource: selection.APIResource{GVR: cmGVR, Namespaced: true}, Namespaces: sets.New("a")}}
	if !r.Restrict(tc.Key, onlyA) {
		t.Fatal("Restrict did not narrow")
	}
	if len(r.reg.targets[tc.Key].buffer) != 0 {
		t.Error("a buffered event outside the new selection is kept")
	}
	if tc.Selection[secGVR] == nil {
		t.Error("Restrict changed the caller's selection in place")
	}
	r.GoLive(tc.Key, nil)
	r.reg.route(cmGVR, nil, cm("a", "in", nil), false)
	r.reg.route(cmGVR, nil, cm("b", "out", nil), false)
	r.reg.route(secGVR, nil, cm("a", "secret", nil), false)
	if len(pending) != 1 || pending["p/v1/configmaps/a/in.yaml"] == nil {
		t.Errorf("routed after the restriction: %v", pending)
	}
	if r.Restrict(tc.Key, both) || r.Restrict(tc.Key, onlyA) {
		t.Error("a wider or equal selection reported as narrowing")
	}
	if got := r.reg.targets[tc.Key].cfg.Selection; got[secGVR] != nil || !got[cmGVR].Namespaces.Equal(sets.New("a")) {
		t.Errorf("Restrict widened: %v", got.Names())
	}
}

// TestRouteFilters: within a target's scope, only objects its clauses take
// are passed on; one that stops being taken is passed on as a delete; one
// that never was is not passed on at all.
func TestRouteFilters(t *testing.T) {
	cmGVR := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	wrule := &v1alpha1.WatchRule{ObjectMeta: metav1.ObjectMeta{Namespace: "demo", Name: "r"}, Spec: v1alpha1.WatchRuleSpec{
		Rules: []v1alpha1.ResourceRule{{APIGroups: []string{"*"}, Resources: []string{"*"},
			LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"mirror": "yes"}}}}}}
	sel := selection.Resolve([]selection.APIResource{{GVR: cmGVR, Namespaced: true, Preferred: true}}, []*v1alpha1.WatchRule{wrule}, nil)
	r := New(nil, nil, nil, nil)
	pending := sink{}
	tc := &mirror.Target{Key: "demo/t", Path: "p", Selection: sel}
	r.reg.targets[tc.Key] = &targetStream{cfg: tc, sink: pending, live: true}
	labelled := func(name, v string) *unstructured.Unstructured {
		o := cm("demo", name, nil)
		if v != "" {
			o.SetLabels(map[string]string{"mirror": v})
		}
		return o
	}
	r.reg.route(cmGVR, nil, labelled("plain", ""), false)
	r.reg.route(cmGVR, labelled("plain", ""), labelled("plain", "no"), false)
	r.reg.route(cmGVR, nil, cm("demo", "kube-root-ca.crt", nil), false) // derived: left out under a wildcard
	if len(pending) != 0 {
		t.Fatalf("objects the clauses do not take were passed on: %v", pending)
	}
	r.reg.route(cmGVR, labelled("in", ""), labelled("in", "yes"), false)
	if c := pending["p/v1/configmaps/demo/in.yaml"]; c == nil || c.Object == nil {
		t.Fatalf("an object entering the selection: %v", pending)
	}
	r.reg.route(cmGVR, labelled("in", "yes"), labelled("in", "no"), false)
	if c := pending["p/v1/configmaps/demo/in.yaml"]; c == nil || c.Object != nil {
		t.Errorf("an object leaving the selection is not a delete: %+v", c)
	}
	r.reg.route(cmGVR, nil, labelled("gone", "no"), true)
	if pending["p/v1/configmaps/demo/gone.yaml"] != nil {
		t.Error("the delete of an object never taken was passed on")
	}
}

// TestResumedFeedRoutesUnknownObjects: a feed that resumed has not seen the
// objects that did not change: a change to one its target does not take is
// passed on as a delete once (its file, if any, must go: it may have left the
// selection while the server was down), then, known, not any more. The light
// metadata the feed keeps decides an object leaving the selection later.
func TestResumedFeedRoutesUnknownObjects(t *testing.T) {
	cmGVR := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	wrule := &v1alpha1.WatchRule{ObjectMeta: metav1.ObjectMeta{Namespace: "demo", Name: "r"}, Spec: v1alpha1.WatchRuleSpec{
		Rules: []v1alpha1.ResourceRule{{APIGroups: []string{""}, Resources: []string{"configmaps"},
			LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"mirror": "yes"}}}}}}
	sel := selection.Resolve([]selection.APIResource{{GVR: cmGVR, Namespaced: true, Preferred: true}}, []*v1alpha1.WatchRule{wrule}, nil)
	r := New(nil, nil, nil, nil)
	f := &feed{gvr: cmGVR, light: map[string]*lightMeta{}}
	r.reg.feeds[cmGVR] = f
	pending := sink{}
	r.reg.targets["demo/t"] = &targetStream{cfg: &mirror.Target{Key: "demo/t", Path: "p", Selection: sel}, sink: pending, live: true}
	obj := func(rv, label string) *unstructured.Unstructured {
		o := cm("demo", "x", nil)
		o.SetResourceVersion(rv)
		if label != "" {
			o.SetLabels(map[string]string{"mirror": label})
		}
		return o
	}
	path := "p/v1/configmaps/demo/x.yaml"
	step := func(what string, u *unstructured.Unstructured, want string) {
		t.Helper()
		for k := range pending {
			delete(pending, k)
		}
		r.feeder.deliver(f, u, watch.Modified)
		c := pending[path]
		switch {
		case want == "none" && c != nil:
			t.Errorf("%s: passed on %+v", what, c)
		case want == "delete" && (c == nil || c.Object != nil):
			t.Errorf("%s: want a delete, got %+v", what, c)
		case want == "write" && (c == nil || c.Object == nil):
			t.Errorf("%s: want a write, got %+v", what, c)
		}
		if f.pos != u.GetResourceVersion() {
			t.Errorf("%s: position %s, want %s", what, f.pos, u.GetResourceVersion())
		}
	}
	step("unknown, not taken", obj("10", "no"), "delete")
	step("known, still not taken", obj("11", "no"), "none")
	step("enters the selection", obj("12", "yes"), "write")
	step("leaves it", obj("13", ""), "delete")
	// A LIST's older view does not replace what the feed saw later.
	r.feeder.learn(cmGVR, obj("12", "yes"))
	if f.light["demo/x"].rv != "13" {
		t.Errorf("learn replaced a newer state: %+v", f.light["demo/x"])
	}
}
