package worker

import (
	"context"
	"fmt"
	"strings"
	"time"

	"k8s.io/klog/v2"

	"github.com/configbutler/gitops-reverser/pkg/git"
	"github.com/configbutler/gitops-reverser/pkg/lifecycle/files"
	"github.com/configbutler/gitops-reverser/pkg/lifecycle/mirror"
	"github.com/configbutler/gitops-reverser/pkg/metrics"
)

// bootstrapRequest is one target's bootstrap, queued on its branch worker.
type bootstrapRequest struct {
	t           *mirror.Target
	fingerprint string
}

// RequestBootstrap queues a target's bootstrap (the seed's
// EnsureTargetBootstrapped): it runs on the worker's goroutine, never under the
// Manager's lock. Bootstraps queued together run as one: one fetch and one
// commit, so a thousand targets on one branch make one bootstrap commit, not a
// thousand. Its start and outcome are reported (OpBootstrap, with fingerprint).
func (w *BranchWorker) RequestBootstrap(t *mirror.Target, fingerprint string) {
	w.mu.Lock()
	w.bootstraps = append(w.bootstraps, bootstrapRequest{t: t, fingerprint: fingerprint})
	w.tasks = append(w.tasks, task{name: "bootstrap " + t.Key, run: w.runBootstraps})
	w.mu.Unlock()
	w.signal()
}

// runBootstraps runs every bootstrap queued so far (later tasks of the same
// kind find nothing left to do).
func (w *BranchWorker) runBootstraps(ctx context.Context) {
	w.mu.Lock()
	reqs := w.bootstraps
	w.bootstraps = nil
	w.mu.Unlock()
	if len(reqs) == 0 {
		return
	}
	ts := make([]*mirror.Target, len(reqs))
	started := time.Now()
	for i, r := range reqs {
		w.m.opts.Report(mirror.Result{Target: r.t.Key, Op: mirror.OpBootstrap, Fingerprint: r.fingerprint, Running: true, Time: started})
		ts[i] = r.t
	}
	commit, applied, err := w.EnsureTargetsBootstrapped(ctx, ts)
	if err != nil {
		klog.ErrorS(err, "Bootstrap failed", "worker", w.Key, "targets", len(ts))
	}
	done := time.Now()
	for i, r := range reqs {
		w.m.opts.Report(mirror.Result{Target: r.t.Key, Op: mirror.OpBootstrap, Fingerprint: r.fingerprint,
			Commit: commit, Applied: applied != nil && applied[i], Err: err, Time: done})
	}
}

// EnsureTargetsBootstrapped writes README.md and, with encryption, .sops.yaml
// under each target's path where they are missing (.sops.yaml also when its
// recipients are stale), all in one commit. applied[i] tells whether target i
// needed anything; commit is "" when none did.
func (w *BranchWorker) EnsureTargetsBootstrapped(ctx context.Context, ts []*mirror.Target) (commit string, applied []bool, err error) {
	repo, err := w.syncedRepo(ctx)
	if err != nil {
		return "", nil, err
	}
	applied = make([]bool, len(ts))
	var changes []git.Change
	var lines []string
	for i, t := range ts {
		need, err := files.Bootstrap(repo, t)
		if err != nil {
			return "", nil, err
		}
		changes = append(changes, need...)
		if applied[i] = len(need) > 0; applied[i] {
			lines = append(lines, fmt.Sprintf("bootstrap %s for GitTarget %s", files.DisplayPath(t.Path), t.Key))
		}
	}
	if len(changes) == 0 {
		// Nothing to write: prove the credentials could have, before the
		// targets claim their places (pkg/lifecycle/gates, claims.go).
		if err := repo.CheckPushAccess(ctx); err != nil {
			return "", nil, err
		}
		return "", applied, nil
	}
	msg := "gitops-reverser: " + lines[0]
	if len(lines) > 1 {
		msg = fmt.Sprintf("gitops-reverser: bootstrap %d GitTargets\n\n%s\n", len(lines), strings.Join(lines, "\n"))
	}
	pctx, cancel := w.m.opts.Fence(ctx)
	defer cancel()
	res, err := repo.CommitAndPush(pctx, changes, w.m.commitMessage(msg))
	observePush(res, err)
	if err != nil {
		return "", nil, err
	}
	if res.Changed {
		metrics.Commits.WithLabelValues("bootstrap").Inc()
	}
	if !res.Changed {
		// Someone else wrote the same files meanwhile.
		return "", make([]bool, len(ts)), nil
	}
	return res.Hash.String(), applied, nil
}
