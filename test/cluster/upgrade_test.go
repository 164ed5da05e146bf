//go:build cluster

package cluster

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/configbutler/gitops-reverser/test/gitserver"
	"github.com/configbutler/gitops-reverser/test/node"
)

// previousChart is the chart as it was when the work on upgrades began
// (commit 3a41b91), packed with `helm package` (git archive 3a41b91
// charts/gitops-reverser): the install test installs it and upgrades to the
// chart of the commit under test, as a user upgrades. Packed once and kept,
// because a CI clone may not hold that commit's history. Move it forward
// when an upgrade path must be kept from a later release.
const previousChart = "testdata/chart-3a41b91.tgz"

// checkUpgradeDuringChanges upgrades to the current chart
// (checkUpgradeKeepsEtcdCerts) while 10 ConfigMaps are created, and wants
// each in Git exactly once and the target Ready, measuring how long after
// the upgrade began.
func checkUpgradeDuringChanges(t *testing.T, root string, n *node.Node, git *gitserver.Server, repo string) {
	t.Helper()
	start := time.Now()
	var want []string
	checkUpgradeKeepsEtcdCerts(t, root, n, func() {
		for i := 0; i < 10; i++ {
			name := fmt.Sprintf("upgrading-%d", i)
			if _, err := n.Kubectl("create", "configmap", name, "-n", exampleNS, "--from-literal=i="+fmt.Sprint(i)); err != nil {
				t.Errorf("create %s during the upgrade: %v", name, err)
				continue
			}
			want = append(want, "clusters/local/v1/configmaps/demo/"+name+".yaml")
			time.Sleep(300 * time.Millisecond)
		}
	})
	eventually(t, 3*time.Minute, "GitTarget demo Ready after the upgrade", func() error { return exampleReadyErr(n) })
	ready := time.Since(start)
	eventuallyFiles(t, git, repo, want)
	checkExactlyOnce(t, repo, want)
	progress(t, "helm upgrade during %d creates: target Ready %.1fs, all in Git exactly once %.1fs after it began", len(want), ready.Seconds(), time.Since(start).Seconds())
}

// checkExactlyOnce wants each path added by one commit and touched by no other.
func checkExactlyOnce(t *testing.T, repo string, paths []string) {
	t.Helper()
	for _, w := range paths {
		if adds := commitsTouching(t, repo, w, "--diff-filter=A"); adds != 1 {
			t.Errorf("%s added by %d commits, want 1", w, adds)
		}
		if all := commitsTouching(t, repo, w); all != 1 {
			t.Errorf("%s touched by %d commits, want 1 (nothing committed twice)", w, all)
		}
	}
}

// checkRollingRestartLosesNothing restarts every server pod (a rolling
// restart, as an upgrade that changes the pod template does) while
// ConfigMaps are created, and wants each in Git exactly once: added by one
// commit, touched by no other. It measures how long until every pod is Ready
// and the target Ready again.
func checkRollingRestartLosesNothing(t *testing.T, n *node.Node, git *gitserver.Server, repo string) {
	t.Helper()
	start := time.Now()
	restarted := make(chan error, 1)
	go func() {
		out, err := n.Kubectl("rollout", "restart", "deployment/"+release, "-n", ns)
		if err == nil {
			out, err = n.Kubectl("rollout", "status", "deployment/"+release, "-n", ns, "--timeout=4m")
		}
		if err != nil {
			err = fmt.Errorf("%v: %s", err, out)
		}
		restarted <- err
	}()
	var want []string
	for i := 0; i < 30; i++ {
		name := fmt.Sprintf("rolling-%d", i)
		// A create refused while the APIService's pods roll is retried: a
		// user's kubectl gets an answer either way, and a change that was
		// not made is not a change lost.
		eventually(t, time.Minute, "create "+name, func() error {
			_, err := n.Kubectl("create", "configmap", name, "-n", exampleNS, "--from-literal=i="+fmt.Sprint(i))
			return err
		})
		want = append(want, "clusters/local/v1/configmaps/demo/"+name+".yaml")
		time.Sleep(300 * time.Millisecond)
	}
	if err := <-restarted; err != nil {
		t.Fatalf("rolling restart: %v", err)
	}
	rolled := time.Since(start)
	eventually(t, 3*time.Minute, "every pod Ready after the rolling restart", func() error { return checkPodsReadyErr(n) })
	eventually(t, 3*time.Minute, "GitTarget demo Ready after the rolling restart", func() error { return exampleReadyErr(n) })
	ready := time.Since(start)
	eventuallyFiles(t, git, repo, want)
	inGit := time.Since(start)
	checkExactlyOnce(t, repo, want)
	progress(t, "rolling restart during %d creates: rollout done %.1fs, target Ready %.1fs, all in Git exactly once %.1fs after it began",
		len(want), rolled.Seconds(), ready.Seconds(), inGit.Seconds())
}

// commitsTouching counts the commits of the clone that touch path.
func commitsTouching(t *testing.T, repo, path string, args ...string) int {
	t.Helper()
	out, err := exec.Command("git", append(append([]string{"-C", repo, "log", "--format=%H"}, args...), "--", path)...).Output()
	if err != nil {
		t.Fatal(err)
	}
	return len(strings.Fields(string(out)))
}

// chartPath is where a chart path the test names lives.
func chartPath(root, rel string) string { return filepath.Join(root, "test", "cluster", rel) }

// checkMemoryLimit: every server pod of the current chart set Go's memory
// limit to nine tenths of its container's (the chart's default 512Mi), as
// its start-up log says: a GOMEMLIMIT equal to the container's limit would
// leave the binary's resident pages no room.
func checkMemoryLimit(t *testing.T, n *node.Node) {
	t.Helper()
	want := fmt.Sprintf("GOMEMLIMIT=%d", int64(512<<20)/10*9)
	// The pods of the chart before the upgrade may still be terminating.
	var pods []string
	for _, p := range livePods(t, n, "-l", "app.kubernetes.io/name=gitops-reverser") {
		pods = append(pods, strings.Fields(p)[0])
	}
	if len(pods) == 0 {
		t.Fatal("no server pods")
	}
	for _, pod := range pods {
		logs := must(t, n, "logs", "-n", ns, pod, "-c", "apiserver")
		if !strings.Contains(logs, "Go memory limit set from the container's") || !strings.Contains(logs, want) {
			t.Errorf("%s: no %s in its log", pod, want)
		}
	}
	progress(t, "Go memory limit %s on %d pods", want, len(pods))
}
