package ownership

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"sort"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"k8s.io/klog/v2"
)

// Member is a live replica.
type Member struct {
	Name  string `json:"name"`
	Lease string `json:"lease"`
}

// goneFor is how long the time a lease went away is remembered; targets still
// naming it afterwards read as gone without a time.
const goneFor = 24 * time.Hour

// members is the live replica set as last read from etcd, and when the leases
// of replicas that went away vanished. It holds no lock: the roster's guards it.
type members struct {
	byName map[string]Member
	gone   map[string]time.Time // lease -> when its replica key vanished
	synced bool                 // the set has been read once
}

func newMembers() members {
	return members{byName: map[string]Member{}, gone: map[string]time.Time{}}
}

// set installs next as the live set at now, recording when leases went away,
// and reports whether the live set changed.
func (ms *members) set(next map[string]Member, now time.Time) bool {
	changed := len(next) != len(ms.byName)
	for name, old := range ms.byName {
		cur, ok := next[name]
		if !ok || cur.Lease != old.Lease {
			ms.gone[old.Lease] = now
		}
		changed = changed || !ok || cur != old
	}
	for lease, at := range ms.gone {
		if now.Sub(at) > goneFor {
			delete(ms.gone, lease)
		}
	}
	ms.byName = next
	return changed
}

// alive reports whether lease belongs to a live replica and, if not, since when
// it is known to be gone. Before the first read every lease counts as alive.
func (ms *members) alive(lease string) (bool, time.Time) {
	if !ms.synced {
		return true, time.Time{}
	}
	for _, mem := range ms.byName {
		if mem.Lease == lease {
			return true, time.Time{}
		}
	}
	return false, ms.gone[lease]
}

// preferred is the rendezvous choice for key among the live replicas and self
// (which counts as live before its own registration is seen).
func (ms *members) preferred(self, key string) string {
	names := make([]string, 0, len(ms.byName)+1)
	for n := range ms.byName {
		names = append(names, n)
	}
	if _, ok := ms.byName[self]; !ok {
		names = append(names, self)
	}
	return PreferredOf(names, key)
}

// list returns the live replicas by name.
func (ms *members) list() []Member {
	out := make([]Member, 0, len(ms.byName))
	for _, mem := range ms.byName {
		out = append(out, mem)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
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

// roster is the live replica set as this replica last read it, kept current by
// a watch on etcd. mu guards members and nothing else; client and changed are
// set by New and only read. changed runs without mu: after every read of the
// set, and after watched events that changed it or a branch lock.
type roster struct {
	client       *clientv3.Client
	changed      func() // the replica set changed (or was read)
	locksChanged func() // only a branch lock came or went

	mu      sync.Mutex
	members members
}

func newRoster(client *clientv3.Client, changed, locksChanged func()) *roster {
	return &roster{client: client, changed: changed, locksChanged: locksChanged, members: newMembers()}
}

// preferred is the rendezvous choice for key among the live replicas and self.
func (r *roster) preferred(self, key string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.members.preferred(self, key)
}

// alive reports whether a lease belongs to a live replica and, if not, since
// when it is known to be gone.
func (r *roster) alive(lease string) (bool, time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.members.alive(lease)
}

// list returns the live replicas by name.
func (r *roster) list() []Member {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.members.list()
}

// watch keeps the live replica set (and the lock prefix, to notice released
// branches) current until ctx ends.
func (r *roster) watch(ctx context.Context) {
	for ctx.Err() == nil {
		if err := r.watchOnce(ctx); err != nil && ctx.Err() == nil {
			klog.ErrorS(err, "Watching replicas failed; retrying")
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

func (r *roster) watchOnce(ctx context.Context) error {
	resp, err := r.client.Get(ctx, replicasPrefix, clientv3.WithPrefix())
	if err != nil {
		return err
	}
	r.sync(resp.Kvs, time.Now())

	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	wch := r.client.Watch(wctx, "/gitops-reverser/", clientv3.WithPrefix(), clientv3.WithRev(resp.Header.Revision+1), clientv3.WithPrevKV())
	for wr := range wch {
		if err := wr.Err(); err != nil {
			return err
		}
		r.apply(wr.Events, time.Now())
	}
	return errors.New("watch closed")
}

// sync installs the replica set read at now and notifies.
func (r *roster) sync(kvs []*mvccpb.KeyValue, now time.Time) {
	next := map[string]Member{}
	for _, kv := range kvs {
		var mem Member
		if json.Unmarshal(kv.Value, &mem) == nil {
			next[mem.Name] = mem
		}
	}
	r.mu.Lock()
	r.members.set(next, now)
	r.members.synced = true
	r.mu.Unlock()
	r.changed()
}

// apply applies watched changes under /gitops-reverser/ seen at now, and
// notifies: changed when the replica set changed, else locksChanged when a
// branch lock came or went.
func (r *roster) apply(events []*clientv3.Event, now time.Time) {
	changed, locks := false, false
	r.mu.Lock()
	for _, ev := range events {
		name, ok := strings.CutPrefix(string(ev.Kv.Key), replicasPrefix)
		if !ok || name == "" {
			locks = true
			continue
		}
		next := make(map[string]Member, len(r.members.byName)+1)
		for k, v := range r.members.byName {
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
		if r.members.set(next, now) {
			changed = true
		}
	}
	r.mu.Unlock()
	switch {
	case changed:
		r.changed()
	case locks:
		r.locksChanged()
	}
}
