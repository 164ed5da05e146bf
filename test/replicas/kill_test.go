package replicas

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestOwnerKilledAnotherTakesOver: kill -9 the owner of a busy branch; another
// replica takes it over within the lease TTL; every object ends in Git in its
// final state; no interleaved writers, no force push; Ready agrees everywhere.
func TestOwnerKilledAnotherTakesOver(t *testing.T) {
	ns, repo := setup(t, "kill", "r2")
	v, _ := readTarget(replicas["r2"].Kubeconfig, ns)
	if v.Owner != "r2" || v.Lease == "" {
		t.Fatalf("owner %+v, want r2 with a lease", v)
	}
	alive := map[string]bool{"r1": true, "r2": true, "r3": true}
	var mu sync.Mutex
	live := func() []string {
		mu.Lock()
		defer mu.Unlock()
		var out []string
		for n, ok := range alive {
			if ok {
				out = append(out, n)
			}
		}
		return out
	}
	agree := watchAgreement(ns, live)
	s := startStreamer(t, ns, 20)
	time.Sleep(3 * time.Second)

	mu.Lock()
	alive["r2"] = false
	mu.Unlock()
	replicas["r2"].Process.Kill()
	killed := time.Now()

	// While the lease lives the dead owner's stream still reads as live; once it
	// expires every replica reads Ready=False/StreamNotLive until the new owner
	// has re-run the gates.
	took := eventually(t, ttl+20*time.Second, "another replica takes over", func() error {
		v, err := readTarget(replicas["r1"].Kubeconfig, ns)
		if err != nil || v.Owner == "r2" || v.Owner == "" || v.Ready != "True/OK" {
			return fmt.Errorf("%+v %v", v, err)
		}
		return nil
	})
	t.Logf("owner r2 killed; new owner Ready after %s (lease TTL %s)", time.Since(killed).Round(100*time.Millisecond), ttl)
	if took > ttl+5*time.Second {
		t.Errorf("takeover took %s, want within the TTL (%s) plus the re-run of the gates", took, ttl)
	}
	time.Sleep(3 * time.Second)
	final := s.Stop()
	t.Logf("%d updates streamed", s.count.Load())
	seq := verifyGit(t, repo, ns, final, 1)
	t.Logf("writers, oldest first: %v", seq)
	if seq[0] != "r2" || len(seq) != 2 {
		t.Errorf("writers %v, want r2 then the new owner", seq)
	}
	problems := agree.Stop()
	t.Logf("Ready read on every live replica: %d samples, %d conclusive", agree.samples, agree.stable)
	if len(problems) > 0 {
		t.Errorf("replicas disagreed on Ready (%d of %d conclusive samples): %v", len(problems), agree.stable, problems)
	}
	if agree.stable < 5 {
		t.Errorf("only %d of %d samples of Ready were conclusive (the state held still for a whole sample)", agree.stable, agree.samples)
	}

	// r2 comes back: it rejoins without taking the branch back.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r, err := st.StartReplica(ctx, "r2", "", "--lease-ttl="+ttl.String())
	if err != nil {
		t.Fatal(err)
	}
	replicas["r2"] = r
	t.Cleanup(func() { r.Process.Stop(15 * time.Second) })
}
