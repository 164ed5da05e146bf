// Package stream is the live event stream: one watch per watched resource
// type of the source cluster (a feed, feed.go), shared by every target whose
// selection includes it, routing each event to the branch worker (a
// mirror.Sink) of every target that selects it.
//
// A target goes through the seed's barrier: BeginBuffer (the feeds of its
// types are watching, its events are buffered per object), the snapshot's read
// and commit, then GoLive, which applies the buffered events newer than the
// snapshot and from then on hands events straight to the target's worker.
// Nothing between the snapshot's read and the stream start is lost.
//
// A snapshot reads a type one of two ways:
//   - List: a LIST of the type (paginated; nothing of it is kept), the
//     snapshot's view as of the LIST's resourceVersion;
//   - Replay, after a restart: the branch worker knows the resourceVersion
//     through which it had mirrored the type (its resume point) and the feed
//     starts its watch there; the events since are the snapshot's changes,
//     so a restart costs what changed, not what exists. It is used only when
//     the feed can serve it (it starts at or before that point) and the API
//     still has that version; otherwise the type is listed.
//
// Connectivity changes of the source cluster are reported as a mirror.Result
// (OpSource), a target that missed events (its feed's position expired) as
// OpResync; the stream never calls the controller.
package stream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/klog/v2"

	"github.com/configbutler/gitops-reverser/pkg/lifecycle/mirror"
	"github.com/configbutler/gitops-reverser/pkg/lifecycle/snapshot"
	"github.com/configbutler/gitops-reverser/pkg/render"
	"github.com/configbutler/gitops-reverser/pkg/selection"
)

// listPage is the page size of a snapshot's LIST: memory is bounded by a page,
// not by the type.
const listPage = 500

// Replay waits for a resumed feed to go quiet (no event for replayQuiet) before
// it takes the events since the resume point, at most replayMaxWait. The wait
// only decides how fresh the snapshot is, never whether it is right: an event
// still on its way arrives after the cut and GoLive applies it.
var (
	replayQuiet   = 100 * time.Millisecond
	replayMaxWait = time.Second
)

// ErrGap: the target's feed lost its position during the snapshot; the
// snapshot is retried (and lists).
var ErrGap = errors.New("the watch of the source cluster lost its position (410); a new snapshot follows")

// Router is the live event stream (see the package comment).
type Router struct {
	dyn       dynamic.Interface
	discovery discovery.DiscoveryInterface
	report    mirror.Reporter // connectivity changed, a target must resync

	mu      sync.Mutex
	feeds   map[schema.GroupVersionResource]*feed
	targets map[string]*targetStream
	// syncing holds the selections of targets waiting in BeginBuffer for their
	// feeds: those feeds are in use too.
	syncing map[string]selection.Selection
	// ceilings narrow a target that registers after a Restrict that came while
	// it was syncing.
	ceilings  map[string]selection.Selection
	connected bool
	lastError string
	probing   bool
	stopped   bool
}

// targetStream is one target's registration.
type targetStream struct {
	cfg  *mirror.Target
	sink mirror.Sink
	live bool
	// buffer holds the latest event per object while the target is not live.
	buffer map[string]bufferedEvent
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
	// floor is each type's snapshot cut, from GoLive until the feed has
	// delivered past it: an event at or below it is a state the snapshot
	// already holds or overtook. A feed replaying a backlog (started at an
	// old resume point, for another target or for a type this target then
	// listed) delivers such events after GoLive; routed, they would commit
	// older states of objects for a while.
	floor map[schema.GroupVersionResource]string
}

type bufferedEvent struct {
	gvr schema.GroupVersionResource
	obj *unstructured.Unstructured
	del bool
}

// New returns a router over the source cluster; report (optional) learns when
// the cluster stops or starts answering and when a target must resync.
func New(dyn dynamic.Interface, disc discovery.DiscoveryInterface, report mirror.Reporter) *Router {
	if report == nil {
		report = func(mirror.Result) {}
	}
	return &Router{
		dyn: dyn, discovery: disc, report: report,
		feeds:     map[schema.GroupVersionResource]*feed{},
		targets:   map[string]*targetStream{},
		syncing:   map[string]selection.Selection{},
		ceilings:  map[string]selection.Selection{},
		connected: true,
	}
}

