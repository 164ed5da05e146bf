package attribution_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/configbutler/gitops-reverser/pkg/attribution"
	"github.com/configbutler/gitops-reverser/pkg/cmd/server"
)

// TestSharedReachesEveryReplica: a batch received by one replica is found by
// another (live, and by one that starts later), through a real etcd; a replica
// does not take its own batches back (a used-up report stays used up); the
// keys expire with a lease longer than the store's TTL.
func TestSharedReachesEveryReplica(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	client := etcdClient(ctx, t)

	storeA, storeB := attribution.NewStore(time.Minute), attribution.NewStore(time.Minute)
	a := attribution.NewShared(client, storeA, "r1")
	b := attribution.NewShared(client, storeB, "r2")
	go a.Run(ctx)
	go b.Run(ctx)

	cm := schema.GroupResource{Resource: "configmaps"}
	sec := schema.GroupResource{Resource: "secrets"}
	now := time.Now()
	a.Add(
		attribution.Report{Resource: cm, Namespace: "ns", Name: "x", UID: "u1", ResourceVersion: "7", Author: attribution.Author{User: "alice", Verb: "create"}, Received: now},
		attribution.Report{Resource: sec, Namespace: "ns", Name: "s", Author: attribution.Author{User: "bob", Impersonator: "admin", Verb: "update"}, Received: now},
	)
	// The receiving replica has them at once.
	if got, ok := storeA.Lookup(attribution.Query{Resource: cm, Namespace: "ns", Name: "x", UID: "u1", ResourceVersion: "7"}); !ok || got.User != "alice" {
		t.Fatalf("receiving replica: %+v %v", got, ok)
	}
	// The other replica gets them through etcd.
	waitFor(t, "r2 has the ConfigMap report", func() bool {
		got, ok := storeB.Lookup(attribution.Query{Resource: cm, Namespace: "ns", Name: "x", UID: "u1", ResourceVersion: "7"})
		return ok && got.User == "alice" && got.Verb == "create"
	})
	got, ok := storeB.Lookup(attribution.Query{Resource: sec, Namespace: "ns", Name: "s"})
	if !ok || got.User != "bob" || got.Impersonator != "admin" {
		t.Fatalf("r2's Secret report: %+v %v", got, ok)
	}
	// Two more batches, the later one with the smaller key (a list is in key
	// order, not in the order they were written).
	attribution.NewShared(client, attribution.NewStore(time.Minute), "z").Add(
		attribution.Report{Resource: cm, Namespace: "ns", Name: "z", UID: "uz", ResourceVersion: "8", Author: attribution.Author{User: "zoe", Verb: "update"}, Received: now})
	attribution.NewShared(client, attribution.NewStore(time.Minute), "a").Add(
		attribution.Report{Resource: cm, Namespace: "ns", Name: "a", UID: "ua", ResourceVersion: "9", Author: attribution.Author{User: "amy", Verb: "update"}, Received: now})
	// A replica started later finds everything already in etcd.
	storeC := attribution.NewStore(time.Minute)
	go attribution.NewShared(client, storeC, "r3").Run(ctx)
	waitFor(t, "a late replica has the reports", func() bool {
		return storeC.Received() == 4
	})
	for _, q := range []attribution.Query{
		{Resource: cm, Namespace: "ns", Name: "x", UID: "u1", ResourceVersion: "7"},
		{Resource: cm, Namespace: "ns", Name: "z", UID: "uz", ResourceVersion: "8"},
		{Resource: cm, Namespace: "ns", Name: "a", UID: "ua", ResourceVersion: "9"},
	} {
		if _, ok := storeC.Lookup(q); !ok {
			t.Errorf("the late replica lacks %s", q.Name)
		}
	}
	// r1 used its report up and never takes its own batch back.
	time.Sleep(500 * time.Millisecond)
	if _, ok := storeA.Lookup(attribution.Query{Resource: cm, Namespace: "ns", Name: "x", UID: "u1", ResourceVersion: "7"}); ok {
		t.Error("the receiving replica took its own batch back from etcd")
	}
	if n := storeA.Received(); n != 4 {
		t.Errorf("the receiving replica received %d reports, want its 2 and the 2 of z and a: it took its own batch back", n)
	}
	// Every key is on a lease a little longer than the TTL.
	resp, err := client.Get(ctx, attribution.SharePrefix, clientv3.WithPrefix())
	if err != nil || len(resp.Kvs) != 3 {
		t.Fatalf("keys: %v %v", resp, err)
	}
	ttl, err := client.TimeToLive(ctx, clientv3.LeaseID(resp.Kvs[0].Lease))
	if err != nil || ttl.TTL < 60 || ttl.TTL > 121 {
		t.Fatalf("lease TTL %+v %v, want between the store's TTL (60s) and TTL+1m", ttl, err)
	}
}

// etcdClient starts an embedded etcd for the test and returns a client of it;
// both end with the test.
func etcdClient(ctx context.Context, t *testing.T) *clientv3.Client {
	t.Helper()
	etcd, err := server.StartEmbeddedEtcd(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(etcd.Close)
	client, err := clientv3.New(clientv3.Config{Endpoints: []string{etcd.ClientURL}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	return client
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s: not within 10s", what)
}

// TestLateReplicaSkipsOldBatches: a replica starting now takes the batches
// written in the last UnwantedTTL before it started, and those of an older
// version (no time in their keys), but not older ones: the writes they report
// are in its targets' snapshots.
func TestLateReplicaSkipsOldBatches(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	client := etcdClient(ctx, t)

	now := time.Now()
	put := func(name, uid, user string) {
		t.Helper()
		value := `[{"r":"configmaps","ns":"ns","n":"` + uid + `","uid":"` + uid + `","rv":"7","u":"` + user + `","v":"update","at":"` + now.UTC().Format(time.RFC3339) + `"}]`
		if _, err := client.Put(ctx, attribution.SharePrefix+"r9-abcdef/"+name, value); err != nil {
			t.Fatal(err)
		}
	}
	ms := func(d time.Duration) string { return strconv.FormatInt(now.Add(d).UnixMilli(), 10) }
	put(ms(-5*time.Minute)+"-1", "old", "olga")
	put(ms(-10*time.Second)+"-2", "recent", "rita")
	put("3", "unnamed", "uma") // an older version's key

	store := attribution.NewStore(time.Minute)
	go attribution.NewShared(client, store, "r3").Run(ctx)
	waitFor(t, "the late replica took the recent batches", func() bool { return store.Received() == 2 })
	cm := schema.GroupResource{Resource: "configmaps"}
	for uid, want := range map[string]bool{"old": false, "recent": true, "unnamed": true} {
		if _, ok := store.Lookup(attribution.Query{Resource: cm, Namespace: "ns", Name: uid, UID: types.UID(uid), ResourceVersion: "7"}); ok != want {
			t.Errorf("batch %s: found %v, want %v", uid, ok, want)
		}
	}
	// Batches written from now on are taken whatever they say.
	put(ms(-time.Hour)+"-4", "later", "lea")
	waitFor(t, "a batch written after the start", func() bool { return store.Received() == 3 })
}
