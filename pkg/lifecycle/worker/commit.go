package worker

import (
	"context"
	"fmt"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/klog/v2"

	"github.com/configbutler/gitops-reverser/pkg/commitstyle"
	"github.com/configbutler/gitops-reverser/pkg/git"
	"github.com/configbutler/gitops-reverser/pkg/lifecycle/files"
	"github.com/configbutler/gitops-reverser/pkg/lifecycle/mirror"
	"github.com/configbutler/gitops-reverser/pkg/lifecycle/snapshot"
	"github.com/configbutler/gitops-reverser/pkg/metrics"
)

// flush commits pending changes: one commit per author (in the order of
// their first change), each at most MaxChanges files, pushed together. A
// change no attribution report explains yet waits for it up to the grace,
// then goes with the field manager as its author. On failure the changes go
// back (unless a newer change to the same path arrived) and the next flush is
// delayed with backoff: nothing is dropped. The last flush (final) waits for
// no report.
func (w *BranchWorker) flush(ctx context.Context, final bool) {
	w.mu.Lock()
	if len(w.pending) == 0 {
		w.mu.Unlock()
		return
	}
	max := w.cfg.MaxChanges
	var batch map[string]*mirror.Change
	if final || w.windowDueLocked(time.Now()) {
		batch = w.pending
		w.pending = map[string]*mirror.Change{}
		w.firstPending = time.Time{}
	} else {
		// Only the changes held for their reports are due (their batch
		// window has passed); the others keep theirs.
		batch = map[string]*mirror.Change{}
		for p := range w.held {
			if c, ok := w.pending[p]; ok {
				batch[p] = c
				delete(w.pending, p)
			}
		}
		if len(w.pending) == 0 {
			w.firstPending = time.Time{}
		}
	}
	w.held, w.heldDue = nil, time.Time{}
	w.mu.Unlock()
	if len(batch) == 0 {
		return
	}

	chunks, held := w.byAuthor(batch, max, time.Now(), final)
	if len(held) > 0 {
		w.hold(held)
	}
	if len(chunks) == 0 {
		return
	}
	err := w.commitChanges(ctx, chunks)
	if err != nil {
		var paths []string
		for _, ch := range chunks {
			for _, c := range ch.changes {
				paths = append(paths, c.Path)
			}
		}
		klog.ErrorS(err, "Committing live changes failed; will retry", "worker", w.Key, "changes", len(paths))
		w.requeue(batch, paths)
	}
	w.mu.Lock()
	if err == nil {
		w.failed = 0
		w.retryAt = time.Time{}
	}
	counts, _ := w.pendingLocked()
	w.mu.Unlock()
	// Every target in the batch learns how its changes fare: a failure (and
	// how many wait) or, after one, that pushes work again.
	seen := map[string]bool{}
	now := time.Now()
	for _, ch := range chunks {
		for _, c := range ch.changes {
			if seen[c.TargetKey] {
				continue
			}
			seen[c.TargetKey] = true
			if err != nil {
				w.m.opts.Report(mirror.Result{Target: c.TargetKey, Op: mirror.OpCommit, Err: err, Pending: counts[c.TargetKey], Time: now})
			} else if !w.committed[c.TargetKey] {
				w.m.opts.Report(mirror.Result{Target: c.TargetKey, Op: mirror.OpCommit, Pending: counts[c.TargetKey], Time: now})
			}
		}
	}
	w.committed = nil
}

// windowDueLocked reports whether the pending batch is due: its window has
// passed, or it is full.
func (w *BranchWorker) windowDueLocked(now time.Time) bool {
	return len(w.pending) >= w.cfg.MaxChanges || !w.firstPending.IsZero() && !now.Before(w.firstPending.Add(w.cfg.Interval))
}

// heldPoll is how often changes held for their attribution look for it.
const heldPoll = 250 * time.Millisecond

// hold puts changes that wait for their attribution back, keeping newer ones.
func (w *BranchWorker) hold(held []*mirror.Change) {
	w.mu.Lock()
	defer w.mu.Unlock()
	// Look again soon (a report is usually a batch wait behind its event),
	// and at the latest when the first held change's grace ends.
	grace, soon := w.m.opts.AttributionGrace, time.Now().Add(heldPoll)
	for _, c := range held {
		if _, newer := w.pending[c.Path]; !newer && w.targets.Has(c.TargetKey) {
			w.pending[c.Path] = c
			if w.held == nil {
				w.held = map[string]bool{}
			}
			w.held[c.Path] = true
			due := c.Last.Add(grace)
			if due.After(soon) {
				due = soon
			}
			if w.heldDue.IsZero() || due.Before(w.heldDue) {
				w.heldDue = due
			}
		}
	}
	if len(w.pending) > 0 && w.firstPending.IsZero() {
		w.firstPending = time.Now()
	}
}

// requeue puts failed changes back, keeping any newer change to the same path.
func (w *BranchWorker) requeue(batch map[string]*mirror.Change, paths []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, p := range paths {
		if _, newer := w.pending[p]; !newer && w.targets.Has(batch[p].TargetKey) && w.allowedLocked(batch[p]) {
			w.pending[p] = batch[p]
		}
	}
	if len(w.pending) > 0 && w.firstPending.IsZero() {
		w.firstPending = time.Now()
	}
	w.failed++
	w.retryAt = time.Now().Add(min(time.Duration(1<<min(w.failed, 6))*time.Second, time.Minute))
}

