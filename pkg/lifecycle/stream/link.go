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
type link struct {
	answered bool
	lastErr  string // why the cluster did not answer ("" once it did)
	broken   map[schema.GroupVersionResource]string
}

// up: the cluster answers and every feed that failed has reopened.
func (l link) up() bool { return l.answered && len(l.broken) == 0 }

// why is the reason the stream is not up ("" when it is).
func (l link) why() string {
	switch {
	case !l.answered:
		return l.lastErr
	case len(l.broken) > 0:
		gvrs := make([]schema.GroupVersionResource, 0, len(l.broken))
		for gvr := range l.broken {
			gvrs = append(gvrs, gvr)
		}
		sort.Slice(gvrs, func(i, j int) bool { return gvrs[i].String() < gvrs[j].String() })
		names := make([]string, len(gvrs))
		for i, gvr := range gvrs {
			names[i] = gvr.String()
		}
		return fmt.Sprintf("the cluster answers; the watch of %s has not reopened yet (%s)",
			strings.Join(names, ", "), l.broken[gvrs[0]])
	}
	return ""
}

// failed: gvr's watch could not reach the cluster (why).
func (l link) failed(gvr schema.GroupVersionResource, why string) link {
	l.broken = with(l.broken, gvr, why)
	l.answered, l.lastErr = false, why
	return l
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

// reopened: gvr's watch is open again (or its feed stopped: a type no target
// selects any more does not hold the stream down).
func (l link) reopened(gvr schema.GroupVersionResource) link {
	if _, ok := l.broken[gvr]; !ok {
		return l
	}
	next := make(map[schema.GroupVersionResource]string, len(l.broken)-1)
	for k, v := range l.broken {
		if k != gvr {
			next[k] = v
		}
	}
	l.broken = next
	return l
}

// with is m (copied) with k set to v: a link is a value, never changed in
// place, so the caller's copy before a transition stays what it was.
func with(m map[schema.GroupVersionResource]string, k schema.GroupVersionResource, v string) map[schema.GroupVersionResource]string {
	out := make(map[schema.GroupVersionResource]string, len(m)+1)
	for key, val := range m {
		out[key] = val
	}
	out[k] = v
	return out
}
