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

// liveWriter commits and pushes the live batches the queue hands out, and
// tells each target how its changes fared. It runs on the worker goroutine
// and holds no state of its own: every field is set at construction; what a
// flush decides goes back to the queue (hold, requeue, pushed).
type liveWriter struct {
	m       *Manager
	key     mirror.BranchKey
	queue   *queue
	targets *targetSet
	clone   *clone
	authors *authors
}

// flush commits pending changes: one commit per author (in the order of
// their first change), each at most MaxChanges files, pushed together. A
// change no attribution report explains yet waits for it up to the grace,
// then goes with the field manager as its author. On failure the changes go
// back (unless a newer change to the same path arrived) and the next flush is
// delayed with backoff: nothing is dropped. The last flush (final) waits for
// no report (finish has waited for them: awaitReports).
func (l *liveWriter) flush(ctx context.Context, final bool) {
	batch, maxChanges := l.queue.take(final)
	if len(batch) == 0 {
		return
	}
	chunks, held, ignored := l.authors.byAuthor(batch, maxChanges, time.Now(), final)
	if len(held) > 0 {
		l.queue.hold(held)
	}
	if len(ignored) > 0 {
		// Left out by ignoreChangesBy: the files keep what was mirrored
		// before (docs/mirroring.md).
		klog.V(2).InfoS("Changes by ignored authors not committed", "worker", l.key, "changes", len(ignored))
		metrics.ChangesIgnored.Add(float64(len(ignored)))
	}
	if len(chunks) == 0 {
		return
	}
	committed, err := l.commitChanges(ctx, chunks)
	if err != nil {
		paths := chunkPaths(chunks)
		klog.ErrorS(err, "Committing live changes failed; will retry", "worker", l.key, "changes", len(paths))
		l.queue.requeue(batch, paths)
	}
	if err == nil {
		l.queue.pushed()
	}
	counts := l.queue.counts()
	for _, r := range commitResults(chunks, err, counts, committed, time.Now()) {
		l.m.opts.Report(r)
	}
}

// awaitReports waits, before the last flush, until a report explains every
// pending change or the youngest unexplained one has waited out the grace
// (ctx bounds it too): a change whose report is on its way is committed
// under its author, not its field manager, when the server stops.
func (l *liveWriter) awaitReports(ctx context.Context) {
	if l.authors.attribution == nil {
		return
	}
	for {
		wait := l.unexplainedFor(time.Now())
		if wait <= 0 {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(min(wait, heldPoll)):
		}
	}
}

// unexplainedFor is how much longer the youngest pending change no report
// explains may wait for one (0: none may).
func (l *liveWriter) unexplainedFor(now time.Time) time.Duration {
	l.queue.mu.Lock()
	defer l.queue.mu.Unlock()
	var longest time.Duration
	for _, c := range l.queue.pending {
		if _, ok := l.authors.lookup(c); !ok {
			longest = max(longest, l.authors.grace-now.Sub(c.Last))
		}
	}
	return longest
}

// chunkPaths lists the paths of the changes in chunks.
func chunkPaths(chunks []authorChunk) []string {
	var paths []string
	for _, ch := range chunks {
		for _, c := range ch.changes {
			paths = append(paths, c.Path)
		}
	}
	return paths
}

// commitResults is what a flush tells the targets of its batch, once each,
// in the order of their first change: a failure, and how many of their
// changes wait; or, when the push worked but no commit report went out to
// the target (committed), that pushes work again.
func commitResults(chunks []authorChunk, err error, counts map[string]int, committed map[string]bool, now time.Time) []mirror.Result {
	var out []mirror.Result
	seen := map[string]bool{}
	for _, ch := range chunks {
		for _, c := range ch.changes {
			if seen[c.TargetKey] {
				continue
			}
			seen[c.TargetKey] = true
			if err != nil {
				out = append(out, mirror.Result{Target: c.TargetKey, Op: mirror.OpCommit, Err: err, Pending: counts[c.TargetKey], Time: now})
			} else if !committed[c.TargetKey] {
				out = append(out, mirror.Result{Target: c.TargetKey, Op: mirror.OpCommit, Pending: counts[c.TargetKey], Time: now})
			}
		}
	}
	return out
}

// liveBatch is a flush's chunks rendered into commits.
type liveBatch struct {
	commits []git.Commit
	// targets are those whose files the commits change.
	targets sets.Set[string]
	// learn are the changes the index learns once pushed (unchanged ones
	// too), blobs[i] the blob learn[i] holds; pushed those the commits write.
	learn, pushed []*mirror.Change
	blobs         []plumbing.Hash
	// failed names, per target, the changes that could not be written.
	failed map[string][]string
}

