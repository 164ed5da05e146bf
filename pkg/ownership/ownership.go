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
// last flush); every write is also bounded by WriteDeadline. etcd only expires
// the lease a full TTL after the last renewal it saw, so the old owner's last
// write always precedes the new owner's first.
package ownership

import (
	"context"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

const (
	replicasPrefix = "/gitops-reverser/replicas/"
	workersPrefix  = "/gitops-reverser/workers/"
)

// Manager is this replica's view of ownership. Its parts live beside this
// file: the lease and fencing (lease.go), the live replica set (members.go) and
// the branch locks (locks.go).
type Manager struct {
	client *clientv3.Client
	name   string
	ttl    time.Duration

	mu        sync.Mutex
	session   *concurrency.Session
	lease     clientv3.LeaseID
	lastRenew time.Time
	ctx       context.Context
	cancel    context.CancelFunc
	locks     map[string]*concurrency.Mutex
	freeSince map[string]time.Time
	members   members
	onChange  []func()
	onLost    []func()
}

// New returns a manager for the replica name; Run starts it.
func New(client *clientv3.Client, name string, ttl time.Duration) *Manager {
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // no lease yet: not allowed to write
	return &Manager{
		client: client, name: name, ttl: ttl, ctx: ctx, cancel: cancel,
		locks: map[string]*concurrency.Mutex{}, freeSince: map[string]time.Time{},
		members: newMembers(),
	}
}

// Name is this replica's name.
func (m *Manager) Name() string { return m.name }

// OnChange registers a callback for membership and ownership changes.
func (m *Manager) OnChange(f func()) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.onChange = append(m.onChange, f)
}

// OnLost registers a callback run when this replica loses its lease: it must
// stop everything that writes, at once.
func (m *Manager) OnLost(f func()) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.onLost = append(m.onLost, f)
}

// Context is cancelled when this replica loses (or nearly loses) its lease.
func (m *Manager) Context() context.Context {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ctx
}

// notify runs the OnChange callbacks.
func (m *Manager) notify() {
	m.mu.Lock()
	fs := append([]func(){}, m.onChange...)
	m.mu.Unlock()
	for _, f := range fs {
		f()
	}
}
