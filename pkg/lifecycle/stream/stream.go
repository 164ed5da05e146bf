// Package stream is the live event stream: one watch per watched resource
// type of the source cluster (a feed), shared by every target whose selection
// includes it, routing each event to the branch worker (a mirror.Sink) of
// every target that selects it.
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
//
// The parts, one job each:
//   - registry.go: the registry, the one lock over the feeds and the targets
//     registered to them, and routing: which targets an event reaches,
//     Restrict, Unregister, stopping the feeds no target selects;
//   - feed.go: the feeds, each a watch of one type run by the feeder, which
//     delivers an event (advances the feed's position and routes it) in one
//     step under the registry's lock;
//   - barrier.go: a target's way from its snapshot to the live stream:
//     BeginBuffer, Replay, GoLive, AbortBuffer, Positions;
//   - list.go: the lister, the snapshot's reads of the cluster (LISTs, and the
//     catch-up watch of a resumed type);
//   - connectivity.go: whether the source cluster answers, with a lock of its
//     own (it depends on nothing else);
//   - this file: Router, the package's API, composing the parts; it holds no
//     state of its own.
package stream

import (
	"context"
	"errors"
	"strconv"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/configbutler/gitops-reverser/pkg/lifecycle/mirror"
	"github.com/configbutler/gitops-reverser/pkg/lifecycle/snapshot"
	"github.com/configbutler/gitops-reverser/pkg/selection"
)

// ErrGap: the target's feed lost its position during the snapshot; the
// snapshot is retried (and lists).
var ErrGap = errors.New("the watch of the source cluster lost its position (410); a new snapshot follows")

// Router is the live event stream (see the package comment). Its methods
// delegate to the parts; all its fields are set by New and never change.
type Router struct {
	reg     *registry
	feeder  *feeder
	barrier *barrier
	lister  *lister
	conn    *connectivity
}

// New returns a router over the source cluster; report (optional) learns when
// the cluster stops or starts answering and when a target must resync.
// raw (optional) reads the snapshots' LIST pages as bytes, each decoded once
// (see rawPages); without it they are read through dyn.
func New(dyn dynamic.Interface, raw rest.Interface, disc discovery.DiscoveryInterface, report mirror.Reporter) *Router {
	if report == nil {
		report = func(mirror.Result) {}
	}
	conn := newConnectivity(disc, report)
	reg := newRegistry()
	fd := &feeder{dyn: dyn, reg: reg, conn: conn, report: report}
	ls := &lister{dyn: dyn, raw: raw, learn: fd.learn}
	conn.onRefusals = func(changed []feedKey) {
		for _, key := range reg.targetsOn(changed) {
			report(mirror.Result{Op: mirror.OpStream, Target: key, Time: time.Now()})
		}
	}
	return &Router{
		reg: reg, feeder: fd, lister: ls, conn: conn,
		barrier: &barrier{reg: reg, feeder: fd, lister: ls, conn: conn, report: report},
	}
}

// WithProtobuf makes snapshots read the LIST pages of ConfigMaps and Secrets
// through client (core/v1, protobuf; see protoPages); nil leaves them JSON.
// It is set before the router is used.
func (r *Router) WithProtobuf(client rest.Interface) *Router {
	r.lister.proto = client
	return r
}

// Connected reports whether the source cluster answers, and the last error.
func (r *Router) Connected() (bool, string) { return r.conn.state() }

// Live reports whether a target's events flow to its worker.
func (r *Router) Live(targetKey string) bool { return r.reg.live(targetKey) }

// Streams counts the targets a write to the type gr in namespace ns ("" for
// a cluster-scoped type) made now can reach: those registered now that select
// it.
func (r *Router) Streams(gr schema.GroupResource, ns string) int { return r.reg.streams(gr, ns) }

// BeginBuffer registers a target (or re-registers it with a new selection):
// its events are buffered from now until GoLive, and it returns once the feed
// of each selected type is watching. resume holds the worker's resume point
// per type; a feed not running yet starts at this target's resume point.
// It returns the types the snapshot can Replay: those whose feed delivers
// every event after the resume point to this target. Feeds of types no target
// selects any more are stopped.
func (r *Router) BeginBuffer(ctx context.Context, cfg *mirror.Target, sink mirror.Sink, resume map[schema.GroupVersionResource]string) (map[schema.GroupVersionResource]bool, error) {
	return r.barrier.begin(ctx, cfg, sink, resume)
}

