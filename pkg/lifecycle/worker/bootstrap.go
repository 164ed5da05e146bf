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

// bootstrapper writes the targets' bootstrap files (README.md, .sops.yaml).
// It runs on the worker goroutine (tasks; in tests, a worker that is not
// started) and holds no state of its own: every field is set at
// construction; the queued requests wait in the task list.
type bootstrapper struct {
	m     *Manager
	key   mirror.BranchKey
	clone *clone
	tasks *taskList
}

// RequestBootstrap queues a target's bootstrap (the seed's
// EnsureTargetBootstrapped): it runs on the worker's goroutine, never under the
// Manager's lock. Bootstraps queued together run as one: one fetch and one
// commit, so a thousand targets on one branch make one bootstrap commit, not a
// thousand. Its start and outcome are reported (OpBootstrap, with fingerprint).
func (w *BranchWorker) RequestBootstrap(t *mirror.Target, fingerprint string) {
	w.tasks.pushBootstrap(bootstrapRequest{t: t, fingerprint: fingerprint}, task{name: "bootstrap " + t.Key, run: w.bootstraps.run})
	w.signal()
}

// EnsureTargetsBootstrapped writes README.md and, with encryption, .sops.yaml
// under each target's path where they are missing (.sops.yaml also when its
// recipients are stale), all in one commit. applied[i] tells whether target i
// needed anything; commit is "" when none did.
func (w *BranchWorker) EnsureTargetsBootstrapped(ctx context.Context, ts []*mirror.Target) (commit string, applied []bool, err error) {
	return w.bootstraps.ensure(ctx, ts)
}

// run runs every bootstrap queued so far (later tasks of the same kind find
// nothing left to do).
func (b *bootstrapper) run(ctx context.Context) {
	reqs := b.tasks.takeBootstraps()
	if len(reqs) == 0 {
		return
	}
	ts := make([]*mirror.Target, len(reqs))
	started := time.Now()
	for i, r := range reqs {
		b.m.opts.Report(mirror.Result{Target: r.t.Key, Op: mirror.OpBootstrap, Fingerprint: r.fingerprint, Running: true, Time: started})
		ts[i] = r.t
	}
	commit, applied, err := b.ensure(ctx, ts)
	if err != nil {
		klog.ErrorS(err, "Bootstrap failed", "worker", b.key, "targets", len(ts))
	}
	done := time.Now()
	for i, r := range reqs {
		b.m.opts.Report(mirror.Result{Target: r.t.Key, Op: mirror.OpBootstrap, Fingerprint: r.fingerprint,
			Commit: commit, Applied: applied != nil && applied[i], Err: err, Time: done})
	}
}

// ensure is EnsureTargetsBootstrapped.
func (b *bootstrapper) ensure(ctx context.Context, ts []*mirror.Target) (commit string, applied []bool, err error) {
	repo, err := b.clone.synced(ctx)
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
	pctx, cancel := b.m.opts.Fence(ctx)
	defer cancel()
	res, err := repo.CommitAndPush(pctx, changes, b.m.commitMessage(msg))
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
