package attribution

import (
	"math"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/configbutler/gitops-reverser/pkg/metrics"
)

// Query is a change to attribute.
type Query struct {
	Resource        schema.GroupResource
	Namespace, Name string
	UID             types.UID
	ResourceVersion string
	Deleted         bool
}

type nameKey struct {
	gr       schema.GroupResource
	ns, name string
}

// entry is a kept report: its author and namespace, held once per distinct
// pair, when it came (Unix nanoseconds), and how many lookups it answers
// before it is used up (uses: one per target that streamed its place when it
// came, since each target's worker looks its change up once).
type entry struct {
	by   *placed
	at   int64
	uses uint16
}

func (e entry) older(now time.Time, age time.Duration) bool { return now.UnixNano()-e.at > int64(age) }

// Wanted reports how many targets stream a resource type in a namespace (""
// for cluster-scoped types) now: how many branch workers a change there can
// still reach live, the only place reports are looked up. Each of them looks
// the report up once: two targets mirroring one object both commit its
// author.
type Wanted func(gr schema.GroupResource, namespace string) int

// Store holds reports until their changes are committed, or for TTL.
//
// A report no target can ask for is kept for UnwantedTTL only (SetWanted). A
// change is streamed to a target only after that target registered with the
// stream and took its snapshot, which holds every write its read saw; so a
// write reported while no target streamed its type and namespace is, but for
// a watch lagging behind the target's registration, in the target's snapshot
// and never streamed. Kept for the TTL, such reports cost 48 bytes and more
// for each of 100,000 objects of a bulk import into a namespace nobody
// mirrors yet (the usual way a mirror starts), for ten minutes.
type Store struct {
	TTL time.Duration

	mu sync.Mutex
	// kept holds the reports a target streamed when they came, for TTL;
	// unwanted the others, for UnwantedTTL.
	kept, unwanted tables
	received       int
	unwantedN      int // reports added to unwanted
	names          interner

	// wanted is asked outside mu: the stream answers under its own lock,
	// which its sinks hold while they run.
	wanted atomic.Pointer[Wanted]
}

// DefaultTTL is how long a report is kept for a change to find it: far longer
// than any grace, so a report that arrives before its watch event (a watch
// that lags behind the audit webhook) is still there.
const DefaultTTL = 10 * time.Minute

// UnwantedTTL is how long a report no target streamed when it came is kept:
// for a target that registered meanwhile and whose watch delivers the write
// after its snapshot (a watch lagging by less than this).
const UnwantedTTL = time.Minute

// ExpireEvery expires reports every interval until done is closed.
func (s *Store) ExpireEvery(done <-chan struct{}, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case now := <-t.C:
			s.Expire(now)
		}
	}
}

// NewStore returns an empty store keeping every report for ttl.
func NewStore(ttl time.Duration) *Store {
	return &Store{TTL: ttl}
}

// SetWanted makes the store keep only the reports of writes wanted says some
// target streams (nil: all of them). The stream sets it when it starts.
func (s *Store) SetWanted(wanted Wanted) {
	if wanted == nil {
		s.wanted.Store(nil)
		return
	}
	s.wanted.Store(&wanted)
}

// maxEntries bounds the store (some 48 bytes a report in its map, see
// keys.go; its author held once): when it is exceeded, reports are dropped
// down to nine tenths of it (evictLocked: from the namespaces holding the
// most, oldest first by age thresholds), so a flood of writes costs bounded
// memory and a few O(n) sweeps per tenth of the bound, not one per report. A
// change whose report was dropped is authored by its field manager, as
// without reports.
const maxEntries = 200_000

// evictAges are the age thresholds tried, in order, until the store is small
// enough (the last one empties it).
func (s *Store) evictAges() []time.Duration {
	return []time.Duration{s.TTL / 2, s.TTL / 8, s.TTL / 32, 10 * time.Second, time.Second, -1}
}

func (s *Store) size() int { return s.kept.len() + s.unwanted.len() }

// scope is a type in a namespace, what Wanted is asked about.
type scope struct {
	gr schema.GroupResource
	ns string
}

// Add keeps reports.
func (s *Store) Add(reports ...Report) {
	keep := s.keep(reports)
	s.mu.Lock()
	defer s.mu.Unlock()
	unwanted := 0
	for i, r := range reports {
		e := entry{by: s.names.place(r.Author, r.Namespace), at: r.Received.UnixNano(), uses: 1}
		if keep != nil {
			e.uses = max(keep[i], 1)
		}
		if keep != nil && keep[i] == 0 {
			unwanted++
			s.unwanted.add(r, e)
			continue
		}
		s.kept.add(r, e)
	}
	s.received += len(reports)
	s.unwantedN += unwanted
	metrics.AttributionKept.WithLabelValues("unwanted").Add(float64(unwanted))
	metrics.AttributionKept.WithLabelValues("kept").Add(float64(len(reports) - unwanted))
	if s.size() > maxEntries {
		s.evictLocked(time.Now())
	}
}

// keep says how many targets want each report (nil: unknown, all are kept
// for one lookup), asking Wanted once per type and namespace of the batch: a
// batch of a thousand writes to one namespace asks once.
func (s *Store) keep(reports []Report) []uint16 {
	w := s.wanted.Load()
	if w == nil {
		return nil
	}
	keep := make([]uint16, len(reports))
	asked := map[scope]uint16{}
	for i, r := range reports {
		sc := scope{r.Resource, r.Namespace}
		want, ok := asked[sc]
		if !ok {
			want = uint16(min(max((*w)(r.Resource, r.Namespace), 0), math.MaxUint16))
			asked[sc] = want
		}
		keep[i] = want
	}
	return keep
}

// Lookup returns the author of a change and whether a report explains it;
// the report is used up once every target that wanted it looked it up.
func (s *Store) Lookup(q Query) (Author, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if who, ok := s.kept.take(q); ok {
		return who, true
	}
	return s.unwanted.take(q)
}

// Expire forgets reports older than the TTL (writes nobody mirrors).
func (s *Store) Expire(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireLocked(now, s.TTL)
}

func (s *Store) expireLocked(now time.Time, ttl time.Duration) {
	s.kept.expire(now, ttl)
	s.unwanted.expire(now, min(ttl, UnwantedTTL))
}

// Received counts the reports added.
func (s *Store) Received() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.received
}

// Unwanted counts the reports added while no target streamed their type and
// namespace (SetWanted), kept for UnwantedTTL only.
func (s *Store) Unwanted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.unwantedN
}