func resyncResult(key string) mirror.Result {
	return mirror.Result{Target: key, Op: mirror.OpResync, Err: ErrGap, Time: time.Now()}
}

// Connected reports whether the source cluster answers, and the last error.
func (r *Router) Connected() (bool, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.connected, r.lastError
}

// Live reports whether a target's events flow to its worker.
func (r *Router) Live(targetKey string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, ok := r.targets[targetKey]
	return ok && t.live
}

// BeginBuffer registers a target (or re-registers it with a new selection):
// its events are buffered from now until GoLive, and it returns once the feed
// of each selected type is watching. resume holds the worker's resume point
// per type; a feed not running yet starts at this target's resume point.
// It returns the types the snapshot can Replay: those whose feed delivers
// every event after the resume point to this target. Feeds of types no target
// selects any more are stopped.
func (r *Router) BeginBuffer(ctx context.Context, cfg *mirror.Target, sink mirror.Sink, resume map[schema.GroupVersionResource]string) (map[schema.GroupVersionResource]bool, error) {
	r.mu.Lock()
	delete(r.ceilings, cfg.Key) // only what narrows it from now on counts
	r.syncing[cfg.Key] = cfg.Selection
	ts := &targetStream{cfg: cfg, sink: sink, buffer: map[string]bufferedEvent{},
		from: map[schema.GroupVersionResource]string{}, catchUp: map[schema.GroupVersionResource]string{}, registered: time.Now(),
		epoch: map[schema.GroupVersionResource]int{}, gapped: map[schema.GroupVersionResource]bool{}}
	for gvr := range cfg.Selection {
		f, ok := r.feeds[gvr]
		if !ok {
			f = r.startFeedLocked(gvr, resume[gvr])
		}
		ts.from[gvr], ts.epoch[gvr] = f.pos, f.epoch
	}
	// Registered at once (not live): the buffer must see every event after
	// the positions just read. Routing honours the ceiling set below.
	r.targets[cfg.Key] = ts
	r.mu.Unlock()

	sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	opened := r.waitOpened(sctx, ts)

	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.syncing, cfg.Key)
	if c, ok := r.ceilings[cfg.Key]; ok {
		// Narrowed while the feeds opened.
		delete(r.ceilings, cfg.Key)
		narrowed := *cfg
		narrowed.Selection = selection.Intersect(cfg.Selection, c)
		ts.cfg = &narrowed
	}
	if !opened {
		if r.targets[cfg.Key] == ts {
			delete(r.targets, cfg.Key)
		}
		r.gcFeedsLocked()
		why := r.lastError
		if why == "" {
			why = "timed out"
		}
		return nil, fmt.Errorf("watches of the selected resources did not start: %s", why)
	}
	resumed := map[schema.GroupVersionResource]bool{}
	for gvr := range ts.cfg.Selection {
		x := resume[gvr]
		switch {
		case x == "" || ts.gapped[gvr]:
		case rvAtLeast(x, ts.from[gvr]):
			resumed[gvr] = true
		case rvAtLeast(x, "1"):
			// The feed was already past the resume point (another target
			// started it): Replay catches up from x with a watch of its own.
			resumed[gvr] = true
			ts.catchUp[gvr] = x
		}
	}
	r.gcFeedsLocked()
	return resumed, nil
}

