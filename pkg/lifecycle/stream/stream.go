// Package stream is the live event stream: one dynamic informer per watched
// resource type of the source cluster, shared by every target whose selection
// includes it, routing each event to the branch worker (a mirror.Sink) of every
// target that selects it.
//
// A target goes through the seed's barrier: BeginBuffer (informers synced, events
// buffered per object), the snapshot's read and commit, then GoLive, which
// applies the buffered events newer than the snapshot and from then on hands
// events straight to the target's worker. Nothing between the snapshot's list
// and the stream start is lost. Connectivity changes of the source cluster are
// reported as a mirror.Result (OpSource); the stream never calls the controller.
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
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/configbutler/gitops-reverser/pkg/lifecycle/mirror"
	"github.com/configbutler/gitops-reverser/pkg/render"
	"github.com/configbutler/gitops-reverser/pkg/selection"
)

// Router is the live event stream (see the package comment).
type Router struct {
	dyn       dynamic.Interface
	discovery discovery.DiscoveryInterface
	report    mirror.Reporter // connectivity changed

	mu        sync.Mutex
	informers map[schema.GroupVersionResource]*typeInformer
	targets   map[string]*targetStream
	// syncing holds the selections of targets waiting in BeginBuffer for their
	// informers: those informers are in use too.
	syncing map[string]selection.Selection
	// ceilings narrow a target that registers after a Restrict that came while
	// it was syncing.
	ceilings  map[string]selection.Selection
	connected bool
	lastError string
	probing   bool
	stopped   bool
}

type typeInformer struct {
	informer cache.SharedIndexInformer
	stop     chan struct{}
}

// targetStream is one target's registration.
type targetStream struct {
	cfg  *mirror.Target
	sink mirror.Sink
	live bool
	// buffer holds the latest event per object while the target is not live.
	buffer map[string]bufferedEvent
}

type bufferedEvent struct {
	gvr schema.GroupVersionResource
	obj *unstructured.Unstructured
	del bool
}

// New returns a router over the source cluster; report (optional) learns when
// the cluster stops or starts answering.
func New(dyn dynamic.Interface, disc discovery.DiscoveryInterface, report mirror.Reporter) *Router {
	if report == nil {
		report = func(mirror.Result) {}
	}
	return &Router{
		dyn: dyn, discovery: disc, report: report,
		informers: map[schema.GroupVersionResource]*typeInformer{},
		targets:   map[string]*targetStream{},
		syncing:   map[string]selection.Selection{},
		ceilings:  map[string]selection.Selection{},
		connected: true,
	}
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

// BeginBuffer registers a target (or re-registers it with a new selection): its
// types' informers are started and synced, then its events are buffered until
// GoLive. Informers of types no target selects any more are stopped.
func (r *Router) BeginBuffer(ctx context.Context, cfg *mirror.Target, sink mirror.Sink) error {
	var toSync []cache.InformerSynced
	r.mu.Lock()
	delete(r.ceilings, cfg.Key) // only what narrows it from now on counts
	r.syncing[cfg.Key] = cfg.Selection
	for gvr := range cfg.Selection {
		ti, ok := r.informers[gvr]
		if !ok {
			ti = r.newInformer(gvr)
			r.informers[gvr] = ti
			go ti.informer.Run(ti.stop)
		}
		toSync = append(toSync, ti.informer.HasSynced)
	}
	r.mu.Unlock()

	sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	synced := cache.WaitForCacheSync(sctx.Done(), toSync...)

	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.syncing, cfg.Key)
	if c, ok := r.ceilings[cfg.Key]; ok {
		// Narrowed while the informers synced.
		delete(r.ceilings, cfg.Key)
		narrowed := *cfg
		narrowed.Selection = selection.Intersect(cfg.Selection, c)
		cfg = &narrowed
	}
	if synced {
		r.targets[cfg.Key] = &targetStream{cfg: cfg, sink: sink, buffer: map[string]bufferedEvent{}}
	}
	r.gcInformersLocked()
	if !synced {
		why := r.lastError
		if why == "" {
			why = "timed out"
		}
		return fmt.Errorf("watches of the selected resources did not sync: %s", why)
	}
	return nil
}

// ListCached calls fn for every object of a type in its informer's store, the
// snapshot's view of the type. The store is read at once, under its lock: it
// holds the state as of the last event it applied, at resourceVersion R, and
// the highest resourceVersion among its objects, returned, is at most R. Events
// up to R have reached the store before it is read; the buffered ones above the
// returned version that GoLive applies again can only be deletes of objects not
// in the store (an update above it would be in the store): applying them again
// writes nothing. Objects must not be modified.
func (r *Router) ListCached(_ context.Context, gvr schema.GroupVersionResource, fn func(*unstructured.Unstructured) error) (string, error) {
	r.mu.Lock()
	ti, ok := r.informers[gvr]
	r.mu.Unlock()
	if !ok || !ti.informer.HasSynced() {
		return "", fmt.Errorf("no synced watch of %s", gvr.String())
	}
	var max uint64
	for _, o := range ti.informer.GetStore().List() {
		u, ok := o.(*unstructured.Unstructured)
		if !ok {
			continue
		}
		if rv, err := strconv.ParseUint(u.GetResourceVersion(), 10, 64); err == nil && rv > max {
			max = rv
		}
		if err := fn(u); err != nil {
			return "", err
		}
	}
	return strconv.FormatUint(max, 10), nil
}

