package stream

import (
	"cmp"
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

// link is what connectivity knows of the source cluster, as a pure value:
// whether the cluster answered its last probe, and the feeds whose watch
// failed and has not reopened since. The stream is up only when both hold:
// a cluster that answers a probe while a feed still backs off (up to 5 s
// after an outage) is not streaming that type yet. A target reported live
// then could still take a new snapshot (its feed reopening at a position
// the cluster no longer has, 410), and a write made meanwhile would reach
// Git in that snapshot's commit, under the snapshot identity instead of its
// author. Routine closes (EOF, 410) never break a feed, so a watch the
// server ends every few minutes does not make Ready flicker.
//
// A feed whose watch the cluster answers with an error is refused, not
// broken: only the targets selecting that type are not streaming
// (refusedIn). A 403 (the server's own ClusterRole does not let it read the
// type) is final until the ClusterRole changes; a 500 or 503 (the type's
// conversion webhook or aggregated API is down, say) may pass. One tenant's
// rule for such a type must not take every other target's stream down.
type link struct {
	answered bool
	lastErr  string // why the cluster did not answer ("" once it did)
	broken   map[feedKey]string
	refused  map[feedKey]refusal
}

// refusal is why the cluster refused a feed's watch; final when retrying
// cannot help before the server's ClusterRole changes (403).
type refusal struct {
	why   string
	final bool
}

// feedKey names one feed: its type, and which of the feeds that type had.
// A feed stopped (no target selects its type) and another started for the
// type mark and clear only their own entries: the old one's exit must not
// clear the new one's mark, nor its mark refuse a target of the new one.
type feedKey struct {
	gvr schema.GroupVersionResource
	id  uint64
}

// up: the cluster answers and every feed that failed has reopened.
func (l link) up() bool { return l.answered && len(l.broken) == 0 }

// why is the reason the stream is not up ("" when it is).
func (l link) why() string {
	switch {
	case !l.answered:
		return l.lastErr
	case len(l.broken) > 0:
		keys := make([]feedKey, 0, len(l.broken))
		for k := range l.broken {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool { return keys[i].gvr.String() < keys[j].gvr.String() })
		names := make([]string, len(keys))
		for i, k := range keys {
			names[i] = k.gvr.String()
		}
		return fmt.Sprintf("the cluster answers; the watch of %s has not reopened yet (%s)",
			strings.Join(names, ", "), l.broken[keys[0]])
	}
	return ""
}

// failed: k's watch could not reach the cluster (why).
func (l link) failed(k feedKey, why string) link {
	l.broken = with(l.broken, k, why)
	l.answered, l.lastErr = false, why
	return l
}

// refuse: the cluster answered k's watch with an error (why); final for a
// 403. A mark from an earlier outage goes, so the type does not hold the
// whole stream down.
func (l link) refuse(k feedKey, why string, final bool) link {
	l = l.reopened(k)
	l.refused = with(l.refused, k, refusal{why: why, final: final})
	return l
}

// refusedIn is why one of feeds is not streaming though the cluster answers
// ("" when none is refused); final when a refusal is (its reason comes
// first).
func (l link) refusedIn(feeds []feedKey) (why string, final bool) {
	var finals, others []string
	var finalWhy, otherWhy string
	for _, k := range feeds {
		r, ok := l.refused[k]
		switch {
		case !ok:
		case r.final:
			finals = append(finals, k.gvr.GroupResource().String())
			finalWhy = cmp.Or(finalWhy, r.why)
		default:
			others = append(others, k.gvr.GroupResource().String())
			otherWhy = cmp.Or(otherWhy, r.why)
		}
	}
	sort.Strings(finals)
	sort.Strings(others)
	switch {
	case len(finals) > 0:
		return fmt.Sprintf("the server may not watch %s (its ClusterRole, the chart's rbac.readRules): %s", strings.Join(finals, ", "), finalWhy), true
	case len(others) > 0:
		return fmt.Sprintf("the cluster answers, but the watch of %s fails: %s", strings.Join(others, ", "), otherWhy), false
	}
	return "", false
}

// unreachable: another reader of the cluster found it not answering.
func (l link) unreachable(why string) link {
	l.answered, l.lastErr = false, why
	return l
}

// probed: the cluster answered a probe.
func (l link) probed() link {
	l.answered, l.lastErr = true, ""
	return l
}

// reopened: k's watch is open again (or the feed stopped: a type no target
// selects any more does not hold the stream down).
func (l link) reopened(k feedKey) link {
	l.broken = without(l.broken, k)
	l.refused = without(l.refused, k)
	return l
}

// without is m (copied when it holds k) without k.
func without[V any](m map[feedKey]V, k feedKey) map[feedKey]V {
	if _, ok := m[k]; !ok {
		return m
	}
	out := make(map[feedKey]V, len(m)-1)
	for key, val := range m {
		if key != k {
			out[key] = val
		}
	}
	return out
}

// with is m (copied) with k set to v: a link is a value, never changed in
// place, so the caller's copy before a transition stays what it was.
func with[V any](m map[feedKey]V, k feedKey, v V) map[feedKey]V {
	out := make(map[feedKey]V, len(m)+1)
	for key, val := range m {
		out[key] = val
	}
	out[k] = v
	return out
}