// waitOpened waits until the feed of each of the target's types has a watch
// open, then fixes where the target's buffer began (from): the position read
// at registration, or the feed's first position when it had none. A feed
// that lost its position meanwhile (another epoch) is waited for again.
func (r *Router) waitOpened(ctx context.Context, ts *targetStream) bool {
	for {
		r.mu.Lock()
		var wait chan struct{}
		for gvr := range ts.cfg.Selection {
			f := r.feeds[gvr]
			if f == nil {
				r.mu.Unlock()
				return false
			}
			if f.epoch != ts.epoch[gvr] {
				ts.from[gvr], ts.epoch[gvr] = "", f.epoch // registered anew in this epoch
			}
			if !f.openedDone {
				wait = f.opened
				break
			}
			if ts.from[gvr] == "" {
				ts.from[gvr] = f.startRV
			}
		}
		if wait == nil {
			for gvr := range ts.cfg.Selection {
				ts.fixed = append(ts.fixed, gvr)
			}
			r.mu.Unlock()
			return true
		}
		r.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return false
		}
	}
}

// startFeedLocked starts the feed of a type, from a resourceVersion ("": the
// current one).
func (r *Router) startFeedLocked(gvr schema.GroupVersionResource, from string) *feed {
	ctx, cancel := context.WithCancel(context.Background())
	f := &feed{gvr: gvr, cancel: cancel, opened: make(chan struct{}), light: map[string]*lightMeta{}}
	r.feeds[gvr] = f
	go r.runFeed(ctx, f, from)
	return f
}

// List calls fn for every object of a type, from a LIST of it (in pages, all
// as of the first page's resourceVersion, which it returns). Objects must not
// be modified.
func (r *Router) List(ctx context.Context, gvr schema.GroupVersionResource, fn func(*unstructured.Unstructured) error) (string, error) {
	return r.listPages(ctx, gvr, "", fn)
}

// listPages lists a type in one namespace ("": all) in pages.
func (r *Router) listPages(ctx context.Context, gvr schema.GroupVersionResource, ns string, fn func(*unstructured.Unstructured) error) (string, error) {
	var rv, cont string
	for {
		l, err := r.dyn.Resource(gvr).Namespace(ns).List(ctx, metav1.ListOptions{Limit: listPage, Continue: cont})
		if err != nil {
			return "", err
		}
		if rv == "" {
			rv = l.GetResourceVersion()
		}
		for i := range l.Items {
			u := &l.Items[i]
			render.StripForCache(u)
			r.learn(gvr, u)
			if err := fn(u); err != nil {
				return "", err
			}
		}
		l.Items = nil
		if cont = l.GetContinue(); cont == "" {
			return rv, nil
		}
	}
}

// maxNamespaceLists is how many namespaces a snapshot lists one by one; a
// selection of more lists the type across the cluster.
const maxNamespaceLists = 20

// ListIn is List restricted to some namespaces (a tenant's selection): each is
// listed on its own, so a snapshot reads only what it may mirror, not every
// object of the type in the cluster. It returns the lowest of the LISTs'
// resourceVersions: GoLive then applies again the buffered events the later
// LISTs already saw, which writes nothing (the buffer holds each object's
// latest state, at least as new as any LIST's).
func (r *Router) ListIn(ctx context.Context, gvr schema.GroupVersionResource, namespaces []string, fn func(*unstructured.Unstructured) error) (string, error) {
	if len(namespaces) == 0 || len(namespaces) > maxNamespaceLists {
		return r.List(ctx, gvr, fn)
	}
	low := ""
	for _, ns := range namespaces {
		rv, err := r.listPages(ctx, gvr, ns, fn)
		if err != nil {
			return "", err
		}
		if low == "" || !rvAtLeast(rv, low) {
			low = rv
		}
	}
	return low, nil
}

