package attribution

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/klog/v2"

	"github.com/configbutler/gitops-reverser/pkg/commitstyle"
	"github.com/configbutler/gitops-reverser/pkg/metrics"
)

// SharePrefix is where replicas share reports in their etcd. It is outside
// /gitops-reverser/, which the ownership manager watches.
const SharePrefix = "/gitops-reverser-attribution/"

// Adder takes reports in: a Store, or a Shared that also hands them to the
// other replicas.
type Adder interface {
	Add(reports ...Report)
}

// Shared replicates reports between the replicas of one server through their
// etcd. kube-apiserver's audit webhook reaches one replica (the Service picks
// it), while the change a report explains is committed by whichever replica
// owns that branch's worker. So the replica that receives a batch keeps it and
// writes it as one etcd key, with a lease a little longer than the store's
// TTL; every replica watches the prefix and adds the other replicas' batches
// to its own Store. Keys expire with their leases: etcd holds at most a TTL of
// batches. When etcd cannot be written, the receiving replica still has the
// batch (its own changes are attributed; the others fall back to their field
// managers, as with a lost report).
type Shared struct {
	client   *clientv3.Client
	store    *Store
	instance string // this process: its own keys are skipped on the watch
	seq      atomic.Int64
	// started is when this process started sharing: of the batches written
	// before it, only the last UnwantedTTL's are taken (skipOld).
	started time.Time
	// taken is the etcd revision of the newest key taken: a list after a
	// broken watch (compaction) takes only what is newer, so a report used up
	// is not put back.
	taken int64

	mu      sync.Mutex
	lease   clientv3.LeaseID
	leaseAt time.Time
}

// maxPerKey bounds one key's value (etcd's request limit is 1.5 MiB).
const maxPerKey = 2000

// leaseEvery is how long one lease is used for new keys: keys live between
// TTL+1m-leaseEvery and TTL+1m.
const leaseEvery = time.Minute

// NewShared shares store's reports through client, as replica.
func NewShared(client *clientv3.Client, store *Store, replica string) *Shared {
	return &Shared{client: client, store: store, instance: sanitize(replica) + "-" + rand.String(6), started: time.Now()}
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' {
			return '_'
		}
		return r
	}, s)
}

// sharedReport is a Report on the wire: names, versions and users only.
type sharedReport struct {
	Group        string    `json:"g,omitempty"`
	Resource     string    `json:"r"`
	Namespace    string    `json:"ns,omitempty"`
	Name         string    `json:"n"`
	UID          string    `json:"uid,omitempty"`
	RV           string    `json:"rv,omitempty"`
	User         string    `json:"u"`
	Impersonator string    `json:"imp,omitempty"`
	Verb         string    `json:"v"`
	Groups       []string  `json:"grp,omitempty"`
	Manager      string    `json:"fm,omitempty"`
	Received     time.Time `json:"at"`
}

// Add keeps reports in this replica's store and writes them for the others.
func (s *Shared) Add(reports ...Report) {
	s.store.Add(reports...)
	if len(reports) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.publish(ctx, reports); err != nil {
		metrics.AttributionShared.WithLabelValues("failed").Inc()
		klog.ErrorS(err, "Could not share attribution reports with the other replicas", "reports", len(reports))
		return
	}
	metrics.AttributionShared.WithLabelValues("written").Inc()
}

func (s *Shared) publish(ctx context.Context, reports []Report) error {
	lease, err := s.currentLease(ctx)
	if err != nil {
		return err
	}
	for len(reports) > 0 {
		n := min(len(reports), maxPerKey)
		wire := make([]sharedReport, n)
		for i, r := range reports[:n] {
			wire[i] = sharedReport{Group: r.Resource.Group, Resource: r.Resource.Resource, Namespace: r.Namespace, Name: r.Name,
				UID: string(r.UID), RV: r.ResourceVersion, User: r.User, Impersonator: r.Impersonator, Verb: r.Verb,
				Groups: r.Groups, Manager: r.Manager, Received: r.Received}
		}
		b, err := json.Marshal(wire)
		if err != nil {
			return err
		}
		key := batchKey(s.instance, time.Now(), s.seq.Add(1))
		if _, err := s.client.Put(ctx, key, string(b), clientv3.WithLease(lease)); err != nil {
			s.mu.Lock()
			s.lease = 0 // the lease may be gone: grant a new one next time
			s.mu.Unlock()
			return err
		}
		reports = reports[n:]
	}
	return nil
}

func (s *Shared) currentLease(ctx context.Context) (clientv3.LeaseID, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lease != 0 && time.Since(s.leaseAt) < leaseEvery {
		return s.lease, nil
	}
	grant, err := s.client.Grant(ctx, int64((s.store.TTL+leaseEvery)/time.Second))
	if err != nil {
		return 0, fmt.Errorf("granting a lease for shared reports: %w", err)
	}
	s.lease, s.leaseAt = grant.ID, time.Now()
	return s.lease, nil
}

