package worker

import (
	"sync"
	"time"

	"github.com/configbutler/gitops-reverser/pkg/lifecycle/mirror"
)

// queue holds a worker's live changes until they are due: coalesced by path,
// batched by the push.interval window and push.maxChanges, some held for
// their attribution reports, and delayed with backoff after a failed push.
// It decides when a batch is due and what goes back after a flush; the
// liveWriter (commit.go) commits what it hands out.
//
// mu guards every mutable field. While holding it the queue reads the
// worker's settings (settings.mu) and asks the targets whether a change may
// be queued (targetSet.mu): lock order queue.mu, then those; neither calls
// back into the queue.
type queue struct {
	// targets, settings and grace are set at construction and never replaced.
	targets  *targetSet
	settings *settings
	// grace is how long a change no report explains waits for one.
	grace time.Duration

	mu           sync.Mutex
	pending      map[string]*mirror.Change
	firstPending time.Time
	// held are the paths of changes held for their attribution reports
	// (their batch window has passed); heldDue is when they are looked at
	// again (zero: none held).
	held    map[string]bool
	heldDue time.Time
	// retryAt delays the next flush after a failed push; failed counts the
	// failures in a row (the backoff grows with it).
	retryAt time.Time
	failed  int
}

func newQueue(targets *targetSet, s *settings, grace time.Duration) *queue {
	return &queue{targets: targets, settings: s, grace: grace, pending: map[string]*mirror.Change{}}
}

// heldPoll is how often changes held for their attribution look for it.
const heldPoll = 250 * time.Millisecond

// enqueue adds live changes within their targets' ceilings, coalesced by path.
// It reports whether the loop should wake: a batch window opened (to arm
// its timer) or the batch filled up.
func (q *queue) enqueue(changes []*mirror.Change) (wake bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	wasEmpty := len(q.pending) == 0
	now := time.Now()
	for _, c := range changes {
		if !q.targets.allows(c) {
			continue
		}
		if c.Since.IsZero() {
			c.Since = now
		}
		c.Last = now
		if prev, ok := q.pending[c.Path]; ok {
			c.Absorb(prev) // coalesced
		}
		q.pending[c.Path] = c
	}
	q.openWindowLocked()
	return (wasEmpty && len(q.pending) > 0) || len(q.pending) >= q.settings.get().DueAt()
}

// openWindowLocked starts the batch window when changes wait and none is open.
func (q *queue) openWindowLocked() {
	if len(q.pending) > 0 && q.firstPending.IsZero() {
		q.firstPending = time.Now()
	}
}

// nextFlush returns how long until pending changes are due (an hour when none).
func (q *queue) nextFlush() time.Duration {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.pending) == 0 {
		return time.Hour
	}
	cfg := q.settings.get()
	return time.Until(flushDue(len(q.pending), cfg.DueAt(), q.firstPending, cfg.Interval, q.heldDue, q.retryAt, time.Now()))
}

// flushDue is when n pending changes are due: when their window (opened at
// first) ends or at once when they fill a batch, earlier when changes held
// for their attribution are to be looked at again (heldDue), but never
// before a failed push's backoff ends (retryAt).
func flushDue(n, maxChanges int, first time.Time, interval time.Duration, heldDue, retryAt, now time.Time) time.Time {
	due := first.Add(interval)
	if n >= maxChanges {
		due = now
	}
	if !heldDue.IsZero() && heldDue.Before(due) {
		due = heldDue // changes waiting for their attribution
	}
	if retryAt.After(due) {
		due = retryAt
	}
	return due
}

// windowDue reports whether a batch of n changes whose window opened at first
// is due at now: its window has passed, or it is full.
func windowDue(n, maxChanges int, first time.Time, interval time.Duration, now time.Time) bool {
	return n >= maxChanges || !first.IsZero() && !now.Before(first.Add(interval))
}