// Replay takes the target's buffered events of a resumed type: what changed
// since its resume point, as of the resourceVersion it returns (the cut). It
// waits for the feed to go quiet first (see replayQuiet).
func (r *Router) Replay(ctx context.Context, targetKey string, gvr schema.GroupVersionResource) ([]snapshot.Event, string, error) {
	r.mu.Lock()
	var from, until string
	if t, ok := r.targets[targetKey]; ok {
		from, until = t.catchUp[gvr], t.from[gvr]
	}
	r.mu.Unlock()
	var early map[string]snapshot.Event
	if from != "" {
		var err error
		if early, err = r.catchUp(ctx, gvr, from, until); err != nil {
			klog.InfoS("Catching up from the resume point failed; listing", "target", targetKey, "resource", gvr.String(), "from", from, "err", err)
			return nil, "", snapshot.ErrNotResumable
		}
	}
	deadline := time.Now().Add(replayMaxWait)
	for {
		r.mu.Lock()
		t, ok := r.targets[targetKey]
		f := r.feeds[gvr]
		switch {
		case !ok || f == nil:
			r.mu.Unlock()
			return nil, "", fmt.Errorf("target %s has no watch of %s", targetKey, gvr.String())
		case t.gapped[gvr]:
			// Lost its position after the target registered: once the feed
			// has a watch again, the type is listed (after it: nothing lost).
			t.gapped[gvr] = false
			t.epoch[gvr], t.from[gvr] = f.epoch, ""
			r.mu.Unlock()
			sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			ok := r.waitOpened(sctx, t)
			cancel()
			if !ok {
				return nil, "", ErrGap
			}
			return nil, "", snapshot.ErrNotResumable
		}
		now := time.Now()
		quiet := f.pos != "" && now.Sub(f.last) >= replayQuiet && now.Sub(t.registered) >= replayQuiet
		if quiet || now.After(deadline) {
			var out []snapshot.Event
			for k, ev := range t.buffer {
				if ev.gvr == gvr {
					out = append(out, snapshot.Event{Object: ev.obj, Delete: ev.del})
					delete(t.buffer, k)
					delete(early, ev.obj.GetNamespace()+"/"+ev.obj.GetName()) // the feed's is newer
				}
			}
			for _, ev := range early {
				out = append(out, ev)
			}
			cut := f.pos
			r.mu.Unlock()
			return out, cut, nil
		}
		r.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, "", ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// catchUp reads the events of a type from a resume point the shared feed had
// passed (from) until the feed's position when the target registered (until),
// with a watch of its own: until is reached by an event or a bookmark at or
// after it (the watch is asked to end within seconds, so that a bookmark
// comes before: about a second). It returns the latest event per object,
// unfiltered (the plan applies the target's selection). A watch that ends
// short of until, or whose start expired, fails it: the type is listed.
func (r *Router) catchUp(ctx context.Context, gvr schema.GroupVersionResource, from, until string) (map[string]snapshot.Event, error) {
	// A bookmark is due 2 s before a watch's deadline (kube-apiserver's watch
	// cache), so one asked to end in 3 s gets it after about a second.
	timeout := int64(3)
	w, err := r.dyn.Resource(gvr).Watch(ctx, metav1.ListOptions{ResourceVersion: from, AllowWatchBookmarks: true, TimeoutSeconds: &timeout})
	if err != nil {
		return nil, err
	}
	defer w.Stop()
	out := map[string]snapshot.Event{}
	for ev := range w.ResultChan() {
		switch ev.Type {
		case watch.Error:
			return nil, apierrors.FromObject(ev.Object)
		case watch.Added, watch.Modified, watch.Deleted, watch.Bookmark:
			u, ok := ev.Object.(*unstructured.Unstructured)
			if !ok {
				continue
			}
			if ev.Type != watch.Bookmark {
				render.StripForCache(u)
				out[u.GetNamespace()+"/"+u.GetName()] = snapshot.Event{Object: u, Delete: ev.Type == watch.Deleted}
			}
			if rvAtLeast(u.GetResourceVersion(), until) {
				return out, nil
			}
		}
	}
	return nil, fmt.Errorf("the watch from %s ended before %s", from, until)
}

// Positions returns, for a live target, the position of the feed of each of
// its types: every event up to it has reached the target's worker. It is nil
// for a target that is not live.
func (r *Router) Positions(targetKey string) map[schema.GroupVersionResource]mirror.Position {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, ok := r.targets[targetKey]
	if !ok || !t.live {
		return nil
	}
	out := map[schema.GroupVersionResource]mirror.Position{}
	for gvr := range t.cfg.Selection {
		if f := r.feeds[gvr]; f != nil && f.pos != "" {
			out[gvr] = mirror.Position{RV: f.pos, Fingerprint: mirror.TypeFingerprint(t.cfg, gvr)}
		}
	}
	return out
}

// AbortBuffer drops a target whose snapshot failed; the next attempt registers again.
func (r *Router) AbortBuffer(targetKey string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if t, ok := r.targets[targetKey]; ok && !t.live {
		delete(r.targets, targetKey)
		r.gcFeedsLocked()
	}
}

// GoLive applies the buffered events newer than the snapshot's read of their
// type (cuts: a LIST's or a Replay's resourceVersion), then routes the
// target's events straight to its worker. A target whose feed lost its
// position meanwhile is reported for a new snapshot.
func (r *Router) GoLive(targetKey string, cuts map[schema.GroupVersionResource]string) {
	r.mu.Lock()
	t, ok := r.targets[targetKey]
	if !ok {
		r.mu.Unlock()
		return
	}
	var changes []*mirror.Change
	for _, ev := range t.buffer {
		if ev.obj != nil && !newerThan(ev.obj.GetResourceVersion(), cuts[ev.gvr]) {
			continue // the snapshot already saw this state
		}
		if c := t.changeFor(ev.gvr, ev.obj, ev.del); c != nil {
			changes = append(changes, c)
		}
	}
	t.buffer = nil
	t.live = true
	t.floor = map[schema.GroupVersionResource]string{}
	for gvr, cut := range cuts {
		if cut != "" {
			t.floor[gvr] = cut
		}
	}
	gapped := false
	for _, g := range t.gapped {
		gapped = gapped || g
	}
	t.gapped = nil
	if len(changes) > 0 {
		t.sink.Enqueue(changes...)
	}
	r.mu.Unlock()
	if gapped {
		r.report(resyncResult(targetKey))
	}
}

// Restrict narrows a registered target's selection to what it shares with sel:
// events outside it are no longer routed to the target, and buffered ones are
// dropped. It never widens a selection (that takes a snapshot first). A target
// still waiting in BeginBuffer is narrowed when it registers. It reports
// whether the registration narrowed.
func (r *Router) Restrict(targetKey string, sel selection.Selection) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, syncing := r.syncing[targetKey]; syncing {
		if c, ok := r.ceilings[targetKey]; ok {
			sel = selection.Intersect(c, sel)
		}
		r.ceilings[targetKey] = sel
	}
	t, ok := r.targets[targetKey]
	if !ok {
		return false
	}
	narrowed := selection.Intersect(t.cfg.Selection, sel)
	if narrowed.Fingerprint() == t.cfg.Selection.Fingerprint() {
		return false
	}
	cfg := *t.cfg
	cfg.Selection = narrowed
	t.cfg = &cfg
	for k, ev := range t.buffer {
		if ts := cfg.Selection[ev.gvr]; ts == nil || !ts.Matches(ev.obj.GetNamespace()) {
			delete(t.buffer, k)
		}
	}
	r.gcFeedsLocked()
	return true
}

// Unregister removes a target from the stream.
func (r *Router) Unregister(targetKey string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.targets, targetKey)
	r.gcFeedsLocked()
}

