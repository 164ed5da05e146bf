package worker

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/klog/v2"

	"github.com/configbutler/gitops-reverser/pkg/git"
	"github.com/configbutler/gitops-reverser/pkg/lifecycle/mirror"
	"github.com/configbutler/gitops-reverser/pkg/selection"
)

// BranchWorker serializes everything written to one branch: it owns the
// long-lived clone, runs bootstrap and snapshot tasks in order, and commits
// live changes in batches (push.interval window, push.maxChanges per commit).
type BranchWorker struct {
	Key mirror.BranchKey
	UID string
	m   *Manager

	mu           sync.Mutex
	cfg          mirror.WorkerConfig
	tasks        []task
	bootstraps   []bootstrapRequest
	pending      map[string]*mirror.Change
	firstPending time.Time
	// held are the paths of changes held for their attribution reports
	// (their batch window has passed); heldDue is when they are looked at
	// again (zero: none held).
	held    map[string]bool
	heldDue time.Time
	targets sets.Set[string]
	// snapshots holds the fingerprint of the latest snapshot requested per
	// target: an older request still queued is superseded and skipped.
	snapshots map[string]string
	// ceilings bound what each target may write: the selection of its latest
	// snapshot, narrowed by Restrict. Every change is held against it right
	// before it is committed (and when a failed push puts it back), and a
	// snapshot that finds it narrowed before its push fails and is retried.
	ceilings map[string]selection.Selection
	wake     chan struct{}
	cancel   context.CancelFunc
	done     chan struct{}

	// aborted skips the last flush on stop.
	aborted atomic.Bool
	// repo and index are used by the worker goroutine only.
	repo  *git.Repo
	index *renderedIndex
	// fresh: the clone has been fetched (or pushed) since the worker last went
	// idle, so tasks that run back to back share one fetch. A push built on a
	// stale tip is rejected and replayed anyway; this only saves round trips.
	fresh bool
	// checkpointed is when the resume points were last moved on.
	checkpointed time.Time
	// retryAt delays the next flush after a failed push.
	retryAt time.Time
	failed  int
	// committed: the targets the last flush reported a commit for (the
	// worker goroutine's, during a flush).
	committed map[string]bool
}

// task is work run on the worker goroutine.
type task struct {
	name string
	run  func(ctx context.Context)
}

func newBranchWorker(m *Manager, key mirror.BranchKey, cfg mirror.WorkerConfig) *BranchWorker {
	return &BranchWorker{
		Key: key, UID: uuid.NewString(), m: m, cfg: cfg,
		pending:   map[string]*mirror.Change{},
		targets:   sets.New[string](),
		snapshots: map[string]string{},
		ceilings:  map[string]selection.Selection{},
		wake:      make(chan struct{}, 1),
		done:      make(chan struct{}),
	}
}

func (w *BranchWorker) configure(cfg mirror.WorkerConfig) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if cfg.AuthID != w.cfg.AuthID || cfg.URL != w.cfg.URL || cfg.CommitID != w.cfg.CommitID {
		// New credentials, signing key or committer: reopen the clone with
		// them on the next task (tasks run before any flush).
		w.tasks = append(w.tasks, task{name: "reauth", run: func(context.Context) { w.closeRepo() }})
		w.signal()
	}
	w.cfg = cfg
}

func (w *BranchWorker) config() mirror.WorkerConfig {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.cfg
}

func (w *BranchWorker) addTarget(key string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.targets.Insert(key)
}

// removeTarget drops a target and its pending changes; it reports whether the
// worker has no target left.
func (w *BranchWorker) removeTarget(key string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.targets.Has(key) {
		return false
	}
	w.targets.Delete(key)
	delete(w.snapshots, key)
	delete(w.ceilings, key)
	for p, c := range w.pending {
		if c.TargetKey == key {
			delete(w.pending, p)
		}
	}
	return w.targets.Len() == 0
}

// Restrict narrows what a target may write to sel (its selection shrank: what
// it may no longer mirror is never committed) and drops its pending changes
// outside it.
func (w *BranchWorker) Restrict(targetKey string, sel selection.Selection) {
	w.mu.Lock()
	if c, ok := w.ceilings[targetKey]; ok {
		sel = selection.Intersect(c, sel)
	}
	w.ceilings[targetKey] = sel
	dropped := 0
	for p, c := range w.pending {
		if c.TargetKey == targetKey && !w.allowedLocked(c) {
			delete(w.pending, p)
			dropped++
		}
	}
	counts, _ := w.pendingLocked()
	w.mu.Unlock()
	if dropped > 0 && counts[targetKey] == 0 {
		// Nothing of the target waits any more: no push of it is failing.
		w.m.opts.Report(mirror.Result{Target: targetKey, Op: mirror.OpCommit, Time: time.Now()})
	}
}

// allowedLocked reports whether a change lies within its target's ceiling
// (a target with none yet, before its first snapshot, is not bounded).
func (w *BranchWorker) allowedLocked(c *mirror.Change) bool {
	sel, ok := w.ceilings[c.TargetKey]
	if !ok {
		return true
	}
	ts := sel[c.GVR]
	return ts != nil && ts.Matches(c.Namespace)
}

func (w *BranchWorker) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Submit queues a task; tasks run one at a time, in order.
func (w *BranchWorker) Submit(name string, run func(ctx context.Context)) {
	w.mu.Lock()
	w.tasks = append(w.tasks, task{name: name, run: run})
	w.mu.Unlock()
	w.signal()
}

