package selection

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
)

func res(group, version, resource string, namespaced, preferred bool) APIResource {
	return APIResource{GVR: schema.GroupVersionResource{Group: group, Version: version, Resource: resource}, Namespaced: namespaced, Preferred: preferred}
}

var clusterResources = []APIResource{
	res("", "v1", "configmaps", true, true),
	res("", "v1", "secrets", true, true),
	res("", "v1", "events", true, true),
	res("", "v1", "namespaces", false, true),
	res("apps", "v1", "deployments", true, true),
	res("autoscaling", "v2", "horizontalpodautoscalers", true, true),
	res("autoscaling", "v1", "horizontalpodautoscalers", true, false),
	res("rbac.authorization.k8s.io", "v1", "clusterroles", false, true),
	res("coordination.k8s.io", "v1", "leases", true, true),
	res("configbutler.ai", "v1alpha1", "gittargets", true, true),
}

func wr(ns string, rules ...v1alpha1.ResourceRule) *v1alpha1.WatchRule {
	return &v1alpha1.WatchRule{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "r"}, Spec: v1alpha1.WatchRuleSpec{Rules: rules}}
}

func cwr(rules ...v1alpha1.ClusterResourceRule) *v1alpha1.ClusterWatchRule {
	return &v1alpha1.ClusterWatchRule{ObjectMeta: metav1.ObjectMeta{Name: "c"}, Spec: v1alpha1.ClusterWatchRuleSpec{Rules: rules}}
}

func selected(s Selection) map[string]string {
	out := map[string]string{}
	for gvr, ts := range s {
		ns := "all"
		if !ts.AllNamespaces {
			ns = ""
			for _, n := range sets.List(ts.Namespaces) {
				ns += n + ";"
			}
		}
		out[gvr.String()] = ns
	}
	return out
}

func TestResolveSelection(t *testing.T) {
	cases := []struct {
		name  string
		rules []*v1alpha1.WatchRule
		crs   []*v1alpha1.ClusterWatchRule
		want  map[string]string
	}{
		{
			name:  "core configmaps and secrets in the rule's namespace",
			rules: []*v1alpha1.WatchRule{wr("demo", v1alpha1.ResourceRule{APIGroups: []string{""}, Resources: []string{"configmaps", "secrets"}})},
			want:  map[string]string{"/v1, Resource=configmaps": "demo;", "/v1, Resource=secrets": "demo;"},
		},
		{
			name:  "a namespaced rule never selects cluster-scoped types",
			rules: []*v1alpha1.WatchRule{wr("demo", v1alpha1.ResourceRule{APIGroups: []string{""}, Resources: []string{"namespaces"}})},
			want:  map[string]string{},
		},
		{
			name:  "wildcards skip events, leases and our own kinds",
			rules: []*v1alpha1.WatchRule{wr("demo", v1alpha1.ResourceRule{APIGroups: []string{"*"}, Resources: []string{"*"}})},
			want: map[string]string{"/v1, Resource=configmaps": "demo;", "/v1, Resource=secrets": "demo;",
				"apps/v1, Resource=deployments": "demo;", "autoscaling/v2, Resource=horizontalpodautoscalers": "demo;"},
		},
		{
			name:  "events can be named explicitly",
			rules: []*v1alpha1.WatchRule{wr("demo", v1alpha1.ResourceRule{APIGroups: []string{""}, Resources: []string{"events"}})},
			want:  map[string]string{"/v1, Resource=events": "demo;"},
		},
		{
			name:  "all versions collapse to the preferred one",
			rules: []*v1alpha1.WatchRule{wr("demo", v1alpha1.ResourceRule{APIGroups: []string{"autoscaling"}, APIVersions: []string{"*"}, Resources: []string{"*"}})},
			want:  map[string]string{"autoscaling/v2, Resource=horizontalpodautoscalers": "demo;"},
		},
		{
			name:  "an explicit non-preferred version",
			rules: []*v1alpha1.WatchRule{wr("demo", v1alpha1.ResourceRule{APIGroups: []string{"autoscaling"}, APIVersions: []string{"v1"}, Resources: []string{"horizontalpodautoscalers"}})},
			want:  map[string]string{"autoscaling/v1, Resource=horizontalpodautoscalers": "demo;"},
		},
		{
			name: "two watch rules in two namespaces",
			rules: []*v1alpha1.WatchRule{
				wr("a", v1alpha1.ResourceRule{APIGroups: []string{""}, Resources: []string{"configmaps"}}),
				wr("b", v1alpha1.ResourceRule{APIGroups: []string{""}, Resources: []string{"configmaps"}}),
			},
			want: map[string]string{"/v1, Resource=configmaps": "a;b;"},
		},
		{
			name: "cluster rule scopes",
			crs: []*v1alpha1.ClusterWatchRule{cwr(
				v1alpha1.ClusterResourceRule{APIGroups: []string{"rbac.authorization.k8s.io"}, Resources: []string{"*"}, Scope: v1alpha1.ClusterScope},
				v1alpha1.ClusterResourceRule{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Scope: v1alpha1.NamespacedScope},
				v1alpha1.ClusterResourceRule{APIGroups: []string{""}, Resources: []string{"configmaps"}, Scope: v1alpha1.ClusterScope},
			)},
			want: map[string]string{"rbac.authorization.k8s.io/v1, Resource=clusterroles": "", "apps/v1, Resource=deployments": "all"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := selected(Resolve(clusterResources, tc.rules, tc.crs))
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s: got %q, want %q (all: %v)", k, got[k], v, got)
				}
			}
		})
	}
}

