package worker

import (
	"sync"

	"k8s.io/apimachinery/pkg/util/sets"

	"github.com/configbutler/gitops-reverser/pkg/lifecycle/mirror"
	"github.com/configbutler/gitops-reverser/pkg/selection"
)

// targetSet is what a worker knows of each target it serves: that it serves
// it, the ceiling of what it may write, and its latest snapshot request. The
// three are one record per target, under one lock, so that a snapshot request
// sets its ceiling and its fingerprint in one step and a removed target
// forgets both with it.
//
// mu guards every field. The queue calls allows while it holds its own lock
// (queue.mu, then targetSet.mu): targetSet never calls out while it holds mu.
type targetSet struct {
	mu     sync.Mutex
	served sets.Set[string]
	// ceilings bound what each target may write: the selection of its latest
	// snapshot request, narrowed by Restrict. Every change is held against it
	// when it is queued, right before it is committed and when a failed push
	// puts it back, and a snapshot that finds it narrowed before its push
	// fails and is retried. The same type bounds the stream's events: one
	// copy of the restriction logic.
	ceilings selection.Ceilings
	// snapshots holds the fingerprint of the latest snapshot requested per
	// target: an older request still queued is superseded and skipped.
	snapshots map[string]string
}

func newTargetSet() *targetSet {
	return &targetSet{served: sets.New[string](), ceilings: selection.Ceilings{}, snapshots: map[string]string{}}
}

func (s *targetSet) add(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.served.Insert(key)
}

// remove forgets a target: it reports whether the target was served, and
// whether none is left.
func (s *targetSet) remove(key string) (served, empty bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.served.Has(key) {
		return false, false
	}
	s.served.Delete(key)
	delete(s.snapshots, key)
	s.ceilings.Forget(key)
	return true, s.served.Len() == 0
}

func (s *targetSet) serves(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.served.Has(key)
}

// keys returns the served targets, sorted.
func (s *targetSet) keys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return sets.List(s.served)
}

// requestSnapshot records a snapshot request: the target's ceiling becomes its
// selection (only a snapshot of it may widen what the target writes), and
// the request supersedes older ones still queued.
func (s *targetSet) requestSnapshot(t *mirror.Target, fingerprint string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.snapshots[t.Key] = fingerprint
	s.ceilings.Set(t.Key, t.Selection)
}

// snapshotCurrent reports whether a queued snapshot request is still wanted:
// its target is served and no newer request came.
func (s *targetSet) snapshotCurrent(key, fingerprint string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.served.Has(key) && s.snapshots[key] == fingerprint
}

// narrow lowers a target's ceiling to what it shares with sel.
func (s *targetSet) narrow(key string, sel selection.Selection) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ceilings.Narrow(key, sel)
}

// allows reports whether a change lies within its target's ceiling (a target
// with none yet, before its first snapshot request, is not bounded).
func (s *targetSet) allows(c *mirror.Change) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ceilings.Allows(c.TargetKey, c.GVR, c.Namespace)
}

// bound returns t within its ceiling (t itself when it has none).
func (s *targetSet) bound(t *mirror.Target) *mirror.Target {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.ceilings[t.Key]; !ok {
		return t
	}
	b := *t
	b.Selection = s.ceilings.Bound(t.Key, t.Selection)
	return &b
}

// narrowed reports whether t's ceiling takes anything away from its selection
// (it narrowed since t was bounded).
func (s *targetSet) narrowed(t *mirror.Target) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ceilings.Narrower(t.Key, t.Selection)
}
