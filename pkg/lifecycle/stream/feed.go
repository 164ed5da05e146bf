package stream

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/klog/v2"

	"github.com/configbutler/gitops-reverser/pkg/lifecycle/mirror"
	"github.com/configbutler/gitops-reverser/pkg/render"
)

// feed is the watch of one resource type, shared by every target that
// selects it. It keeps no copy of the objects (the informer it replaced held
// every selected object whole, 10 KiB each): only the light metadata routing
// needs to tell an object that left a selection (light), and its position,
// the resourceVersion through which events were delivered. A feed can start
// from a resourceVersion a target had mirrored (a restart resumes instead of
// listing); it never lists.
type feed struct {
	gvr    schema.GroupVersionResource // set at the start, never changed
	key    feedKey                     // set at the start, never changed
	cancel context.CancelFunc          // set at the start, never changed

	// The fields below are under registry.mu: deliver advances pos in the
	// step that routes the event, so a position read under that lock is
	// reached by every target's sink or buffer.
	pos string // delivered through this resourceVersion ("" until the first watch opened)
	// opened is closed once a watch is open from startRV (then pos is set);
	// a gap replaces it.
	opened     chan struct{}
	openedDone bool
	startRV    string
	// epoch counts the feed's gaps.
	epoch int
	// last is when the feed last delivered an event or opened a watch.
	last time.Time
	// light is the routing metadata of the objects seen (events, snapshot
	// lists); an object not in it is unknown, not absent.
	light map[string]*lightMeta
}

// feedIDs numbers the feeds (feedKey.id).
var feedIDs atomic.Uint64

// feeder runs the feeds: each one's watch, and what its events do. It has no
// state of its own: a feed's position, epoch and light metadata are under
// the registry's lock (see feed), since deliver advances the position and
// routes the event in one step.
type feeder struct {
	dyn    dynamic.Interface
	reg    *registry
	conn   *connectivity   // learns of watches that cannot reach the cluster
	report mirror.Reporter // learns of targets that missed events (gap)
}

// startLocked starts the feed of a type, from a resourceVersion ("": the
// current one). The caller holds registry.mu.
func (fd *feeder) startLocked(gvr schema.GroupVersionResource, from string) *feed {
	ctx, cancel := context.WithCancel(context.Background())
	f := &feed{gvr: gvr, key: feedKey{gvr: gvr, id: feedIDs.Add(1)}, cancel: cancel, opened: make(chan struct{}), light: map[string]*lightMeta{}}
	fd.reg.feeds[gvr] = f
	go fd.run(ctx, f, from)
	return f
}

// run keeps a watch of f's type open from f's position; from is where the
// first watch starts ("" : the current resourceVersion). A watch that
// closes is reopened where it stopped; one whose position expired (410)
// restarts at the current resourceVersion and is reported as a gap.
func (fd *feeder) run(ctx context.Context, f *feed, from string) {
	// A feed that stops counts as open: a type no target selects any more
	// does not hold the stream down.
	defer fd.conn.watchOpened(f.key)
	rv := from
	delay := 200 * time.Millisecond
	for ctx.Err() == nil {
		if rv == "" {
			cur, err := fd.currentRV(ctx, f.gvr)
			if err != nil {
				if ctx.Err() == nil {
					fd.conn.watchError(f.key, err)
				}
				sleepCtx(ctx, delay)
				delay = min(2*delay, 5*time.Second)
				continue
			}
			rv = cur
		}
		// Watches are closed by the server now and then (5 to 10 minutes,
		// as client-go's reflector asks); bookmarks keep the position fresh.
		timeout := int64(300 + rand.IntN(300))
		w, err := fd.dyn.Resource(f.gvr).Watch(ctx, metav1.ListOptions{ResourceVersion: rv, AllowWatchBookmarks: true, TimeoutSeconds: &timeout})
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if expired(err) {
				fd.gap(f, err)
				rv = ""
				continue
			}
			fd.conn.watchError(f.key, err)
			sleepCtx(ctx, delay)
			delay = min(2*delay, 5*time.Second)
			continue
		}
		delay = 200 * time.Millisecond
		fd.opened(f, rv)
		// Streaming once the watch delivers, or stays open without an
		// error for reopenSettle (an expired position fails at once).
		settled := time.AfterFunc(reopenSettle, func() { fd.conn.watchOpened(f.key) })
		next, err := fd.consume(ctx, f, w, func() {
			if settled.Stop() {
				fd.conn.watchOpened(f.key)
			}
		})
		settled.Stop()
		w.Stop()
		switch {
		case ctx.Err() != nil:
			return
		case expired(err):
			fd.gap(f, err)
			rv = ""
		case err != nil:
			fd.conn.watchError(f.key, err)
			rv = next
			sleepCtx(ctx, delay)
		default:
			rv = next
		}
	}
}

