package lifecycle

import (
	"strings"

	"k8s.io/client-go/tools/cache"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
)

// overlapIndex indexes targets by branch and path so that a reconcile finds
// the targets whose paths overlap its own (the Validated gate's conflicts)
// without comparing against every target: with 1,000 targets a recheck of
// all of them was a million comparisons (a third of the server's CPU while
// it ran, in the API benchmark's profile). A target is indexed under its own
// path and, as "under", each ancestor of it; the targets overlapping path p
// are those at p or at an ancestor of p, and those under p.
const overlapIndex = "branch-path"

func overlapKeys(obj interface{}) ([]string, error) {
	t, ok := obj.(*v1alpha1.GitTarget)
	if !ok {
		return nil, nil
	}
	b, p := t.Spec.Branch, strings.Trim(t.Spec.Path, "/")
	keys := []string{"at\x00" + b + "\x00" + p}
	for _, a := range ancestors(p) {
		keys = append(keys, "under\x00"+b+"\x00"+a)
	}
	return keys, nil
}

// ancestors are the proper ancestors of a path, the root ("") first.
func ancestors(p string) []string {
	if p == "" {
		return nil
	}
	out := []string{""}
	for i := 0; i < len(p); i++ {
		if p[i] == '/' {
			out = append(out, p[:i])
		}
	}
	return out
}

// overlapping returns the targets on t's branch whose paths overlap t's
// (t itself included), from the index; nil index: every target.
func overlapping(idx cache.Indexer, t *v1alpha1.GitTarget, all func() []*v1alpha1.GitTarget) []*v1alpha1.GitTarget {
	if idx == nil {
		return all()
	}
	b, p := t.Spec.Branch, strings.Trim(t.Spec.Path, "/")
	var out []*v1alpha1.GitTarget
	add := func(key string) {
		objs, _ := idx.ByIndex(overlapIndex, key)
		for _, o := range objs {
			if ot, ok := o.(*v1alpha1.GitTarget); ok {
				out = append(out, ot)
			}
		}
	}
	for _, a := range append(ancestors(p), p) {
		add("at\x00" + b + "\x00" + a)
	}
	add("under\x00" + b + "\x00" + p)
	return out
}
