package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/configbutler/gitops-reverser/pkg/sops"
)

// TestSnapshotMirrorsAndDeletesOnlyStaleFiles: bootstrap, snapshot, stale-file
// deletion (READMEs, foreign files and other paths stay), and an unchanged
// cluster gives no new commit.
func TestSnapshotMirrorsAndDeletesOnlyStaleFiles(t *testing.T) {
	ns := newNamespace(t, "snap")
	url := newRepo(t, ns)
	// A human prepared the repository: a stale manifest in our layout, a README,
	// a foreign YAML beside it, and another team's path.
	seed := filepath.Join(t.TempDir(), "seed")
	gitCLI(t, filepath.Dir(seed), "clone", "-q", st.Git.URLWithCredentials(ns), seed)
	for path, content := range map[string]string{
		"clusters/snap/v1/configmaps/" + ns + "/gone.yaml":        fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: gone\n  namespace: %s\n", ns),
		"clusters/snap/v1/configmaps/" + ns + "/handwritten.yaml": "# not a manifest of handwritten\nfoo: bar\n",
		"clusters/snap/v1/configmaps/README.md":                   "# notes\n",
		"clusters/snap/kustomization.yaml":                        "resources: []\n",
		"clusters/other-team/v1/configmaps/x/y.yaml":              "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: y, namespace: x}\n",
	} {
		full := filepath.Join(seed, path)
		os.MkdirAll(filepath.Dir(full), 0o755)
		os.WriteFile(full, []byte(content), 0o644)
	}
	gitCLI(t, seed, "add", "-A")
	gitCLI(t, seed, "commit", "-qm", "human setup")
	gitCLI(t, seed, "push", "-q", "origin", "HEAD:main")

	kubectl(t, "create", "configmap", "app", "-n", ns, "--from-literal=k=v")
	// Before the target: created after it, the Secret may reach the stream
	// instead of the snapshot, which then counts one skipped Secret, not two.
	kubectl(t, "create", "secret", "generic", "not-written", "-n", ns, "--from-literal=password=hunter2")
	apply(t, credentials(ns)+fmt.Sprintf(`---
apiVersion: configbutler.ai/v1alpha1
kind: GitProvider
metadata: {name: origin, namespace: %[1]s}
spec: {url: %[2]q, secretRef: {name: git-credentials}, allowedBranches: ["main"]}
---
apiVersion: configbutler.ai/v1alpha1
kind: GitTarget
metadata: {name: mirror, namespace: %[1]s}
spec: {providerRef: {name: origin}, branch: main, path: clusters/snap}
---
apiVersion: configbutler.ai/v1alpha1
kind: WatchRule
metadata: {name: config, namespace: %[1]s}
spec:
  targetRef: {name: mirror}
  rules: [{apiGroups: [""], resources: ["configmaps", "secrets"]}]
`, ns, url))
	if out := kubectl(t, "wait", "--for=condition=SnapshotSynced", "gittarget/mirror", "-n", ns, "--timeout=90s"); !strings.Contains(out, "condition met") {
		t.Fatal(out)
	}
	dir := clone(t, ns)
	exists := func(p string) bool { _, err := os.Stat(filepath.Join(dir, p)); return err == nil }
	for p, want := range map[string]bool{
		"clusters/snap/README.md":                                   true,
		"clusters/snap/.sops.yaml":                                  false, // no encryption
		"clusters/snap/v1/configmaps/" + ns + "/app.yaml":           true,
		"clusters/snap/v1/configmaps/" + ns + "/gone.yaml":          false,
		"clusters/snap/v1/configmaps/" + ns + "/handwritten.yaml":   true,
		"clusters/snap/v1/configmaps/README.md":                     true,
		"clusters/snap/kustomization.yaml":                          true,
		"clusters/other-team/v1/configmaps/x/y.yaml":                true,
		"clusters/snap/v1/secrets/" + ns + "/not-written.sops.yaml": false,
	} {
		if exists(p) != want {
			t.Errorf("%s exists=%v, want %v", p, exists(p), want)
		}
	}
	log := gitCLI(t, dir, "log", "--format=%an %s")
	if !strings.Contains(log, "human setup") || !strings.Contains(log, "bootstrap clusters/snap") || !strings.Contains(log, "snapshot of GitTarget") {
		t.Errorf("history:\n%s", log)
	}
	if strings.Contains(gitCLI(t, dir, "log", "-p"), "hunter2") {
		t.Error("a Secret reached Git without encryption")
	}

	// The /snapshot subresource and status tell what happened.
	snap := kubectl(t, "get", "gittarget", "mirror", "-n", ns, "--subresource=snapshot", "-o", "wide", "--no-headers")
	f := strings.Fields(snap)
	// NAME STATE REASON CREATED UPDATED DELETED COMMIT DURATION COMPLETED UNCHANGED SKIPPED ...
	// Skipped: git-credentials and not-written (no encryption).
	if len(f) < 11 || f[1] != "True" || f[2] != "Completed" || f[3] != "1" || f[5] != "1" || f[10] != "2" {
		t.Errorf("snapshot subresource: %s", snap)
	}
	tg, _ := targetConditions(t, ns, "mirror")
	head := strings.TrimSpace(gitCLI(t, dir, "rev-parse", "HEAD"))
	if tg.Status.Snapshot == nil || tg.Status.Snapshot.Commit != head || tg.Status.LastCommit != head || tg.Status.LastPushTime == nil ||
		tg.Status.Bootstrap == nil || tg.Status.Bootstrap.Commit == "" || tg.Status.Snapshot.Stats.Deleted != 1 || tg.Status.Snapshot.Stats.SkippedSecrets != 2 {
		t.Errorf("status: %+v snapshot %+v bootstrap %+v (head %s)", tg.Status, tg.Status.Snapshot, tg.Status.Bootstrap, head)
	}

	// A re-snapshot of an unchanged cluster (a new rule selecting nothing new)
	// makes no commit.
	before := (&mirror{repo: ns}).commits(t)
	apply(t, fmt.Sprintf(`apiVersion: configbutler.ai/v1alpha1
kind: WatchRule
metadata: {name: again, namespace: %s}
spec:
  targetRef: {name: mirror}
  rules: [{apiGroups: [""], resources: ["configmaps"]}]
`, ns))
	time.Sleep(4 * time.Second)
	if after := (&mirror{repo: ns}).commits(t); after != before {
		t.Errorf("an unchanged cluster made %d new commit(s)", after-before)
	}
}

