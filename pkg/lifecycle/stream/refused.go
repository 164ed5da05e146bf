package stream

import "k8s.io/apimachinery/pkg/runtime/schema"

// A type whose watch the source cluster refuses (403: the server's own
// ClusterRole does not let it read the type; 500 or 503: its conversion
// webhook or aggregated API is down) concerns only the targets that select
// it (see link): they are told when it is refused or streams again, and
// their EventStreamLive says why.

// Refused is why the target is not streaming one of its types though the
// cluster answers ("" when every one streams).
func (r *Router) Refused(targetKey string) string {
	why, _, _ := r.conn.refusedIn(r.reg.feedsOf(targetKey))
	return why
}

// feedsOf names the feeds of a registered target's types (none when it is
// not registered).
func (r *registry) feedsOf(targetKey string) []feedKey {
	r.mu.Lock()
	defer r.mu.Unlock()
	ts := r.targets[targetKey]
	if ts == nil {
		return nil
	}
	return r.feedKeysLocked(ts.cfg.Selection.GVRs())
}

// feedKeysLocked names the running feeds of types. The caller holds mu.
func (r *registry) feedKeysLocked(types []schema.GroupVersionResource) []feedKey {
	keys := make([]feedKey, 0, len(types))
	for _, gvr := range types {
		if f := r.feeds[gvr]; f != nil {
			keys = append(keys, f.key)
		}
	}
	return keys
}

// targetsOn lists the registered targets that select the type of any of
// feeds.
func (r *registry) targetsOn(feeds []feedKey) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var keys []string
	for key, ts := range r.targets {
		for _, k := range feeds {
			if _, ok := ts.cfg.Selection[k.gvr]; ok {
				keys = append(keys, key)
				break
			}
		}
	}
	return keys
}