// consume delivers a watch's events until it closes; it returns the position
// reached and the error that closed it (nil: closed normally). streaming is
// called at the first event that is not an error.
func (fd *feeder) consume(ctx context.Context, f *feed, w watch.Interface, streaming func()) (string, error) {
	fd.reg.mu.Lock()
	pos := f.pos
	fd.reg.mu.Unlock()
	first := true
	for {
		select {
		case <-ctx.Done():
			return pos, ctx.Err()
		case ev, ok := <-w.ResultChan():
			if !ok {
				return pos, nil
			}
			if first && ev.Type != watch.Error {
				first = false
				streaming()
			}
			switch ev.Type {
			case watch.Error:
				return pos, apierrors.FromObject(ev.Object)
			case watch.Bookmark:
				if u, ok := ev.Object.(*unstructured.Unstructured); ok && u.GetResourceVersion() != "" {
					pos = u.GetResourceVersion()
					fd.reg.mu.Lock()
					f.pos, f.last = pos, time.Now()
					fd.reg.mu.Unlock()
				}
			case watch.Added, watch.Modified, watch.Deleted:
				u, ok := ev.Object.(*unstructured.Unstructured)
				if !ok {
					continue
				}
				pos = u.GetResourceVersion()
				fd.deliver(f, u, ev.Type)
			}
		}
	}
}

// deliver routes one event and advances the feed's position, under one lock:
// whoever reads the position afterwards knows every event up to it reached
// the targets' sinks or buffers.
func (fd *feeder) deliver(f *feed, u *unstructured.Unstructured, event watch.EventType) {
	del := event == watch.Deleted
	render.StripForCache(u)
	key := u.GetNamespace() + "/" + u.GetName()
	r := fd.reg
	r.mu.Lock()
	defer r.mu.Unlock()
	var old *unstructured.Unstructured
	l, known := f.light[key]
	if known {
		old = l.object(u)
	}
	if del || !r.selectedLocked(f.gvr, u.GetNamespace()) {
		// Objects in namespaces no target selects are not remembered: a
		// rule in one namespace makes the feed watch the whole cluster's
		// type, but must not make the server hold it. A target that comes
		// to select them lists them first (learn).
		delete(f.light, key)
	} else {
		f.light[key] = lightOf(u)
	}
	f.pos, f.last = u.GetResourceVersion(), time.Now()
	r.routeLocked(f.gvr, old, known, u, opOf(del, event == watch.Added))
}

// learn records what a snapshot's LIST saw of an object the feed knows nothing
// newer about.
func (fd *feeder) learn(gvr schema.GroupVersionResource, u *unstructured.Unstructured) {
	key := u.GetNamespace() + "/" + u.GetName()
	fd.reg.mu.Lock()
	defer fd.reg.mu.Unlock()
	f, ok := fd.reg.feeds[gvr]
	if !ok {
		return
	}
	if old, ok := f.light[key]; ok && !newerThan(u.GetResourceVersion(), old.rv) {
		return
	}
	f.light[key] = lightOf(u)
}

// opened records an open watch; the first one (since the start or a gap)
// sets the feed's position and releases those waiting for it.
func (fd *feeder) opened(f *feed, rv string) {
	fd.reg.mu.Lock()
	defer fd.reg.mu.Unlock()
	if f.pos == "" {
		f.pos, f.startRV = rv, rv
	}
	f.last = time.Now()
	if !f.openedDone {
		f.openedDone = true
		close(f.opened)
	}
}

// gap handles a feed whose position expired: events were missed. Targets
// already live need a new snapshot (reported as OpResync); one in its
// snapshot learns at GoLive. The feed goes on from the current version.
func (fd *feeder) gap(f *feed, err error) {
	klog.InfoS("Watch position expired; the targets of the type take a new snapshot", "resource", f.gvr.String(), "err", err)
	fd.reg.mu.Lock()
	f.pos = ""
	f.light = map[string]*lightMeta{}
	if f.openedDone {
		f.opened, f.openedDone = make(chan struct{}), false
	}
	resync := fd.reg.gappedLocked(f.gvr, f.epoch)
	f.epoch++
	fd.reg.mu.Unlock()
	for _, key := range resync {
		fd.report(resyncResult(key))
	}
}

// currentRV is the type's current resourceVersion (a consistent LIST of one object).
func (fd *feeder) currentRV(ctx context.Context, gvr schema.GroupVersionResource) (string, error) {
	l, err := fd.dyn.Resource(gvr).List(ctx, metav1.ListOptions{Limit: 1})
	if err != nil {
		return "", err
	}
	return l.GetResourceVersion(), nil
}

// expired: the API no longer has the requested version (compacted, or older
// than its watch cache).
func expired(err error) bool {
	if err == nil {
		return false
	}
	var st apierrors.APIStatus
	if errors.As(err, &st) && st.Status().Code == 410 {
		return true
	}
	return apierrors.IsResourceExpired(err) || apierrors.IsGone(err)
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
