package worker

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/klog/v2"

	"github.com/configbutler/gitops-reverser/pkg/git"
	"github.com/configbutler/gitops-reverser/pkg/lifecycle/files"
	"github.com/configbutler/gitops-reverser/pkg/lifecycle/mirror"
	"github.com/configbutler/gitops-reverser/pkg/metrics"
)

// flush commits pending changes in batches of at most MaxChanges. On failure
// the changes go back (unless a newer change to the same path arrived) and the
// next flush is delayed with backoff: nothing is dropped.
func (w *BranchWorker) flush(ctx context.Context) {
	w.mu.Lock()
	if len(w.pending) == 0 {
		w.mu.Unlock()
		return
	}
	batch := w.pending
	w.pending = map[string]*mirror.Change{}
	w.firstPending = time.Time{}
	max := w.cfg.MaxChanges
	w.mu.Unlock()

	paths := make([]string, 0, len(batch))
	for p := range batch {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	var chunks [][]*mirror.Change
	for start := 0; start < len(paths); start += max {
		end := min(start+max, len(paths))
		chunk := make([]*mirror.Change, 0, end-start)
		for _, p := range paths[start:end] {
			chunk = append(chunk, batch[p])
		}
		chunks = append(chunks, chunk)
	}
	err := w.commitChanges(ctx, chunks)
	if err != nil {
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
	for _, c := range batch {
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
	w.committed = nil
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
// (at most push.maxChanges files each, its message listing them), pushed
// together: under a backlog the commits keep their size, the pushes do not
// multiply. Each target whose files changed is reported (OpCommit).
func (w *BranchWorker) commitChanges(ctx context.Context, chunks [][]*mirror.Change) (err error) {
	repo, err := w.openRepo(ctx)
	if err != nil {
		return err
	}
	var commits []git.Commit
	targets := sets.New[string]()
	var learn, pushed []*mirror.Change
	var blobs []plumbing.Hash
	for _, chunk := range chunks {
		var changes []git.Change
		var lines []string
		for _, c := range chunk {
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
				continue
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
			lines = append(lines, verb+" "+c.Path)
			targets.Insert(c.TargetKey)
		}
		if len(changes) > 0 {
			msg := fmt.Sprintf("gitops-reverser: %d change(s)\n\n%s\n", len(changes), strings.Join(lines, "\n"))
			commits = append(commits, git.Commit{Changes: changes, Message: w.m.commitMessage(msg)})
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
