package ownership

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"k8s.io/klog/v2"
)

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
	session, preferred := m.session, m.members.preferred(m.name, key) == m.name
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

// Held is the number of branch keys this replica holds.
func (m *Manager) Held() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.locks)
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
