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
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"k8s.io/klog/v2"
)

const (
	replicasPrefix = "/gitops-reverser/replicas/"
	workersPrefix  = "/gitops-reverser/workers/"
)

// Member is a live replica.
type Member struct {
	Name  string `json:"name"`
	Lease string `json:"lease"`
}

// Manager is this replica's view of ownership.
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
	members   map[string]Member    // by name
	gone      map[string]time.Time // lease -> when its replica key vanished
	synced    bool
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
		members: map[string]Member{}, gone: map[string]time.Time{},
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

// Lease is the current lease, hex, or "" without one.
func (m *Manager) Lease() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ctx.Err() != nil {
		return ""
	}
	return leaseString(m.lease)
}

func leaseString(id clientv3.LeaseID) string { return strconv.FormatInt(int64(id), 16) }

// safeWindow is how long after the last renewal this replica still writes.
func (m *Manager) safeWindow() time.Duration { return m.ttl * 2 / 3 }

// WriteContext bounds a write by the fencing deadline: it is cancelled when the
// lease is lost or the last renewal grows older than the safe window.
func (m *Manager) WriteContext(parent context.Context) (context.Context, context.CancelFunc) {
	m.mu.Lock()
	own, deadline := m.ctx, m.lastRenew.Add(m.safeWindow())
	m.mu.Unlock()
	ctx, cancel := context.WithDeadline(parent, deadline)
	stop := context.AfterFunc(own, cancel)
	return ctx, func() { stop(); cancel() }
}