// List calls fn for every object of a type, from a LIST of it (in pages, all
// as of the first page's resourceVersion, which it returns). Objects must not
// be modified, nor kept once fn returns: each is let go then, so a page of
// large objects is not held whole until its last one is planned. It is
// targetKey's snapshot's read of the type: once the first page is read, the
// target buffers none of the type's events at or below its resourceVersion
// (GoLive would drop them), so a backlog its feed delivers meanwhile, from
// an older resume point, is not held while the type is listed. (ListIn
// drops them once its LISTs are all read, at the lowest of theirs.)
func (r *Router) List(ctx context.Context, targetKey string, gvr schema.GroupVersionResource, fn func(*unstructured.Unstructured) error) (string, error) {
	return r.lister.list(ctx, gvr, fn, r.listedBy(targetKey, gvr))
}

// listedBy is what tells the registry that targetKey's snapshot lists gvr.
func (r *Router) listedBy(targetKey string, gvr schema.GroupVersionResource) func(string) {
	return func(rv string) { r.reg.listed(targetKey, gvr, rv) }
}

// ListIn is List restricted to some namespaces (a tenant's selection): each is
// listed on its own, so a snapshot reads only what it may mirror, not every
// object of the type in the cluster. It returns the lowest of the LISTs'
// resourceVersions: GoLive then applies again the buffered events the later
// LISTs already saw, which writes nothing (the buffer holds each object's
// latest state, at least as new as any LIST's).
func (r *Router) ListIn(ctx context.Context, targetKey string, gvr schema.GroupVersionResource, namespaces []string, fn func(*unstructured.Unstructured) error) (string, error) {
	return r.lister.listIn(ctx, gvr, namespaces, fn, r.listedBy(targetKey, gvr))
}

// Replay takes the target's buffered events of a resumed type: what changed
// since its resume point, as of the resourceVersion it returns (the cut). It
// waits for the feed to go quiet first (see replayQuiet).
func (r *Router) Replay(ctx context.Context, targetKey string, gvr schema.GroupVersionResource) ([]snapshot.Event, string, error) {
	return r.barrier.replay(ctx, targetKey, gvr)
}

// GoLive applies the buffered events newer than the snapshot's read of their
// type (cuts: a LIST's or a Replay's resourceVersion), then routes the
// target's events straight to its worker. A target whose feed lost its
// position meanwhile is reported for a new snapshot.
func (r *Router) GoLive(targetKey string, cuts map[schema.GroupVersionResource]string) {
	r.barrier.goLive(targetKey, cuts)
}

// AbortBuffer drops a target whose snapshot failed; the next attempt registers again.
func (r *Router) AbortBuffer(targetKey string) { r.barrier.abort(targetKey) }

// Positions returns, for a live target, the position of the feed of each of
// its types: every event up to it has reached the target's worker. It is nil
// for a target that is not live.
func (r *Router) Positions(targetKey string) map[schema.GroupVersionResource]mirror.Position {
	return r.barrier.positions(targetKey)
}

// Restrict narrows a registered target's selection to what it shares with sel:
// events outside it are no longer routed to the target, and buffered ones are
// dropped. It never widens a selection (that takes a snapshot first). A target
// still waiting in BeginBuffer is narrowed when it registers. It reports
// whether the registration narrowed.
func (r *Router) Restrict(targetKey string, sel selection.Selection) bool {
	return r.reg.restrict(targetKey, sel)
}

// Unregister removes a target from the stream.
func (r *Router) Unregister(targetKey string) { r.reg.unregister(targetKey) }

// UnregisterAll removes every target (this replica lost its ownership).
func (r *Router) UnregisterAll() { r.reg.unregisterAll() }

// Stop stops every feed, and the probing of the source cluster.
func (r *Router) Stop() {
	r.conn.stop()
	r.reg.stopFeeds()
}

// ReportUnreachable is how other readers of the source cluster tell the stream
// that it did not answer: the stream marks it disconnected and probes for the
// recovery.
func (r *Router) ReportUnreachable(err error) { r.conn.markDisconnected(err.Error()) }

func resyncResult(key string) mirror.Result {
	return mirror.Result{Target: key, Op: mirror.OpResync, Err: ErrGap, Time: time.Now()}
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

// rvAtLeast reports whether rv >= floor (false when either does not parse).
func rvAtLeast(rv, floor string) bool {
	a, err1 := strconv.ParseUint(rv, 10, 64)
	b, err2 := strconv.ParseUint(floor, 10, 64)
	return err1 == nil && err2 == nil && a >= b
}
