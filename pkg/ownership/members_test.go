package ownership

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func replicaKV(name, lease string) *mvccpb.KeyValue {
	v, _ := json.Marshal(Member{Name: name, Lease: lease})
	return &mvccpb.KeyValue{Key: []byte(replicasPrefix + name), Value: v}
}

func put(name, lease string) *clientv3.Event {
	return &clientv3.Event{Type: clientv3.EventTypePut, Kv: replicaKV(name, lease)}
}

func del(name string) *clientv3.Event {
	return &clientv3.Event{Type: clientv3.EventTypeDelete, Kv: &mvccpb.KeyValue{Key: []byte(replicasPrefix + name)}}
}

func lockEvent(typ mvccpb.Event_EventType) *clientv3.Event {
	return &clientv3.Event{Type: typ, Kv: &mvccpb.KeyValue{Key: []byte(workersPrefix + hashKey("repo#main") + "/694d8a"), Value: []byte("")}}
}

// newTestManager is a manager without an etcd client: membership is fed to it
// as the watch would.
func newTestManager(name string) *Manager { return New(nil, name, 15*time.Second) }

type liveness struct {
	alive bool
	since time.Time
}

// TestAlive: before the first read every lease is alive; afterwards a lease is
// alive while a replica holds it, and gone (since the time its replica key
// vanished or moved to a new lease) otherwise, for a day.
func TestAlive(t *testing.T) {
	m := newTestManager("r1")
	for _, step := range []struct {
		name  string
		do    func()
		wants map[string]liveness
	}{
		{"before the first read", func() {}, map[string]liveness{
			"l1": {true, time.Time{}}, "never-seen": {true, time.Time{}},
		}},
		{"first read", func() { m.roster.sync([]*mvccpb.KeyValue{replicaKV("r1", "l1"), replicaKV("r2", "l2")}, t0) }, map[string]liveness{
			"l1": {true, time.Time{}}, "l2": {true, time.Time{}}, "never-seen": {false, time.Time{}},
		}},
		{"r2 expires", func() { m.roster.apply([]*clientv3.Event{del("r2")}, t0.Add(time.Minute)) }, map[string]liveness{
			"l1": {true, time.Time{}}, "l2": {false, t0.Add(time.Minute)},
		}},
		{"r1 rejoins with a new lease", func() { m.roster.apply([]*clientv3.Event{put("r1", "l3")}, t0.Add(2*time.Minute)) }, map[string]liveness{
			"l1": {false, t0.Add(2 * time.Minute)}, "l2": {false, t0.Add(time.Minute)}, "l3": {true, time.Time{}},
		}},
		{"a lock event changes no lease", func() { m.roster.apply([]*clientv3.Event{lockEvent(mvccpb.PUT)}, t0.Add(3*time.Minute)) }, map[string]liveness{
			"l1": {false, t0.Add(2 * time.Minute)}, "l2": {false, t0.Add(time.Minute)}, "l3": {true, time.Time{}},
		}},
		{"a new read keeps the times", func() { m.roster.sync([]*mvccpb.KeyValue{replicaKV("r1", "l3")}, t0.Add(time.Hour)) }, map[string]liveness{
			"l1": {false, t0.Add(2 * time.Minute)}, "l2": {false, t0.Add(time.Minute)}, "l3": {true, time.Time{}},
		}},
		{"a day later the times are forgotten", func() { m.roster.apply([]*clientv3.Event{put("r4", "l4")}, t0.Add(24*time.Hour+90*time.Second)) }, map[string]liveness{
			"l1": {false, t0.Add(2 * time.Minute)}, "l2": {false, time.Time{}}, "l3": {true, time.Time{}}, "l4": {true, time.Time{}},
		}},
	} {
		step.do()
		for lease, want := range step.wants {
			if alive, since := m.Alive(lease); alive != want.alive || !since.Equal(want.since) {
				t.Errorf("%s: Alive(%s) = %v, %v; want %v, %v", step.name, lease, alive, since, want.alive, want.since)
			}
		}
	}
}