// TestSecretsAreEncryptedAndDecryptWithSops: every *.sops.yaml decrypts with the
// real sops CLI to exactly the original data, and no plaintext value is anywhere
// in the history.
func TestSecretsAreEncryptedAndDecryptWithSops(t *testing.T) {
	m := newMirror(t, "sops", true, "")
	binary := []byte{0, 1, 2, 250, 251, 252, 255, '\n', 0}
	secrets := []*corev1.Secret{
		{ObjectMeta: metav1.ObjectMeta{Name: "binary"}, Data: map[string][]byte{"blob.bin": binary, "zero": {0}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "multiline"}, StringData: map[string]string{"cert.pem": "-----BEGIN X-----\nline one\nline two\n-----END X-----\n", "plain": "p@ss word-1"}},
		// Kubernetes allows only [-._a-zA-Z0-9] in Secret keys; unicode keys are
		// covered by pkg/sops's tests against the same sops binary.
		{ObjectMeta: metav1.ObjectMeta{Name: "unicode"}, StringData: map[string]string{"accent": "välue ✓ ünïcødé", "city": "東京"}},
		{ObjectMeta: metav1.ObjectMeta{Name: "empty"}},
		{ObjectMeta: metav1.ObjectMeta{Name: "tls"}, Type: corev1.SecretTypeTLS, Data: map[string][]byte{"tls.crt": []byte("CERTDATA-xyz"), "tls.key": []byte("KEYDATA-abc")}},
	}
	for _, s := range secrets {
		s.Namespace = m.ns
		if _, err := kube.CoreV1().Secrets(m.ns).Create(context.Background(), s, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	identity := m.identity(t)
	for _, s := range secrets {
		var content string
		eventually(t, 20*time.Second, "secret "+s.Name+" in git", func() error {
			if content = m.show(t, m.file("secrets", s.Name)); content == "" {
				return fmt.Errorf("not yet")
			}
			return nil
		})
		live, err := kube.CoreV1().Secrets(m.ns).Get(context.Background(), s.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var dec struct {
			Type string            `json:"type"`
			Data map[string]string `json:"data"`
		}
		plain := sopsDecrypt(t, identity, content)
		if err := yaml.Unmarshal([]byte(plain), &dec); err != nil {
			t.Fatalf("%s: %v\n%s", s.Name, err, plain)
		}
		if len(dec.Data) != len(live.Data) || dec.Type != string(live.Type) {
			t.Errorf("%s: decrypted %d keys type %s, live %d keys type %s", s.Name, len(dec.Data), dec.Type, len(live.Data), live.Type)
		}
		for k, v := range live.Data {
			got, err := base64.StdEncoding.DecodeString(dec.Data[k])
			if err != nil || !bytes.Equal(got, v) {
				t.Errorf("%s/%s: decrypted %q, want %q", s.Name, k, got, v)
			}
		}
		// Our own decryption agrees (it is what detects unchanged Secrets).
		ids, _, err := sops.ParseIdentities(map[string][]byte{"k.agekey": []byte(identity)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sops.Decrypt([]byte(content), ids); err != nil {
			t.Errorf("%s: our Decrypt: %v", s.Name, err)
		}
	}
	dir := clone(t, m.repo)
	history := gitCLI(t, dir, "log", "-p", "--all")
	for _, needle := range []string{"p@ss word-1", "line one", "välue", "東京", "CERTDATA-xyz", "KEYDATA-abc",
		base64.StdEncoding.EncodeToString([]byte("p@ss word-1")), base64.StdEncoding.EncodeToString([]byte("CERTDATA-xyz")),
		base64.StdEncoding.EncodeToString(binary)} {
		if strings.Contains(history, needle) {
			t.Errorf("plaintext %q in git history", needle)
		}
	}
	if !strings.Contains(m.show(t, m.path+"/.sops.yaml"), "age1") {
		t.Error(".sops.yaml lacks the recipient")
	}
}

// TestConcurrentHumanCommitIsPreserved: someone pushes to the branch between our
// commits; our next push is rejected, replayed on the new tip, and both survive.
func TestConcurrentHumanCommitIsPreserved(t *testing.T) {
	m := newMirror(t, "human", false, "")
	dir := clone(t, m.repo)
	os.WriteFile(filepath.Join(dir, "HUMAN.md"), []byte("hello\n"), 0o644)
	gitCLI(t, dir, "add", "HUMAN.md")
	gitCLI(t, dir, "commit", "-qm", "a human was here")
	gitCLI(t, dir, "push", "-q", "origin", "HEAD:main")
	kubectl(t, "create", "configmap", "after-human", "-n", m.ns, "--from-literal=a=b")
	eventually(t, 20*time.Second, "our change on top of the human commit", func() error {
		if m.show(t, m.file("configmaps", "after-human")) == "" {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	d2 := clone(t, m.repo)
	if _, err := os.Stat(filepath.Join(d2, "HUMAN.md")); err != nil {
		t.Error("the human commit was lost")
	}
	if out := gitCLI(t, d2, "log", "--format=%s", "--merges"); strings.TrimSpace(out) != "" {
		t.Errorf("merge commits in history: %s", out)
	}
	if !strings.Contains(gitCLI(t, d2, "log", "--format=%s"), "a human was here") {
		t.Error("human commit not in history")
	}
}

// TestWrongCredentialsGiveBootstrapFailed: a clear BootstrapFailed, and the
// provider's Ready says why, without the password anywhere.
func TestWrongCredentialsGiveBootstrapFailed(t *testing.T) {
	ns := newNamespace(t, "badcreds")
	url := newRepo(t, ns)
	apply(t, fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata: {name: git-credentials, namespace: %[1]s}
stringData: {username: gitops, password: not-the-password-42}
---
apiVersion: configbutler.ai/v1alpha1
kind: GitProvider
metadata: {name: origin, namespace: %[1]s}
spec: {url: %[2]q, secretRef: {name: git-credentials}, allowedBranches: ["main"]}
---
apiVersion: configbutler.ai/v1alpha1
kind: GitTarget
metadata: {name: mirror, namespace: %[1]s}
spec: {providerRef: {name: origin}, branch: main}
`, ns, url))
	eventually(t, 60*time.Second, "BootstrapFailed", conditionIs(t, ns, "mirror", "Bootstrapped", "False", "BootstrapFailed"))
	_, cs := targetConditions(t, ns, "mirror")
	msg := cs[2].Message
	if !strings.Contains(strings.ToLower(msg), "authentication") || strings.Contains(msg, "not-the-password-42") {
		t.Errorf("message %q", msg)
	}
	eventually(t, 30*time.Second, "provider not ready", func() error {
		out := kubectl(t, "get", "gitprovider", "origin", "-n", ns, "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].reason}`)
		if out != "InvalidCredentials" {
			return fmt.Errorf("reason %q", out)
		}
		return nil
	})
	all := kubectl(t, "get", "gittarget,gitprovider,events", "-n", ns, "-o", "yaml")
	if strings.Contains(all, "not-the-password-42") {
		t.Error("the password leaked into status or events")
	}
	if logs, err := os.ReadFile(st.Server.Log); err != nil || strings.Contains(string(logs), "not-the-password-42") || strings.Contains(string(logs), st.GitPassword) {
		t.Errorf("a Git password is in the server log (read error: %v)", err)
	}
}

// TestSnapshotFailedShowsTheCauseAndRecovers: a remote that refuses the
// snapshot's commit (here a pre-receive hook rejecting manifests; bootstrap
// files pass) gives SnapshotSynced=False/SnapshotFailed with the remote's
// refusal in the message and Ready=False; once the remote accepts again, the
// snapshot is retried and the target becomes Ready with its files in Git.
func TestSnapshotFailedShowsTheCauseAndRecovers(t *testing.T) {
	ns := newNamespace(t, "snapfail")
	url := newRepo(t, ns)
	hook := filepath.Join(st.Git.RepoPath(ns), "hooks", "pre-receive")
	if err := os.WriteFile(hook, []byte(`#!/bin/sh
while read old new ref; do
  if git diff --name-only "$old" "$new" 2>/dev/null | grep -q '/v1/'; then
    echo "policy: no manifests on $ref today" >&2
    exit 1
  fi
done
`), 0o755); err != nil {
		t.Fatal(err)
	}
	kubectl(t, "create", "configmap", "held-back", "-n", ns, "--from-literal=a=1")
	apply(t, credentials(ns)+fmt.Sprintf(`---
apiVersion: configbutler.ai/v1alpha1
kind: GitProvider
metadata: {name: origin, namespace: %[1]s}
spec: {url: %[2]q, secretRef: {name: git-credentials}, allowedBranches: ["main"], push: {interval: 1s}}
---
apiVersion: configbutler.ai/v1alpha1
kind: GitTarget
metadata: {name: mirror, namespace: %[1]s}
spec: {providerRef: {name: origin}, branch: main, path: c}
---
apiVersion: configbutler.ai/v1alpha1
kind: WatchRule
metadata: {name: config, namespace: %[1]s}
spec: {targetRef: {name: mirror}, rules: [{apiGroups: [""], resources: ["configmaps"]}]}
`, ns, url))
	eventually(t, 60*time.Second, "SnapshotSynced=False/SnapshotFailed with the remote's refusal", func() error {
		_, conds, err := targetConditionsE(ns, "mirror")
		if err != nil {
			return err
		}
		for _, c := range conds {
			if c.Type == "SnapshotSynced" {
				if c.Status != "False" || c.Reason != "SnapshotFailed" || !strings.Contains(c.Message, "Snapshot of c failed") || !strings.Contains(c.Message, "declined") {
					return fmt.Errorf("%+v", c)
				}
			}
			if c.Type == "Ready" && (c.Status != "False" || c.Reason != "InitialSyncInProgress") {
				return fmt.Errorf("Ready %+v", c)
			}
		}
		return nil
	})
	if out, _ := exec.Command("git", "--git-dir", st.Git.RepoPath(ns), "ls-tree", "-r", "--name-only", "main").CombinedOutput(); strings.TrimSpace(string(out)) != "c/README.md" {
		t.Fatalf("the remote holds %q, want only the bootstrap README", out)
	}
	if err := os.Remove(hook); err != nil {
		t.Fatal(err)
	}
	out, err := st.Kubectl("wait", "--for=condition=Ready", "gittarget/mirror", "-n", ns, "--timeout=150s")
	if err != nil {
		t.Fatalf("not Ready after the remote accepted again: %v %s", err, out)
	}
	if out, _ := exec.Command("git", "--git-dir", st.Git.RepoPath(ns), "show", "main:c/v1/configmaps/"+ns+"/held-back.yaml").CombinedOutput(); !strings.Contains(string(out), "a: \"1\"") {
		t.Errorf("held-back.yaml after recovery: %s", out)
	}
}
