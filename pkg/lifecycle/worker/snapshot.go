package worker

import (
	"context"
	"errors"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/klog/v2"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
	"github.com/configbutler/gitops-reverser/pkg/lifecycle/mirror"
	"github.com/configbutler/gitops-reverser/pkg/lifecycle/snapshot"
	"github.com/configbutler/gitops-reverser/pkg/metrics"
	"github.com/configbutler/gitops-reverser/pkg/render"
)

// snapshotter runs snapshots (with the stream barrier around them) and
// keeps the resume points in the clone's index. It runs on the worker
// goroutine (tasks; in tests, a worker that is not started) and holds no
// state of its own: every field is set at construction.
type snapshotter struct {
	m   *Manager
	key mirror.BranchKey
	// sink is the worker: the stream hands the target's events to it.
	sink    mirror.Sink
	clone   *clone
	targets *targetSet
	queue   *queue
	tasks   *taskList
}

// RequestSnapshot queues a target's snapshot for a configuration
// (fingerprint). A request not yet run when a newer one for the same target
// arrives is skipped. Its start, progress and outcome are reported
// (OpSnapshot, with fingerprint).
func (w *BranchWorker) RequestSnapshot(t *mirror.Target, fingerprint string) {
	w.targets.requestSnapshot(t, fingerprint)
	w.Submit("snapshot "+t.Key, func(ctx context.Context) {
		if w.targets.snapshotCurrent(t.Key, fingerprint) {
			w.snapshots.run(ctx, t, fingerprint)
		}
	})
}

