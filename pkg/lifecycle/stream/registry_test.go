package stream

import (
	"sort"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"

	"github.com/configbutler/gitops-reverser/pkg/lifecycle/mirror"
	"github.com/configbutler/gitops-reverser/pkg/selection"
)

// TestTypesInUse: gc keeps the feeds of the types a registered target selects
// (as narrowed) and those a syncing target asked for (as requested).
func TestTypesInUse(t *testing.T) {
	nsType := schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
	registered := func(sel selection.Selection) *targetStream {
		return &targetStream{cfg: &mirror.Target{Selection: sel}}
	}
	for _, tc := range []struct {
		name    string
		targets map[string]*targetStream
		syncing map[string]selection.Selection
		want    string
	}{
		{name: "nothing registered"},
		{name: "registered", targets: map[string]*targetStream{"a": registered(in(cmType, "a")), "b": registered(in(secType, "b"))},
			want: "configmaps secrets"},
		{name: "syncing", syncing: map[string]selection.Selection{"a": selection.Merge(in(cmType, "a"), in(nsType))}, want: "configmaps namespaces"},
		{name: "registered narrowed, syncing as requested",
			targets: map[string]*targetStream{"a": registered(in(cmType, "a"))},
			syncing: map[string]selection.Selection{"a": selection.Merge(in(cmType, "a"), in(secType, "a"))},
			want:    "configmaps secrets"},
	} {
		var got []string
		for gvr, used := range typesInUse(tc.targets, tc.syncing) {
			if used {
				got = append(got, gvr.Resource)
			}
		}
		sort.Strings(got)
		if strings.Join(got, " ") != tc.want {
			t.Errorf("%s: %v, want %s", tc.name, got, tc.want)
		}
	}
}

// TestRestrictUnknownTarget: a Restrict of a target neither syncing nor
// registered changes nothing and leaves no ceiling behind (its next
// BeginBuffer sets one afresh).
func TestRestrictUnknownTarget(t *testing.T) {
	r := New(nil, nil, nil, nil)
	if r.Restrict("a/t", in(cmType, "a")) {
		t.Error("an unknown target reported as narrowed")
	}
	if len(r.reg.ceilings) != 0 {
		t.Errorf("ceilings %v", r.reg.ceilings)
	}
}

// TestStreams: a write can reach each registered target that selects its
// type (any version) in its namespace, as narrowed by Restrict: Streams
// counts them; a cluster-scoped type is asked with no namespace; after
// Unregister nothing is streamed.
func TestStreams(t *testing.T) {
	nsType := schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
	cmV2 := schema.GroupVersionResource{Version: "v2", Resource: "configmaps"}
	cms, secrets, namespaces := cmType.GroupResource(), secType.GroupResource(), nsType.GroupResource()
	sel := selection.Merge(in(cmType, "a", "b"), in(secType, "a"))
	sel[nsType] = &selection.TypeSelection{Resource: selection.APIResource{GVR: nsType}}
	r := New(nil, nil, nil, nil)
	if r.Streams(cms, "a") != 0 {
		t.Fatal("streams with no target registered")
	}
	r.reg.targets["a/t"] = &targetStream{cfg: &mirror.Target{Key: "a/t", Selection: sel}, buffer: map[string]bufferedEvent{}}
	check := func(when string, want map[string]int) {
		t.Helper()
		for _, c := range []struct {
			name string
			gr   schema.GroupResource
			ns   string
		}{{"cm a", cms, "a"}, {"cm b", cms, "b"}, {"cm c", cms, "c"}, {"secret a", secrets, "a"}, {"secret b", secrets, "b"},
			{"namespaces", namespaces, ""}, {"apps/configmaps a", schema.GroupResource{Group: "apps", Resource: "configmaps"}, "a"}} {
			if got := r.Streams(c.gr, c.ns); got != want[c.name] {
				t.Errorf("%s: Streams(%s, %q) = %d, want %d", when, c.gr, c.ns, got, want[c.name])
			}
		}
	}
	check("registered", map[string]int{"cm a": 1, "cm b": 1, "secret a": 1, "namespaces": 1})
	// A second target selecting ConfigMaps in b in two versions counts once.
	r.reg.targets["b/t"] = &targetStream{cfg: &mirror.Target{Key: "b/t", Selection: selection.Merge(in(cmType, "b"), in(cmV2, "b"))}, buffer: map[string]bufferedEvent{}}
	check("two targets", map[string]int{"cm a": 1, "cm b": 2, "secret a": 1, "namespaces": 1})
	r.Unregister("b/t")
	r.Restrict("a/t", in(cmType, "b"))
	check("narrowed to configmaps in b", map[string]int{"cm b": 1})
	r.Unregister("a/t")
	check("unregistered", nil)
}

// TestListedDropsTheBacklog: once a buffering target's snapshot has read
// its LIST's first page, the target holds none of the type's events at or
// below the LIST's resourceVersion, buffered before or routed after (a
// backlog its feed replays from an older resume point), and keeps the newer
// ones; GoLive then passes on the same changes as without the drop. Other
// types, and live targets, are not touched.
func TestListedDropsTheBacklog(t *testing.T) {
	cmGVR := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	svcGVR := schema.GroupVersionResource{Version: "v1", Resource: "services"}
	sel := selection.Selection{
		cmGVR:  {Resource: selection.APIResource{GVR: cmGVR, Namespaced: true}, Namespaces: sets.New("a")},
		svcGVR: {Resource: selection.APIResource{GVR: svcGVR, Namespaced: true}, Namespaces: sets.New("a")},
	}
	at := func(name, rv string) *unstructured.Unstructured {
		u := cm("a", name, map[string]interface{}{"v": rv})
		u.SetResourceVersion(rv)
		return u
	}
	r := New(nil, nil, nil, nil)
	pending := sink{}
	tc := &mirror.Target{Key: "a/t", Path: "p", Keys: &mirror.Keys{}, Selection: sel}
	r.reg.targets[tc.Key] = &targetStream{cfg: tc, sink: pending, buffer: map[string]bufferedEvent{}}
	r.reg.route(cmGVR, nil, at("old", "5"), false)
	r.reg.route(cmGVR, nil, at("new", "15"), false)
	r.reg.route(svcGVR, nil, at("svc", "6"), false)

	r.reg.listed(tc.Key, cmGVR, "10")
	r.reg.route(cmGVR, nil, at("late-old", "8"), false)
	r.reg.route(cmGVR, nil, at("late-new", "12"), false)
	var held []string
	for k := range r.reg.targets[tc.Key].buffer {
		held = append(held, k)
	}
	sort.Strings(held)
	want := "/v1, Resource=configmaps/a/late-new,/v1, Resource=configmaps/a/new,/v1, Resource=services/a/svc"
	if got := strings.Join(held, ","); got != want {
		t.Errorf("buffered %s\nwant     %s", got, want)
	}

	r.GoLive(tc.Key, map[schema.GroupVersionResource]string{cmGVR: "10", svcGVR: "1"})
	var passed []string
	for path := range pending {
		passed = append(passed, path)
	}
	sort.Strings(passed)
	if got := strings.Join(passed, ","); got != "p/v1/configmaps/a/late-new.yaml,p/v1/configmaps/a/new.yaml,p/v1/services/a/svc.yaml" {
		t.Errorf("GoLive passed on %s", got)
	}
	r.reg.listed(tc.Key, cmGVR, "100") // live: nothing to drop, nothing noted
	if r.reg.targets[tc.Key].listedAt[cmGVR] != "10" {
		t.Error("a live target's LIST was noted")
	}
}
