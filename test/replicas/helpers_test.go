package replicas

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/configbutler/gitops-reverser/pkg/ownership"
	"github.com/configbutler/gitops-reverser/test/stack"
)

func kubectl(t *testing.T, kubeconfig string, args ...string) (string, error) {
	t.Helper()
	return st.KubectlAs(kubeconfig, args...)
}

// targetView is what a replica serves about a target.
type targetView struct {
	Ready, Owner, Lease string
}

func readTarget(kubeconfig, ns string) (targetView, error) {
	out, err := st.KubectlAs(kubeconfig, "get", "gittarget", "mirror", "-n", ns, "-o",
		`jsonpath={.status.conditions[?(@.type=="Ready")].status}/{.status.conditions[?(@.type=="Ready")].reason} {.status.workerRef.replica} {.status.workerRef.lease}`)
	if err != nil {
		return targetView{}, fmt.Errorf("%v: %s", err, out)
	}
	f := strings.Fields(out)
	for len(f) < 3 {
		f = append(f, "")
	}
	return targetView{f[0], f[1], f[2]}, nil
}

func eventually(t *testing.T, timeout time.Duration, what string, cond func() error) time.Duration {
	t.Helper()
	start := time.Now()
	var err error
	for time.Since(start) < timeout {
		if err = cond(); err == nil {
			return time.Since(start)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s: not within %s: %v", what, timeout, err)
	return 0
}

// setup creates a repository, a target on it and a WatchRule for ConfigMaps, in
// a namespace whose branch key the given replica is the preferred owner of
// among all three (rendezvous hashing), and waits until it is Ready.
func setup(t *testing.T, prefix, preferred string) (ns, repo string) {
	t.Helper()
	for i := 0; ; i++ {
		ns = fmt.Sprintf("%s-%d", prefix, i)
		// A branch worker's key (mirror.BranchKey.String): repository,
		// branch and the provider it writes with.
		key := fmt.Sprintf("127.0.0.1:%d/%[2]s#main via %[2]s/origin", st.Ports.Git, ns)
		if ownership.PreferredOf([]string{"r1", "r2", "r3"}, key) == preferred {
			break
		}
	}
	repo = ns
	dir, err := st.Git.CreateBareRepo(repo)
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range [][2]string{{"receive.denyNonFastForwards", "true"}, {"core.logAllRefUpdates", "always"}} {
		if out, err := exec.Command("git", "-C", dir, "config", kv[0], kv[1]).CombinedOutput(); err != nil {
			t.Fatalf("%v %s", err, out)
		}
	}
	manifest := fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata: {name: %[1]s}
---
apiVersion: v1
kind: Secret
metadata: {name: git-credentials, namespace: %[1]s}
stringData: {username: %[2]s, password: %[3]s}
---
apiVersion: configbutler.ai/v1alpha1
kind: GitProvider
metadata: {name: origin, namespace: %[1]s}
spec: {url: %[4]q, secretRef: {name: git-credentials}, allowedBranches: ["main"], push: {interval: 1s}}
---
apiVersion: configbutler.ai/v1alpha1
kind: GitTarget
metadata: {name: mirror, namespace: %[1]s}
spec: {providerRef: {name: origin}, branch: main, path: live}
---
apiVersion: configbutler.ai/v1alpha1
kind: WatchRule
metadata: {name: config, namespace: %[1]s}
spec:
  targetRef: {name: mirror}
  rules: [{apiGroups: [""], resources: ["configmaps"]}]
`, ns, stack.GitUser, st.GitPassword, st.Git.URL(repo))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := st.Apply(ctx, []byte(manifest)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 90*time.Second, "target Ready", func() error {
		v, err := readTarget(replicas[preferred].Kubeconfig, ns)
		if err != nil || v.Ready != "True/OK" {
			return fmt.Errorf("%+v %v", v, err)
		}
		return nil
	})
	return ns, repo
}

// verifyGit checks the final state of every ConfigMap in the remote, a linear
// history without force pushes, and that writers never interleave: the
// Replica trailers, oldest first, switch owners at most `switches` times.
func verifyGit(t *testing.T, repo, ns string, final map[string]string, switches int) []string {
	t.Helper()
	gitDir := st.Git.RepoPath(repo)
	eventually(t, 60*time.Second, "final state in git", func() error {
		for name, v := range final {
			out, err := exec.Command("git", "--git-dir", gitDir, "show", fmt.Sprintf("main:live/v1/configmaps/%s/%s.yaml", ns, name)).CombinedOutput()
			if err != nil || !strings.Contains(string(out), fmt.Sprintf("v: %q", v)) {
				return fmt.Errorf("%s: want v=%s, have:\n%s", name, v, out)
			}
		}
		return nil
	})
	if out, _ := exec.Command("git", "--git-dir", gitDir, "rev-list", "--merges", "main").CombinedOutput(); strings.TrimSpace(string(out)) != "" {
		t.Errorf("merge commits: %s", out)
	}
	reflog, err := os.ReadFile(filepath.Join(gitDir, "logs", "refs", "heads", "main"))
	if err != nil {
		t.Fatalf("reflog: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(reflog)), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || strings.Trim(f[0], "0") == "" {
			continue
		}
		if err := exec.Command("git", "--git-dir", gitDir, "merge-base", "--is-ancestor", f[0], f[1]).Run(); err != nil {
			t.Errorf("branch moved from %s to %s without a fast-forward (a force push)", f[0], f[1])
		}
	}
	out, err := exec.Command("git", "--git-dir", gitDir, "log", "--reverse", "--format=%(trailers:key=Replica,valueonly)", "main").CombinedOutput()
	if err != nil {
		t.Fatal(err)
	}
	var seq []string
	for _, r := range strings.Fields(string(out)) {
		if len(seq) == 0 || seq[len(seq)-1] != r {
			seq = append(seq, r)
		}
	}
	if len(seq) > switches+1 {
		t.Errorf("writers interleaved: %v", seq)
	}
	return seq
}
