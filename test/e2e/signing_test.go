package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/configbutler/gitops-reverser/test/gpgtest"
)

// TestSignedCommits: with spec.commit.signingKeyRef every commit the server
// writes (bootstrap, snapshot, live) verifies with git verify-commit against
// the public key the provider's status shows; the committer and message
// follow spec.commit; with the key unusable nothing is committed, never an
// unsigned commit.
func TestSignedCommits(t *testing.T) {
	ns := newNamespace(t, "signed")
	url := newRepo(t, ns)
	home := t.TempDir()
	armored := gpgtest.NewKey(t, home, "Cluster Mirror <mirror@example.com>", "pgp-pass")
	indent := "    " + strings.ReplaceAll(strings.TrimSpace(armored), "\n", "\n    ")
	signingSecret := func(key string) string {
		return fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata: {name: signing, namespace: %s}
stringData:
  passphrase: pgp-pass
  signing.key: |
%s
`, ns, key)
	}
	apply(t, credentials(ns)+"---\n"+signingSecret(indent)+fmt.Sprintf(`---
apiVersion: configbutler.ai/v1alpha1
kind: GitProvider
metadata: {name: origin, namespace: %[1]s}
spec:
  url: %[2]q
  secretRef: {name: git-credentials}
  allowedBranches: ["main"]
  push: {interval: 1s}
  commit:
    committerName: Cluster Mirror
    committerEmail: mirror@example.com
    authorEmail: "{{.SafeUser}}@corp.example"
    message: "{{.Verbs}}: {{range .Changes}}{{.Path}} {{end}}"
    signingKeyRef: {name: signing}
---
apiVersion: configbutler.ai/v1alpha1
kind: GitTarget
metadata: {name: mirror, namespace: %[1]s}
spec: {providerRef: {name: origin}, branch: main, path: signed}
---
apiVersion: configbutler.ai/v1alpha1
kind: WatchRule
metadata: {name: config, namespace: %[1]s}
spec:
  targetRef: {name: mirror}
  rules: [{apiGroups: [""], resources: ["configmaps"]}]
`, ns, url))
	kubectl(t, "create", "configmap", "first", "-n", ns, "--from-literal=k=v")
	m := &mirror{ns: ns, repo: ns, path: "signed"}
	m.waitReady(t)

	var fingerprint, public string
	eventually(t, 30*time.Second, "the provider shows its signing key", func() error {
		p, err := cb.ConfigbutlerV1alpha1().GitProviders(ns).Get(context.Background(), "origin", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if p.Status.Signing == nil {
			return fmt.Errorf("no status.signing")
		}
		fingerprint, public = p.Status.Signing.Fingerprint, p.Status.Signing.PublicKey
		return nil
	})
	if want := strings.TrimSpace(gpgtest.Run(t, home, "", "--with-colons", "--list-keys")); !strings.Contains(want, "fpr:::::::::"+fingerprint+":") {
		t.Fatalf("status fingerprint %s is not gpg's:\n%s", fingerprint, want)
	}
	kubectl(t, "create", "configmap", "live", "-n", ns, "--from-literal=k=v")
	eventually(t, 30*time.Second, "the live change pushed", func() error {
		if m.show(t, m.file("configmaps", "live")) == "" {
			return fmt.Errorf("not yet")
		}
		return nil
	})

	verifier := t.TempDir()
	gpgtest.Run(t, verifier, public, "--import")
	cli := clone(t, m.repo)
	verifyAll := func() int {
		gitCLI(t, cli, "pull", "-q", "--ff-only")
		n := 0
		for _, h := range strings.Fields(gitCLI(t, cli, "log", "--format=%H")) {
			cmd := exec.Command("git", "verify-commit", "--raw", h)
			cmd.Dir, cmd.Env = cli, append(os.Environ(), "GNUPGHOME="+verifier)
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "GOODSIG") {
				t.Errorf("commit %s (%s) does not verify: %v\n%s", h, strings.TrimSpace(gitCLI(t, cli, "log", "-1", "--format=%an / %cn: %s", h)), err, out)
			}
			n++
		}
		return n
	}
	if n := verifyAll(); n < 3 {
		t.Errorf("%d commits, want bootstrap, snapshot and live", n)
	}
	if got := strings.TrimSpace(gitCLI(t, cli, "log", "-1", "--format=%an <%ae> / %cn <%ce> / %s")); got != "admin <admin@corp.example> / Cluster Mirror <mirror@example.com> / create: "+m.file("configmaps", "live") {
		t.Errorf("live commit: %s", got)
	}

	// The key becomes unusable: the provider says so, and nothing is
	// committed through it (no unsigned commit in its place).
	apply(t, signingSecret("    not a key"))
	eventually(t, 30*time.Second, "the provider reports the broken key", func() error {
		p, err := cb.ConfigbutlerV1alpha1().GitProviders(ns).Get(context.Background(), "origin", metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, c := range p.Status.Conditions {
			if c.Type == "Ready" && c.Status == metav1.ConditionFalse && c.Reason == "InvalidSigningKey" && p.Status.Signing == nil {
				return nil
			}
		}
		return fmt.Errorf("conditions %+v, signing %v", p.Status.Conditions, p.Status.Signing)
	})
	eventually(t, 30*time.Second, "the target stops", conditionIs(t, ns, "mirror", "Bootstrapped", "False", "WorkerNotFound"))
	commits := m.commits(t)
	kubectl(t, "create", "configmap", "while-broken", "-n", ns, "--from-literal=k=v")
	time.Sleep(3 * time.Second)
	if n := m.commits(t); n != commits {
		t.Errorf("%d commits while the signing key is broken", n-commits)
	}
	apply(t, signingSecret(indent))
	eventually(t, 60*time.Second, "the change made while the key was broken pushed, signed", func() error {
		if m.show(t, m.file("configmaps", "while-broken")) == "" {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	verifyAll()
}
