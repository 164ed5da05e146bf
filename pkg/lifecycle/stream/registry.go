package stream

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/configbutler/gitops-reverser/pkg/lifecycle/mirror"
	"github.com/configbutler/gitops-reverser/pkg/render"
	"github.com/configbutler/gitops-reverser/pkg/selection"
)

// registry is the stream's shared state: the feeds by type, the targets
// registered to them, and routing between the two. The feeder and the barrier
// work on this state too, always under mu.
//
// One lock, mu, guards both registries, because the stream's guarantees are
// steps that read one and write the other at once:
//   - a feed delivers an event (advances its position) and routes it to the
//     targets in one step (feeder.deliver): whoever reads a position
//     afterwards knows every event up to it reached the sinks or buffers
//     (Positions, Replay's cut);
//   - BeginBuffer reads the positions of the feeds and registers the target
//     in one step (barrier.register): its buffer gets every event after them;
//   - gc stops the feeds no target selects, which must not race a
//     registration that needs one.
//
// mu guards the maps below and the mutable fields of every feed (see feed)
// and targetStream in them; the maps are never read or written without it.
// Sinks are called with mu held (a sink must not call back into the stream):
// that is what keeps an event and the position it advances in step.
type registry struct {
	mu      sync.Mutex
	feeds   map[schema.GroupVersionResource]*feed
	targets map[string]*targetStream
	// syncing holds the selections of targets waiting in BeginBuffer for their
	// feeds: those feeds are in use too.
	syncing map[string]selection.Selection
	// ceilings bound each target syncing or registered: set to its selection
	// when it registers, narrowed by Restrict, so a target whose feeds open
	// after a Restrict is narrowed too. A key neither syncing nor registered
	// has none.
	ceilings selection.Ceilings
}

func newRegistry() *registry {
	return &registry{
		feeds:    map[schema.GroupVersionResource]*feed{},
		targets:  map[string]*targetStream{},
		syncing:  map[string]selection.Selection{},
		ceilings: selection.Ceilings{},
	}
}

// targetStream is one target's registration. Every field is under
// registry.mu: routing writes buffer and floor, the barrier the rest, and
// a feed's gap marks gapped.
type targetStream struct {
	cfg  *mirror.Target // replaced, never modified (Restrict copies it)
	sink mirror.Sink
	live bool
	// buffer holds the latest event per object while the target is not live.
	buffer map[string]bufferedEvent
	// listedAt is the resourceVersion of each type's snapshot LIST, once
	// its first page is read: the buffer holds no event of the type at or
	// below it (GoLive would drop them), so a backlog the feed delivers
	// meanwhile is not held.
	listedAt map[schema.GroupVersionResource]string
	// floor is each type's snapshot cut, from GoLive until the feed has
	// delivered past it: an event at or below it is a state the snapshot
	// already holds or overtook. A feed replaying a backlog (started at an
	// old resume point, for another target or for a type this target then
	// listed) delivers such events after GoLive; routed, they would commit
	// older states of objects for a while.
	floor map[schema.GroupVersionResource]string

	// The barrier's bookkeeping, until GoLive.

	// from is each feed's position when the target's buffer began to
	// receive its events ("": the feed had not opened; then its first
	// position).
	from map[schema.GroupVersionResource]string
	// registered is when the buffer began.
	registered time.Time
	// epoch is each feed's epoch (its gaps) when from was read.
	epoch map[schema.GroupVersionResource]int
	// gapped: the feed of a type lost its position after from was fixed,
	// before GoLive.
	gapped map[schema.GroupVersionResource]bool
	// fixed are the types whose from is fixed (a gap then loses events).
	fixed []schema.GroupVersionResource
	// catchUp holds the resume points of types whose feed was past them
	// when the target registered.
	catchUp map[schema.GroupVersionResource]string
	// resume holds the resume point of each type the snapshot may replay:
	// the branch holds the type through it.
	resume map[schema.GroupVersionResource]string
}

type bufferedEvent struct {
	gvr schema.GroupVersionResource
	obj *unstructured.Unstructured
	del bool
	// coalesced: the event replaced an earlier one of the object.
	coalesced bool
}

// live reports whether a target's events flow to its worker.
func (r *registry) live(targetKey string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, ok := r.targets[targetKey]
	return ok && t.live
}

// route hands one event to every target that selects it (old: the object's
// previous state, nil when it had none).
func (r *registry) route(gvr schema.GroupVersionResource, old, obj *unstructured.Unstructured, del bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.routeLocked(gvr, old, true, obj, opOf(del, old == nil))
}