// AbortBuffer drops a target whose snapshot failed; the next attempt registers again.
func (r *Router) AbortBuffer(targetKey string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if t, ok := r.targets[targetKey]; ok && !t.live {
		delete(r.targets, targetKey)
	}
}

// GoLive applies the buffered events newer than the snapshot's LIST of their
// type, then routes the target's events straight to its worker.
func (r *Router) GoLive(targetKey string, listRVs map[schema.GroupVersionResource]string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, ok := r.targets[targetKey]
	if !ok {
		return
	}
	var changes []*mirror.Change
	for _, ev := range t.buffer {
		if ev.obj != nil && !newerThan(ev.obj.GetResourceVersion(), listRVs[ev.gvr]) {
			continue // the snapshot's LIST already saw this state
		}
		if c := t.changeFor(ev.gvr, ev.obj, ev.del); c != nil {
			changes = append(changes, c)
		}
	}
	t.buffer = nil
	t.live = true
	if len(changes) > 0 {
		t.sink.Enqueue(changes...)
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
	r.gcInformersLocked()
	return true
}

// Unregister removes a target from the stream.
func (r *Router) Unregister(targetKey string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.targets, targetKey)
	r.gcInformersLocked()
}

// UnregisterAll removes every target (this replica lost its ownership).
func (r *Router) UnregisterAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.targets = map[string]*targetStream{}
	r.gcInformersLocked()
}

// Stop stops every informer.
func (r *Router) Stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopped = true
	for gvr, ti := range r.informers {
		close(ti.stop)
		delete(r.informers, gvr)
	}
}

// gcInformersLocked stops informers no registered target selects.
func (r *Router) gcInformersLocked() {
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
	for gvr, ti := range r.informers {
		if !used[gvr] {
			close(ti.stop)
			delete(r.informers, gvr)
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

func (r *Router) newInformer(gvr schema.GroupVersionResource) *typeInformer {
	inf := dynamicinformer.NewFilteredDynamicInformer(r.dyn, gvr, "", 0, cache.Indexers{}, nil).Informer()
	// The cache does not need what rendering strips anyway (status and the
	// last-applied annotation are often the bulk of an object); uid and
	// resourceVersion stay (the stream barrier and the rendered-file index
	// read them).
	_ = inf.SetTransform(func(obj interface{}) (interface{}, error) {
		if u, ok := obj.(*unstructured.Unstructured); ok {
			render.StripForCache(u)
		}
		return obj, nil
	})
	_ = inf.SetWatchErrorHandler(func(_ *cache.Reflector, err error) {
		r.watchError(gvr, err)
	})
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj interface{}) { r.route(gvr, nil, obj, false) },
		UpdateFunc: func(old, obj interface{}) { r.route(gvr, old, obj, false) },
		DeleteFunc: func(obj interface{}) { r.route(gvr, nil, obj, true) },
	})
	return &typeInformer{informer: inf, stop: make(chan struct{})}
}

// route hands one event to every target that selects it.
//
// Filtering happens here, before anything is rendered: an object in a
// target's scope that its clauses do not take (a label selector, an
// exclusion, a derived object) is not passed on; one that stops being taken
// (its labels changed) is passed on as a delete, which removes its file.
func (r *Router) route(gvr schema.GroupVersionResource, oldObj, obj interface{}, del bool) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj, del = d.Obj, true
	}
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return
	}
	old, _ := oldObj.(*unstructured.Unstructured)
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, t := range r.targets {
		ts, ok := t.cfg.Selection[gvr]
		if !ok || !ts.Matches(u.GetNamespace()) {
			continue
		}
		takeDel := del
		if !ts.MatchesObject(u) {
			if del || old == nil || !ts.MatchesObject(old) {
				continue // never taken: no file to touch
			}
			takeDel = true // it left the selection
		}
		if !t.live {
			t.buffer[gvr.String()+"/"+u.GetNamespace()+"/"+u.GetName()] = bufferedEvent{gvr: gvr, obj: u, del: takeDel}
			continue
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
	c := &mirror.Change{TargetKey: t.cfg.Key, GVR: gvr, Namespace: u.GetNamespace(), Path: path, Keys: t.cfg.Keys, Clean: t.cfg.Clean,
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
// The informers' reflectors relist on their own, so changes made meanwhile
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
