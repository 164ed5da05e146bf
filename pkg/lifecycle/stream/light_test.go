package stream

import (
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// TestLightMetaRoundTrip: what a feed keeps of an object rebuilds the
// metadata clauses read (labels, annotations but the last-applied copy,
// owners, a Secret's type), and nothing else.
func TestLightMetaRoundTrip(t *testing.T) {
	owners := []interface{}{map[string]interface{}{"kind": "Deployment", "name": "web", "uid": "u1"}}
	for _, tc := range []struct {
		name string
		in   map[string]interface{}
		want map[string]interface{}
	}{
		{"bare", map[string]interface{}{}, map[string]interface{}{}},
		{"labels and annotations", map[string]interface{}{
			"labels":      map[string]interface{}{"b": "2", "a": "1"},
			"annotations": map[string]interface{}{"note": "x", lastApplied: `{"huge":true}`},
		}, map[string]interface{}{
			"labels":      map[string]interface{}{"a": "1", "b": "2"},
			"annotations": map[string]interface{}{"note": "x"},
		}},
		{"only the last-applied copy", map[string]interface{}{
			"annotations": map[string]interface{}{lastApplied: "{}"},
		}, map[string]interface{}{}},
		{"annotations without labels", map[string]interface{}{
			"annotations": map[string]interface{}{"a": ""},
		}, map[string]interface{}{"annotations": map[string]interface{}{"a": ""}}},
		{"owners", map[string]interface{}{"ownerReferences": owners}, map[string]interface{}{"ownerReferences": owners}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			md := map[string]interface{}{"name": "n", "namespace": "ns", "resourceVersion": "7", "uid": "dropped", "managedFields": []interface{}{}}
			for k, v := range tc.in {
				md[k] = v
			}
			u := &unstructured.Unstructured{Object: map[string]interface{}{"apiVersion": "v1", "kind": "Secret", "metadata": md, "type": "Opaque", "data": map[string]interface{}{"k": "dg=="}}}
			got := lightOf(u).object(u).Object
			want := map[string]interface{}{"name": "n", "namespace": "ns", "resourceVersion": "7"}
			for k, v := range tc.want {
				want[k] = v
			}
			if !reflect.DeepEqual(got["metadata"], want) {
				t.Errorf("metadata %v, want %v", got["metadata"], want)
			}
			if got["type"] != "Opaque" || got["data"] != nil || got["kind"] != "Secret" {
				t.Errorf("object %v: want kind Secret, type Opaque and no data", got)
			}
		})
	}
}
