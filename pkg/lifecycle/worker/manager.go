// Package worker runs the branch workers: one per (repository, branch), each
// owning a long-lived clone and a goroutine that serializes everything written
// to its branch (bootstrap, snapshot, batched live commits), so a slow or
// stuck branch never holds up another.
//
// The Manager (manager.go) creates, finds and stops workers. A BranchWorker
// (worker.go) composes parts with one job each, and runs the goroutine
// (loop) they share:
//   - targetSet (targets.go): the targets it serves, the ceiling of what each
//     may write (selection.Ceilings, as in the stream) and its latest
//     snapshot request;
//   - queue (queue.go): live changes, coalesced by path, until their batch
//     is due; changes held for their attribution; the backoff after a failed
//     push;
//   - taskList (tasks.go): bootstraps, snapshots and other tasks, run in
//     order before any flush;
//   - clone (clone.go): the long-lived clone, named by CloneDirName
//     (clonedir.go), with its rendered-file index and resume points
//     (index.go), used by the worker goroutine alone;
//   - liveWriter (commit.go): commits and pushes live batches;
//   - authors (authors.go): who authored each live change, and its commit's
//     message and author from the provider's templates;
//   - snapshotter (snapshot.go): snapshots, inside the stream's barrier, and
//     the resume points;
//   - bootstrapper (bootstrap.go): README.md and .sops.yaml under each target.
//
// Each type's comment says which lock guards which of its fields and which
// only the worker goroutine touches.
//
// Workers decide nothing about gates: the controller asks for work
// (RequestBootstrap, RequestSnapshot, Enqueue) and every outcome is reported
// back as a mirror.Result through Options.Report. A worker never calls into
// the controller and never reads its state.
package worker

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/configbutler/gitops-reverser/pkg/git"
	"github.com/configbutler/gitops-reverser/pkg/lifecycle/mirror"
	"github.com/configbutler/gitops-reverser/pkg/lifecycle/snapshot"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Stream is the event stream's barrier around a snapshot (see
// pkg/lifecycle/stream): the target's events are buffered from before the
// snapshot reads its objects (List, or Replay for the types it resumes) until
// GoLive, so nothing between the snapshot and the stream start is lost.
// Positions tells how far a live target's events have reached the worker:
// the worker's resume points.
type Stream interface {
	BeginBuffer(ctx context.Context, t *mirror.Target, sink mirror.Sink, resume map[schema.GroupVersionResource]string) (map[schema.GroupVersionResource]bool, error)
	List(ctx context.Context, targetKey string, gvr schema.GroupVersionResource, fn func(*unstructured.Unstructured) error) (string, error)
	ListIn(ctx context.Context, targetKey string, gvr schema.GroupVersionResource, namespaces []string, fn func(*unstructured.Unstructured) error) (string, error)
	Replay(ctx context.Context, targetKey string, gvr schema.GroupVersionResource) ([]snapshot.Event, string, error)
	GoLive(targetKey string, cuts map[schema.GroupVersionResource]string)
	AbortBuffer(targetKey string)
	Positions(targetKey string) map[schema.GroupVersionResource]mirror.Position
}

// Options configure the branch workers.
type Options struct {
	// WorkDir holds the clones.
	WorkDir string
	// Replica names this server in commit messages (several replicas may write
	// a repository over time, never at once).
	Replica string
	// Fence bounds a git write by this replica's ownership lease (default: none).
	Fence func(context.Context) (context.Context, context.CancelFunc)
	// Released is told when a worker stops, so its branch lease can go.
	Released func(mirror.BranchKey)
	// Report receives every outcome.
	Report mirror.Reporter
	// Stream is the barrier snapshots run in; without it a snapshot lists
	// through List.
	Stream Stream
	// List lists objects for snapshots when there is no Stream (tests).
	List snapshot.Lister
	// Attribution finds who made live changes (nil: every change is
	// authored by its field manager); a change no report explains waits for
	// one up to AttributionGrace.
	Attribution      Attributor
	AttributionGrace time.Duration
	// IdleCaches is how long a worker with nothing to do keeps its clone's
	// caches (default DefaultIdleCaches; negative: always).
	IdleCaches time.Duration
}

