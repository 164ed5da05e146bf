package stream

import (
	"sort"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"

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
