package stream

import (
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
// A feed whose watch is refused (403: the server's own ClusterRole does not
// let it read the type) is denied, not broken: the cluster answered, and
// only the targets selecting that type are not streaming (deniedIn). One
// tenant's rule for a type the server may not read must not take every
// other target's stream down.
type link struct {
	answered bool
	lastErr  string // why the cluster did not answer ("" once it did)
	broken   map[feedKey]string
	denied   map[feedKey]string
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

// forbidden: k's watch was refused (why): the cluster answers, but the
// server may not read the type. A mark from an earlier outage goes, so the
// type does not hold the whole stream down.
func (l link) forbidden(k feedKey, why string) link {
	l = l.reopened(k)
	l.denied = with(l.denied, k, why)
	return l
}

// deniedIn is why one of feeds is not streaming because the server may not
// read its type ("" when none is denied).
func (l link) deniedIn(feeds []feedKey) string {
	var names []string
	first := ""
	for _, k := range feeds {
		if why, ok := l.denied[k]; ok {
			names = append(names, k.gvr.GroupResource().String())
			if first == "" {
				first = why
			}
		}
	}
	if len(names) == 0 {
		return ""
	}
	sort.Strings(names)
	return fmt.Sprintf("the server may not watch %s (its ClusterRole, the chart's rbac.readRules): %s", strings.Join(names, ", "), first)
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
	l.denied = without(l.denied, k)
	return l
}

// without is m (copied when it holds k) without k.
func without(m map[feedKey]string, k feedKey) map[feedKey]string {
	if _, ok := m[k]; !ok {
		return m
	}
	out := make(map[feedKey]string, len(m)-1)
	for key, val := range m {
		if key != k {
			out[key] = val
		}
	}
	return out
}

// with is m (copied) with k set to v: a link is a value, never changed in
// place, so the caller's copy before a transition stays what it was.
func with(m map[feedKey]string, k feedKey, v string) map[feedKey]string {
	out := make(map[feedKey]string, len(m)+1)
	for key, val := range m {
		out[key] = val
	}
	out[k] = v
	return out
}