// opOf is the operation of an event: a delete, a create (the object is new),
// or an update.
func opOf(del, created bool) selection.Ops {
	switch {
	case del:
		return selection.OpDelete
	case created:
		return selection.OpCreate
	}
	return selection.OpUpdate
}

// routeLocked hands one event to every target that selects it.
//
// Filtering happens here, before anything is rendered: an object in a
// target's scope that its clauses do not take (a label selector, an
// exclusion, a derived object) is not passed on; one that stops being taken
// (its labels changed) is passed on as a delete, which removes its file. When
// the previous state is not known (oldKnown false: a feed that resumed has not
// seen the object yet), a change to an object not taken is passed on as a
// delete too: the file, if there is one, must go, and deleting a file that is
// not there writes nothing.
//
// The rules' operations (op is the event's) decide last: a change the rules
// that take the object leave out is not passed on (leaving the selection is
// a delete, for the rules that took the object before).
func (r *registry) routeLocked(gvr schema.GroupVersionResource, old *unstructured.Unstructured, oldKnown bool, u *unstructured.Unstructured, op selection.Ops) {
	del := op == selection.OpDelete
	for _, t := range r.targets {
		ts, ok := t.cfg.Selection[gvr]
		if !ok || !ts.Matches(u.GetNamespace()) {
			continue
		}
		takeDel := del
		if !ts.MatchesObject(u) {
			if del || (oldKnown && (old == nil || !ts.MatchesObject(old))) {
				continue // never taken: no file to touch
			}
			takeDel = true // it left the selection
			// Whose rules took it before is known from the old state; with
			// none known, only when every rule mirrors deletes (else the file
			// may be an archive a rule without DELETE keeps).
			if oldKnown && !ts.Allows(old, selection.OpDelete) || !oldKnown && ts.Narrowed(selection.OpDelete) {
				continue
			}
		} else if !ts.Allows(u, op) {
			continue
		}
		if !t.live {
			if at, ok := t.listedAt[gvr]; ok && !newerThan(u.GetResourceVersion(), at) {
				continue // the snapshot's LIST holds this state or a later one
			}
			key := gvr.String() + "/" + u.GetNamespace() + "/" + u.GetName()
			prev, replaced := t.buffer[key]
			// An event it replaces is a write the change stands for too:
			// ignoreChangesBy cannot ask about it any more, so it is committed.
			t.buffer[key] = bufferedEvent{gvr: gvr, obj: u, del: takeDel, coalesced: replaced || prev.coalesced}
			continue
		}
		if floor, ok := t.floor[gvr]; ok {
			if !newerThan(u.GetResourceVersion(), floor) {
				continue // the snapshot holds this state or a later one
			}
			delete(t.floor, gvr) // a feed delivers in order: past it for good
		}
		if c := t.changeFor(gvr, u, takeDel); c != nil {
			t.sink.Enqueue(c)
		}
	}
}

// selectedLocked reports whether any target selects gvr in namespace ns.
func (r *registry) selectedLocked(gvr schema.GroupVersionResource, ns string) bool {
	for _, t := range r.targets {
		if ts, ok := t.cfg.Selection[gvr]; ok && ts.Matches(ns) {
			return true
		}
	}
	return false
}

// streams counts the registered targets (buffering or live) that select any
// version of the type gr in namespace ns: how many targets a write there can
// still be routed to (pkg/attribution keeps a report for that many lookups,
// and those no target selects briefly). A target registers before its
// snapshot reads, and only events after that read reach it, so a write made
// while no target selected its place is not routed, unless its event reaches
// the feed after a replayed snapshot's cut (a watch lagging behind the
// registration).
func (r *registry) streams(gr schema.GroupResource, ns string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, t := range r.targets {
		for gvr, ts := range t.cfg.Selection {
			if gvr.GroupResource() == gr && ts.Matches(ns) {
				n++
				break // one target, whatever the versions it selects
			}
		}
	}
	return n
}

// gappedLocked tells the targets of a type that its feed lost its position in
// epoch, and returns those that must take a new snapshot (see gapEffectOf).
func (r *registry) gappedLocked(gvr schema.GroupVersionResource, epoch int) (resync []string) {
	for key, t := range r.targets {
		switch gapEffectOf(t, gvr, epoch) {
		case gapResync:
			resync = append(resync, key)
		case gapMark:
			t.gapped[gvr] = true
		}
	}
	return resync
}

