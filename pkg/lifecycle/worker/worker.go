package worker

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"k8s.io/klog/v2"

	"github.com/configbutler/gitops-reverser/pkg/lifecycle/mirror"
	"github.com/configbutler/gitops-reverser/pkg/selection"
)

// BranchWorker serializes everything written to one branch: it owns the
// long-lived clone, runs bootstrap and snapshot tasks in order, and commits
// live changes in batches (push.interval window, push.maxChanges per commit).
// It composes the parts that do each job (see the package doc) and runs the
// goroutine (loop) they share.
//
// Its own fields are set at construction and never replaced (cancel: by
// start, before the goroutine runs), but for aborted (atomic). Each part
// guards its own state: settings, targets, queue and tasks with their own
// locks, the clone by being the worker goroutine's alone; live, authors,
// snapshots and bootstraps hold no state of their own.
type BranchWorker struct {
	Key mirror.BranchKey
	UID string
	m   *Manager

	settings   *settings
	targets    *targetSet
	queue      *queue
	tasks      *taskList
	clone      *clone
	live       *liveWriter
	snapshots  *snapshotter
	bootstraps *bootstrapper

	// wake tells the loop that tasks or a batch wait (buffered: one wake-up
	// covers any number of signals).
	wake   chan struct{}
	cancel context.CancelFunc
	done   chan struct{}
	// aborted skips the last flush on stop.
	aborted atomic.Bool
}

// settings is a worker's configuration. It changes while the worker runs
// (EnsureWorker), so every part reads it through get; mu guards cfg.
type settings struct {
	mu  sync.Mutex
	cfg mirror.WorkerConfig
}

func (s *settings) get() mirror.WorkerConfig {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cfg
}

// set replaces the configuration; it reports whether the clone must be
// reopened (new credentials, signing key or committer).
func (s *settings) set(cfg mirror.WorkerConfig) (reopen bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	reopen = cfg.AuthID != s.cfg.AuthID || cfg.URL != s.cfg.URL || cfg.CommitID != s.cfg.CommitID
	s.cfg = cfg
	return reopen
}

func newBranchWorker(m *Manager, key mirror.BranchKey, cfg mirror.WorkerConfig) *BranchWorker {
	w := &BranchWorker{Key: key, UID: uuid.NewString(), m: m,
		settings: &settings{cfg: cfg},
		targets:  newTargetSet(),
		tasks:    &taskList{},
		wake:     make(chan struct{}, 1),
		done:     make(chan struct{}),
	}
	w.queue = newQueue(w.targets, w.settings, m.opts.AttributionGrace)
	w.clone = &clone{m: m, key: key, settings: w.settings}
	authors := &authors{key: key, settings: w.settings, attribution: m.opts.Attribution, grace: m.opts.AttributionGrace, replica: m.opts.Replica}
	w.live = &liveWriter{m: m, key: key, queue: w.queue, targets: w.targets, clone: w.clone, authors: authors}
	w.snapshots = &snapshotter{m: m, key: key, sink: w, clone: w.clone, targets: w.targets, queue: w.queue, tasks: w.tasks}
	w.bootstraps = &bootstrapper{m: m, key: key, clone: w.clone, tasks: w.tasks}
	return w
}

func (w *BranchWorker) configure(cfg mirror.WorkerConfig) {
	if w.settings.set(cfg) {
		// Reopen the clone with them on the next task (tasks run before any
		// flush). Set first: the reopen always sees the new configuration.
		w.Submit("reauth", func(context.Context) { w.clone.close() })
	}
}

func (w *BranchWorker) addTarget(key string) { w.targets.add(key) }

// removeTarget drops a target and its pending changes; it reports whether the
// worker has no target left.
func (w *BranchWorker) removeTarget(key string) bool {
	served, empty := w.targets.remove(key)
	if !served {
		return false
	}
	w.queue.dropTarget(key)
	return empty
}