func TestSelectionMatchesAndFingerprint(t *testing.T) {
	s := Resolve(clusterResources, []*v1alpha1.WatchRule{wr("demo", v1alpha1.ResourceRule{APIGroups: []string{""}, Resources: []string{"configmaps"}})}, nil)
	ts := s[schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}]
	if !ts.Matches("demo") || ts.Matches("other") {
		t.Error("namespace matching wrong")
	}
	s2 := Resolve(clusterResources, []*v1alpha1.WatchRule{wr("demo", v1alpha1.ResourceRule{APIGroups: []string{""}, Resources: []string{"configmaps"}})}, nil)
	if s.Fingerprint() != s2.Fingerprint() {
		t.Error("fingerprint not stable")
	}
	s3 := Resolve(clusterResources, []*v1alpha1.WatchRule{wr("demo", v1alpha1.ResourceRule{APIGroups: []string{""}, Resources: []string{"configmaps", "secrets"}})}, nil)
	if s.Fingerprint() == s3.Fingerprint() {
		t.Error("fingerprint did not change with the selection")
	}
}

func TestAPIResourcesFromDiscovery(t *testing.T) {
	groups := []*metav1.APIGroup{{Name: "apps", PreferredVersion: metav1.GroupVersionForDiscovery{Version: "v1"}}}
	lists := []*metav1.APIResourceList{{GroupVersion: "apps/v1", APIResources: []metav1.APIResource{
		{Name: "deployments", Kind: "Deployment", Namespaced: true, Verbs: []string{"get", "list", "watch"}},
		{Name: "deployments/status", Kind: "Deployment", Namespaced: true, Verbs: []string{"get", "list", "watch"}},
		{Name: "controllerrevisions", Kind: "ControllerRevision", Namespaced: true, Verbs: []string{"get"}},
	}}}
	rs, err := APIResourcesFrom(groups, lists)
	if err != nil || len(rs) != 1 || rs[0].GVR.Resource != "deployments" || !rs[0].Preferred || !rs[0].Namespaced {
		t.Fatalf("%v %+v", err, rs)
	}
}

// TestRuleSelectAndMerge: each rule selects in its own scope, and merging the
// rules of several objects gives what Resolve gives.
func TestRuleSelectAndMerge(t *testing.T) {
	a := wr("a", v1alpha1.ResourceRule{APIGroups: []string{""}, Resources: []string{"configmaps"}})
	b := wr("b", v1alpha1.ResourceRule{APIGroups: []string{""}, Resources: []string{"configmaps", "namespaces"}})
	c := cwr(v1alpha1.ClusterResourceRule{APIGroups: []string{"autoscaling"}, APIVersions: []string{"*"}, Resources: []string{"*"}, Scope: v1alpha1.NamespacedScope})
	var sels []Selection
	for _, r := range append(append(RulesOf(a), RulesOf(b)...), ClusterRulesOf(c)...) {
		sels = append(sels, r.Select(clusterResources))
	}
	got, want := selected(Merge(sels...)), selected(Resolve(clusterResources, []*v1alpha1.WatchRule{a, b}, []*v1alpha1.ClusterWatchRule{c}))
	if len(got) != 2 || got["/v1, Resource=configmaps"] != "a;b;" || got["autoscaling/v2, Resource=horizontalpodautoscalers"] != "all" {
		t.Fatalf("merged %v", got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: merged %q, resolved %q", k, got[k], v)
		}
	}
	if n := Merge(sels...).Names(); len(n) != 2 || n[0] != "configmaps.v1" || n[1] != "horizontalpodautoscalers.v2.autoscaling" {
		t.Errorf("names %v", n)
	}
	bad := Rule{APIGroups: []string{"*"}, Resources: []string{"*"}, Cluster: true, Scope: "Sideways"}
	if len(bad.Select(clusterResources)) != 0 {
		t.Error("a cluster rule with an unknown scope selects something")
	}
}
