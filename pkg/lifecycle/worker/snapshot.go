package worker

import (
	"context"
	"errors"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/klog/v2"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
	"github.com/configbutler/gitops-reverser/pkg/lifecycle/mirror"
	"github.com/configbutler/gitops-reverser/pkg/lifecycle/snapshot"
	"github.com/configbutler/gitops-reverser/pkg/metrics"
	"github.com/configbutler/gitops-reverser/pkg/render"
	"github.com/configbutler/gitops-reverser/pkg/selection"
)

// RequestSnapshot queues a target's snapshot for a configuration
// (fingerprint). A request not yet run when a newer one for the same target
// arrives is skipped. Its start, progress and outcome are reported
// (OpSnapshot, with fingerprint).
func (w *BranchWorker) RequestSnapshot(t *mirror.Target, fingerprint string) {
	w.mu.Lock()
	w.snapshots[t.Key] = fingerprint
	w.ceilings[t.Key] = t.Selection
	w.mu.Unlock()
	w.Submit("snapshot "+t.Key, func(ctx context.Context) {
		w.mu.Lock()
		current := w.targets.Has(t.Key) && w.snapshots[t.Key] == fingerprint
		w.mu.Unlock()
		if current {
			w.runSnapshot(ctx, t, fingerprint)
		}
	})
}

// SnapshotResult is the outcome of one snapshot.
type SnapshotResult struct {
	Plan *snapshot.Plan
	// Target is the target as planned (bounded by its ceiling).
	Target *mirror.Target
	Commit string
	// Diff is the time spent reading, rendering and comparing; Push the commit
	// and push.
	Diff, Push time.Duration
}

// runSnapshot runs a snapshot with the stream barrier around it: the target's
// events are buffered from before its objects are read and applied after the
// commit, so nothing between the snapshot and the stream start is lost.
func (w *BranchWorker) runSnapshot(ctx context.Context, t *mirror.Target, fp string) {
	report := w.m.opts.Report
	started := time.Now()
	report(mirror.Result{Target: t.Key, Op: mirror.OpSnapshot, Fingerprint: fp, Running: true, Time: started})
	fail := func(err error) {
		metrics.Snapshots.WithLabelValues("failed").Inc()
		klog.ErrorS(err, "Snapshot failed", "target", t.Key, "worker", w.Key)
		report(mirror.Result{Target: t.Key, Op: mirror.OpSnapshot, Fingerprint: fp, Err: err, Time: time.Now()})
	}
	stream := w.m.opts.Stream
	src := snapshot.Source{List: w.m.opts.List}
	if stream != nil {
		// After a restart the clone's index knows how far each type was
		// mirrored: those types resume their watch there and replay what
		// changed instead of listing everything. The feeds start first, and
		// the check that the tree holds what the index says runs while they
		// deliver what changed (Replay waits for them to go quiet): a restart
		// pays for the wait and the check at once, not one after the other.
		bt := w.bounded(t)
		resume := w.resumeCandidates(bt)
		resumed, err := stream.BeginBuffer(ctx, t, w, resume)
		if err != nil {
			fail(&mirror.LocalError{Err: err})
			return
		}
		listed, head, err := w.keepExact(ctx, bt, resume, resumed)
		if err != nil {
			stream.AbortBuffer(t.Key)
			fail(err)
			return
		}
		src = snapshot.Source{List: stream.List, ListIn: stream.ListIn, Resumed: resumed, Listed: listed, ListedAt: head,
			Replay: func(ctx context.Context, gvr schema.GroupVersionResource) ([]snapshot.Event, string, error) {
				return stream.Replay(ctx, t.Key, gvr)
			}}
	}
	synced := time.Now()
	res, err := w.snapshot(ctx, t, src, func(stats v1alpha1.SnapshotStats) {
		report(mirror.Result{Target: t.Key, Op: mirror.OpSnapshot, Fingerprint: fp, Running: true, Stats: stats, Time: started})
	})
	if err != nil {
		if stream != nil {
			stream.AbortBuffer(t.Key)
		}
		fail(err)
		return
	}
	// Live before Done: a reconcile that sees the snapshot done finds the stream up.
	if stream != nil {
		stream.GoLive(t.Key, res.Plan.ListRVs)
		// Every type is in the branch as of the snapshot's read of it: the
		// resume points from now on (the idle checkpoints move them on).
		points := map[schema.GroupVersionResource]mirror.Position{}
		for gvr, rv := range res.Plan.ListRVs {
			points[gvr] = mirror.Position{RV: rv, Fingerprint: mirror.TypeFingerprint(res.Target, gvr)}
		}
		w.index.setResume(t.Key, points)
	}
	// One save for the files and the resume points: a save of 10,000
	// entries is about 10 ms.
	if err := w.index.save(); err != nil {
		klog.InfoS("Saving the rendered-file index failed", "worker", w.Key, "err", err)
	}
	now := time.Now()
	st := res.Plan.Stats
	metrics.Snapshots.WithLabelValues("ok").Inc()
	metrics.SnapshotTypes.WithLabelValues("replayed").Add(float64(len(res.Plan.Replayed)))
	metrics.SnapshotTypes.WithLabelValues("listed").Add(float64(len(res.Plan.ListRVs) - len(res.Plan.Replayed)))
	metrics.SnapshotDuration.Observe(now.Sub(started).Seconds())
	for result, n := range map[string]int32{"created": st.Created, "updated": st.Updated, "deleted": st.Deleted, "unchanged": st.Unchanged, "skipped": st.SkippedSecrets, "failed": st.Failed} {
		metrics.SnapshotObjects.WithLabelValues(result).Add(float64(n))
	}
	klog.InfoS("Snapshot completed", "target", t.Key, "worker", w.Key, "commit", res.Commit,
		"created", st.Created, "updated", st.Updated, "deleted", st.Deleted, "unchanged", st.Unchanged,
		"watchSync", synced.Sub(started), "diff", res.Diff, "push", res.Push, "total", now.Sub(started), "replayed", len(res.Plan.Replayed))
	var failed []string
	for _, f := range res.Plan.Failed {
		failed = append(failed, f.String())
	}
	if st.Failed > 0 {
		klog.InfoS("Snapshot left out objects it could not write", "target", t.Key, "failed", st.Failed, "first", failed)
	}
	report(mirror.Result{Target: t.Key, Op: mirror.OpSnapshot, Fingerprint: fp, Commit: res.Commit, Stats: st, Failed: failed, Time: now})
}

