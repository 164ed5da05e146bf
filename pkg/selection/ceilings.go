package selection

import "k8s.io/apimachinery/pkg/runtime/schema"

// Ceilings bound what each target may mirror, keyed by target. A target's
// ceiling only ever narrows (Narrow) until its next snapshot is requested
// (Set): a user on a target's way into Git who loses a permission stops
// what it covered at once, in the stream and in the branch worker alike,
// and only a snapshot of the new selection may widen it again. A target
// without a ceiling is not bounded (before its first snapshot request).
//
// Ceilings is a plain map: its owner guards it with its own lock.
type Ceilings map[string]Selection

// Set makes sel the ceiling of key (a snapshot of sel was requested).
func (c Ceilings) Set(key string, sel Selection) { c[key] = sel }

// Forget drops the ceiling of key (the target is gone).
func (c Ceilings) Forget(key string) { delete(c, key) }

// Narrow lowers the ceiling of key to what it shares with sel (sel itself when
// key has none) and returns the new ceiling.
func (c Ceilings) Narrow(key string, sel Selection) Selection {
	if cur, ok := c[key]; ok {
		sel = Intersect(cur, sel)
	}
	c[key] = sel
	return sel
}

// Bound returns sel within the ceiling of key (sel when key has none).
func (c Ceilings) Bound(key string, sel Selection) Selection {
	if cur, ok := c[key]; ok {
		return Intersect(sel, cur)
	}
	return sel
}

// Narrower reports whether the ceiling of key takes anything away from sel.
func (c Ceilings) Narrower(key string, sel Selection) bool {
	cur, ok := c[key]
	return ok && Intersect(sel, cur).Fingerprint() != sel.Fingerprint()
}

// Allows reports whether key may mirror objects of gvr in namespace ns ("":
// cluster-scoped): true when key has no ceiling.
func (c Ceilings) Allows(key string, gvr schema.GroupVersionResource, ns string) bool {
	cur, ok := c[key]
	if !ok {
		return true
	}
	ts := cur[gvr]
	return ts != nil && ts.Matches(ns)
}
