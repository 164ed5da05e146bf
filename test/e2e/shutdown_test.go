package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestCleanShutdownPushesWhatItHeld: a live change waiting for its batch
// (the provider pushes every 10 minutes) when the server is stopped is
// pushed before it exits, as a live commit of its own, not left to the next
// start's re-snapshot. The server's ownership lease used to end with the
// server's context, and losing it aborted every branch worker before the
// shutdown could flush them: the change reached Git only after the next
// start, folded into a snapshot commit without its author.
func TestCleanShutdownPushesWhatItHeld(t *testing.T) {
	disrupts(t)
	ns := newNamespace(t, "shutdown")
	url := newRepo(t, ns)
	apply(t, credentials(ns)+fmt.Sprintf(`---
apiVersion: configbutler.ai/v1alpha1
kind: GitProvider
metadata: {name: slow, namespace: %[1]s}
spec: {url: %[2]q, secretRef: {name: git-credentials}, allowedBranches: ["main"], push: {interval: 10m}}
---
apiVersion: configbutler.ai/v1alpha1
kind: GitTarget
metadata: {name: mirror, namespace: %[1]s}
spec: {providerRef: {name: slow}, branch: main, path: live}
---
apiVersion: configbutler.ai/v1alpha1
kind: WatchRule
metadata: {name: configmaps, namespace: %[1]s}
spec: {targetRef: {name: mirror}, rules: [{apiGroups: [""], resources: [configmaps]}]}
`, ns, url))
	m := &mirror{ns: ns, repo: ns, path: "live"}
	m.waitReady(t)
	before := m.commits(t)
	// The gauge counts every target's: none pending first, so the one that
	// comes is this change.
	pending := func(want func(float64) bool, what string) {
		t.Helper()
		eventually(t, 30*time.Second, what, func() error {
			fams, code := scrape(t, st.AdminKubeconfig)
			if code != http.StatusOK {
				return fmt.Errorf("/metrics: %d", code)
			}
			if n := value(fams, "gitopsreverser_pending_changes"); !want(n) {
				return fmt.Errorf("%v changes pending", n)
			}
			return nil
		})
	}
	pending(func(n float64) bool { return n == 0 }, "no change pending before the test's")
	kubectl(t, "create", "configmap", "held", "-n", ns, "--from-literal=v=1")
	pending(func(n float64) bool { return n >= 1 }, "the change waits in its branch worker")
	if m.show(t, m.file("configmaps", "held")) != "" {
		t.Fatal("the change was pushed before the shutdown: the provider's interval did not hold it")
	}

	// A watch of our API through kube-apiserver is open, as
	// kube-controller-manager's and users' are: the server must end it,
	// not wait for it until the SIGKILL after the grace period.
	wctx, wcancel := context.WithCancel(context.Background())
	defer wcancel()
	w, err := cb.ConfigbutlerV1alpha1().GitTargets(ns).Watch(wctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	stopping := time.Now()
	st.StopServer()
	t.Logf("the server stopped in %s", time.Since(stopping).Round(time.Millisecond))
	if err := st.Server.ExitErr(); err != nil {
		t.Errorf("the server did not exit by itself after SIGTERM (an open watch of its API held it until the SIGKILL): %v", err)
	}
	// Read while the server is down: only its shutdown can have pushed.
	if m.show(t, m.file("configmaps", "held")) == "" {
		t.Errorf("the change the server held is not in Git after its clean shutdown")
	}
	if got := m.commits(t); got != before+1 {
		t.Errorf("%d commits after the shutdown, want %d (one for the change)", got, before+1)
	}
	out, err := exec.Command("git", "--git-dir", st.Git.RepoPath(m.repo), "log", "-1", "--format=%s", "main").CombinedOutput()
	if err != nil {
		t.Fatalf("git log: %v: %s", err, out)
	}
	if strings.Contains(string(out), "snapshot") {
		t.Errorf("the last commit is %q, want a live commit of the change", strings.TrimSpace(string(out)))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	if err := st.StartServer(ctx); err != nil {
		t.Fatal(err)
	}
	if err := st.WaitAPIServiceAvailable(ctx); err != nil {
		t.Fatal(err)
	}
}
