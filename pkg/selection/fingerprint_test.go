package selection

import (
	"fmt"
	"runtime"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/sets"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
)

// TestFingerprintEquality: selections resolved apart from equal rules have
// equal fingerprints, whatever the order of the rules or of the exclusions,
// and a clause made by hand equals the one Rule.Select makes; any change of
// what is selected changes the fingerprint.
func TestFingerprintEquality(t *testing.T) {
	ex := []v1alpha1.Exclusion{{Resources: []string{"configmaps"}, Names: []string{"*-tmp"}}, {Namespaces: []string{"kube-*"}}}
	rule := func(mutate ...func(*v1alpha1.WatchRule)) *v1alpha1.WatchRule {
		r := wr("shop", v1alpha1.ResourceRule{APIGroups: []string{"", "apps"}, Resources: []string{"*"},
			LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"mirror": "yes"}}})
		r.Spec.Exclude = append([]v1alpha1.Exclusion(nil), ex...)
		for _, m := range mutate {
			m(r)
		}
		return r
	}
	cluster := func(mutate ...func(*v1alpha1.ClusterResourceRule)) *v1alpha1.ClusterWatchRule {
		r := v1alpha1.ClusterResourceRule{APIGroups: []string{"rbac.authorization.k8s.io"}, Resources: []string{"*"}, Scope: v1alpha1.ClusterScope}
		for _, m := range mutate {
			m(&r)
		}
		return cwr(r)
	}
	fp := func(rules []*v1alpha1.WatchRule, crs []*v1alpha1.ClusterWatchRule) string {
		return Resolve(clusterResources, rules, crs).Fingerprint()
	}
	base := fp([]*v1alpha1.WatchRule{rule(), wr("shop", v1alpha1.ResourceRule{APIGroups: []string{""}, Resources: []string{"secrets"}})}, []*v1alpha1.ClusterWatchRule{cluster()})
	equal := map[string]string{
		"again":                  fp([]*v1alpha1.WatchRule{rule(), wr("shop", v1alpha1.ResourceRule{APIGroups: []string{""}, Resources: []string{"secrets"}})}, []*v1alpha1.ClusterWatchRule{cluster()}),
		"rules in another order": fp([]*v1alpha1.WatchRule{wr("shop", v1alpha1.ResourceRule{APIGroups: []string{""}, Resources: []string{"secrets"}}), rule()}, []*v1alpha1.ClusterWatchRule{cluster()}),
		"exclusions in another order": fp([]*v1alpha1.WatchRule{rule(func(r *v1alpha1.WatchRule) {
			r.Spec.Exclude[0], r.Spec.Exclude[1] = r.Spec.Exclude[1], r.Spec.Exclude[0]
		}), wr("shop", v1alpha1.ResourceRule{APIGroups: []string{""}, Resources: []string{"secrets"}})}, []*v1alpha1.ClusterWatchRule{cluster()}),
		"a rule twice": fp([]*v1alpha1.WatchRule{rule(), rule(), wr("shop", v1alpha1.ResourceRule{APIGroups: []string{""}, Resources: []string{"secrets"}})}, []*v1alpha1.ClusterWatchRule{cluster(), cluster()}),
	}
	for name, got := range equal {
		if got != base {
			t.Errorf("%s: fingerprint %s, want %s", name, got, base)
		}
	}
	different := map[string]string{
		"labels": fp([]*v1alpha1.WatchRule{rule(func(r *v1alpha1.WatchRule) {
			r.Spec.Rules[0].LabelSelector.MatchLabels["mirror"] = "no"
		}), wr("shop", v1alpha1.ResourceRule{APIGroups: []string{""}, Resources: []string{"secrets"}})}, []*v1alpha1.ClusterWatchRule{cluster()}),
		"an exclusion": fp([]*v1alpha1.WatchRule{rule(func(r *v1alpha1.WatchRule) {
			r.Spec.Exclude[0].Names = []string{"*-temp"}
		}), wr("shop", v1alpha1.ResourceRule{APIGroups: []string{""}, Resources: []string{"secrets"}})}, []*v1alpha1.ClusterWatchRule{cluster()}),
		"an exclusion's field": fp([]*v1alpha1.WatchRule{rule(func(r *v1alpha1.WatchRule) {
			r.Spec.Exclude[0] = v1alpha1.Exclusion{Resources: []string{"configmaps"}, Namespaces: []string{"*-tmp"}}
		}), wr("shop", v1alpha1.ResourceRule{APIGroups: []string{""}, Resources: []string{"secrets"}})}, []*v1alpha1.ClusterWatchRule{cluster()}),
		"namespace": fp([]*v1alpha1.WatchRule{rule(func(r *v1alpha1.WatchRule) { r.Namespace = "other" }),
			wr("shop", v1alpha1.ResourceRule{APIGroups: []string{""}, Resources: []string{"secrets"}})}, []*v1alpha1.ClusterWatchRule{cluster()}),
		"includeDerived": fp([]*v1alpha1.WatchRule{rule(), wr("shop", v1alpha1.ResourceRule{APIGroups: []string{""}, Resources: []string{"secrets"}, IncludeDerived: true})},
			[]*v1alpha1.ClusterWatchRule{cluster()}),
		"a type more": fp([]*v1alpha1.WatchRule{rule(), wr("shop", v1alpha1.ResourceRule{APIGroups: []string{""}, Resources: []string{"secrets"}})},
			[]*v1alpha1.ClusterWatchRule{cluster(func(r *v1alpha1.ClusterResourceRule) { r.APIGroups = append(r.APIGroups, "") })}),
		"no cluster rule": fp([]*v1alpha1.WatchRule{rule(), wr("shop", v1alpha1.ResourceRule{APIGroups: []string{""}, Resources: []string{"secrets"}})}, nil),
	}
	seen := map[string]string{base: "base"}
	for name, got := range different {
		if other, dup := seen[got]; dup {
			t.Errorf("%s: same fingerprint as %s", name, other)
		}
		seen[got] = name
	}

	// A clause made by hand (no shared digest) is the clause Select makes.
	sel := Rule{APIGroups: []string{""}, Resources: []string{"configmaps"}, Namespace: "shop", Labels: labels.SelectorFromSet(labels.Set{"a": "b"}),
		Exclude: []Exclusion{{Names: []string{"x"}}}}.Select(clusterResources)
	ts := sel[gvr("", "v1", "configmaps")]
	byHand := Selection{ts.Resource.GVR: &TypeSelection{Resource: ts.Resource, Namespaces: sets.New("shop"), Clauses: []Clause{{
		Namespace: "shop", Labels: labels.SelectorFromSet(labels.Set{"a": "b"}), Exclude: []Exclusion{{Names: []string{"x"}}}, KeepOwned: true}}}}
	if sel.Fingerprint() != byHand.Fingerprint() {
		t.Error("a clause made by hand differs from the one Select makes")
	}
	// Namespace sets: nil, empty and {a} differ.
	nss := map[string]bool{}
	for _, ns := range []sets.Set[string]{nil, sets.New[string](), sets.New("a")} {
		nss[Selection{ts.Resource.GVR: &TypeSelection{Resource: ts.Resource, AllNamespaces: true, Clauses: []Clause{{Namespaces: ns}}}}.Fingerprint()] = true
	}
	if len(nss) != 3 {
		t.Error("namespace sets nil, empty and {a} do not all differ")
	}
}

