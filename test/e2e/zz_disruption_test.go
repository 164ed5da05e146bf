package e2e

// Tests that stop and start components of the shared stack; they run last.

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func directConditions(t *testing.T, ns string) (ready, stream string) {
	out, err := st.KubectlAs(st.DirectKubeconfig, "get", "gittarget", "mirror", "-n", ns, "-o",
		`jsonpath={.status.conditions[?(@.type=="Ready")].status}/{.status.conditions[?(@.type=="Ready")].reason} {.status.conditions[?(@.type=="EventStreamLive")].status}/{.status.conditions[?(@.type=="EventStreamLive")].reason}`)
	if err != nil {
		return "error: " + out, ""
	}
	ready, stream, _ = strings.Cut(out, " ")
	return ready, stream
}

func lastCommitOf(t *testing.T, m *mirror, path string) string {
	out, err := exec.Command("git", "--git-dir", st.Git.RepoPath(m.repo), "log", "-1", "--format=%H", "main", "--", path).CombinedOutput()
	if err != nil {
		t.Fatalf("git log: %v %s", err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestChangesWhileServerStoppedAreMirroredAfterRestart: after a restart targets
// come back to Ready, the re-snapshot writes what changed while the server was
// down, and an unchanged Secret makes no new commit.
func TestChangesWhileServerStoppedAreMirroredAfterRestart(t *testing.T) {
	m := newMirror(t, "restart", true, "")
	plain := newMirror(t, "restart-plain", false, "")
	kubectl(t, "create", "configmap", "doomed", "-n", m.ns, "--from-literal=a=1")
	kubectl(t, "create", "configmap", "edited", "-n", m.ns, "--from-literal=v=old")
	kubectl(t, "create", "secret", "generic", "stable", "-n", m.ns, "--from-literal=k=unchanged-value")
	for _, f := range []string{m.file("configmaps", "doomed"), m.file("configmaps", "edited"), m.file("secrets", "stable")} {
		f := f
		eventually(t, 20*time.Second, f+" mirrored", func() error {
			if m.show(t, f) == "" {
				return fmt.Errorf("not yet")
			}
			return nil
		})
	}
	stableCommit := lastCommitOf(t, m, m.file("secrets", "stable"))

	st.StopServer()
	kubectl(t, "delete", "configmap", "doomed", "-n", m.ns)
	kubectl(t, "patch", "configmap", "edited", "-n", m.ns, "--type=merge", "-p", `{"data":{"v":"new"}}`)
	kubectl(t, "create", "configmap", "born-while-down", "-n", m.ns, "--from-literal=b=2")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := st.StartServer(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, 120*time.Second, "Ready after restart", func() error {
		if r, _ := directConditions(t, m.ns); r != "True/OK" {
			return fmt.Errorf("Ready=%s", r)
		}
		return nil
	})
	// The aggregator routes to the restarted server again.
	if err := st.WaitAPIServiceAvailable(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "changes made while down are in git", func() error {
		if m.show(t, m.file("configmaps", "doomed")) != "" {
			return fmt.Errorf("doomed still there")
		}
		if !strings.Contains(m.show(t, m.file("configmaps", "edited")), "v: new") {
			return fmt.Errorf("edited not updated")
		}
		if m.show(t, m.file("configmaps", "born-while-down")) == "" {
			return fmt.Errorf("born-while-down missing")
		}
		return nil
	})
	// A target without encryption, Ready again after the restart, reads as the
	// seed's example 5 (its bootstrap files are already there).
	want5 := seedConditions(t, "seed-example-5-fully-ready.yaml")
	eventually(t, 60*time.Second, "seed example 5", func() error {
		_, got, err := targetConditionsE(plain.ns, "mirror")
		if err != nil {
			return err
		}
		if diff := cmp.Diff(want5, got); diff != "" {
			return fmt.Errorf("conditions differ from seed example 5 (-seed +got):\n%s", diff)
		}
		return nil
	})
	if got := lastCommitOf(t, m, m.file("secrets", "stable")); got != stableCommit {
		t.Errorf("the unchanged Secret was rewritten after the restart (commit %s, was %s)", got, stableCommit)
	}
}

// TestSourceClusterOutage: kube-apiserver stopped shows EventStreamLive
// False/Disconnected and Ready False/StreamNotLive (read straight from our
// server), then recovers to Ready with no change lost.
func TestSourceClusterOutage(t *testing.T) {
	m := newMirror(t, "outage", false, "")
	kubectl(t, "create", "configmap", "before-outage", "-n", m.ns, "--from-literal=a=1")

	st.StopKubeAPIServer()
	eventually(t, 60*time.Second, "Disconnected while kube-apiserver is down", func() error {
		r, s := directConditions(t, m.ns)
		if r != "False/StreamNotLive" || s != "False/Disconnected" {
			return fmt.Errorf("Ready=%s EventStreamLive=%s", r, s)
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := st.StartKubeAPIServer(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, 90*time.Second, "Ready after the outage", func() error {
		if r, s := directConditions(t, m.ns); r != "True/OK" {
			return fmt.Errorf("Ready=%s EventStreamLive=%s", r, s)
		}
		return nil
	})
	kubectl(t, "create", "configmap", "after-outage", "-n", m.ns, "--from-literal=b=2")
	eventually(t, 30*time.Second, "changes before and after the outage are in git", func() error {
		for _, n := range []string{"before-outage", "after-outage"} {
			if m.show(t, m.file("configmaps", n)) == "" {
				return fmt.Errorf("%s missing", n)
			}
		}
		return nil
	})
}
