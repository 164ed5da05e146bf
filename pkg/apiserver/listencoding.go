package apiserver

import (
	"bytes"
	"encoding/json"
	"io"
	"slices"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
	"github.com/configbutler/gitops-reverser/pkg/conditions"
)

// itemEncoder is the JSON serializer with one addition: a GitTargetList is
// written from encodings of its items kept between requests.
//
// Why: a LIST of 1,000 GitTargets spent half of our server's CPU in
// encoding/json reflecting over the same objects again for every request
// (docs/benchmarks.md). The watch cache already serves the objects; what it
// does not keep is their JSON. An item's JSON is a pure function of the stored
// object, which its (uid, resourceVersion) names, and of what the read path
// computes on top: the served conditions and observedGeneration (Ready, and a
// replica's lease gone). The cache keys on the first and compares the second,
// so an entry is used only for the bytes the plain encoder would write; a
// decoration that changes without a write misses and re-encodes.
//
// The output is byte for byte the plain serializer's (the list's envelope is
// written by it, with the items spliced in; TestItemEncoderWritesWhatJSONDoes
// holds both to it). Entries not used for cacheTTL are dropped, so the cache
// holds about one encoding per GitTarget listed in the last half minute:
// 2.3 KiB each in the bench, and nothing on a server nobody lists.
type itemEncoder struct {
	runtime.Serializer // the JSON serializer
	cache              *itemCache
}

// Identifier differs from the plain serializer's: the bytes are the same, but
// nothing keyed by encoder identity should mistake one for the other.
func (e itemEncoder) Identifier() runtime.Identifier {
	return e.Serializer.Identifier() + "+items"
}

// listTail ends the envelope of a list with no items, as the plain serializer
// writes it.
const listTail = "[]}\n"

func (e itemEncoder) Encode(obj runtime.Object, w io.Writer) error {
	l, ok := obj.(*v1alpha1.GitTargetList)
	if !ok || len(l.Items) == 0 {
		return e.Serializer.Encode(obj, w)
	}
	envelope := *l
	envelope.Items = []v1alpha1.GitTarget{}
	var buf bytes.Buffer
	if err := e.Serializer.Encode(&envelope, &buf); err != nil {
		return err
	}
	if !bytes.HasSuffix(buf.Bytes(), []byte(listTail)) {
		// An envelope of a shape we do not know: the plain path.
		return e.Serializer.Encode(obj, w)
	}
	buf.Truncate(buf.Len() - len(listTail))
	buf.WriteByte('[')
	for i := range l.Items {
		if i > 0 {
			buf.WriteByte(',')
		}
		b, err := e.cache.encode(&l.Items[i])
		if err != nil {
			return err
		}
		buf.Write(b)
		// Hand the writer (gzip, the connection) what we have in pieces
		// rather than hold a second copy of the whole list.
		if buf.Len() >= 256<<10 {
			if _, err := w.Write(buf.Bytes()); err != nil {
				return err
			}
			buf.Reset()
		}
	}
	buf.WriteString("]}\n")
	_, err := w.Write(buf.Bytes())
	return err
}

// cacheTTL is how long an unused entry is kept, and sweepEvery how often the
// cache looks for them while it holds any. Why so short: the cache is for
// clients that LIST again and again (a dashboard polling every few seconds,
// the LIST after a watch broke); what a quiet server keeps of it is memory
// for nothing, some 4 KiB a target (4 MiB of 1,000 targets' idle figure in
// docs/benchmarks.md). A client that lists less often than this pays one
// encode per LIST, as without the cache.
const (
	cacheTTL   = 30 * time.Second
	sweepEvery = 10 * time.Second
)

type itemCache struct {
	now        func() time.Time
	ttl, every time.Duration

	mu       sync.Mutex
	items    map[types.UID]*cachedItem
	sweeping bool // a sweeper runs (while items holds any)
	encodes  int  // misses, for tests
}

type cachedItem struct {
	// What the bytes were encoded from, beyond the stored object that uid and
	// resourceVersion name. conditions is a copy: a slice written in place
	// after this response (nothing here does so today) must not match.
	kind, apiVersion, resourceVersion string
	observedGeneration                int64
	conditions                        []metav1.Condition
	json                              []byte
	used                              time.Time
}

func newItemCache() *itemCache {
	return &itemCache{now: time.Now, ttl: cacheTTL, every: sweepEvery, items: map[types.UID]*cachedItem{}}
}

// encode returns t's JSON as json.Marshal writes it (HTML escaped, like the
// serializer's encoder), from the cache when t is what the entry was made of.
func (c *itemCache) encode(t *v1alpha1.GitTarget) ([]byte, error) {
	if t.UID == "" || t.ResourceVersion == "" {
		return json.Marshal(t) // not a stored object (never the case in a LIST)
	}
	now := c.now()
	c.mu.Lock()
	e := c.items[t.UID]
	if e != nil && e.resourceVersion == t.ResourceVersion && e.kind == t.Kind && e.apiVersion == t.APIVersion &&
		e.observedGeneration == t.Status.ObservedGeneration && conditions.Equal(e.conditions, t.Status.Conditions) {
		e.used = now
		b := e.json
		c.mu.Unlock()
		return b, nil
	}
	c.mu.Unlock()

	b, err := json.Marshal(t)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.encodes++
	c.items[t.UID] = &cachedItem{
		kind: t.Kind, apiVersion: t.APIVersion, resourceVersion: t.ResourceVersion,
		observedGeneration: t.Status.ObservedGeneration, conditions: slices.Clone(t.Status.Conditions),
		json: b, used: now,
	}
	if !c.sweeping {
		c.sweeping = true
		go c.sweepWhileHeld()
	}
	return b, nil
}

// sweepWhileHeld sweeps every c.every until the cache is empty: an idle
// server runs no sweeper, and a busy one one.
func (c *itemCache) sweepWhileHeld() {
	t := time.NewTicker(c.every)
	defer t.Stop()
	for range t.C {
		if c.sweep(c.now()) == 0 {
			return
		}
	}
}

// sweep drops the entries not used for c.ttl and returns how many are left.
// Emptied, the cache starts a new map (a Go map keeps the buckets of its
// largest size) and its sweeper ends.
func (c *itemCache) sweep(now time.Time) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	for uid, e := range c.items {
		if now.Sub(e.used) >= c.ttl {
			delete(c.items, uid)
		}
	}
	if len(c.items) == 0 {
		c.items, c.sweeping = map[types.UID]*cachedItem{}, false
	}
	return len(c.items)
}