// Snapshot plans the target's snapshot on the fetched clone (see
// pkg/lifecycle/snapshot) and commits its creates, updates and deletes as one
// commit. It runs on the worker goroutine (tasks) or, in tests, on a worker
// that is not started.
func (w *BranchWorker) Snapshot(ctx context.Context, t *mirror.Target, src snapshot.Source, progress func(v1alpha1.SnapshotStats)) (*SnapshotResult, error) {
	res, err := w.snapshot(ctx, t, src, progress)
	if err != nil {
		return nil, err
	}
	if err := w.index.save(); err != nil {
		klog.InfoS("Saving the rendered-file index failed", "worker", w.Key, "err", err)
	}
	return res, nil
}

// snapshot is Snapshot without saving the index: runSnapshot saves it once,
// with the resume points.
func (w *BranchWorker) snapshot(ctx context.Context, t *mirror.Target, src snapshot.Source, progress func(v1alpha1.SnapshotStats)) (*SnapshotResult, error) {
	repo, err := w.syncedRepo(ctx)
	if err != nil {
		return nil, err
	}
	t = w.bounded(t)
	if src.Listed != nil && src.ListedAt != repo.Head() {
		src.Listed = nil // read at another tip: walk again
	}
	start := time.Now()
	plan, err := snapshot.ComputeFrom(ctx, t, repo, w.index, src, progress)
	if err != nil {
		return nil, &mirror.LocalError{Err: err}
	}
	res := &SnapshotResult{Plan: plan, Target: t, Diff: time.Since(start)}
	w.mu.Lock()
	c, bounded := w.ceilings[t.Key]
	w.mu.Unlock()
	if bounded && selection.Intersect(t.Selection, c).Fingerprint() != t.Selection.Fingerprint() {
		// Narrowed while the plan was made: what it may no longer mirror is
		// not pushed; the next snapshot plans the narrower selection.
		return nil, &mirror.LocalError{Err: errors.New("the selection narrowed during the snapshot (a user on the way into Git lost a permission)")}
	}
	if len(plan.Changes) > 0 {
		blocked, err := repo.Blocked(plan.Changes)
		if err != nil {
			return nil, err
		}
		plan.LeaveOut(blocked)
	}
	if len(plan.Changes) > 0 {
		pctx, cancel := w.m.opts.Fence(ctx)
		defer cancel()
		// The plan lets go of the rendered files here: the commit builds
		// their blobs, and a snapshot of 30,000 objects holds them once.
		changes, msg := plan.Changes, w.m.commitMessage(plan.Message(t.Key))
		plan.Changes = nil
		cr, err := repo.CommitAndPush(pctx, changes, msg)
		res.Push = time.Since(start) - res.Diff
		observePush(cr, err)
		if err != nil {
			return nil, err
		}
		if cr.Changed {
			res.Commit = cr.Hash.String()
			metrics.Commits.WithLabelValues("snapshot").Inc()
		}
	}
	for _, l := range plan.Learned {
		if l.Gone {
			w.index.recordVersion(l.Path, "", "", "", l.Blob)
		} else {
			w.index.recordVersion(l.Path, l.UID, l.ResourceVersion, t.RenderID(), l.Blob)
		}
	}
	return res, nil
}

