package lifecycle

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/google/uuid"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/klog/v2"

	"github.com/configbutler/gitops-reverser/pkg/git"
)

// workerConfig is what a branch worker needs to reach its branch.
type workerConfig struct {
	URL        string
	Auth       transport.AuthMethod
	AuthID     string // changes when the credentials Secret changes
	Interval   time.Duration
	MaxChanges int
}

// WorkerManager owns one BranchWorker per (repository, branch). EnsureWorker
// takes its lock only to look up or create a worker; all git work (bootstrap,
// snapshot, commits) runs on the worker's own goroutine, so a slow or stuck
// branch never holds up another.
type WorkerManager struct {
	workDir string
	author  git.Signature
	hooks   workerHooks
	// replica names this server in commit messages (several replicas may write a
	// repository over time, never at once).
	replica string
	// fence bounds a git write by this replica's ownership lease.
	fence func(context.Context) (context.Context, context.CancelFunc)
	// released is told when a worker stops, so its branch lease can go.
	released func(BranchKey)

	mu      sync.Mutex
	workers map[BranchKey]*BranchWorker
}

// workerHooks are how workers report back to the lifecycle.
type workerHooks interface {
	// enqueue asks for a target's gates to be re-evaluated.
	enqueue(targetKey string)
	// state updates a target's in-memory state.
	state() *stateStore
}

func newWorkerManager(workDir string, hooks workerHooks) *WorkerManager {
	return &WorkerManager{
		workDir: workDir,
		author:  git.Signature{Name: "gitops-reverser", Email: "gitops-reverser@configbutler.ai"},
		hooks:   hooks,
		fence: func(ctx context.Context) (context.Context, context.CancelFunc) {
			return context.WithCancel(ctx)
		},
		released: func(BranchKey) {},
		workers:  map[BranchKey]*BranchWorker{},
	}
}

// commitMessage adds the replica that wrote a commit as a trailer.
func (m *WorkerManager) commitMessage(msg string) string {
	if m.replica == "" {
		return msg
	}
	return strings.TrimRight(msg, "\n") + "\n\nReplica: " + m.replica + "\n"
}

// EnsureWorker returns the worker of a branch, creating and starting it when
// needed, and records that target uses it. A changed configuration (credentials,
// batching) is applied to the running worker.
func (m *WorkerManager) EnsureWorker(key BranchKey, cfg workerConfig, targetKey string) *BranchWorker {
	m.mu.Lock()
	defer m.mu.Unlock()
	w, ok := m.workers[key]
	if !ok {
		w = newBranchWorker(m, key, cfg)
		m.workers[key] = w
		w.start()
	} else {
		w.configure(cfg)
	}
	w.addTarget(targetKey)
	return w
}

// Get returns the worker of a branch, or nil.
func (m *WorkerManager) Get(key BranchKey) *BranchWorker {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.workers[key]
}

// ReleaseTarget removes a target from every worker but keep (the zero key keeps
// none), and stops workers left without targets.
func (m *WorkerManager) ReleaseTarget(targetKey string, keep BranchKey) {
	m.mu.Lock()
	var stop []*BranchWorker
	for key, w := range m.workers {
		if key == keep {
			continue
		}
		if w.removeTarget(targetKey) {
			delete(m.workers, key)
			stop = append(stop, w)
		}
	}
	m.mu.Unlock()
	for _, w := range stop {
		w.stop()
		m.released(w.Key)
	}
}

// Stop stops every worker, flushing what they hold (a clean shutdown).
func (m *WorkerManager) Stop() { m.stopAll(false) }

// Abort stops every worker at once, without a last flush: this replica may no
// longer write (its ownership lease is gone). What they held is not lost: the
// new owner's snapshot writes the cluster's state.
func (m *WorkerManager) Abort() { m.stopAll(true) }

func (m *WorkerManager) stopAll(abort bool) {
	m.mu.Lock()
	ws := make([]*BranchWorker, 0, len(m.workers))
	for k, w := range m.workers {
		ws = append(ws, w)
		delete(m.workers, k)
	}
	m.mu.Unlock()
	for _, w := range ws {
		if abort {
			w.aborted.Store(true)
		}
		w.stop()
	}
}

// Workers returns the number of running workers.
func (m *WorkerManager) Workers() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.workers)
}

// change is one object change waiting to be committed, coalesced by file path:
// the latest state of an object wins, and a delete after a create is a delete.
type change struct {
	TargetKey string
	GVR       schema.GroupVersionResource
	Path      string
	// Object is the new state; nil deletes the file.
	Object *unstructured.Unstructured
	Keys   *encryptionKeys
}

