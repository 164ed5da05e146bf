package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestOtherTenantsChurnDoesNotProbeMyRemote: a tenant whose targets come and
// go (each takes a branch lock, and gives it back) costs the other tenants'
// remotes nothing: the server does not ls-remote every GitProvider on every
// branch lock change (it once did: a tenant looping over targets could make
// the server probe everybody's remotes).
func TestOtherTenantsChurnDoesNotProbeMyRemote(t *testing.T) {
	calm := newMirror(t, "calm", false, "")
	before := settledAdvertisements(t, calm.repo)

	ns := newNamespace(t, "churn")
	url := newRepo(t, ns)
	var targets []string
	for i := 0; i < 4; i++ {
		targets = append(targets, fmt.Sprintf(`---
apiVersion: configbutler.ai/v1alpha1
kind: GitTarget
metadata: {name: t%[2]d, namespace: %[1]s}
spec: {providerRef: {name: origin}, branch: b%[2]d, path: p}
`, ns, i))
	}
	apply(t, credentials(ns)+fmt.Sprintf(`---
apiVersion: configbutler.ai/v1alpha1
kind: GitProvider
metadata: {name: origin, namespace: %s}
spec: {url: %q, secretRef: {name: git-credentials}, allowedBranches: ["*"], push: {interval: 1s}}
`, ns, url)+strings.Join(targets, ""))
	for i := 0; i < 4; i++ {
		kubectl(t, "wait", "--for=condition=Ready", fmt.Sprintf("gittarget/t%d", i), "-n", ns, "--timeout=90s")
	}
	// Each target bootstrapped its branch, so each took a branch lock.
	for i := 0; i < 4; i++ {
		if n := commitsOn(ns, fmt.Sprintf("b%d", i)); n == 0 {
			t.Fatalf("branch b%d has no commit: its target took no lock", i)
		}
	}
	kubectl(t, "delete", "gittargets", "--all", "-n", ns, "--wait=true", "--timeout=60s")
	time.Sleep(5 * time.Second) // the workers stop and give their locks back

	if got := st.Git.Advertisements(calm.repo) - before; got > 1 {
		t.Errorf("the calm tenant's remote served %d ref advertisements while another tenant's 4 targets came and went, want at most 1 (its provider's own periodic check)", got)
	}
}

// settledAdvertisements waits until a repository's target is done with its
// start (a snapshot's push follows Ready by a few seconds): the count of its
// ref advertisements stays the same for 5 s. It returns that count.
func settledAdvertisements(t *testing.T, repo string) int {
	t.Helper()
	n, same := st.Git.Advertisements(repo), 0
	for deadline := time.Now().Add(60 * time.Second); same < 5; same++ {
		if time.Now().After(deadline) {
			t.Fatalf("%s's ref advertisements did not settle in 60 s (%d)", repo, n)
		}
		time.Sleep(time.Second)
		if m := st.Git.Advertisements(repo); m != n {
			n, same = m, -1
		}
	}
	return n
}