// take hands out the changes due for a flush, and the most a commit may hold.
// When the window is due (or on the final flush) that is every pending
// change; otherwise only the changes held for their reports are due (their
// window has passed), and the others keep theirs.
func (q *queue) take(final bool) (batch map[string]*mirror.Change, maxChanges int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	cfg := q.settings.get()
	if len(q.pending) == 0 {
		return nil, cfg.MaxChanges
	}
	if final || windowDue(len(q.pending), cfg.DueAt(), q.firstPending, cfg.Interval, time.Now()) {
		batch = q.pending
		q.pending = map[string]*mirror.Change{}
		q.firstPending = time.Time{}
	} else {
		batch = map[string]*mirror.Change{}
		for p := range q.held {
			if c, ok := q.pending[p]; ok {
				batch[p] = c
				delete(q.pending, p)
			}
		}
		if len(q.pending) == 0 {
			q.firstPending = time.Time{}
		}
	}
	q.held, q.heldDue = nil, time.Time{}
	return batch, cfg.MaxChanges
}

// hold puts changes that wait for their attribution back, keeping newer
// ones (and dropping those of targets no longer served).
func (q *queue) hold(held []*mirror.Change) {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := time.Now()
	for _, c := range held {
		if newer, ok := q.pending[c.Path]; ok {
			newer.Absorb(c)
			continue
		}
		if !q.targets.serves(c.TargetKey) {
			continue
		}
		q.pending[c.Path] = c
		if q.held == nil {
			q.held = map[string]bool{}
		}
		q.held[c.Path] = true
		if due := heldUntil(c.Last, q.grace, now); q.heldDue.IsZero() || due.Before(q.heldDue) {
			q.heldDue = due
		}
	}
	q.openWindowLocked()
}

// heldUntil is when a change held for its report (its latest event at last)
// is looked at again: soon (a report is usually a batch wait behind its
// event), and at the latest when its grace ends.
func heldUntil(last time.Time, grace time.Duration, now time.Time) time.Time {
	return minTime(last.Add(grace), now.Add(heldPoll))
}

func minTime(a, b time.Time) time.Time {
	if a.After(b) {
		return b
	}
	return a
}

// requeue puts the changes of a failed push back (paths, out of batch),
// keeping any newer change to the same path and leaving out what their
// targets may no longer write, and delays the next flush with backoff.
func (q *queue) requeue(batch map[string]*mirror.Change, paths []string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, p := range paths {
		c := batch[p]
		if newer, ok := q.pending[p]; ok {
			newer.Absorb(c) // c was to be committed: so is newer
		} else if q.targets.serves(c.TargetKey) && q.targets.allows(c) {
			q.pending[p] = c
		}
	}
	q.openWindowLocked()
	q.failed++
	q.retryAt = time.Now().Add(backoff(q.failed))
}

// backoff is the delay after the failed-th failed push in a row: 2 s,
// doubling, at most a minute.
func backoff(failed int) time.Duration {
	return min(time.Duration(1<<min(failed, 6))*time.Second, time.Minute)
}

// pushed ends the backoff: a push worked.
func (q *queue) pushed() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.failed = 0
	q.retryAt = time.Time{}
}

// counts returns the number of changes each target has waiting.
func (q *queue) counts() map[string]int {
	q.mu.Lock()
	defer q.mu.Unlock()
	counts, _ := q.countsLocked()
	return counts
}

// dropTarget drops the pending changes of a target (it is no longer served).
func (q *queue) dropTarget(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for p, c := range q.pending {
		if c.TargetKey == key {
			delete(q.pending, p)
		}
	}
}

// dropDisallowed drops a target's pending changes outside its ceiling (it
// narrowed); it returns how many it dropped and how many of the target's
// are left.
func (q *queue) dropDisallowed(key string) (dropped, left int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for p, c := range q.pending {
		if c.TargetKey == key && !q.targets.allows(c) {
			delete(q.pending, p)
			dropped++
		}
	}
	counts, _ := q.countsLocked()
	return dropped, counts[key]
}

// stats returns the number of pending changes and the oldest one's time.
func (q *queue) stats() (int, time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	_, oldest := q.countsLocked()
	return len(q.pending), oldest
}

// idle reports whether nothing waits: no change pending or held.
func (q *queue) idle() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.pending) == 0 && len(q.held) == 0
}

// countsLocked counts the pending changes of each target and returns the
// oldest one's time.
func (q *queue) countsLocked() (map[string]int, time.Time) {
	counts := map[string]int{}
	var oldest time.Time
	for _, c := range q.pending {
		counts[c.TargetKey]++
		if oldest.IsZero() || c.Since.Before(oldest) {
			oldest = c.Since
		}
	}
	return counts, oldest
}
