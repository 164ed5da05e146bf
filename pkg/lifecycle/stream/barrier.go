package stream

import (
	"context"
	"fmt"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/klog/v2"

	"github.com/configbutler/gitops-reverser/pkg/lifecycle/mirror"
	"github.com/configbutler/gitops-reverser/pkg/lifecycle/snapshot"
	"github.com/configbutler/gitops-reverser/pkg/selection"
)

// Replay waits for a resumed feed to go quiet (no event for replayQuiet) before
// it takes the events since the resume point, at most replayMaxWait from the
// moment the feed has delivered through the target's own resume point (not
// from the start of the wait: the target's own changes come right after that
// point, and a backlog that took longer than replayMaxWait would otherwise
// be cut in the middle of them). A feed behind it
// (started at an older one, for another target) is followed while it
// delivers, up to replayBacklogMaxWait: cut before it, the snapshot would
// hold none of the target's changes. The wait only decides how fresh the
// snapshot is, never whether it is right: an event still on its way arrives
// after the cut and GoLive applies it.
var (
	replayQuiet          = 100 * time.Millisecond
	replayMaxWait        = time.Second
	replayBacklogMaxWait = 30 * time.Second
)

// openTimeout bounds how long a target waits for the watches of its types.
const openTimeout = 2 * time.Minute

// barrier is a target's way from its snapshot to the live stream (see the
// package comment). It keeps no state of its own: a target's buffer and where
// it began are fields of its registration (targetStream), under the
// registry's lock, because routing fills the buffer and registering must read
// the feeds' positions in the same step.
type barrier struct {
	reg    *registry
	feeder *feeder         // starts the feeds a registration needs
	lister *lister         // catches up a type whose feed was past the resume point
	conn   *connectivity   // why feeds did not open
	report mirror.Reporter // told of a target whose feed lost its position
}

// begin is BeginBuffer: register, wait for the feeds, then settle what the
// snapshot may replay.
func (b *barrier) begin(ctx context.Context, cfg *mirror.Target, sink mirror.Sink, resume map[schema.GroupVersionResource]string) (map[schema.GroupVersionResource]bool, error) {
	ts := b.register(cfg, sink, resume)
	sctx, cancel := context.WithTimeout(ctx, openTimeout)
	defer cancel()
	opened, why := b.waitOpened(sctx, ts)
	resumed, ok := b.settle(cfg, ts, opened, resume)
	if !ok {
		if why == "" {
			why = b.conn.why()
		}
		if why == "" {
			why = "timed out"
		}
		return nil, fmt.Errorf("watches of the selected resources did not start: %s", why)
	}
	return resumed, nil
}

// register registers the target, not live, and reads the position of the feed
// of each of its types (starting those not running at the target's resume
// point), in one step: its buffer receives every event after those
// positions. Until settle it is syncing: its feeds stay up whatever Restrict
// does, and Restrict narrows its ceiling.
func (b *barrier) register(cfg *mirror.Target, sink mirror.Sink, resume map[schema.GroupVersionResource]string) *targetStream {
	r := b.reg
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ceilings.Set(cfg.Key, cfg.Selection) // only what narrows it from now on counts
	r.syncing[cfg.Key] = cfg.Selection
	ts := &targetStream{cfg: cfg, sink: sink, buffer: map[string]bufferedEvent{},
		from: map[schema.GroupVersionResource]string{}, catchUp: map[schema.GroupVersionResource]string{}, registered: time.Now(),
		epoch: map[schema.GroupVersionResource]int{}, gapped: map[schema.GroupVersionResource]bool{}}
	for gvr := range cfg.Selection {
		f, ok := r.feeds[gvr]
		if !ok {
			f = b.feeder.startLocked(gvr, resume[gvr])
		}
		ts.from[gvr], ts.epoch[gvr] = f.pos, f.epoch
	}
	r.targets[cfg.Key] = ts
	return ts
}