// Snapshot plans the target's snapshot on the fetched clone (see
// pkg/lifecycle/snapshot) and commits its creates, updates and deletes as one
// commit. It runs on the worker goroutine (tasks) or, in tests, on a worker
// that is not started.
func (w *BranchWorker) Snapshot(ctx context.Context, t *mirror.Target, src snapshot.Source, progress func(v1alpha1.SnapshotStats)) (*SnapshotResult, error) {
	res, err := w.snapshots.snapshot(ctx, t, src, progress)
	if err != nil {
		return nil, err
	}
	w.clone.saveIndex()
	return res, nil
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

// run runs a snapshot with the stream barrier around it: the target's
// events are buffered from before its objects are read and applied after the
// commit, so nothing between the snapshot and the stream start is lost.
func (s *snapshotter) run(ctx context.Context, t *mirror.Target, fp string) {
	report := s.m.opts.Report
	started := time.Now()
	report(mirror.Result{Target: t.Key, Op: mirror.OpSnapshot, Fingerprint: fp, Running: true, Time: started})
	fail := func(err error) {
		metrics.Snapshots.WithLabelValues("failed").Inc()
		klog.ErrorS(err, "Snapshot failed", "target", t.Key, "worker", s.key)
		report(mirror.Result{Target: t.Key, Op: mirror.OpSnapshot, Fingerprint: fp, Err: err, Time: time.Now()})
	}
	stream := s.m.opts.Stream
	src := snapshot.Source{List: s.m.opts.List}
	if stream != nil {
		// After a restart the clone's index knows how far each type was
		// mirrored: those types resume their watch there and replay what
		// changed instead of listing everything. The feeds start first, and
		// the check that the tree holds what the index says runs while they
		// deliver what changed (Replay waits for them to go quiet): a restart
		// pays for the wait and the check at once, not one after the other.
		bt := s.targets.bound(t)
		resume := s.resumeCandidates(bt)
		resumed, err := stream.BeginBuffer(ctx, t, s.sink, resume)
		if err != nil {
			fail(&mirror.LocalError{Err: err})
			return
		}
		listed, head, err := s.keepExact(ctx, bt, resume, resumed)
		if err != nil {
			stream.AbortBuffer(t.Key)
			fail(err)
			return
		}
		src = snapshot.Source{Resumed: resumed, Listed: listed, ListedAt: head,
			List: func(ctx context.Context, gvr schema.GroupVersionResource, fn func(*unstructured.Unstructured) error) (string, error) {
				return stream.List(ctx, t.Key, gvr, fn)
			},
			ListIn: func(ctx context.Context, gvr schema.GroupVersionResource, namespaces []string, fn func(*unstructured.Unstructured) error) (string, error) {
				return stream.ListIn(ctx, t.Key, gvr, namespaces, fn)
			},
			Replay: func(ctx context.Context, gvr schema.GroupVersionResource) ([]snapshot.Event, string, error) {
				return stream.Replay(ctx, t.Key, gvr)
			}}
	}
	synced := time.Now()
	res, err := s.snapshot(ctx, t, src, func(stats v1alpha1.SnapshotStats) {
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
		s.clone.index.setResume(t.Key, points)
	}
	now := time.Now()
	st := res.Plan.Stats
	observeSnapshot(res.Plan, now.Sub(started))
	klog.InfoS("Snapshot completed", "target", t.Key, "worker", s.key, "commit", res.Commit,
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
	// One save for the files and the resume points, after the report: the
	// snapshot is done when its commit is pushed, and the index is a cache
	// of the branch (lost, it costs renders and a longer restart, never a
	// file). A save of 100,000 entries took 0.4 s of CPU in the scale bench,
	// counted in the re-snapshot's time while it came first. The worker runs
	// one task at a time, so the next task finds it saved.
	s.clone.saveIndex()
}

// observeSnapshot counts a snapshot that completed in took.
func observeSnapshot(p *snapshot.Plan, took time.Duration) {
	st := p.Stats
	metrics.Snapshots.WithLabelValues("ok").Inc()
	metrics.SnapshotTypes.WithLabelValues("replayed").Add(float64(len(p.Replayed)))
	metrics.SnapshotTypes.WithLabelValues("listed").Add(float64(len(p.ListRVs) - len(p.Replayed)))
	metrics.SnapshotDuration.Observe(took.Seconds())
	for result, n := range map[string]int32{"created": st.Created, "updated": st.Updated, "deleted": st.Deleted, "unchanged": st.Unchanged, "skipped": st.SkippedSecrets, "failed": st.Failed} {
		metrics.SnapshotObjects.WithLabelValues(result).Add(float64(n))
	}
}

// snapshot is Snapshot without saving the index: run saves it once, with the
// resume points.
func (s *snapshotter) snapshot(ctx context.Context, t *mirror.Target, src snapshot.Source, progress func(v1alpha1.SnapshotStats)) (*SnapshotResult, error) {
	repo, err := s.clone.synced(ctx)
	if err != nil {
		return nil, err
	}
	t = s.targets.bound(t)
	if src.Listed != nil && src.ListedAt != repo.Head() {
		src.Listed = nil // read at another tip: walk again
	}
	// The planned files wait for the commit on disk past the first few MiB.
	spool := repo.NewBlobSpool()
	defer spool.Close()
	src.Spool = spool
	start := time.Now()
	plan, err := snapshot.ComputeFrom(ctx, t, repo, s.clone.index, src, progress)
	if err != nil {
		return nil, &mirror.LocalError{Err: err}
	}
	res := &SnapshotResult{Plan: plan, Target: t, Diff: time.Since(start)}
	if s.targets.narrowed(t) {
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
		pctx, cancel := s.m.opts.Fence(ctx)
		defer cancel()
		// The plan lets go of the rendered files here: the commit builds
		// their blobs, and a snapshot of 30,000 objects holds them once.
		changes, msg := plan.Changes, s.m.commitMessage(plan.Message(t.Key))
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
	rid := t.RenderID()
	for _, l := range plan.Learned {
		if l.Gone {
			s.clone.index.recordVersion(l.Path, "", "", "", l.Blob)
		} else {
			s.clone.index.recordVersion(l.Path, l.UID, l.ResourceVersion, rid, l.Blob)
		}
	}
	plan.Learned = nil
	return res, nil
}

// resumeCandidates returns the types of t with a resume point under the
// current TypeFingerprint, each with the resourceVersion it was mirrored
// through. Secrets of a target without encryption are always listed (the
// snapshot counts them as skipped).
func (s *snapshotter) resumeCandidates(t *mirror.Target) map[schema.GroupVersionResource]string {
	out := map[schema.GroupVersionResource]string{}
	for gvr := range t.Selection {
		if render.IsSecret(gvr) && t.Keys == nil {
			continue
		}
		if rv := s.clone.index.resumeFor(t.Key, gvr, mirror.TypeFingerprint(t, gvr)); rv != "" {
			out[gvr] = rv
		}
	}
	return out
}

// keepExact leaves in resumed only the types whose files in the tree are
// exactly the ones the index says were written (a file edited, added or
// removed by someone else makes its type listed). It returns the listings it
// read (the plan reuses them) and the commit they were read at.
func (s *snapshotter) keepExact(ctx context.Context, t *mirror.Target, candidates map[schema.GroupVersionResource]string, resumed map[schema.GroupVersionResource]bool) (map[schema.GroupVersionResource]map[string]plumbing.Hash, plumbing.Hash, error) {
	repo, err := s.clone.synced(ctx)
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
		if !s.clone.index.holdsExactly(existing, dir, parse) {
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
func (s *snapshotter) checkpoint() {
	stream := s.m.opts.Stream
	if stream == nil || s.clone.index == nil {
		return
	}
	positions := map[string]map[schema.GroupVersionResource]mirror.Position{}
	for _, k := range s.targets.keys() {
		if p := stream.Positions(k); p != nil {
			positions[k] = p
		}
	}
	// Only the worker goroutine (this one) takes changes or tasks out: a
	// change or task there before the positions were read is seen here.
	if !s.queue.idle() || !s.tasks.empty() {
		return
	}
	for k, p := range positions {
		s.clone.index.setResume(k, p)
	}
}
