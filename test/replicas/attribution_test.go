package replicas

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestReportsReachTheOwner: kube-apiserver's audit webhook posts to r1 only
// (as a Service sends each batch to one replica), while the branch worker runs
// on r2: the report still names the author, because replicas share reports
// through etcd. Without sharing r2 would author the commit by the field
// manager (kubectl-create).
func TestReportsReachTheOwner(t *testing.T) {
	ns, repo := setup(t, "attr", "r2")
	if v, _ := readTarget(replicas["r2"].Kubeconfig, ns); v.Owner != "r2" {
		t.Fatalf("owner %+v, want r2", v)
	}
	if out, err := st.Kubectl("create", "rolebinding", "alice-edit", "-n", ns, "--clusterrole=edit", "--user=alice"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if out, err := st.Kubectl("--as=alice", "create", "configmap", "by-alice", "-n", ns, "--from-literal=v=1"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	path := fmt.Sprintf("live/v1/configmaps/%s/by-alice.yaml", ns)
	gitDir := st.Git.RepoPath(repo)
	var author string
	eventually(t, 30*time.Second, "alice's ConfigMap in Git", func() error {
		out, err := exec.Command("git", "--git-dir", gitDir, "log", "-1", "--format=%an|%(trailers:key=Replica,valueonly,separator=)", "main", "--", path).CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) == "" {
			return fmt.Errorf("%v %s", err, out)
		}
		author = strings.TrimSpace(string(out))
		return nil
	})
	if author != "alice|r2" {
		t.Errorf("commit of %s: author|replica %q, want alice|r2 (reported to r1, committed by r2)", path, author)
	}
}