// UnregisterAll removes every target (this replica lost its ownership).
func (r *Router) UnregisterAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.targets = map[string]*targetStream{}
	r.gcFeedsLocked()
}

// Stop stops every feed.
func (r *Router) Stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopped = true
	for gvr, f := range r.feeds {
		f.cancel()
		delete(r.feeds, gvr)
	}
}

// gcFeedsLocked stops the feeds no registered target selects.
func (r *Router) gcFeedsLocked() {
	used := map[schema.GroupVersionResource]bool{}
	for _, t := range r.targets {
		for gvr := range t.cfg.Selection {
			used[gvr] = true
		}
	}
	for _, sel := range r.syncing {
		for gvr := range sel {
			used[gvr] = true
		}
	}
	for gvr, f := range r.feeds {
		if !used[gvr] {
			f.cancel()
			delete(r.feeds, gvr)
		}
	}
}

// newerThan compares resourceVersions. They are opaque in general, but etcd's are
// increasing integers; if either does not parse, the event is applied (applying
// a state twice is harmless, losing one is not).
func newerThan(rv, listRV string) bool {
	a, err1 := strconv.ParseUint(rv, 10, 64)
	b, err2 := strconv.ParseUint(listRV, 10, 64)
	if err1 != nil || err2 != nil {
		return true
	}
	return a > b
}

