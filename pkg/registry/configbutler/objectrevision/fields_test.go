package objectrevision

import (
	"strings"
	"testing"

	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
)

func TestQueryOf(t *testing.T) {
	for _, tc := range []struct {
		sel, labels string
		want        Query
		err         string
	}{
		{sel: "", want: Query{}},
		{sel: "object.kind=ConfigMap,object.name=hello", want: Query{Kind: "ConfigMap", Name: "hello"}},
		{sel: "object.apiGroup=apps,target.name=mirror,target.namespace=platform,metadata.namespace=demo",
			want: Query{APIGroup: "apps", TargetName: "mirror", TargetNamespace: "platform"}},
		{sel: "object.kind!=ConfigMap", err: "only = is supported"},
		{sel: "spec.x=y", err: "field label not supported"},
		{sel: "metadata.name=x", err: "with get"},
		{labels: "a=b", err: "carry no labels"},
	} {
		o := &metainternalversion.ListOptions{Limit: 7, Continue: "c"}
		if tc.sel != "" {
			o.FieldSelector = fields.ParseSelectorOrDie(tc.sel)
		}
		if tc.labels != "" {
			o.LabelSelector = labels.SelectorFromSet(labels.Set{"a": "b"})
		}
		got, err := queryOf(o)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: err %v, want %q", tc.sel, err, tc.err)
			}
			continue
		}
		tc.want.Limit, tc.want.Continue = 7, "c"
		if err != nil || got != tc.want {
			t.Errorf("%q: %+v %v, want %+v", tc.sel, got, err, tc.want)
		}
	}
}
