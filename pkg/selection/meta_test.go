package selection

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
)

// TestObjectLabelsMatchAsGetLabels: a selector matches the labels read in
// place exactly as it matches the copy GetLabels makes.
func TestObjectLabelsMatchAsGetLabels(t *testing.T) {
	objects := []map[string]any{
		{},
		{"metadata": map[string]any{}},
		{"metadata": map[string]any{"labels": map[string]any{}}},
		{"metadata": map[string]any{"labels": map[string]any{"app": "web", "tier": "front"}}},
		{"metadata": map[string]any{"labels": map[string]any{"app": "db"}}},
		{"metadata": map[string]any{"labels": map[string]any{"app": nil}}},
		{"metadata": map[string]any{"labels": map[string]any{"tier": ""}}},
	}
	selectors := []string{"", "app", "!app", "app=web", "app!=web", "app in (web,db)", "app notin (web)", "tier=", "app,tier=front"}
	for _, o := range objects {
		u := &unstructured.Unstructured{Object: o}
		for _, s := range selectors {
			sel, err := labels.Parse(s)
			if err != nil {
				t.Fatal(err)
			}
			want := sel.Matches(labels.Set(u.GetLabels()))
			if got := sel.Matches(objectLabels(metaMap(u, "labels"))); got != want {
				t.Errorf("%q on %v: matches %v, GetLabels' copy %v", s, o, got, want)
			}
		}
	}
}

func TestLabelAndAnnotation(t *testing.T) {
	u := &unstructured.Unstructured{Object: map[string]any{"metadata": map[string]any{
		"labels":      map[string]any{"owner": "helm", "n": int64(1)},
		"annotations": map[string]any{"a": "b"},
	}}}
	for _, tc := range []struct{ got, want string }{
		{label(u, "owner"), "helm"},
		{label(u, "missing"), ""},
		{label(u, "n"), ""},
		{annotation(u, "a"), "b"},
		{annotation(u, "owner"), ""},
		{label(&unstructured.Unstructured{Object: map[string]any{"metadata": "x"}}, "owner"), ""},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}
