package stream

import (
	"context"
	"sort"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/watch"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	clienttesting "k8s.io/client-go/testing"

	"github.com/configbutler/gitops-reverser/pkg/lifecycle/snapshot"
	"github.com/configbutler/gitops-reverser/pkg/selection"
)

// TestCatchUpKeepsToTheSelection: a target's catch-up watches every
// namespace (see catchUp: a watch of one namespace may never reach the
// feed's position) and keeps only the selected namespaces' events: other
// tenants' changes are neither held nor replayed to it.
func TestCatchUpKeepsToTheSelection(t *testing.T) {
	cm := func(ns, name, rv string) *unstructured.Unstructured {
		u := &unstructured.Unstructured{Object: map[string]interface{}{"apiVersion": "v1", "kind": "ConfigMap"}}
		u.SetNamespace(ns)
		u.SetName(name)
		u.SetResourceVersion(rv)
		return u
	}
	res := selection.APIResource{GVR: configMaps, Kind: "ConfigMap", Namespaced: true}
	for _, tc := range []struct {
		name string
		ts   selection.TypeSelection
		kept string
	}{
		{name: "one namespace", ts: selection.TypeSelection{Resource: res, Namespaces: sets.New("a")}, kept: "a/x"},
		{name: "two namespaces", ts: selection.TypeSelection{Resource: res, Namespaces: sets.New("a", "c")}, kept: "a/x,c/z"},
		{name: "every namespace", ts: selection.TypeSelection{Resource: res, AllNamespaces: true}, kept: "a/x,b/y,c/z"},
		{name: "a cluster-scoped type (its selection holds no namespace)", ts: selection.TypeSelection{Resource: selection.APIResource{GVR: configMaps, Kind: "Thing"}}, kept: "a/x,b/y,c/z"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{configMaps: "ConfigMapList"})
			watched := "-"
			dyn.PrependWatchReactor("configmaps", func(action clienttesting.Action) (bool, watch.Interface, error) {
				watched = action.GetNamespace()
				w := watch.NewFakeWithChanSize(4, false)
				w.Add(cm("a", "x", "11"))
				w.Add(cm("b", "y", "12"))
				w.Add(cm("c", "z", "20")) // the feed's position: the catch-up is through
				return true, w, nil
			})
			l := &lister{dyn: dyn}
			got, err := l.catchUp(context.Background(), configMaps, &tc.ts, "10", "20")
			if err != nil {
				t.Fatal(err)
			}
			if watched != "" {
				t.Errorf("watched namespace %q, want every namespace", watched)
			}
			var keys []string
			for k := range got {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			if strings.Join(keys, ",") != tc.kept {
				t.Errorf("kept %v, want %s", keys, tc.kept)
			}
		})
	}
}

// TestSelectedOnly: a Restrict during the catch-up narrows what the replay
// takes from it as it narrows the buffer.
func TestSelectedOnly(t *testing.T) {
	res := selection.APIResource{GVR: configMaps, Kind: "ConfigMap", Namespaced: true}
	for _, tc := range []struct {
		name string
		ts   *selection.TypeSelection
		want string
	}{
		{name: "still selected", ts: &selection.TypeSelection{Resource: res, Namespaces: sets.New("a", "b")}, want: "a/x,b/y"},
		{name: "narrowed to a", ts: &selection.TypeSelection{Resource: res, Namespaces: sets.New("a")}, want: "a/x"},
		{name: "the type taken away", want: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			early := map[string]snapshot.Event{}
			for _, k := range []string{"a/x", "b/y"} {
				u := &unstructured.Unstructured{Object: map[string]interface{}{}}
				u.SetNamespace(k[:1])
				u.SetName(k[2:])
				early[k] = snapshot.Event{Object: u}
			}
			var keys []string
			for k := range selectedOnly(early, tc.ts) {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			if got := strings.Join(keys, ","); got != tc.want {
				t.Errorf("kept %q, want %q", got, tc.want)
			}
		})
	}
}