// commitChanges renders live changes and commits them, one commit per chunk
// (one author, at most push.maxChanges files, its message listing them),
// pushed together: under a backlog the commits keep their size, the pushes do
// not multiply. Each target whose files changed is reported (OpCommit).
func (w *BranchWorker) commitChanges(ctx context.Context, chunks []authorChunk) (err error) {
	repo, err := w.openRepo(ctx)
	if err != nil {
		return err
	}
	style := w.style()
	var commits []git.Commit
	targets := sets.New[string]()
	var learn, pushed []*mirror.Change
	var blobs []plumbing.Hash
	failed := map[string][]string{}
	defer func() { w.reportNotWritten(failed) }()
	for _, chunk := range chunks {
		var changes []git.Change
		var lines []commitstyle.Line
		for _, c := range chunk.changes {
			w.mu.Lock()
			allowed := w.allowedLocked(c)
			w.mu.Unlock()
			if !allowed {
				continue // its target may no longer mirror it (Restrict)
			}
			gc, unchanged, existed, err := renderChange(repo, c)
			if err != nil {
				// One object that cannot be rendered must not block the others.
				klog.ErrorS(err, "Skipping a change that cannot be rendered", "path", c.Path)
				failed[c.TargetKey] = append(failed[c.TargetKey], notWritten(c, err))
				continue
			}
			if !unchanged && !gc.Delete {
				// A file or directory someone else wrote in the way fails
				// this one change, not the batch.
				if blocked, err := repo.Blocked([]git.Change{gc}); err != nil || len(blocked) > 0 {
					if err == nil {
						err = snapshot.ErrBlocked
					}
					failed[c.TargetKey] = append(failed[c.TargetKey], notWritten(c, err))
					continue
				}
			}
			learn = append(learn, c)
			blobs = append(blobs, git.BlobHash(gc.Content))
			if unchanged {
				continue
			}
			changes = append(changes, gc)
			pushed = append(pushed, c)
			verb := "update"
			switch {
			case c.Object == nil:
				verb = "delete"
			case !existed:
				verb = "create"
			}
			lines = append(lines, commitstyle.Line{Verb: verb, Path: c.Path, Target: c.TargetKey, Reported: chunk.verbs[c]})
			targets.Insert(c.TargetKey)
		}
		if len(changes) > 0 {
			msg, author := w.m.renderCommit(style, chunk, lines)
			commits = append(commits, git.Commit{Changes: changes, Message: msg, Author: author})
		}
	}
	defer func() {
		if err == nil {
			for i, c := range learn {
				w.index.record(c.Path, c.Object, c.RenderID(), blobs[i])
			}
			w.index.saveIfDue()
		}
	}()
	if len(commits) == 0 {
		return nil
	}
	pctx, cancel := w.m.opts.Fence(ctx)
	defer cancel()
	res, err := repo.CommitChainAndPush(pctx, commits)
	observePush(res, err)
	if err != nil {
		return err
	}
	if !res.Changed {
		return nil
	}
	now := time.Now()
	metrics.Commits.WithLabelValues("live").Add(float64(len(commits)))
	for _, c := range pushed {
		if !c.Since.IsZero() {
			metrics.ChangeToPushed.Observe(now.Sub(c.Since).Seconds())
		}
		by := "field_manager"
		if c.Author != nil {
			by = "reported"
		}
		metrics.AttributedChanges.WithLabelValues(by).Inc()
	}
	w.mu.Lock()
	counts, _ := w.pendingLocked()
	w.mu.Unlock()
	w.committed = map[string]bool{}
	for _, key := range sets.List(targets) {
		w.committed[key] = true
		w.m.opts.Report(mirror.Result{Target: key, Op: mirror.OpCommit, Commit: res.Hash.String(), Pending: counts[key], Time: now})
	}
	return nil
}

// notWritten describes a change that could not be written, as an Event says it.
func notWritten(c *mirror.Change, err error) string {
	obj := c.Name
	if c.Namespace != "" {
		obj = c.Namespace + "/" + obj
	}
	return fmt.Sprintf("%s %s: %v", c.GVR.Resource, obj, err)
}

// reportNotWritten tells each target which of its changes could not be written.
func (w *BranchWorker) reportNotWritten(failed map[string][]string) {
	now := time.Now()
	for key, objs := range failed {
		w.m.opts.Report(mirror.Result{Target: key, Op: mirror.OpNotWritten, Failed: objs, Time: now})
	}
}

// observePush counts a push and its outcome.
func observePush(res git.CommitResult, err error) {
	if res.Attempts > 1 {
		metrics.PushRejections.Add(float64(res.Attempts - 1))
	}
	switch {
	case err != nil:
		metrics.Pushes.WithLabelValues("failed").Inc()
		metrics.PushFailures.WithLabelValues(git.FailureReason(err)).Inc()
	case res.Pushed:
		metrics.Pushes.WithLabelValues("ok").Inc()
	}
}

// renderChange turns a change into a file write or delete.
func renderChange(repo *git.Repo, c *mirror.Change) (gc git.Change, unchanged, existed bool, err error) {
	if c.Object == nil {
		_, found, err := repo.FileHash(c.Path)
		if err != nil {
			return git.Change{}, false, false, err
		}
		return git.Change{Path: c.Path, Delete: true}, !found, found, nil
	}
	content, unchanged, existed, err := files.Render(repo, c.GVR, c.Object, c.Keys, c.Clean, c.Path)
	if err != nil {
		return git.Change{}, false, false, err
	}
	return git.Change{Path: c.Path, Content: content}, unchanged, existed, nil
}
