package lifecycle

import (
	"sync"

	"github.com/configbutler/gitops-reverser/pkg/lifecycle/gates"
)

// stateStore holds the gates.State of every target, keyed by namespace/name.
// The controller is its only writer: it applies reports (gates.State.Apply)
// and the transitions of its decisions' effects, each atomically under the
// store lock.
type stateStore struct {
	mu sync.Mutex
	m  map[string]*gates.State
}

func newStateStore() *stateStore { return &stateStore{m: map[string]*gates.State{}} }

// get returns a copy of a target's state.
func (s *stateStore) get(key string) gates.State {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.m[key]; ok {
		return *st
	}
	return gates.State{}
}

// update replaces a target's state by fn of it, atomically.
func (s *stateStore) update(key string, fn func(gates.State) gates.State) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.m[key]
	if !ok {
		st = &gates.State{}
		s.m[key] = st
	}
	*st = fn(*st)
}

func (s *stateStore) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m = map[string]*gates.State{}
}

func (s *stateStore) delete(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, key)
}