// settle ends the target's wait: it applies the Restricts that came
// meanwhile, then either drops the target (its feeds did not open) or decides
// which types the snapshot may replay. ok is false when the target is dropped.
func (b *barrier) settle(cfg *mirror.Target, ts *targetStream, opened bool, resume map[schema.GroupVersionResource]string) (resumed map[schema.GroupVersionResource]bool, ok bool) {
	r := b.reg
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.syncing, cfg.Key)
	if r.ceilings.Narrower(cfg.Key, cfg.Selection) {
		// Narrowed while the feeds opened.
		narrowed := *cfg
		narrowed.Selection = r.ceilings.Bound(cfg.Key, cfg.Selection)
		ts.cfg = &narrowed
	}
	if !opened {
		if r.targets[cfg.Key] == ts {
			delete(r.targets, cfg.Key)
		}
		r.forgetLocked(cfg.Key)
		r.gcFeedsLocked()
		return nil, false
	}
	r.forgetLocked(cfg.Key) // when it was unregistered meanwhile
	resumed, ts.catchUp = resumePlan(ts.cfg.Selection, resume, ts.from, ts.gapped)
	ts.resume = map[schema.GroupVersionResource]string{}
	for gvr := range resumed {
		ts.resume[gvr] = resume[gvr]
	}
	r.gcFeedsLocked()
	return resumed, true
}

// resumePlan decides which types of a selection a snapshot may Replay from
// the worker's resume points, given where the target's buffer began per type
// (from) and the types whose feed lost its position since (gapped):
//   - no resume point, or gapped: listed;
//   - resume point at or after from: the buffer holds every event since;
//   - resume point before from (another target's feed was already past it):
//     replayed with a catch-up watch from the resume point (catchUp);
//   - a resume point that is not a resourceVersion: listed.
func resumePlan(sel selection.Selection, resume, from map[schema.GroupVersionResource]string, gapped map[schema.GroupVersionResource]bool) (resumed map[schema.GroupVersionResource]bool, catchUp map[schema.GroupVersionResource]string) {
	resumed = map[schema.GroupVersionResource]bool{}
	catchUp = map[schema.GroupVersionResource]string{}
	for gvr := range sel {
		x := resume[gvr]
		switch {
		case x == "" || gapped[gvr]:
		case rvAtLeast(x, from[gvr]):
			resumed[gvr] = true
		case rvAtLeast(x, "1"):
			resumed[gvr] = true
			catchUp[gvr] = x
		}
	}
	return resumed, catchUp
}

