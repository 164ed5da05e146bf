package ownership

import (
	"context"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// liveTerm is a term as hold publishes it, without a session.
func liveTerm(id int64) *term {
	ctx, cancel := context.WithCancel(context.Background())
	t := endedTerm()
	t.id, t.ctx, t.cancel = clientv3.LeaseID(id), ctx, cancel
	return t
}

// TestLeaseFencing: without a term nothing may write; a published term writes
// until its last renewal is older than two thirds of the TTL, and renewals move
// that deadline.
func TestLeaseFencing(t *testing.T) {
	began := 0
	l := &lease{name: "r1", ttl: 15 * time.Second, term: endedTerm(), began: func() { began++ }, ended: func() {}}
	if l.id() != "" || l.current().alive() {
		t.Fatalf("before a grant: id %q, alive %v", l.id(), l.current().alive())
	}
	ctx, cancel := l.writeContext(context.Background())
	if ctx.Err() == nil {
		t.Error("before a grant, a write context is live")
	}
	cancel()

	l.publish(liveTerm(0x2a), t0)
	if l.id() != "2a" || began != 1 {
		t.Errorf("published: id %q, began ran %d times", l.id(), began)
	}
	for _, tc := range []struct {
		at    time.Duration
		stale bool
	}{{0, false}, {10 * time.Second, false}, {10*time.Second + time.Nanosecond, true}} {
		if got := l.stale(t0.Add(tc.at)); got != tc.stale {
			t.Errorf("stale %v after the renewal = %v, want %v", tc.at, got, tc.stale)
		}
	}
	l.renewed(t0.Add(8 * time.Second))
	if l.stale(t0.Add(18 * time.Second)) {
		t.Error("a renewal did not move the safe window")
	}
}

// TestWriteFence: a write runs while renewals keep coming, however long it
// takes, and is cancelled once they stop for longer than the safe window;
// one begun after the window has passed never runs.
func TestWriteFence(t *testing.T) {
	l := &lease{name: "r1", ttl: 300 * time.Millisecond, term: endedTerm(), began: func() {}, ended: func() {}}
	l.publish(liveTerm(1), time.Now())
	ctx, cancel := l.writeContext(context.Background())
	defer cancel()
	// Renewed every 50 ms for three safe windows (200 ms each): still live.
	for end := time.Now().Add(600 * time.Millisecond); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		l.renewed(time.Now())
		if ctx.Err() != nil {
			t.Fatal("a write was cancelled while its lease was renewed")
		}
	}
	// No renewal any more: cancelled once the window has passed.
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("a write outlived its lease's last renewal")
	}
	late, cancelLate := l.writeContext(context.Background())
	defer cancelLate()
	if late.Err() == nil {
		t.Error("a write begun after the safe window is live")
	}
	// A write that ends stops its fence: nothing fires on a finished write.
	l.renewed(time.Now())
	done, finish := l.writeContext(context.Background())
	finish()
	if done.Err() == nil {
		t.Error("the release func did not cancel its context")
	}
}

// TestLeaseLose: losing ends the term once: its contexts are cancelled, the
// lease reads as none, and ended runs once however often it is lost.
func TestLeaseLose(t *testing.T) {
	ended := 0
	l := &lease{name: "r1", ttl: 15 * time.Second, term: endedTerm(), began: func() {}, ended: func() { ended++ }}
	l.lose("before any grant")
	if ended != 0 {
		t.Errorf("losing without a term ran ended %d times", ended)
	}
	l.publish(liveTerm(7), time.Now())
	write, cancel := l.writeContext(context.Background())
	defer cancel()
	own := l.current().ctx
	l.lose("test")
	l.lose("again")
	if ended != 1 {
		t.Errorf("ended ran %d times, want 1", ended)
	}
	if own.Err() == nil || l.id() != "" {
		t.Errorf("after the loss: term ctx %v, id %q", own.Err(), l.id())
	}
	// A write begun after the loss, its last renewal still recent, is
	// cancelled before writeContext returns.
	l.renewed(time.Now())
	if after, cancelAfter := l.writeContext(context.Background()); after.Err() == nil {
		t.Error("a write begun after the term ended is live")
	} else {
		cancelAfter()
	}
	select { // a write context follows its term through context.AfterFunc
	case <-write.Done():
	case <-time.After(5 * time.Second):
		t.Error("a write context outlived its term")
	}
}

// TestManagerTerms: the parts are wired so that a new term notifies OnChange,
// and the end of a term drops every branch lock and runs OnLost.
func TestManagerTerms(t *testing.T) {
	m := newTestManager("r1")
	var changes, losses int
	m.OnChange(func() { changes++ })
	m.OnLost(func() {
		losses++
		if m.Owns("repo#main") || m.Held() != 0 || m.Lease() != "" || m.Context().Err() == nil {
			t.Error("OnLost runs while this replica still owns something")
		}
	})
	if ok, err := m.Acquire(context.Background(), "repo#main"); ok || err != nil {
		t.Errorf("Acquire without a lease = %v, %v", ok, err)
	}

	m.lease.publish(liveTerm(1), time.Now())
	if changes != 1 || m.Lease() != "1" || m.Context().Err() != nil {
		t.Fatalf("after the grant: %d changes, lease %q, context %v", changes, m.Lease(), m.Context().Err())
	}
	m.locks.record("repo#main", heldLock{term: m.lease.current()})
	if ok, err := m.Acquire(context.Background(), "repo#main"); !ok || err != nil || !m.Owns("repo#main") || m.Held() != 1 {
		t.Errorf("held: Acquire = %v, %v; Owns %v, Held %d", ok, err, m.Owns("repo#main"), m.Held())
	}

	m.lease.lose("test")
	if losses != 1 || m.Owns("repo#main") || m.Held() != 0 {
		t.Errorf("after the loss: %d losses, Owns %v, Held %d", losses, m.Owns("repo#main"), m.Held())
	}
	if ok, err := m.Acquire(context.Background(), "repo#main"); ok || err != nil {
		t.Errorf("Acquire after the loss = %v, %v", ok, err)
	}
}
