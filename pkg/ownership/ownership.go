// Package ownership splits lifecycle work between the replicas of the server
// through etcd, the store they already share.
//
// Each replica holds one etcd lease (a concurrency.Session) and registers itself
// under /gitops-reverser/replicas/<name>. A branch worker (repository + branch) is
// owned through a concurrency.Mutex keyed by the branch, held with that lease:
// exactly one replica at a time. The preferred owner of a free branch is chosen
// by rendezvous hashing over the live replicas, which spreads branches and keeps
// an owner in place while it lives; when it dies its lease expires, its locks
// vanish, and the next preferred replica takes the branch over.
//
// Fencing: a replica stops writing before etcd can hand its branches to anyone
// else. It watches its own keep-alives and, once the last renewal is older than
// two thirds of the TTL, cancels its Context (workers stop at once, without a
// last flush); every write is also bounded by WriteContext. etcd only expires
// the lease a full TTL after the last renewal it saw, so the old owner's last
// write always precedes the new owner's first.
package ownership

import (
	"context"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

const (
	replicasPrefix = "/gitops-reverser/replicas/"
	workersPrefix  = "/gitops-reverser/workers/"
)

// Manager is this replica's view of ownership. It holds no state of its own
// besides the name: it wires four parts, each with one job and the only owner
// of its state, guarded by its own lock (no part holds its lock while calling
// another):
//
//   - lease (lease.go): the etcd lease, the replica's registration and the
//     fencing of writes;
//   - roster (members.go): the live replicas and the rendezvous preference;
//   - locks (locks.go): the branch locks this replica holds;
//   - calls (notify.go): the OnChange, OnLockChange and OnLost callbacks.
//
// When a term of the lease begins, the OnChange callbacks run; when it ends,
// the branch locks are forgotten and the OnLost callbacks run.
type Manager struct {
	name   string
	lease  *lease
	roster *roster
	locks  *branchLocks
	calls  *callbacks
}

// New returns a manager for the replica name; Run starts it.
func New(client *clientv3.Client, name string, ttl time.Duration) *Manager {
	calls := &callbacks{}
	l := &lease{client: client, name: name, ttl: ttl, term: endedTerm(), began: calls.changed}
	locks := newBranchLocks(client, name, l.writeContext)
	l.ended = func() { locks.clear(); calls.lost() }
	return &Manager{name: name, lease: l, roster: newRoster(client, calls.changed, calls.locksChanged), locks: locks, calls: calls}
}

// Run keeps this replica's lease and membership until ctx ends, then revokes
// the lease so its branches move on at once.
func (m *Manager) Run(ctx context.Context) {
	go m.roster.watch(ctx)
	m.lease.run(ctx)
}

// Name is this replica's name.
func (m *Manager) Name() string { return m.name }

// OnChange registers a callback for membership changes (a replica joins,
// leaves or moves to a new lease) and for this replica's new terms: what
// decides which replica is preferred for anything.
func (m *Manager) OnChange(f func()) { m.calls.addChange(f) }

// OnLockChange registers a callback for a branch lock of any replica coming
// or going (a branch worker started or stopped) when the replica set did not
// change (then OnChange runs, not this). Only what waits for a branch lock
// depends on it: a tenant creating targets on new branches in a loop must
// not make the server re-check everything else (every GitProvider's remote).
func (m *Manager) OnLockChange(f func()) { m.calls.addLockChange(f) }

// OnLost registers a callback run when this replica loses its lease: it must
// stop everything that writes, at once.
func (m *Manager) OnLost(f func()) { m.calls.addLost(f) }

// Lease is the current lease, hex, or "" without one.
func (m *Manager) Lease() string { return m.lease.id() }

// Context is cancelled when this replica loses (or nearly loses) its lease.
func (m *Manager) Context() context.Context { return m.lease.current().ctx }

// WriteContext bounds a write by the fencing deadline: it is cancelled when the
// lease is lost or the last renewal grows older than the safe window.
func (m *Manager) WriteContext(parent context.Context) (context.Context, context.CancelFunc) {
	return m.lease.writeContext(parent)
}

// Preferred reports whether this replica is the rendezvous choice for key
// among the live replicas.
func (m *Manager) Preferred(key string) bool { return m.roster.preferred(m.name, key) == m.name }

// Alive reports whether a lease belongs to a live replica and, if not, since
// when it is known to be gone. Before the first membership read, every lease
// counts as alive (a restarting server must not flap Ready).
func (m *Manager) Alive(lease string) (bool, time.Time) { return m.roster.alive(lease) }

// Members returns the live replicas.
func (m *Manager) Members() []Member { return m.roster.list() }

// Acquire reports whether this replica owns the branch key, taking it when it
// is free and this replica is its preferred owner (or it has been free for a
// while). It never waits for a held lock.
func (m *Manager) Acquire(ctx context.Context, key string) (bool, error) {
	t := m.lease.current()
	if !t.alive() {
		return false, nil
	}
	return m.locks.acquire(ctx, key, t, m.Preferred(key))
}

// Release gives a branch up (its targets went away or moved).
func (m *Manager) Release(ctx context.Context, key string) { m.locks.release(ctx, key) }

// Held is the number of branch keys this replica holds.
func (m *Manager) Held() int { return m.locks.count() }

// Owns reports whether this replica holds key now.
func (m *Manager) Owns(key string) bool { return m.locks.owns(key) }