// TestMembersAndPreferred: Members lists the live replicas by name; Preferred
// is the rendezvous choice among them and this replica, which counts before
// its own registration is seen.
func TestMembersAndPreferred(t *testing.T) {
	m := newTestManager("r1")
	keys := branchKeys(300)
	for _, k := range keys {
		if !m.Preferred(k) {
			t.Fatalf("alone, r1 is not preferred for %s", k)
		}
	}

	m.roster.sync([]*mvccpb.KeyValue{replicaKV("r3", "l3"), replicaKV("r2", "l2")}, t0)
	if got, want := m.Members(), []Member{{"r2", "l2"}, {"r3", "l3"}}; !slices.Equal(got, want) {
		t.Errorf("Members() = %v, want %v", got, want)
	}
	check := func(names []string) {
		t.Helper()
		mine := 0
		for _, k := range keys {
			want := PreferredOf(names, k) == "r1"
			if m.Preferred(k) != want {
				t.Fatalf("members %v: Preferred(%s) = %v", names, k, !want)
			}
			if want {
				mine++
			}
		}
		if mine == 0 || mine == len(keys) {
			t.Errorf("members %v: r1 preferred for %d of %d keys", names, mine, len(keys))
		}
	}
	check([]string{"r1", "r2", "r3"}) // r1 is not registered yet but counts

	m.roster.apply([]*clientv3.Event{put("r1", "l1"), del("r3")}, t0.Add(time.Second))
	if got, want := m.Members(), []Member{{"r1", "l1"}, {"r2", "l2"}}; !slices.Equal(got, want) {
		t.Errorf("Members() = %v, want %v", got, want)
	}
	check([]string{"r1", "r2"})
}

// TestOnChange: the OnChange callbacks run on the first read and on every
// change of the replica set, once per watch response; the OnLockChange ones
// when only a branch lock comes or goes (a tenant's targets coming and going
// must not re-check what depends on membership only); neither on events that
// change nothing.
func TestOnChange(t *testing.T) {
	m := newTestManager("r1")
	var a, b, locks int
	m.OnChange(func() { a++ })
	m.OnChange(func() { b++ })
	m.OnLockChange(func() { locks++ })
	at := t0
	for _, step := range []struct {
		name         string
		do           func()
		notify, lock bool
	}{
		{"first read, empty", func() { m.roster.sync(nil, at) }, true, false},
		{"first read again, unchanged", func() { m.roster.sync(nil, at) }, true, false},
		{"a replica joins", func() { m.roster.apply([]*clientv3.Event{put("r2", "l2")}, at) }, true, false},
		{"the same registration again", func() { m.roster.apply([]*clientv3.Event{put("r2", "l2")}, at) }, false, false},
		{"a replica moves to a new lease", func() { m.roster.apply([]*clientv3.Event{put("r2", "l5")}, at) }, true, false},
		{"an unknown replica is deleted", func() { m.roster.apply([]*clientv3.Event{del("r9")}, at) }, false, false},
		{"an unreadable registration", func() {
			m.roster.apply([]*clientv3.Event{{Type: clientv3.EventTypePut, Kv: &mvccpb.KeyValue{Key: []byte(replicasPrefix + "r3"), Value: []byte("{")}}}, at)
		}, false, false},
		{"a branch lock is taken", func() { m.roster.apply([]*clientv3.Event{lockEvent(mvccpb.PUT)}, at) }, false, true},
		{"a branch lock is released", func() { m.roster.apply([]*clientv3.Event{lockEvent(mvccpb.DELETE)}, at) }, false, true},
		{"a lock and a join in one response", func() { m.roster.apply([]*clientv3.Event{lockEvent(mvccpb.PUT), put("r5", "l5")}, at) }, true, false},
		{"two replicas join in one response", func() { m.roster.apply([]*clientv3.Event{put("r3", "l3"), put("r4", "l4")}, at) }, true, false},
		{"no-op events in one response", func() { m.roster.apply([]*clientv3.Event{put("r3", "l3"), del("r9")}, at) }, false, false},
		{"an empty response", func() { m.roster.apply(nil, at) }, false, false},
		{"a replica leaves", func() { m.roster.apply([]*clientv3.Event{del("r2")}, at) }, true, false},
		{"another leaves", func() { m.roster.apply([]*clientv3.Event{del("r5")}, at) }, true, false},
		{"a read that matches the watch", func() { m.roster.sync([]*mvccpb.KeyValue{replicaKV("r3", "l3"), replicaKV("r4", "l4")}, at) }, true, false},
	} {
		beforeA, beforeB, beforeLocks := a, b, locks
		step.do()
		want, wantLocks := 0, 0
		if step.notify {
			want = 1
		}
		if step.lock {
			wantLocks = 1
		}
		if a-beforeA != want || b-beforeB != want || locks-beforeLocks != wantLocks {
			t.Errorf("%s: OnChange callbacks ran %d and %d times (want %d), OnLockChange %d (want %d)", step.name, a-beforeA, b-beforeB, want, locks-beforeLocks, wantLocks)
		}
		at = at.Add(time.Second)
	}
	if got, want := m.Members(), []Member{{"r3", "l3"}, {"r4", "l4"}}; !slices.Equal(got, want) {
		t.Errorf("Members() = %v, want %v", got, want)
	}
}
