package lifecycle

import (
	"sort"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
	"github.com/configbutler/gitops-reverser/pkg/lifecycle/gates"
)

// TestOverlappingMatchesEveryPair: the index finds exactly the targets a
// comparison against every target finds (same branch, overlapping paths),
// for roots, nested paths, siblings sharing a prefix and other branches.
func TestOverlappingMatchesEveryPair(t *testing.T) {
	idx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{overlapIndex: overlapKeys})
	var all []*v1alpha1.GitTarget
	for i, s := range []struct{ branch, path string }{
		{"main", ""}, {"main", "a"}, {"main", "a/b"}, {"main", "a/b/c"}, {"main", "a/bc"}, {"main", "ab"},
		{"main", "x/y"}, {"dev", "a"}, {"dev", ""}, {"main", "a/b/c/d/e"}, {"main", "/a/b/"},
	} {
		tg := &v1alpha1.GitTarget{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: string(rune('a' + i))},
			Spec: v1alpha1.GitTargetSpec{Branch: s.branch, Path: s.path}}
		all = append(all, tg)
		if err := idx.Add(tg); err != nil {
			t.Fatal(err)
		}
	}
	names := func(ts []*v1alpha1.GitTarget) []string {
		var out []string
		for _, x := range ts {
			out = append(out, x.Name)
		}
		sort.Strings(out)
		return out
	}
	for _, tg := range all {
		var want []*v1alpha1.GitTarget
		for _, o := range all {
			if o.Spec.Branch == tg.Spec.Branch && gates.PathsOverlap(trim(o.Spec.Path), trim(tg.Spec.Path)) {
				want = append(want, o)
			}
		}
		got := overlapping(idx, tg, nil)
		if g, w := names(got), names(want); len(g) != len(w) || (len(g) > 0 && !equal(g, w)) {
			t.Errorf("%s %q: overlapping %v, want %v", tg.Spec.Branch, tg.Spec.Path, g, w)
		}
	}
}

func trim(p string) string {
	for len(p) > 0 && p[0] == '/' {
		p = p[1:]
	}
	for len(p) > 0 && p[len(p)-1] == '/' {
		p = p[:len(p)-1]
	}
	return p
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