// Enqueue adds live changes, coalesced by path. It never blocks and never drops:
// memory is bounded by the number of distinct objects, not the event rate.
func (w *BranchWorker) Enqueue(changes ...*mirror.Change) {
	w.mu.Lock()
	wasEmpty := len(w.pending) == 0
	now := time.Now()
	for _, c := range changes {
		if !w.allowedLocked(c) {
			continue
		}
		if c.Since.IsZero() {
			c.Since = now
		}
		c.Last = now
		if prev, ok := w.pending[c.Path]; ok && prev.Since.Before(c.Since) {
			c.Since = prev.Since // coalesced: the latency counts from the first
		}
		w.pending[c.Path] = c
	}
	if len(w.pending) > 0 && w.firstPending.IsZero() {
		w.firstPending = time.Now()
	}
	// Wake the loop when a batch window opens (to arm its timer) or fills up.
	wake := (wasEmpty && len(w.pending) > 0) || len(w.pending) >= w.cfg.MaxChanges
	w.mu.Unlock()
	if wake {
		w.signal()
	}
}

func (w *BranchWorker) start() {
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	go w.loop(ctx)
}

// stop ends the worker after flushing what it holds (bounded by a timeout).
func (w *BranchWorker) stop() {
	w.cancel()
	select {
	case <-w.done:
	case <-time.After(30 * time.Second):
		klog.InfoS("Branch worker did not stop in time", "worker", w.Key)
	}
}

func (w *BranchWorker) loop(ctx context.Context) {
	defer close(w.done)
	defer w.closeRepo()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		// Tasks first, in order.
		for {
			w.mu.Lock()
			if len(w.tasks) == 0 {
				w.mu.Unlock()
				break
			}
			t := w.tasks[0]
			w.tasks = w.tasks[1:]
			w.mu.Unlock()
			if ctx.Err() != nil {
				break
			}
			t.run(ctx)
		}
		if ctx.Err() != nil {
			// Last flush with a fresh deadline: nothing already accepted is dropped
			// silently on a clean shutdown (after a crash, the re-snapshot on start
			// covers it). Not after an abort: this replica may not write any more.
			if !w.aborted.Load() {
				fctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				w.flush(fctx, true)
				cancel()
				w.checkpoint() // saved by closeRepo
			}
			return
		}
		wait := w.nextFlush()
		if wait <= 0 {
			w.flush(ctx, false)
			continue
		}
		if time.Since(w.checkpointed) >= indexSaveEvery {
			// Idle or between batches: move the resume points on.
			w.checkpointed = time.Now()
			w.checkpoint()
			w.index.saveIfDue()
		}
		wait = min(wait, indexSaveEvery)
		w.fresh = false
		timer.Reset(wait)
		select {
		case <-ctx.Done():
		case <-w.wake:
		case <-timer.C:
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// nextFlush returns how long until pending changes are due (an hour when none).
func (w *BranchWorker) nextFlush() time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.pending) == 0 {
		return time.Hour
	}
	due := w.firstPending.Add(w.cfg.Interval)
	if len(w.pending) >= w.cfg.MaxChanges {
		due = time.Now()
	}
	if !w.heldDue.IsZero() && w.heldDue.Before(due) {
		due = w.heldDue // changes waiting for their attribution
	}
	if w.retryAt.After(due) {
		due = w.retryAt
	}
	return time.Until(due)
}

// openRepo returns the clone, opening (cloning or fetching) it when needed.
func (w *BranchWorker) openRepo(ctx context.Context) (*git.Repo, error) {
	if w.repo != nil {
		return w.repo, nil
	}
	cfg := w.config()
	dir := filepath.Join(w.m.opts.WorkDir, CloneDirName(w.Key))
	if err := os.MkdirAll(w.m.opts.WorkDir, 0o700); err != nil {
		return nil, err
	}
	committer := w.m.author
	if cfg.Commit.CommitterName != "" {
		committer.Name = cfg.Commit.CommitterName
	}
	if cfg.Commit.CommitterEmail != "" {
		committer.Email = cfg.Commit.CommitterEmail
	}
	r, err := git.Open(ctx, git.Options{URL: cfg.URL, Branch: w.Key.Branch, Dir: dir, Auth: cfg.Auth, Author: committer, Sign: cfg.Commit.Sign})
	if err != nil {
		return nil, err
	}
	w.repo = r
	w.index = loadIndex(dir)
	w.fresh = true // opening clones or fetches
	return r, nil
}

// syncedRepo returns the clone, fetched unless it already was since the worker
// last went idle.
func (w *BranchWorker) syncedRepo(ctx context.Context) (*git.Repo, error) {
	repo, err := w.openRepo(ctx)
	if err != nil {
		return nil, err
	}
	if !w.fresh {
		if err := repo.Fetch(ctx); err != nil {
			return nil, err
		}
		w.fresh = true
	}
	return repo, nil
}

func (w *BranchWorker) closeRepo() {
	if err := w.index.save(); err != nil {
		klog.InfoS("Saving the rendered-file index failed", "worker", w.Key, "err", err)
	}
	w.index = nil
	if w.repo != nil {
		_ = w.repo.Close()
		w.repo = nil
	}
	w.fresh = false
}

// pendingLocked counts the pending changes of each target and returns the
// oldest one's time.
func (w *BranchWorker) pendingLocked() (map[string]int, time.Time) {
	counts := map[string]int{}
	var oldest time.Time
	for _, c := range w.pending {
		counts[c.TargetKey]++
		if oldest.IsZero() || c.Since.Before(oldest) {
			oldest = c.Since
		}
	}
	return counts, oldest
}