// Restrict narrows what a target may write to sel (its selection shrank: what
// it may no longer mirror is never committed) and drops its pending changes
// outside it.
func (w *BranchWorker) Restrict(targetKey string, sel selection.Selection) {
	// Narrowed first: a change queued meanwhile is either refused or already
	// pending, and then dropped here.
	w.targets.narrow(targetKey, sel)
	if dropped, left := w.queue.dropDisallowed(targetKey); dropped > 0 && left == 0 {
		// Nothing of the target waits any more: no push of it is failing.
		w.m.opts.Report(mirror.Result{Target: targetKey, Op: mirror.OpCommit, Time: time.Now()})
	}
}

// Enqueue adds live changes, coalesced by path. It never blocks and never drops:
// memory is bounded by the number of distinct objects, not the event rate.
func (w *BranchWorker) Enqueue(changes ...*mirror.Change) {
	if w.queue.enqueue(changes) {
		w.signal()
	}
}

// Submit queues a task; tasks run one at a time, in order.
func (w *BranchWorker) Submit(name string, run func(ctx context.Context)) {
	w.tasks.push(task{name: name, run: run})
	w.signal()
}

func (w *BranchWorker) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
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
	w.wait()
}

// wait waits for the worker goroutine to end (its last flush), 30 s at most.
func (w *BranchWorker) wait() {
	select {
	case <-w.done:
	case <-time.After(30 * time.Second):
		klog.InfoS("Branch worker did not stop in time", "worker", w.Key)
	}
}

// loop is the worker goroutine: tasks first, in order, then the live batch
// when it is due; idle, it moves the resume points on and saves the index,
// and after IdleCaches with nothing to do lets go of the clone's caches.
func (w *BranchWorker) loop(ctx context.Context) {
	defer close(w.done)
	defer w.clone.close()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var checkpointed time.Time // when the resume points were last moved on
	busy := time.Now()         // when the worker last had something to do
	cached := true             // the clone's caches may hold something
	for {
		if w.runTasks(ctx) {
			busy, cached = time.Now(), true
		}
		if ctx.Err() != nil {
			w.finish()
			return
		}
		wait := w.queue.nextFlush()
		if wait <= 0 {
			w.live.flush(ctx, false)
			busy, cached = time.Now(), true
			continue
		}
		if !w.queue.idle() {
			busy = time.Now() // changes wait for their batch
		}
		if time.Since(checkpointed) >= indexSaveEvery {
			// Idle or between batches: move the resume points on.
			checkpointed = time.Now()
			w.snapshots.checkpoint()
			w.clone.index.saveIfDue()
		}
		if idle := w.m.opts.IdleCaches; cached && idle > 0 && time.Since(busy) >= idle {
			w.clone.dropCaches()
			cached = false
		}
		wait = min(wait, indexSaveEvery)
		if idle := w.m.opts.IdleCaches; cached && idle > 0 {
			wait = max(min(wait, idle-time.Since(busy)), time.Millisecond)
		}
		w.clone.stale()
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

// runTasks runs the queued tasks, in order, until none is left or the worker
// stops (a task taken after the stop is dropped).
func (w *BranchWorker) runTasks(ctx context.Context) (ran bool) {
	for {
		t, ok := w.tasks.next()
		if !ok || ctx.Err() != nil {
			return ran
		}
		t.run(ctx)
		ran = true
	}
}

// finish runs the last flush, with a fresh deadline: nothing already accepted
// is dropped silently on a clean shutdown (after a crash, the re-snapshot on
// start covers it). It first waits, up to the attribution grace, for the
// reports of the changes it holds, so they keep their authors. Not after an
// abort: this replica may not write any more.
func (w *BranchWorker) finish() {
	if w.aborted.Load() {
		return
	}
	fctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	w.live.awaitReports(fctx)
	w.live.flush(fctx, true)
	cancel()
	w.snapshots.checkpoint() // saved by clone.close
}
