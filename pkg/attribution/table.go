package attribution

import (
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// tables are the maps reports are kept in, one per key a change is looked
// up by: a Secret's name (reported at level Metadata, with no version), a
// delete's uid, else the version written, compact when it can be (keys.go).
type tables struct {
	byVersion table[compactKey]
	otherKeys table[versionKey]
	byUID     table[types.UID]
	byName    table[nameKey]
}

func isSecret(gr schema.GroupResource) bool { return gr.Group == "" && gr.Resource == "secrets" }

// add keeps e for r's key (a report with none is not kept).
func (t *tables) add(r Report, e entry) {
	switch {
	case isSecret(r.Resource):
		t.byName.put(nameKey{r.Resource, r.Namespace, r.Name}, e)
	case r.Author.Verb == "delete" && r.UID != "":
		t.byUID.put(r.UID, e)
	case r.UID != "" && r.ResourceVersion != "":
		// The first report of a version is the write that made it: a later
		// no-op write (an apply that changed nothing) returns the same
		// version and must not take it over.
		if k, ok := compactVersion(r.UID, r.ResourceVersion); ok {
			t.byVersion.putFirst(k, e)
		} else {
			t.otherKeys.putFirst(versionKey{r.UID, r.ResourceVersion}, e)
		}
	}
}

// take returns the author of q's change and uses its report up once.
func (t *tables) take(q Query) (Author, bool) {
	switch {
	case isSecret(q.Resource):
		return t.byName.take(nameKey{q.Resource, q.Namespace, q.Name})
	case q.Deleted:
		return t.byUID.take(q.UID)
	}
	if k, compact := compactVersion(q.UID, q.ResourceVersion); compact {
		return t.byVersion.take(k)
	}
	return t.otherKeys.take(versionKey{q.UID, q.ResourceVersion})
}

func (t *tables) expire(now time.Time, ttl time.Duration) {
	t.byVersion.expire(now, ttl)
	t.otherKeys.expire(now, ttl)
	t.byUID.expire(now, ttl)
	t.byName.expire(now, ttl)
}

func (t *tables) len() int {
	return t.byVersion.len() + t.otherKeys.len() + t.byUID.len() + t.byName.len()
}

// table is one of the store's maps, with the most entries it held since it
// was last made (peak). A Go map keeps the buckets of its largest size after
// its entries are deleted: after a burst of 100,000 reports, used up or
// expired, the store would hold their buckets (some 5 MB) for as long as the
// process lives. So when expiry leaves few entries against the peak
// (shrinks), they move into a map of their own size.
type table[K comparable] struct {
	m    map[K]entry
	peak int
}

func (t *table[K]) len() int { return len(t.m) }

// put keeps e under k, over what was there.
func (t *table[K]) put(k K, e entry) {
	if t.m == nil {
		t.m = map[K]entry{}
	}
	t.m[k] = e
	t.peak = max(t.peak, len(t.m))
}

// putFirst keeps e under k unless k holds an entry already.
func (t *table[K]) putFirst(k K, e entry) {
	if _, ok := t.m[k]; !ok {
		t.put(k, e)
	}
}

// take returns k's author and uses it up once (forgotten when no use is
// left).
func (t *table[K]) take(k K) (Author, bool) {
	e, ok := t.m[k]
	if !ok {
		return Author{}, false
	}
	if e.uses > 1 {
		e.uses--
		t.m[k] = e
	} else {
		delete(t.m, k)
	}
	return *e.by.author, true // a copy: the interned one is shared
}

// expire forgets the entries older than ttl, then moves the rest into a
// smaller map when shrinks says so.
func (t *table[K]) expire(now time.Time, ttl time.Duration) {
	for k, e := range t.m {
		if e.older(now, ttl) {
			delete(t.m, k)
		}
	}
	if !shrinks(len(t.m), t.peak) {
		return
	}
	m := make(map[K]entry, len(t.m))
	for k, e := range t.m {
		m[k] = e
	}
	t.m, t.peak = m, len(m)
}

// minShrink is the peak under which a table is left as it is: a few
// thousand entries' buckets are not worth a copy.
const minShrink = 4096

// shrinks decides whether a table holding n entries, after a peak of peak
// since it was made, moves into a smaller map: when the peak was large and a
// quarter of it or less is left, so a table that stays busy is not copied on
// every expiry.
func shrinks(n, peak int) bool {
	return peak >= minShrink && n <= peak/4
}
