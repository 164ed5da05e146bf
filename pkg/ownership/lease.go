package ownership

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"k8s.io/klog/v2"
)

// term is one tenure of this replica's lease, from its grant to its loss: the
// session branch locks are taken with, the lease ID, and the context every
// write runs under. Its fields are set before it is published and never
// change; it ends (ctx cancelled) once and never comes back, so it needs no
// lock of its own.
type term struct {
	session *concurrency.Session
	id      clientv3.LeaseID
	ctx     context.Context
	cancel  context.CancelFunc
}

// endedTerm is the term before the first grant: no lease, not allowed to write.
func endedTerm() *term {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return &term{ctx: ctx, cancel: cancel}
}

func (t *term) alive() bool { return t.ctx.Err() == nil }

func leaseString(id clientv3.LeaseID) string { return strconv.FormatInt(int64(id), 16) }

// lease keeps this replica's etcd lease and fences its writes: it grants a
// lease, registers the replica under it, renews it, and ends the term once
// renewals stop for longer than the safe window (or on shutdown, revoking it).
// mu guards term and lastRenew; client, name, ttl and the hooks are set by New
// and only read. The hooks run without mu: began after a term is published,
// ended after it ended.
type lease struct {
	client *clientv3.Client
	name   string
	ttl    time.Duration
	began  func()
	ended  func()

	mu        sync.Mutex
	term      *term
	lastRenew time.Time
}

// current is the current term (ended when there is no lease).
func (l *lease) current() *term {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.term
}

// id is the current lease, hex, or "" without one.
func (l *lease) id() string {
	t := l.current()
	if !t.alive() {
		return ""
	}
	return leaseString(t.id)
}

// safeWindow is how long after the last renewal this replica still writes.
func (l *lease) safeWindow() time.Duration { return l.ttl * 2 / 3 }

// writeContext fences a write: it is cancelled when the term ends or, at any
// moment, the last renewal is older than the safe window. Renewals during
// the write move that point on, so a write that takes longer than the
// window (the commit and push of a 100,000-file snapshot) runs to its end
// while the lease is kept, and stops as soon as it is not.
func (l *lease) writeContext(parent context.Context) (context.Context, context.CancelFunc) {
	l.mu.Lock()
	own := l.term.ctx
	l.mu.Unlock()
	ctx, cancel := context.WithCancel(parent)
	if own.Err() != nil {
		cancel() // the term has ended: not even briefly live
	}
	stop := context.AfterFunc(own, cancel)
	w := &fence{lease: l, cancel: cancel}
	w.check()
	return ctx, func() { stop(); w.stop(); cancel() }
}

// fence cancels a write once its lease's last renewal is older than the safe
// window: a timer set for that moment looks again when it fires, and is set
// again for the new moment when a renewal came meanwhile.
type fence struct {
	lease  *lease
	cancel context.CancelFunc

	mu      sync.Mutex
	timer   *time.Timer
	stopped bool
}

func (f *fence) check() {
	f.lease.mu.Lock()
	until := time.Until(f.lease.lastRenew.Add(f.lease.safeWindow()))
	f.lease.mu.Unlock()
	if until <= 0 {
		f.cancel()
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.stopped {
		f.timer = time.AfterFunc(until, f.check)
	}
}

func (f *fence) stop() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stopped = true
	if f.timer != nil {
		f.timer.Stop()
	}
}

// renewed records a renewal seen at now.
func (l *lease) renewed(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lastRenew = now
}

// stale reports whether at now the last renewal is older than the safe window.
func (l *lease) stale(now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return now.Sub(l.lastRenew) > l.safeWindow()
}

// run keeps this replica's lease until ctx ends, granting a new one a second
// after each loss.
func (l *lease) run(ctx context.Context) {
	for ctx.Err() == nil {
		if err := l.hold(ctx); err != nil && ctx.Err() == nil {
			klog.ErrorS(err, "Ownership lease lost; this replica stopped writing and will rejoin", "replica", l.name)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

// hold grants a lease, registers the replica and keeps the lease alive until it
// is lost (watchdog) or ctx ends.
func (l *lease) hold(ctx context.Context) error {
	kctx, kcancel := context.WithCancel(ctx)
	defer kcancel()
	t, renewals, err := l.grant(ctx, kctx)
	if err != nil {
		return err
	}
	l.publish(t, time.Now())
	return l.keep(ctx, t, renewals)
}

// grant grants a lease kept alive (and its session held) until kctx ends, and
// registers this replica under it.
func (l *lease) grant(ctx, kctx context.Context) (*term, <-chan *clientv3.LeaseKeepAliveResponse, error) {
	secs := int64(l.ttl / time.Second)
	if secs < 2 {
		secs = 2
	}
	gctx, gcancel := context.WithTimeout(ctx, l.ttl)
	grant, err := l.client.Grant(gctx, secs)
	gcancel()
	if err != nil {
		return nil, nil, fmt.Errorf("granting a lease: %w", err)
	}
	renewals, err := l.client.KeepAlive(kctx, grant.ID)
	if err != nil {
		return nil, nil, fmt.Errorf("keeping the lease alive: %w", err)
	}
	session, err := concurrency.NewSession(l.client, concurrency.WithLease(grant.ID), concurrency.WithContext(kctx))
	if err != nil {
		return nil, nil, err
	}
	val, _ := json.Marshal(Member{Name: l.name, Lease: leaseString(grant.ID)})
	pctx, pcancel := context.WithTimeout(ctx, l.ttl)
	_, err = l.client.Put(pctx, replicasPrefix+l.name, string(val), clientv3.WithLease(grant.ID))
	pcancel()
	if err != nil {
		return nil, nil, fmt.Errorf("registering replica %s: %w", l.name, err)
	}
	ownCtx, ownCancel := context.WithCancel(context.Background())
	return &term{session: session, id: grant.ID, ctx: ownCtx, cancel: ownCancel}, renewals, nil
}

// publish makes t the current term, renewed at now, and runs began. The term
// it replaces has always ended already (hold returns only after lose).
func (l *lease) publish(t *term, now time.Time) {
	l.mu.Lock()
	l.term, l.lastRenew = t, now
	l.mu.Unlock()
	klog.InfoS("Replica holds its ownership lease", "replica", l.name, "lease", leaseString(t.id), "ttl", l.ttl)
	l.began()
}

// keep follows the renewals of term t until ctx ends (the lease is revoked, so
// its branches move on at once) or they stop (the term ends).
func (l *lease) keep(ctx context.Context, t *term, renewals <-chan *clientv3.LeaseKeepAliveResponse) error {
	watchdog := time.NewTicker(l.ttl / 10)
	defer watchdog.Stop()
	for {
		select {
		case <-ctx.Done():
			l.lose("shutting down")
			rctx, rcancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, _ = l.client.Revoke(rctx, t.id) // hand the branches over now
			rcancel()
			return nil
		case r, ok := <-renewals:
			if !ok {
				l.lose("keep-alive channel closed")
				return errors.New("lease keep-alive ended")
			}
			if r != nil {
				l.renewed(time.Now())
			}
		case <-watchdog.C:
			if l.stale(time.Now()) {
				l.lose("no lease renewal within the safe window")
				return errors.New("lease renewals stopped")
			}
		}
	}
}

// lose ends the current term (once) and runs ended: everything this replica
// writes with is cancelled.
func (l *lease) lose(why string) {
	l.mu.Lock()
	t := l.term
	alive := t.alive()
	t.cancel()
	l.mu.Unlock()
	if !alive {
		return
	}
	klog.InfoS("Replica stopped writing", "replica", l.name, "reason", why)
	l.ended()
}
