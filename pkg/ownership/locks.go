package ownership

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"k8s.io/klog/v2"
)

// freeWait is how long a branch must stay free before a replica that is not
// its preferred owner takes it.
const freeWait = 5 * time.Second

// mayTake decides whether this replica tries to take a branch that it does not
// hold: at once when it is the preferred owner, otherwise only once the branch
// has been seen free (since, when seen) for freeWait.
func mayTake(preferred, seen bool, since, now time.Time) bool {
	return preferred || (seen && now.Sub(since) >= freeWait)
}

// heldLock is a branch lock and the term it was taken in: it dies with it.
type heldLock struct {
	mu   *concurrency.Mutex
	term *term
}

// branchLocks are the branch locks this replica holds and, for branches it may
// not take yet, since when each has been seen free. mu guards locks and
// freeSince, and is never held across a call to etcd; client, name and fence
// (the lease's write deadline) are set by New and only read.
//
// A lock is recorded only while its term is alive, and the lease clears the
// table right after a term ends, so the table never outlives the lease.
type branchLocks struct {
	client *clientv3.Client
	name   string
	fence  func(context.Context) (context.Context, context.CancelFunc)

	mu        sync.Mutex
	locks     map[string]heldLock
	freeSince map[string]time.Time
}

func newBranchLocks(client *clientv3.Client, name string, fence func(context.Context) (context.Context, context.CancelFunc)) *branchLocks {
	return &branchLocks{client: client, name: name, fence: fence,
		locks: map[string]heldLock{}, freeSince: map[string]time.Time{}}
}

// acquire reports whether this replica holds the branch key, taking it in term
// t (alive) when mayTake says so. It never waits for a held lock.
func (b *branchLocks) acquire(ctx context.Context, key string, t *term, preferred bool) (bool, error) {
	b.mu.Lock()
	if _, ok := b.locks[key]; ok {
		b.mu.Unlock()
		return true, nil
	}
	since, seen := b.freeSince[key]
	b.mu.Unlock()

	if !mayTake(preferred, seen, since, time.Now()) {
		held, err := b.held(ctx, key)
		if err != nil {
			return false, err
		}
		b.observe(key, held, seen, time.Now())
		return false, nil
	}
	mu := concurrency.NewMutex(t.session, workersPrefix+hashKey(key))
	wctx, cancel := b.fence(ctx)
	defer cancel()
	err := mu.TryLock(wctx)
	if errors.Is(err, concurrency.ErrLocked) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return b.record(key, heldLock{mu: mu, term: t}), nil
}

// held reports whether any replica holds the lock of key.
func (b *branchLocks) held(ctx context.Context, key string) (bool, error) {
	resp, err := b.client.Get(ctx, workersPrefix+hashKey(key)+"/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return false, err
	}
	return resp.Count > 0, nil
}

// observe notes whether a branch this replica may not take yet was held at now:
// its wait starts when it is first seen free (seen: a wait had started) and
// starts over once it is seen held.
func (b *branchLocks) observe(key string, held, seen bool, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if held {
		delete(b.freeSince, key)
	} else if !seen {
		b.freeSince[key] = now
	}
}

// record keeps l as the lock of key unless its term ended meanwhile (the lock
// died with its lease), and reports whether it did.
func (b *branchLocks) record(key string, l heldLock) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !l.term.alive() {
		return false
	}
	b.locks[key] = l
	delete(b.freeSince, key)
	klog.InfoS("Replica took a branch worker", "replica", b.name, "worker", key)
	return true
}

// release gives a branch up (its targets went away or moved).
func (b *branchLocks) release(ctx context.Context, key string) {
	b.mu.Lock()
	l, ok := b.locks[key]
	delete(b.locks, key)
	b.mu.Unlock()
	if ok {
		if err := l.mu.Unlock(ctx); err != nil {
			klog.ErrorS(err, "Releasing a branch worker lock", "worker", key)
		}
	}
}

// clear forgets every lock: their term ended, and they with it.
func (b *branchLocks) clear() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.locks = map[string]heldLock{}
}

// count is the number of branch keys held in a live term.
func (b *branchLocks) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, l := range b.locks {
		if l.term.alive() {
			n++
		}
	}
	return n
}

// owns reports whether key is held in a live term.
func (b *branchLocks) owns(key string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	l, ok := b.locks[key]
	return ok && l.term.alive()
}

func hashKey(key string) string {
	h := sha256.Sum256([]byte(key))
	return hex.EncodeToString(h[:12])
}
