package worker

import (
	"context"
	"errors"
	"time"

	"k8s.io/klog/v2"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
	"github.com/configbutler/gitops-reverser/pkg/lifecycle/mirror"
	"github.com/configbutler/gitops-reverser/pkg/lifecycle/snapshot"
	"github.com/configbutler/gitops-reverser/pkg/metrics"
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
	Plan   *snapshot.Plan
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
	stream, list := w.m.opts.Stream, w.m.opts.List
	if stream != nil {
		if err := stream.BeginBuffer(ctx, t, w); err != nil {
			fail(&mirror.LocalError{Err: err})
			return
		}
		// The informers BeginBuffer synced hold every object of the selected
		// types: read them there instead of decoding a second LIST of the same
		// objects (at 10,000 objects that LIST was a third of the snapshot).
		list = stream.ListCached
	}
	synced := time.Now()
	res, err := w.Snapshot(ctx, t, list, func(stats v1alpha1.SnapshotStats) {
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
	}
	now := time.Now()
	st := res.Plan.Stats
	metrics.Snapshots.WithLabelValues("ok").Inc()
	metrics.SnapshotDuration.Observe(now.Sub(started).Seconds())
	for result, n := range map[string]int32{"created": st.Created, "updated": st.Updated, "deleted": st.Deleted, "unchanged": st.Unchanged, "skipped": st.SkippedSecrets} {
		metrics.SnapshotObjects.WithLabelValues(result).Add(float64(n))
	}
	klog.InfoS("Snapshot completed", "target", t.Key, "worker", w.Key, "commit", res.Commit,
		"created", st.Created, "updated", st.Updated, "deleted", st.Deleted, "unchanged", st.Unchanged,
		"watchSync", synced.Sub(started), "diff", res.Diff, "push", res.Push, "total", now.Sub(started))
	report(mirror.Result{Target: t.Key, Op: mirror.OpSnapshot, Fingerprint: fp, Commit: res.Commit, Stats: st, Time: now})
}

// Snapshot plans the target's snapshot on the fetched clone (see
// pkg/lifecycle/snapshot) and commits its creates, updates and deletes as one
// commit. It runs on the worker goroutine (tasks) or, in tests, on a worker
// that is not started.
func (w *BranchWorker) Snapshot(ctx context.Context, t *mirror.Target, list snapshot.Lister, progress func(v1alpha1.SnapshotStats)) (*SnapshotResult, error) {
	repo, err := w.syncedRepo(ctx)
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	if c, ok := w.ceilings[t.Key]; ok {
		bounded := *t
		bounded.Selection = selection.Intersect(t.Selection, c)
		t = &bounded
	}
	w.mu.Unlock()
	start := time.Now()
	plan, err := snapshot.Compute(ctx, t, repo, w.index, list, progress)
	if err != nil {
		return nil, &mirror.LocalError{Err: err}
	}
	res := &SnapshotResult{Plan: plan, Diff: time.Since(start)}
	w.mu.Lock()
	c, bounded := w.ceilings[t.Key]
	w.mu.Unlock()
	if bounded && selection.Intersect(t.Selection, c).Fingerprint() != t.Selection.Fingerprint() {
		// Narrowed while the plan was made: what it may no longer mirror is
		// not pushed; the next snapshot plans the narrower selection.
		return nil, &mirror.LocalError{Err: errors.New("the selection narrowed during the snapshot (a user on the way into Git lost a permission)")}
	}
	if len(plan.Changes) > 0 {
		pctx, cancel := w.m.opts.Fence(ctx)
		defer cancel()
		cr, err := repo.CommitAndPush(pctx, plan.Changes, w.m.commitMessage(plan.Message(t.Key)))
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
		w.index.record(l.Path, l.Object, t.RenderID(), l.Blob)
	}
	if err := w.index.save(); err != nil {
		klog.InfoS("Saving the rendered-file index failed", "worker", w.Key, "err", err)
	}
	return res, nil
}
