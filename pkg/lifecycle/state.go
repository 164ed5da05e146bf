package lifecycle

import (
	"sync"
	"time"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
)

// phase of an asynchronous operation (bootstrap, snapshot) on a branch worker.
type phase string

const (
	phaseNone    phase = ""
	phaseQueued  phase = "Queued"
	phaseRunning phase = "Running"
	phaseDone    phase = "Done"
	phaseFailed  phase = "Failed"
)

// opState is the in-memory state of one asynchronous operation for a target.
// fingerprint says which configuration it ran for: when the target's
// configuration changes, a new operation replaces it.
type opState struct {
	Phase       phase
	Fingerprint string
	Reason      string
	Message     string
	Commit      string
	Started     time.Time
	Finished    time.Time
	Failures    int
	Stats       v1alpha1.SnapshotStats
}

// targetState is what the lifecycle knows about a target beyond its stored
// status: the outcome of work done asynchronously by branch workers and the
// event stream. It lives in memory; after a restart the gates are re-run.
type targetState struct {
	Worker         BranchKey
	Bootstrap      opState
	Snapshot       opState
	Streaming      bool
	RegisteredTime time.Time
	LastEventTime  time.Time
	LastCommit     string
	LastPushTime   time.Time
}

// stateStore holds the targetState of every target, keyed by namespace/name.
type stateStore struct {
	mu sync.Mutex
	m  map[string]*targetState
}

func newStateStore() *stateStore { return &stateStore{m: map[string]*targetState{}} }

// get returns a copy of a target's state.
func (s *stateStore) get(key string) targetState {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.m[key]; ok {
		return *st
	}
	return targetState{}
}

// update changes a target's state under the store lock.
func (s *stateStore) update(key string, fn func(*targetState)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.m[key]
	if !ok {
		st = &targetState{}
		s.m[key] = st
	}
	fn(st)
}

func (s *stateStore) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m = map[string]*targetState{}
}

func (s *stateStore) delete(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, key)
}