// commitChanges renders live changes and commits them, one commit per chunk
// (one author, at most push.maxChanges files, its message listing them),
// pushed together: under a backlog the commits keep their size, the pushes do
// not multiply. Each target whose files changed is reported (OpCommit) and
// returned in committed; changes that could not be written are reported
// (OpNotWritten) whatever the push does.
func (l *liveWriter) commitChanges(ctx context.Context, chunks []authorChunk) (committed map[string]bool, err error) {
	repo, err := l.clone.open(ctx)
	if err != nil {
		return nil, err
	}
	b := l.render(repo, chunks)
	defer l.reportNotWritten(b.failed)
	if len(b.commits) == 0 {
		l.learn(b)
		return nil, nil
	}
	pctx, cancel := l.m.opts.Fence(ctx)
	defer cancel()
	res, err := repo.CommitChainAndPush(pctx, b.commits)
	observePush(res, err)
	if err != nil {
		return nil, err
	}
	l.learn(b)
	if !res.Changed {
		return nil, nil
	}
	now := time.Now()
	observeLive(b, now)
	counts := l.queue.counts()
	committed = map[string]bool{}
	for _, key := range sets.List(b.targets) {
		committed[key] = true
		l.m.opts.Report(mirror.Result{Target: key, Op: mirror.OpCommit, Commit: res.Hash.String(), Pending: counts[key], Time: now})
	}
	return committed, nil
}

// render turns chunks into commits, one per chunk that changes a file. A
// change its target may no longer write is left out; one that cannot be
// rendered, or whose path someone else's file or directory is in the way
// of, fails alone, not the batch.
func (l *liveWriter) render(repo *git.Repo, chunks []authorChunk) liveBatch {
	b := liveBatch{targets: sets.New[string](), failed: map[string][]string{}}
	style := l.authors.style()
	for _, chunk := range chunks {
		var changes []git.Change
		var lines []commitstyle.Line
		for _, c := range chunk.changes {
			if !l.targets.allows(c) {
				continue // its target may no longer mirror it (Restrict)
			}
			gc, unchanged, existed, err := writable(repo, c)
			if err != nil {
				b.failed[c.TargetKey] = append(b.failed[c.TargetKey], notWritten(c, err))
				continue
			}
			b.learn = append(b.learn, c)
			b.blobs = append(b.blobs, git.BlobHash(gc.Content))
			if unchanged {
				continue
			}
			changes = append(changes, gc)
			b.pushed = append(b.pushed, c)
			lines = append(lines, commitstyle.Line{Verb: verbOf(c, existed), Path: c.Path, Target: c.TargetKey, Reported: chunk.verbs[c]})
			b.targets.Insert(c.TargetKey)
		}
		if len(changes) > 0 {
			msg, author := l.authors.renderCommit(style, chunk, lines)
			b.commits = append(b.commits, git.Commit{Changes: changes, Message: msg, Author: author})
		}
	}
	return b
}

// writable renders a change and checks that nothing someone else wrote is in
// the way of its file (a delete or an unchanged file is never blocked).
func writable(repo *git.Repo, c *mirror.Change) (gc git.Change, unchanged, existed bool, err error) {
	gc, unchanged, existed, err = renderChange(repo, c)
	if err != nil {
		klog.ErrorS(err, "Skipping a change that cannot be rendered", "path", c.Path)
		return gc, false, false, err
	}
	if !unchanged && !gc.Delete {
		if blocked, err := repo.Blocked([]git.Change{gc}); err != nil || len(blocked) > 0 {
			if err == nil {
				err = snapshot.ErrBlocked
			}
			return gc, false, false, err
		}
	}
	return gc, unchanged, existed, nil
}

// verbOf is how a commit message lists a change to a file that existed (or not).
func verbOf(c *mirror.Change, existed bool) string {
	switch {
	case c.Object == nil:
		return "delete"
	case !existed:
		return "create"
	}
	return "update"
}

// learn records in the index the files a pushed batch holds (unchanged ones
// included: their object version is now known to be written).
func (l *liveWriter) learn(b liveBatch) {
	for i, c := range b.learn {
		l.clone.index.record(c.Path, c.Object, c.RenderID(), b.blobs[i])
	}
	l.clone.index.saveIfDue()
}

// observeLive counts the live commits of a push that changed the branch, and
// each pushed change's latency and how it was attributed.
func observeLive(b liveBatch, now time.Time) {
	metrics.Commits.WithLabelValues("live").Add(float64(len(b.commits)))
	for _, c := range b.pushed {
		if !c.Since.IsZero() {
			metrics.ChangeToPushed.Observe(now.Sub(c.Since).Seconds())
		}
		by := "field_manager"
		if c.Author != nil {
			by = "reported"
		}
		metrics.AttributedChanges.WithLabelValues(by).Inc()
	}
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
func (l *liveWriter) reportNotWritten(failed map[string][]string) {
	now := time.Now()
	for key, objs := range failed {
		l.m.opts.Report(mirror.Result{Target: key, Op: mirror.OpNotWritten, Failed: objs, Time: now})
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