// route hands one event to every target that selects it (old: the object's
// previous state, nil when it had none).
func (r *Router) route(gvr schema.GroupVersionResource, old, obj *unstructured.Unstructured, del bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.routeLocked(gvr, old, true, obj, del)
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
func (r *Router) routeLocked(gvr schema.GroupVersionResource, old *unstructured.Unstructured, oldKnown bool, u *unstructured.Unstructured, del bool) {
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
		}
		if !t.live {
			t.buffer[gvr.String()+"/"+u.GetNamespace()+"/"+u.GetName()] = bufferedEvent{gvr: gvr, obj: u, del: takeDel}
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

// changeFor turns an event into a change of the target's files (nil for a
// Secret when the target has no encryption).
func (t *targetStream) changeFor(gvr schema.GroupVersionResource, u *unstructured.Unstructured, del bool) *mirror.Change {
	if render.IsSecret(gvr) && t.cfg.Keys == nil {
		return nil
	}
	path := render.Path(t.cfg.Path, gvr, u.GetNamespace(), u.GetName())
	c := &mirror.Change{TargetKey: t.cfg.Key, GVR: gvr, Namespace: u.GetNamespace(), Name: u.GetName(), Path: path, Keys: t.cfg.Keys, Clean: t.cfg.Clean,
		UID: u.GetUID(), ResourceVersion: u.GetResourceVersion()}
	if !del {
		c.Object = u
	}
	return c
}

// watchError marks the source cluster disconnected when a watch cannot reach it,
// and probes until it answers again.
func (r *Router) watchError(gvr schema.GroupVersionResource, err error) {
	if errors.Is(err, io.EOF) || apierrors.IsResourceExpired(err) || apierrors.IsGone(err) {
		return // a watch closing or expiring is routine: the reflector relists
	}
	klog.InfoS("Watch of the source cluster failed", "resource", gvr.String(), "err", err)
	r.markDisconnected(fmt.Sprintf("watch of %s failed: %v", gvr.String(), err))
}

// ReportUnreachable is how other readers of the source cluster tell the stream
// that it did not answer: the stream marks it disconnected and probes for the
// recovery.
func (r *Router) ReportUnreachable(err error) {
	r.markDisconnected(err.Error())
}

func (r *Router) markDisconnected(why string) {
	r.mu.Lock()
	wasConnected := r.connected
	r.connected = false
	r.lastError = why
	startProbe := !r.probing && !r.stopped
	r.probing = r.probing || startProbe
	r.mu.Unlock()
	if wasConnected {
		r.report(mirror.Result{Op: mirror.OpSource, Err: errors.New(why), Time: time.Now()})
	}
	if startProbe {
		go r.probe()
	}
}

// probe polls the source cluster until it answers, then marks it connected.
// The feeds reopen their watches where they stopped, so changes made meanwhile
// arrive as events.
func (r *Router) probe() {
	for {
		time.Sleep(time.Second)
		r.mu.Lock()
		stopped := r.stopped
		r.mu.Unlock()
		if stopped {
			return
		}
		if _, err := r.discovery.ServerVersion(); err != nil {
			continue
		}
		r.mu.Lock()
		r.connected = true
		r.lastError = ""
		r.probing = false
		r.mu.Unlock()
		klog.InfoS("Source cluster answers again")
		r.report(mirror.Result{Op: mirror.OpSource, Time: time.Now()})
		return
	}
}