// bounded is t within its ceiling (the selection of its latest snapshot
// request, narrowed by Restrict).
func (w *BranchWorker) bounded(t *mirror.Target) *mirror.Target {
	w.mu.Lock()
	defer w.mu.Unlock()
	if c, ok := w.ceilings[t.Key]; ok {
		b := *t
		b.Selection = selection.Intersect(t.Selection, c)
		return &b
	}
	return t
}

// resumeCandidates returns the types of t with a resume point under the
// current TypeFingerprint, each with the resourceVersion it was mirrored
// through. Secrets of a target without encryption are always listed (the
// snapshot counts them as skipped).
func (w *BranchWorker) resumeCandidates(t *mirror.Target) map[schema.GroupVersionResource]string {
	out := map[schema.GroupVersionResource]string{}
	for gvr := range t.Selection {
		if render.IsSecret(gvr) && t.Keys == nil {
			continue
		}
		if rv := w.index.resumeFor(t.Key, gvr, mirror.TypeFingerprint(t, gvr)); rv != "" {
			out[gvr] = rv
		}
	}
	return out
}

// keepExact leaves in resumed only the types whose files in the tree are
// exactly the ones the index says were written (a file edited, added or
// removed by someone else makes its type listed). It returns the listings it
// read (the plan reuses them) and the commit they were read at.
func (w *BranchWorker) keepExact(ctx context.Context, t *mirror.Target, candidates map[schema.GroupVersionResource]string, resumed map[schema.GroupVersionResource]bool) (map[schema.GroupVersionResource]map[string]plumbing.Hash, plumbing.Hash, error) {
	repo, err := w.syncedRepo(ctx)
	if err != nil {
		return nil, plumbing.ZeroHash, err
	}
	listed := map[schema.GroupVersionResource]map[string]plumbing.Hash{}
	for gvr := range candidates {
		ts := t.Selection[gvr]
		dir := render.Dir(t.Path, gvr)
		existing, err := repo.ListFiles(dir)
		if err != nil {
			delete(resumed, gvr)
			continue
		}
		listed[gvr] = existing
		parse := func(path string) (string, bool) {
			ns, _, ok := render.ParsePath(t.Path, gvr, ts.Resource.Namespaced, path)
			return ns, ok && ts.Matches(ns)
		}
		if !w.index.holdsExactly(existing, dir, parse) {
			delete(resumed, gvr)
		}
	}
	for gvr := range resumed {
		if _, ok := candidates[gvr]; !ok {
			delete(resumed, gvr) // cannot be: BeginBuffer resumes only from a point given
		}
	}
	return listed, repo.Head(), nil
}

// checkpoint moves the resume points of the worker's live targets to the
// stream's positions, when every change up to them has been pushed: it
// reads the positions first, then finds nothing pending (a change up to a
// position was queued before it was read). It runs on the worker goroutine,
// between flushes.
func (w *BranchWorker) checkpoint() {
	stream := w.m.opts.Stream
	if stream == nil || w.index == nil {
		return
	}
	w.mu.Lock()
	keys := sets.List(w.targets)
	w.mu.Unlock()
	positions := map[string]map[schema.GroupVersionResource]mirror.Position{}
	for _, k := range keys {
		if p := stream.Positions(k); p != nil {
			positions[k] = p
		}
	}
	w.mu.Lock()
	idle := len(w.pending) == 0 && len(w.held) == 0 && len(w.tasks) == 0
	w.mu.Unlock()
	if !idle {
		return
	}
	for k, p := range positions {
		w.index.setResume(k, p)
	}
}