// TestMergeDropsDuplicateClauses: merging a selection with itself, or two
// rules alike, keeps one clause per distinct clause (and matches the same).
func TestMergeDropsDuplicateClauses(t *testing.T) {
	r := wr("shop", v1alpha1.ResourceRule{APIGroups: []string{""}, Resources: []string{"configmaps", "secrets"}})
	r.Spec.Exclude = []v1alpha1.Exclusion{{Names: []string{"*-tmp"}}}
	one := Resolve(clusterResources, []*v1alpha1.WatchRule{r}, nil)
	three := Resolve(clusterResources, []*v1alpha1.WatchRule{r, r.DeepCopy(), r.DeepCopy()}, nil)
	for gvr, ts := range three {
		if len(ts.Clauses) != 1 {
			t.Errorf("%s: %d clauses, want 1", gvr, len(ts.Clauses))
		}
	}
	if one.Fingerprint() != three.Fingerprint() || Merge(one, one).Fingerprint() != one.Fingerprint() {
		t.Error("duplicate clauses change the fingerprint")
	}
	// Different clauses are all kept.
	other := wr("shop", v1alpha1.ResourceRule{APIGroups: []string{""}, Resources: []string{"configmaps"}, IncludeDerived: true})
	if n := len(Resolve(clusterResources, []*v1alpha1.WatchRule{r, other}, nil)[gvr("", "v1", "configmaps")].Clauses); n != 2 {
		t.Errorf("%d clauses for two different rules, want 2", n)
	}
	if tmp := object("v1", "ConfigMap", "shop", "a-tmp"); three[gvr("", "v1", "configmaps")].MatchesObject(tmp) ||
		!three[gvr("", "v1", "configmaps")].MatchesObject(object("v1", "ConfigMap", "shop", "a")) {
		t.Error("the merged selection matches differently")
	}
}

// TestFingerprintLinear: the fingerprint of many wildcard rules with large
// exclusions over many types hashes each rule's exclusions once, not once
// per type (which allocated rules x types x exclusions: about 50 MB here).
func TestFingerprintLinear(t *testing.T) {
	var resources []APIResource
	for i := range 100 {
		resources = append(resources, res(fmt.Sprintf("g%d.example.com", i), "v1", "things", true, true))
	}
	var rules []*v1alpha1.WatchRule
	for i := range 16 {
		r := wr(fmt.Sprintf("ns%d", i), v1alpha1.ResourceRule{APIGroups: []string{"*"}, Resources: []string{"*"}})
		for j := range 16 {
			names := make([]string, 32)
			for k := range names {
				names[k] = fmt.Sprintf("some-rather-long-name-%d-%d-*", j, k)
			}
			r.Spec.Exclude = append(r.Spec.Exclude, v1alpha1.Exclusion{Names: names})
		}
		rules = append(rules, r)
	}
	sel := Resolve(resources, rules, nil)
	if len(sel) != 100 || len(sel[gvr("g0.example.com", "v1", "things")].Clauses) != 16 {
		t.Fatalf("selection of %d types", len(sel))
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	first := sel.Fingerprint()
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; n > 4<<20 {
		t.Errorf("the fingerprint allocated %d bytes", n)
	}
	if sel.Fingerprint() != first {
		t.Error("fingerprint not stable")
	}
}
