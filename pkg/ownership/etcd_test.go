package ownership

import (
	"context"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// startEtcd runs a single-member etcd for the test and returns a client of it.
func startEtcd(t *testing.T) *clientv3.Client {
	t.Helper()
	cfg := embed.NewConfig()
	cfg.Dir = filepath.Join(t.TempDir(), "etcd")
	loopback := url.URL{Scheme: "http", Host: "127.0.0.1:0"}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{loopback}, []url.URL{loopback}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{loopback}, []url.URL{loopback}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.ListenMetricsUrls = nil
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(30 * time.Second):
		t.Fatal("etcd did not become ready")
	}
	client, err := clientv3.New(clientv3.Config{Endpoints: []string{"http://" + e.Clients[0].Addr().String()}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	return client
}

// eventually polls cond for up to ten seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
	}
}

// TestHandover: two replicas on one etcd. The preferred one takes a branch and
// the other cannot; when the owner shuts down its lease is revoked, the other
// sees it gone, becomes preferred and takes the branch at once.
func TestHandover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd")
	}
	client := startEtcd(t)
	ctx := context.Background()
	r1, r2 := New(client, "r1", 3*time.Second), New(client, "r2", 3*time.Second)
	lost := make(chan struct{}, 1)
	r1.OnLost(func() { lost <- struct{}{} })
	ctx1, stop1 := context.WithCancel(ctx)
	done1 := make(chan struct{})
	go func() { r1.Run(ctx1); close(done1) }()
	ctx2, stop2 := context.WithCancel(ctx)
	done2 := make(chan struct{})
	go func() { r2.Run(ctx2); close(done2) }()
	defer func() { stop2(); <-done2 }()
	for _, m := range []*Manager{r1, r2} {
		eventually(t, m.Name()+" sees both replicas", func() bool { return m.Lease() != "" && len(m.Members()) == 2 })
	}

	key := ""
	for _, k := range branchKeys(20) {
		if PreferredOf([]string{"r1", "r2"}, k) == "r1" {
			key = k
			break
		}
	}
	if ok, err := r1.Acquire(ctx, key); !ok || err != nil {
		t.Fatalf("r1 (preferred) Acquire = %v, %v", ok, err)
	}
	if ok, err := r2.Acquire(ctx, key); ok || err != nil {
		t.Fatalf("r2 Acquire of a held branch = %v, %v", ok, err)
	}
	if !r1.Owns(key) || r1.Held() != 1 || r2.Owns(key) || r2.Held() != 0 {
		t.Fatalf("owns: r1 %v (%d), r2 %v (%d)", r1.Owns(key), r1.Held(), r2.Owns(key), r2.Held())
	}
	if alive, _ := r2.Alive(r1.Lease()); !alive {
		t.Error("r2 reads r1's lease as gone")
	}

	lease1 := r1.Lease()
	stop1()
	<-done1
	<-lost
	if r1.Lease() != "" || r1.Owns(key) || r1.Held() != 0 {
		t.Errorf("r1 after shutdown: lease %q, owns %v, held %d", r1.Lease(), r1.Owns(key), r1.Held())
	}
	eventually(t, "r2 sees r1 gone", func() bool { alive, _ := r2.Alive(lease1); return !alive && r2.Preferred(key) })
	if ok, err := r2.Acquire(ctx, key); !ok || err != nil || !r2.Owns(key) {
		t.Fatalf("r2 (now preferred) Acquire = %v, %v", ok, err)
	}
	r2.Release(ctx, key)
	if r2.Owns(key) || r2.Held() != 0 {
		t.Error("Release kept the branch")
	}
}