// restrict narrows a target's ceiling and, when registered, its selection
// (see Router.Restrict). A key neither syncing nor registered is not
// recorded: its BeginBuffer sets the ceiling afresh.
func (r *registry) restrict(targetKey string, sel selection.Selection) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, syncing := r.syncing[targetKey]
	t, registered := r.targets[targetKey]
	if !syncing && !registered {
		return false
	}
	r.ceilings.Narrow(targetKey, sel)
	if !registered || !r.ceilings.Narrower(targetKey, t.cfg.Selection) {
		return false
	}
	cfg := *t.cfg
	cfg.Selection = r.ceilings.Bound(targetKey, t.cfg.Selection)
	t.cfg = &cfg
	for k, ev := range t.buffer {
		if ts := cfg.Selection[ev.gvr]; ts == nil || !ts.Matches(ev.obj.GetNamespace()) {
			delete(t.buffer, k)
		}
	}
	r.gcFeedsLocked()
	return true
}

// listed notes that a buffering target's snapshot reads gvr as of rv (its
// LIST's first page): its buffered events of the type at or below rv go,
// and none is buffered any more.
func (r *registry) listed(targetKey string, gvr schema.GroupVersionResource, rv string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, ok := r.targets[targetKey]
	if !ok || t.live || rv == "" {
		return
	}
	if t.listedAt == nil {
		t.listedAt = map[schema.GroupVersionResource]string{}
	}
	t.listedAt[gvr] = rv
	for k, ev := range t.buffer {
		if ev.gvr == gvr && !newerThan(ev.obj.GetResourceVersion(), rv) {
			delete(t.buffer, k)
		}
	}
}

// unregister removes a target from the stream.
func (r *registry) unregister(targetKey string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.targets, targetKey)
	r.forgetLocked(targetKey)
	r.gcFeedsLocked()
}

// unregisterAll removes every target. Targets still waiting in BeginBuffer
// keep their feeds and ceilings until it returns.
func (r *registry) unregisterAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for key := range r.targets {
		delete(r.targets, key)
		r.forgetLocked(key)
	}
	r.gcFeedsLocked()
}

// forgetLocked drops the ceiling of a target neither syncing nor registered.
func (r *registry) forgetLocked(targetKey string) {
	_, syncing := r.syncing[targetKey]
	_, registered := r.targets[targetKey]
	if !syncing && !registered {
		r.ceilings.Forget(targetKey)
	}
}

// stopFeeds stops every feed.
func (r *registry) stopFeeds() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for gvr, f := range r.feeds {
		f.cancel()
		delete(r.feeds, gvr)
	}
}

// gcFeedsLocked stops the feeds no target selects.
func (r *registry) gcFeedsLocked() {
	used := typesInUse(r.targets, r.syncing)
	for gvr, f := range r.feeds {
		if !used[gvr] {
			f.cancel()
			delete(r.feeds, gvr)
		}
	}
}

// typesInUse are the types whose feeds must run: those a registered target
// selects, and those a target waiting in BeginBuffer asked for (its
// selection as requested: a Restrict meanwhile narrows the target, not what
// it waits for).
func typesInUse(targets map[string]*targetStream, syncing map[string]selection.Selection) map[schema.GroupVersionResource]bool {
	used := map[schema.GroupVersionResource]bool{}
	for _, t := range targets {
		for gvr := range t.cfg.Selection {
			used[gvr] = true
		}
	}
	for _, sel := range syncing {
		for gvr := range sel {
			used[gvr] = true
		}
	}
	return used
}

// changeFor turns an event into a change of the target's files (nil for a
// Secret when the target has no encryption), with the ignoreChangesBy of
// the rules that take the object (none for an object leaving the selection:
// no rule takes it now).
func (t *targetStream) changeFor(gvr schema.GroupVersionResource, u *unstructured.Unstructured, del bool) *mirror.Change {
	if render.IsSecret(gvr) && t.cfg.Keys == nil {
		return nil
	}
	path := render.Path(t.cfg.Path, gvr, u.GetNamespace(), u.GetName())
	c := &mirror.Change{TargetKey: t.cfg.Key, GVR: gvr, Namespace: u.GetNamespace(), Name: u.GetName(), Path: path, Keys: t.cfg.Keys, Clean: t.cfg.Clean,
		UID: u.GetUID(), ResourceVersion: u.GetResourceVersion()}
	if ts, ok := t.cfg.Selection[gvr]; ok {
		c.Ignore = ts.IgnoresFor(u)
	}
	if !del {
		c.Object = u
	}
	return c
}
