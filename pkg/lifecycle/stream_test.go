package lifecycle

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"
)

// TestStreamBarrier: the seed's barrier between snapshot and stream. Before
// GoLive a target's events are buffered (the latest per object); GoLive
// applies those newer than the snapshot's view of their type and drops those
// the snapshot already saw; after it, events go straight to the worker. An
// event for another namespace or type, or a Secret for a target without
// encryption, never reaches it.
func TestStreamBarrier(t *testing.T) {
	cmGVR := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	secGVR := schema.GroupVersionResource{Version: "v1", Resource: "secrets"}
	r := newRouter(nil, nil, nil)
	m := newWorkerManager(t.TempDir(), nopHooks{newStateStore()})
	w := newBranchWorker(m, BranchKey{Repo: "r", Branch: "main"}, workerConfig{MaxChanges: 1000, Interval: time.Hour})
	w.addTarget("demo/t")
	tc := &targetConfig{Key: "demo/t", Path: "base", Selection: Selection{
		cmGVR:  {Resource: APIResource{GVR: cmGVR, Namespaced: true}, Namespaces: sets.New("demo")},
		secGVR: {Resource: APIResource{GVR: secGVR, Namespaced: true}, Namespaces: sets.New("demo")},
	}}
	// What BeginBuffer does once the informers are synced.
	r.targets[tc.Key] = &targetStream{cfg: tc, worker: w, buffer: map[string]bufferedEvent{}}

	obj := func(ns, name, rv string) *unstructured.Unstructured {
		o := cm(ns, name, map[string]interface{}{"rv": rv})
		o.SetResourceVersion(rv)
		return o
	}
	r.route(cmGVR, obj("demo", "seen", "90"), false)            // the snapshot (listed at 100) has it
	r.route(cmGVR, obj("demo", "after", "101"), false)          // changed after the list
	r.route(cmGVR, obj("demo", "twice", "95"), false)           // buffered twice: the latest counts
	r.route(cmGVR, obj("demo", "twice", "120"), false)          //
	r.route(cmGVR, obj("demo", "gone", "130"), true)            // deleted after the list
	r.route(cmGVR, obj("other", "elsewhere", "140"), false)     // another namespace
	r.route(secGVR, obj("demo", "no-encryption", "150"), false) // no keys: never written
	if len(w.pending) != 0 {
		t.Fatalf("events reached the worker before GoLive: %v", w.pending)
	}
	r.GoLive(tc.Key, map[schema.GroupVersionResource]string{cmGVR: "100", secGVR: "100"})
	want := map[string]string{ // path -> "delete" or the resourceVersion written
		"base/v1/configmaps/demo/after.yaml": "101",
		"base/v1/configmaps/demo/twice.yaml": "120",
		"base/v1/configmaps/demo/gone.yaml":  "delete",
	}
	check := func(stage string) {
		t.Helper()
		if len(w.pending) != len(want) {
			t.Errorf("%s: pending %d changes, want %d", stage, len(w.pending), len(want))
		}
		for path, v := range want {
			c, ok := w.pending[path]
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
	// Live: events go straight to the worker, coalesced per file.
	r.route(cmGVR, obj("demo", "seen", "200"), false)
	r.route(cmGVR, obj("demo", "after", "201"), false)
	want["base/v1/configmaps/demo/seen.yaml"] = "200"
	want["base/v1/configmaps/demo/after.yaml"] = "201"
	check("live")
}
