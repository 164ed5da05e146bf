package ownership

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"k8s.io/klog/v2"
)

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