// Run adds the other replicas' reports to the store until ctx ends: those in
// etcd when it starts (but those written UnwantedTTL or more before this
// process started: skipOld), then each as it is written.
func (s *Shared) Run(ctx context.Context) {
	backoff := time.Second
	for ctx.Err() == nil {
		err := s.follow(ctx)
		if ctx.Err() != nil {
			return
		}
		klog.ErrorS(err, "Following the other replicas' attribution reports; retrying", "in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

func (s *Shared) follow(ctx context.Context) error {
	if s.taken == 0 {
		if err := s.skipOld(ctx); err != nil {
			return err
		}
	}
	resp, err := s.client.Get(ctx, SharePrefix, clientv3.WithPrefix(), clientv3.WithMinModRev(s.taken+1))
	if err != nil {
		return err
	}
	// In revision order (a list is in key order): take skips what is not
	// newer than the last key it took.
	sort.Slice(resp.Kvs, func(i, j int) bool { return resp.Kvs[i].ModRevision < resp.Kvs[j].ModRevision })
	for _, kv := range resp.Kvs {
		s.take(string(kv.Key), kv.Value, kv.ModRevision)
	}
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	for wr := range s.client.Watch(wctx, SharePrefix, clientv3.WithPrefix(), clientv3.WithRev(resp.Header.Revision+1)) {
		if err := wr.Err(); err != nil {
			return err // compacted or canceled: list again
		}
		for _, ev := range wr.Events {
			if ev.Type == clientv3.EventTypePut {
				s.take(string(ev.Kv.Key), ev.Kv.Value, ev.Kv.ModRevision)
			}
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return errors.New("watch closed")
}

// skipOld marks as taken the batches written before this process started,
// but for the last UnwantedTTL's, by the time in their keys' names: reports
// of writes made before this process started are asked for only by a watch
// lagging behind a target that registered since, and the store keeps no
// longer for that (Store). A replica restarting after a bulk import would
// otherwise decode every report of the last eleven minutes, 100,000 of them
// (half a second of a core) while its targets take their snapshots. It
// lists names only; a key of an older version (no time in its name) is
// taken.
func (s *Shared) skipOld(ctx context.Context) error {
	resp, err := s.client.Get(ctx, SharePrefix, clientv3.WithPrefix(), clientv3.WithKeysOnly(),
		clientv3.WithSort(clientv3.SortByModRevision, clientv3.SortAscend))
	if err != nil {
		return err
	}
	since := s.started.Add(-UnwantedTTL)
	for _, kv := range resp.Kvs {
		if at, ok := batchTime(string(kv.Key)); !ok || !at.Before(since) {
			break
		}
		s.taken = kv.ModRevision
	}
	return nil
}

// batchKey is the etcd key of a batch written by instance at at, its seq-th.
func batchKey(instance string, at time.Time, seq int64) string {
	return SharePrefix + instance + "/" + strconv.FormatInt(at.UnixMilli(), 10) + "-" + strconv.FormatInt(seq, 10)
}

// batchTime is when a batch key says it was written; false for a key with no
// time in its name (written by an older version: instance/seq).
func batchTime(key string) (time.Time, bool) {
	name := key[strings.LastIndexByte(key, '/')+1:]
	ms, _, ok := strings.Cut(name, "-")
	if !ok {
		return time.Time{}, false
	}
	n, err := strconv.ParseInt(ms, 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}, false
	}
	return time.UnixMilli(n), true
}

// take adds one key's reports, unless this process wrote them or they were
// taken before. Run's one goroutine calls it.
func (s *Shared) take(key string, value []byte, rev int64) {
	if rev <= s.taken {
		return
	}
	s.taken = rev
	rest := strings.TrimPrefix(key, SharePrefix)
	if strings.HasPrefix(rest, s.instance+"/") {
		return
	}
	var wire []sharedReport
	if err := json.Unmarshal(value, &wire); err != nil {
		klog.ErrorS(err, "Ignoring an undecodable shared attribution key", "key", key)
		return
	}
	reports := make([]Report, len(wire))
	for i, w := range wire {
		reports[i] = Report{Namespace: w.Namespace, Name: w.Name, UID: types.UID(w.UID), ResourceVersion: w.RV,
			Author:   Author{User: w.User, Impersonator: w.Impersonator, Verb: w.Verb, Groups: cleanGroups(w.Groups), Manager: commitstyle.Clean(w.Manager)},
			Received: w.Received}
		reports[i].Resource.Group, reports[i].Resource.Resource = w.Group, w.Resource
	}
	s.store.Add(reports...)
	metrics.AttributionShared.WithLabelValues("received").Add(float64(len(reports)))
}
