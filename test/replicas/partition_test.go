package replicas

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestPartitionedOwnerStopsBeforeAnotherStarts: the owner's etcd connection is
// cut; it stops writing (git and etcd) before another replica starts.
func TestPartitionedOwnerStopsBeforeAnotherStarts(t *testing.T) {
	ns, repo := setup(t, "split", "r3")
	s := startStreamer(t, ns, 10)
	time.Sleep(3 * time.Second)
	proxy.Cut()
	cut := time.Now()
	eventually(t, ttl+30*time.Second, "another replica takes over", func() error {
		v, err := readTarget(replicas["r1"].Kubeconfig, ns)
		if err != nil || v.Owner == "r3" || v.Owner == "" || v.Ready != "True/OK" {
			return fmt.Errorf("%+v %v", v, err)
		}
		return nil
	})
	t.Logf("r3 partitioned; new owner Ready after %s", time.Since(cut).Round(100*time.Millisecond))
	time.Sleep(3 * time.Second)
	final := s.Stop()
	seq := verifyGit(t, repo, ns, final, 1)
	if seq[0] != "r3" || len(seq) != 2 {
		t.Errorf("writers %v, want r3 then the new owner", seq)
	}

	// Commit times: r3's last commit precedes the new owner's first.
	out, err := exec.Command("git", "--git-dir", st.Git.RepoPath(repo), "log", "--reverse", "--format=%ct %(trailers:key=Replica,valueonly,separator=)", "main").CombinedOutput()
	if err != nil {
		t.Fatal(err)
	}
	var lastOld, firstNew string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		if f[1] == "r3" {
			lastOld = f[0]
		} else if firstNew == "" {
			firstNew = f[0]
		}
	}
	if lastOld == "" || firstNew == "" || lastOld > firstNew {
		t.Errorf("r3's last commit at %s, new owner's first at %s", lastOld, firstNew)
	}
	// r3 knows it lost the lease, and says so.
	if !strings.Contains(replicas["r3"].Process.TailLog(1<<20), "Replica stopped writing") {
		t.Error("r3 did not report that it stopped writing")
	}

	// Healed, r3 rejoins; it does not write to the branch again.
	proxy.Heal()
	before := strings.Count(string(out), "r3")
	time.Sleep(ttl)
	kubectl(t, st.AdminKubeconfig, "create", "configmap", "after-heal", "-n", ns, "--from-literal=v=1")
	eventually(t, 30*time.Second, "after-heal in git", func() error {
		return exec.Command("git", "--git-dir", st.Git.RepoPath(repo), "cat-file", "-e", "main:live/v1/configmaps/"+ns+"/after-heal.yaml").Run()
	})
	out2, _ := exec.Command("git", "--git-dir", st.Git.RepoPath(repo), "log", "--format=%(trailers:key=Replica,valueonly)", "main").CombinedOutput()
	if strings.Count(string(out2), "r3") != before {
		t.Error("r3 wrote to the branch after it was taken over")
	}
}