// Run keeps this replica's lease and membership until ctx ends, then revokes
// the lease so its branches move on at once.
func (m *Manager) Run(ctx context.Context) {
	go m.watchMembers(ctx)
	for ctx.Err() == nil {
		if err := m.hold(ctx); err != nil && ctx.Err() == nil {
			klog.ErrorS(err, "Ownership lease lost; this replica stopped writing and will rejoin", "replica", m.name)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

// hold grants a lease, registers the replica and keeps the lease alive until it
// is lost (watchdog) or ctx ends.
func (m *Manager) hold(ctx context.Context) error {
	secs := int64(m.ttl / time.Second)
	if secs < 2 {
		secs = 2
	}
	gctx, gcancel := context.WithTimeout(ctx, m.ttl)
	grant, err := m.client.Grant(gctx, secs)
	gcancel()
	if err != nil {
		return fmt.Errorf("granting a lease: %w", err)
	}
	kctx, kcancel := context.WithCancel(ctx)
	defer kcancel()
	renewals, err := m.client.KeepAlive(kctx, grant.ID)
	if err != nil {
		return fmt.Errorf("keeping the lease alive: %w", err)
	}
	session, err := concurrency.NewSession(m.client, concurrency.WithLease(grant.ID), concurrency.WithContext(kctx))
	if err != nil {
		return err
	}
	val, _ := json.Marshal(Member{Name: m.name, Lease: leaseString(grant.ID)})
	pctx, pcancel := context.WithTimeout(ctx, m.ttl)
	_, err = m.client.Put(pctx, replicasPrefix+m.name, string(val), clientv3.WithLease(grant.ID))
	pcancel()
	if err != nil {
		return fmt.Errorf("registering replica %s: %w", m.name, err)
	}

	ownCtx, ownCancel := context.WithCancel(context.Background())
	m.mu.Lock()
	m.session, m.lease, m.lastRenew = session, grant.ID, time.Now()
	m.ctx, m.cancel = ownCtx, ownCancel
	m.locks = map[string]*concurrency.Mutex{}
	m.mu.Unlock()
	klog.InfoS("Replica holds its ownership lease", "replica", m.name, "lease", leaseString(grant.ID), "ttl", m.ttl)
	m.notify()

	watchdog := time.NewTicker(m.ttl / 10)
	defer watchdog.Stop()
	for {
		select {
		case <-ctx.Done():
			m.lose("shutting down")
			rctx, rcancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, _ = m.client.Revoke(rctx, grant.ID) // hand the branches over now
			rcancel()
			return nil
		case r, ok := <-renewals:
			if !ok {
				m.lose("keep-alive channel closed")
				return errors.New("lease keep-alive ended")
			}
			if r != nil {
				m.mu.Lock()
				m.lastRenew = time.Now()
				m.mu.Unlock()
			}
		case <-watchdog.C:
			m.mu.Lock()
			stale := time.Since(m.lastRenew) > m.safeWindow()
			m.mu.Unlock()
			if stale {
				m.lose("no lease renewal within the safe window")
				return errors.New("lease renewals stopped")
			}
		}
	}
}

// lose cancels everything this replica writes with.
func (m *Manager) lose(why string) {
	m.mu.Lock()
	if m.ctx.Err() != nil {
		m.mu.Unlock()
		return
	}
	m.cancel()
	m.locks = map[string]*concurrency.Mutex{}
	lost := append([]func(){}, m.onLost...)
	m.mu.Unlock()
	klog.InfoS("Replica stopped writing", "replica", m.name, "reason", why)
	for _, f := range lost {
		f()
	}
}

// Preferred reports whether this replica is the rendezvous choice for key
// among the live replicas.
func (m *Manager) Preferred(key string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.preferredLocked(key) == m.name
}

func (m *Manager) preferredLocked(key string) string {
	names := make([]string, 0, len(m.members)+1)
	for n := range m.members {
		names = append(names, n)
	}
	if _, ok := m.members[m.name]; !ok {
		names = append(names, m.name)
	}
	return PreferredOf(names, key)
}

// PreferredOf is the rendezvous (highest random weight) choice of a replica for
// key: every replica computes the same answer from the same member list, and
// removing a replica only moves the keys it was preferred for.
func PreferredOf(names []string, key string) string {
	best, bestScore := "", ""
	for _, n := range names {
		h := sha256.Sum256([]byte(n + "\x00" + key))
		if s := hex.EncodeToString(h[:]); s > bestScore || (s == bestScore && n < best) {
			best, bestScore = n, s
		}
	}
	return best
}

// freeWait is how long a branch must stay free before a replica that is not
// its preferred owner takes it.
const freeWait = 5 * time.Second

// Acquire reports whether this replica owns the branch key, taking it when it
// is free and this replica is its preferred owner (or it has been free for a
// while). It never waits for a held lock.
func (m *Manager) Acquire(ctx context.Context, key string) (bool, error) {
	m.mu.Lock()
	if m.ctx.Err() != nil {
		m.mu.Unlock()
		return false, nil
	}
	if _, ok := m.locks[key]; ok {
		m.mu.Unlock()
		return true, nil
	}
	session, preferred := m.session, m.preferredLocked(key) == m.name
	since, seen := m.freeSince[key]
	m.mu.Unlock()

	if !preferred && (!seen || time.Since(since) < freeWait) {
		held, err := m.held(ctx, key)
		if err != nil {
			return false, err
		}
		m.mu.Lock()
		if held {
			delete(m.freeSince, key)
		} else if !seen {
			m.freeSince[key] = time.Now()
		}
		m.mu.Unlock()
		return false, nil
	}
	mu := concurrency.NewMutex(session, workersPrefix+hashKey(key))
	wctx, cancel := m.WriteContext(ctx)
	defer cancel()
	err := mu.TryLock(wctx)
	if errors.Is(err, concurrency.ErrLocked) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.session != session || m.ctx.Err() != nil {
		return false, nil // the lease changed meanwhile: the lock died with it
	}
	m.locks[key] = mu
	delete(m.freeSince, key)
	klog.InfoS("Replica took a branch worker", "replica", m.name, "worker", key)
	return true, nil
}

// held reports whether any replica holds the lock of key.
func (m *Manager) held(ctx context.Context, key string) (bool, error) {
	resp, err := m.client.Get(ctx, workersPrefix+hashKey(key)+"/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return false, err
	}
	return resp.Count > 0, nil
}

// Release gives a branch up (its targets went away or moved).
func (m *Manager) Release(ctx context.Context, key string) {
	m.mu.Lock()
	mu, ok := m.locks[key]
	delete(m.locks, key)
	m.mu.Unlock()
	if ok {
		if err := mu.Unlock(ctx); err != nil {
			klog.ErrorS(err, "Releasing a branch worker lock", "worker", key)
		}
	}
}

// Owns reports whether this replica holds key now.
func (m *Manager) Owns(key string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.locks[key]
	return ok && m.ctx.Err() == nil
}

func hashKey(key string) string {
	h := sha256.Sum256([]byte(key))
	return hex.EncodeToString(h[:12])
}

// Alive reports whether a lease belongs to a live replica and, if not, since
// when it is known to be gone. Before the first membership read, every lease
// counts as alive (a restarting server must not flap Ready).
func (m *Manager) Alive(lease string) (bool, time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.synced {
		return true, time.Time{}
	}
	for _, mem := range m.members {
		if mem.Lease == lease {
			return true, time.Time{}
		}
	}
	return false, m.gone[lease]
}

// Members returns the live replicas.
func (m *Manager) Members() []Member {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Member, 0, len(m.members))
	for _, mem := range m.members {
		out = append(out, mem)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// watchMembers keeps the live replica set (and the lock prefix, to notice
// released branches) current.
func (m *Manager) watchMembers(ctx context.Context) {
	for ctx.Err() == nil {
		if err := m.watchOnce(ctx); err != nil && ctx.Err() == nil {
			klog.ErrorS(err, "Watching replicas failed; retrying")
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

func (m *Manager) watchOnce(ctx context.Context) error {
	resp, err := m.client.Get(ctx, replicasPrefix, clientv3.WithPrefix())
	if err != nil {
		return err
	}
	members := map[string]Member{}
	for _, kv := range resp.Kvs {
		var mem Member
		if json.Unmarshal(kv.Value, &mem) == nil {
			members[mem.Name] = mem
		}
	}
	m.mu.Lock()
	m.setMembersLocked(members)
	m.synced = true
	m.mu.Unlock()
	m.notify()

	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	wch := m.client.Watch(wctx, "/gitops-reverser/", clientv3.WithPrefix(), clientv3.WithRev(resp.Header.Revision+1), clientv3.WithPrevKV())
	for wr := range wch {
		if err := wr.Err(); err != nil {
			return err
		}
		changed := false
		m.mu.Lock()
		for _, ev := range wr.Events {
			key := string(ev.Kv.Key)
			if len(key) <= len(replicasPrefix) || key[:len(replicasPrefix)] != replicasPrefix {
				changed = true // a branch lock came or went
				continue
			}
			name := key[len(replicasPrefix):]
			next := map[string]Member{}
			for k, v := range m.members {
				next[k] = v
			}
			if ev.Type == clientv3.EventTypeDelete {
				delete(next, name)
			} else {
				var mem Member
				if json.Unmarshal(ev.Kv.Value, &mem) == nil {
					next[name] = mem
				}
			}
			m.setMembersLocked(next)
			changed = true
		}
		m.mu.Unlock()
		if changed {
			m.notify()
		}
	}
	return errors.New("watch closed")
}

// setMembersLocked installs a new member set, recording when leases went away.
func (m *Manager) setMembersLocked(next map[string]Member) {
	now := time.Now()
	for _, old := range m.members {
		if cur, ok := next[old.Name]; !ok || cur.Lease != old.Lease {
			m.gone[old.Lease] = now
		}
	}
	for lease, at := range m.gone {
		if now.Sub(at) > 24*time.Hour {
			delete(m.gone, lease) // targets still naming it read as gone without a time
		}
	}
	m.members = next
}

func (m *Manager) notify() {
	m.mu.Lock()
	fs := append([]func(){}, m.onChange...)
	m.mu.Unlock()
	for _, f := range fs {
		f()
	}
}