// BranchWorker serializes everything written to one branch: it owns the
// long-lived clone, runs bootstrap and snapshot tasks in order, and commits
// live changes in batches (push.interval window, push.maxChanges per commit).
type BranchWorker struct {
	Key BranchKey
	UID string
	m   *WorkerManager

	mu           sync.Mutex
	cfg          workerConfig
	tasks        []task
	bootstraps   []bootstrapRequest
	pending      map[string]*change
	firstPending time.Time
	targets      sets.Set[string]
	wake         chan struct{}
	cancel       context.CancelFunc
	done         chan struct{}

	// aborted skips the last flush on stop.
	aborted atomic.Bool
	// repo and index are used by the worker goroutine only.
	repo  *git.Repo
	index *renderedIndex
	// fresh: the clone has been fetched (or pushed) since the worker last went
	// idle, so tasks that run back to back share one fetch. A push built on a
	// stale tip is rejected and replayed anyway; this only saves round trips.
	fresh bool
	// retryAt delays the next flush after a failed push.
	retryAt time.Time
	failed  int
}

// task is work run on the worker goroutine.
type task struct {
	name string
	run  func(ctx context.Context)
}

func newBranchWorker(m *WorkerManager, key BranchKey, cfg workerConfig) *BranchWorker {
	return &BranchWorker{
		Key: key, UID: uuid.NewString(), m: m, cfg: cfg,
		pending: map[string]*change{},
		targets: sets.New[string](),
		wake:    make(chan struct{}, 1),
		done:    make(chan struct{}),
	}
}

func (w *BranchWorker) configure(cfg workerConfig) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if cfg.AuthID != w.cfg.AuthID || cfg.URL != w.cfg.URL {
		// New credentials: reopen the clone with them on the next task.
		w.tasks = append(w.tasks, task{name: "reauth", run: func(context.Context) { w.closeRepo() }})
		w.signal()
	}
	w.cfg = cfg
}

func (w *BranchWorker) config() workerConfig {
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
	for p, c := range w.pending {
		if c.TargetKey == key {
			delete(w.pending, p)
		}
	}
	return w.targets.Len() == 0
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
func (w *BranchWorker) Enqueue(changes ...*change) {
	w.mu.Lock()
	wasEmpty := len(w.pending) == 0
	for _, c := range changes {
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
				w.flush(fctx)
				cancel()
			}
			return
		}
		wait := w.nextFlush()
		if wait <= 0 {
			w.flush(ctx)
			continue
		}
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
	dir := filepath.Join(w.m.workDir, cloneDirName(w.Key))
	if err := os.MkdirAll(w.m.workDir, 0o700); err != nil {
		return nil, err
	}
	r, err := git.Open(ctx, git.Options{URL: cfg.URL, Branch: w.Key.Branch, Dir: dir, Auth: cfg.Auth, Author: w.m.author})
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

// cloneDirName is a filesystem-safe directory name for a branch key.
func cloneDirName(k BranchKey) string {
	r := strings.NewReplacer("/", "_", ":", "_", "@", "_", "#", "_", "\\", "_")
	return r.Replace(k.Repo) + "@" + r.Replace(k.Branch)
}

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
	w.pending = map[string]*change{}
	w.firstPending = time.Time{}
	max := w.cfg.MaxChanges
	w.mu.Unlock()

	paths := make([]string, 0, len(batch))
	for p := range batch {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	var chunks [][]*change
	for start := 0; start < len(paths); start += max {
		end := min(start+max, len(paths))
		chunk := make([]*change, 0, end-start)
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
func (w *BranchWorker) requeue(batch map[string]*change, paths []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, p := range paths {
		if _, newer := w.pending[p]; !newer && w.targets.Has(batch[p].TargetKey) {
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
// multiply.
func (w *BranchWorker) commitChanges(ctx context.Context, chunks [][]*change) (err error) {
	repo, err := w.openRepo(ctx)
	if err != nil {
		return err
	}
	var commits []git.Commit
	targets := sets.New[string]()
	var learn []*change
	var blobs []plumbing.Hash
	for _, chunk := range chunks {
		var changes []git.Change
		var lines []string
		for _, c := range chunk {
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
				w.index.record(c.Path, c.Object, c.Keys, blobs[i])
			}
			w.index.saveIfDue()
		}
	}()
	if len(commits) == 0 {
		return nil
	}
	pctx, cancel := w.m.fence(ctx)
	defer cancel()
	res, err := repo.CommitChainAndPush(pctx, commits)
	if err != nil {
		return err
	}
	if !res.Changed {
		return nil
	}
	now := time.Now()
	for key := range targets {
		w.m.hooks.state().update(key, func(s *targetState) {
			s.LastCommit = res.Hash.String()
			s.LastPushTime = now
			s.LastEventTime = now
		})
		w.m.hooks.enqueue(key)
	}
	return nil
}

// renderChange turns a change into a file write or delete. A Secret whose
// decrypted content equals the rendered plaintext is unchanged (encryption is
// randomized, so bytes cannot be compared).
func renderChange(repo *git.Repo, c *change) (gc git.Change, unchanged, existed bool, err error) {
	if c.Object == nil {
		_, found, err := repo.ReadFile(c.Path)
		if err != nil {
			return git.Change{}, false, false, err
		}
		return git.Change{Path: c.Path, Delete: true}, !found, found, nil
	}
	content, unchanged, existed, err := renderFile(repo, c.GVR, c.Object, c.Keys, c.Path)
	if err != nil {
		return git.Change{}, false, false, err
	}
	return git.Change{Path: c.Path, Content: content}, unchanged, existed, nil
}