// DefaultIdleCaches is how long an idle worker keeps its clone's caches:
// long enough to serve a burst of changes, short enough that an idle server
// with many branches does not hold them for each (about 9 MB for the
// bench's clone of 1,000 target directories).
const DefaultIdleCaches = 30 * time.Second

// Manager owns one BranchWorker per (repository, branch). EnsureWorker takes
// its lock only to look up or create a worker; all git work runs on the
// worker's own goroutine.
type Manager struct {
	opts   Options
	author git.Signature

	mu      sync.Mutex
	workers map[mirror.BranchKey]*BranchWorker
}

// NewManager returns a manager with no workers.
func NewManager(opts Options) *Manager {
	if opts.IdleCaches == 0 {
		opts.IdleCaches = DefaultIdleCaches
	}
	if opts.Fence == nil {
		opts.Fence = func(ctx context.Context) (context.Context, context.CancelFunc) { return context.WithCancel(ctx) }
	}
	if opts.Released == nil {
		opts.Released = func(mirror.BranchKey) {}
	}
	if opts.Report == nil {
		opts.Report = func(mirror.Result) {}
	}
	if opts.WorkDir != "" {
		removeLegacyClones(opts.WorkDir)
	}
	return &Manager{
		opts:    opts,
		author:  git.Signature{Name: "gitops-reverser", Email: "gitops-reverser@configbutler.ai"},
		workers: map[mirror.BranchKey]*BranchWorker{},
	}
}

// commitMessage adds the replica that wrote a commit as a trailer.
func (m *Manager) commitMessage(msg string) string {
	if m.opts.Replica == "" {
		return msg
	}
	return strings.TrimRight(msg, "\n") + "\n\nReplica: " + m.opts.Replica + "\n"
}

// EnsureWorker returns the worker of a branch, creating and starting it when
// needed, and records that target uses it. A changed configuration (credentials,
// batching) is applied to the running worker.
func (m *Manager) EnsureWorker(key mirror.BranchKey, cfg mirror.WorkerConfig, targetKey string) *BranchWorker {
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
func (m *Manager) Get(key mirror.BranchKey) *BranchWorker {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.workers[key]
}

// ReleaseTarget removes a target from every worker but keep (the zero key keeps
// none), and stops workers left without targets.
func (m *Manager) ReleaseTarget(targetKey string, keep mirror.BranchKey) {
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
		m.opts.Released(w.Key)
	}
}

// Stop stops every worker, flushing what they hold (a clean shutdown).
func (m *Manager) Stop() { m.stopAll(false) }

// Abort stops every worker at once, without a last flush: this replica may no
// longer write (its ownership lease is gone). What they held is not lost: the
// new owner's snapshot writes the cluster's state.
func (m *Manager) Abort() { m.stopAll(true) }

func (m *Manager) stopAll(abort bool) {
	m.mu.Lock()
	ws := make([]*BranchWorker, 0, len(m.workers))
	for k, w := range m.workers {
		ws = append(ws, w)
		delete(m.workers, k)
	}
	m.mu.Unlock()
	// Every worker is told first, then waited for: their last flushes run
	// at once, not one after another (a shutdown has a grace period).
	for _, w := range ws {
		if abort {
			w.aborted.Store(true)
		}
		w.cancel()
	}
	for _, w := range ws {
		w.wait()
	}
}

// Pending returns the number of live changes waiting in every worker and the
// time of the oldest.
func (m *Manager) Pending() (int, time.Time) {
	m.mu.Lock()
	ws := make([]*BranchWorker, 0, len(m.workers))
	for _, w := range m.workers {
		ws = append(ws, w)
	}
	m.mu.Unlock()
	n, oldest := 0, time.Time{}
	for _, w := range ws {
		k, o := w.queue.stats()
		n += k
		if !o.IsZero() && (oldest.IsZero() || o.Before(oldest)) {
			oldest = o
		}
	}
	return n, oldest
}

// Workers returns the number of running workers.
func (m *Manager) Workers() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.workers)
}