// waitOpened waits until the feed of each of the target's types has a watch
// open, then fixes where the target's buffer began (from): the position read
// at registration, or the feed's first position when it had none. A feed
// that lost its position meanwhile (another epoch) is waited for again. A
// type the server may not read ends the wait at once (refused says why):
// its watch is refused until the server's ClusterRole changes. Another
// refusal (a conversion webhook down) may pass: it is waited for, and is the
// reason given when the wait ends without the watch.
func (b *barrier) waitOpened(ctx context.Context, ts *targetStream) (opened bool, refused string) {
	r := b.reg
	for {
		r.mu.Lock()
		feeds := r.feedKeysLocked(ts.cfg.Selection.GVRs())
		r.mu.Unlock()
		why, final, refusals := b.conn.refusedIn(feeds)
		if final {
			return false, why
		}
		r.mu.Lock()
		var wait chan struct{}
		for gvr := range ts.cfg.Selection {
			f := r.feeds[gvr]
			if f == nil {
				r.mu.Unlock()
				return false, why
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
			return true, ""
		}
		r.mu.Unlock()
		select {
		case <-wait:
		case <-refusals:
		case <-ctx.Done():
			return false, why
		}
	}
}

// replay is Replay: the catch-up from the resume point when the feed was past
// it, then, once the feed is quiet, the buffered events and the cut.
func (b *barrier) replay(ctx context.Context, targetKey string, gvr schema.GroupVersionResource) ([]snapshot.Event, string, error) {
	r := b.reg
	r.mu.Lock()
	var from, until, resumeAt string
	var ts *selection.TypeSelection
	if t, ok := r.targets[targetKey]; ok {
		from, until, resumeAt = t.catchUp[gvr], t.from[gvr], t.resume[gvr]
		ts = t.cfg.Selection[gvr]
	}
	r.mu.Unlock()
	var early map[string]snapshot.Event
	// A type the target no longer selects (a Restrict took it away) has
	// nothing to catch up; its buffer is empty too.
	if from != "" && ts != nil {
		var err error
		if early, err = b.lister.catchUp(ctx, gvr, ts, from, until); err != nil {
			klog.InfoS("Catching up from the resume point failed; listing", "target", targetKey, "resource", gvr.String(), "from", from, "err", err)
			return nil, "", snapshot.ErrNotResumable
		}
	}
	started := time.Now()
	var reached time.Time // when the feed was first seen through resumeAt
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
			return nil, "", b.reopened(ctx, t)
		}
		now := time.Now()
		if reached.IsZero() && through(f.pos, resumeAt) {
			reached = now
		}
		if quiet(f.pos, f.last, t.registered, now) || waited(now, started, reached) {
			// A Restrict during the catch-up narrowed the buffer, not early.
			out, cut := takeBuffered(t.buffer, gvr, selectedOnly(early, t.cfg.Selection[gvr]), resumeAt), f.pos
			if !rvAtLeast(cut, resumeAt) {
				cut = resumeAt // the branch holds the type through its resume point
			}
			klog.V(2).InfoS("Replay took the feed's events", "target", targetKey, "resource", gvr.String(), "events", len(out), "cut", cut,
				"resumedAt", resumeAt, "waited", now.Sub(started), "sinceLastEvent", now.Sub(f.last))
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

// reopened waits for the feeds of a target whose type lost its position
// during Replay: ErrNotResumable (the type is listed) once they watch again,
// ErrGap (a new snapshot) when they do not.
func (b *barrier) reopened(ctx context.Context, t *targetStream) error {
	sctx, cancel := context.WithTimeout(ctx, openTimeout)
	defer cancel()
	if ok, _ := b.waitOpened(sctx, t); !ok {
		return ErrGap
	}
	return snapshot.ErrNotResumable
}

// quiet reports whether a feed at pos, which last delivered at last, has been
// quiet long enough (replayQuiet) for a target registered at registered to
// take its events: it has a position, and neither it nor the target's buffer
// just started.
func quiet(pos string, last, registered, now time.Time) bool {
	return pos != "" && now.Sub(last) >= replayQuiet && now.Sub(registered) >= replayQuiet
}

// through reports whether a feed at pos has delivered through a target's
// resume point (a target with none has nothing to wait for).
func through(pos, resumeAt string) bool {
	return resumeAt == "" || rvAtLeast(pos, resumeAt)
}

// waited reports whether Replay, which started waiting at started, has waited
// long enough at now: replayMaxWait from the moment the feed was through the
// target's resume point (reached), replayBacklogMaxWait in all while it has
// not been (reached is zero).
func waited(now, started, reached time.Time) bool {
	if reached.IsZero() {
		return now.Sub(started) >= replayBacklogMaxWait
	}
	return now.Sub(reached) >= replayMaxWait
}

// selectedOnly is the catch-up's events (keyed namespace/name) of the
// namespaces ts selects (none when ts is nil).
func selectedOnly(early map[string]snapshot.Event, ts *selection.TypeSelection) map[string]snapshot.Event {
	for k, ev := range early {
		if ts == nil || !ts.Matches(ev.Object.GetNamespace()) {
			delete(early, k)
		}
	}
	return early
}

// takeBuffered removes the buffered events of gvr from buffer and returns
// those newer than the target's resume point (after; the branch holds the
// older ones: a feed started at another target's older resume point delivers
// them), with the catch-up's events (early, keyed namespace/name) of the
// objects the buffer has none of: the feed's are newer.
func takeBuffered(buffer map[string]bufferedEvent, gvr schema.GroupVersionResource, early map[string]snapshot.Event, after string) []snapshot.Event {
	var out []snapshot.Event
	taken := map[string]bool{}
	for k, ev := range buffer {
		if ev.gvr != gvr {
			continue
		}
		delete(buffer, k)
		taken[ev.obj.GetNamespace()+"/"+ev.obj.GetName()] = true
		if after == "" || newerThan(ev.obj.GetResourceVersion(), after) {
			out = append(out, snapshot.Event{Object: ev.obj, Delete: ev.del})
		}
	}
	for k, ev := range early {
		if !taken[k] {
			out = append(out, ev)
		}
	}
	return out
}

// goLive is GoLive. The buffered events are handed to the sink and the target
// turns live in one step under the registry's lock, so no routed event
// overtakes them.
func (b *barrier) goLive(targetKey string, cuts map[schema.GroupVersionResource]string) {
	r := b.reg
	r.mu.Lock()
	t, ok := r.targets[targetKey]
	if !ok {
		r.mu.Unlock()
		return
	}
	var changes []*mirror.Change
	for _, ev := range unseen(t.buffer, cuts) {
		if c := t.changeFor(ev.gvr, ev.obj, ev.del); c != nil {
			c.Mirrored = c.Mirrored || ev.coalesced && c.Ignore != nil
			changes = append(changes, c)
		}
	}
	t.buffer = nil
	t.live = true
	t.floor = floors(cuts)
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
		b.report(resyncResult(targetKey))
	}
}

// unseen are the buffered events the snapshot did not see: newer than the cut
// of their type (a type without a cut, or a version that does not parse,
// counts as unseen: applying a state twice is harmless, losing one is not).
func unseen(buffer map[string]bufferedEvent, cuts map[schema.GroupVersionResource]string) []bufferedEvent {
	var out []bufferedEvent
	for _, ev := range buffer {
		if ev.obj != nil && !newerThan(ev.obj.GetResourceVersion(), cuts[ev.gvr]) {
			continue // the snapshot already saw this state
		}
		out = append(out, ev)
	}
	return out
}

// floors are the cuts routing holds back a live target's events at (see
// targetStream.floor); a type read without a cut has none.
func floors(cuts map[schema.GroupVersionResource]string) map[schema.GroupVersionResource]string {
	out := map[schema.GroupVersionResource]string{}
	for gvr, cut := range cuts {
		if cut != "" {
			out[gvr] = cut
		}
	}
	return out
}

// abort is AbortBuffer: a target not live is dropped.
func (b *barrier) abort(targetKey string) {
	r := b.reg
	r.mu.Lock()
	defer r.mu.Unlock()
	if t, ok := r.targets[targetKey]; ok && !t.live {
		delete(r.targets, targetKey)
		r.forgetLocked(targetKey)
		r.gcFeedsLocked()
	}
}

// positions is Positions, read under the registry's lock: deliver advances a
// position in the step that routes the event, so every event up to it has
// reached the (live) target's sink.
func (b *barrier) positions(targetKey string) map[schema.GroupVersionResource]mirror.Position {
	r := b.reg
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

// gapEffect is what a feed losing its position means for one target.
type gapEffect int

const (
	// gapNone: the target does not select the type, or its buffer's start is
	// not fixed yet (waitOpened sees the new epoch and starts it at the
	// feed's next position).
	gapNone gapEffect = iota
	// gapResync: the target is live and missed events; a new snapshot follows.
	gapResync
	// gapMark: the target is in its snapshot, its buffer's start fixed in this
	// epoch: events are lost; Replay lists the type, GoLive reports a resync.
	gapMark
)

// gapEffectOf decides what the gap of gvr's feed in epoch means for t.
func gapEffectOf(t *targetStream, gvr schema.GroupVersionResource, epoch int) gapEffect {
	if _, ok := t.cfg.Selection[gvr]; !ok {
		return gapNone
	}
	switch {
	case t.live:
		return gapResync
	case t.epoch[gvr] == epoch && slices.Contains(t.fixed, gvr):
		return gapMark
	}
	return gapNone
}
