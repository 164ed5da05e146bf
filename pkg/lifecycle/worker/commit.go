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
	if err := w.commitChanges(ctx, chunks); err != nil {
		klog.ErrorS(err, "Committing live changes failed; will retry", "worker", w.Key, "changes", len(paths))
		w.requeue(batch, paths)
		return
	}
	w.mu.Lock()
	w.failed = 0
	w.retryAt = time.Time{}
	w.mu.Unlock()
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
	var learn []*mirror.Change
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
	if err != nil {
		return err
	}
	if !res.Changed {
		return nil
	}
	now := time.Now()
	for _, key := range sets.List(targets) {
		w.m.opts.Report(mirror.Result{Target: key, Op: mirror.OpCommit, Commit: res.Hash.String(), Time: now})
	}
	return nil
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
