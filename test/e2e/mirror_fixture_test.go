package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// mirror is one target writing one fresh repository.
type mirror struct {
	ns, repo, path string
}

// newMirror sets up a namespace, a repository, credentials, a provider, a target
// (encrypted or not) and a WatchRule for configmaps and secrets, and waits until
// the target is Ready.
func newMirror(t *testing.T, prefix string, encrypted bool, extra string) *mirror {
	t.Helper()
	m := &mirror{ns: newNamespace(t, prefix), path: "clusters/" + prefix}
	m.repo = m.ns
	url := newRepo(t, m.repo)
	enc := ""
	if encrypted {
		enc = "  encryption: {provider: sops, secretRef: {name: sops-age-key}, generateWhenMissing: true}\n"
	}
	apply(t, credentials(m.ns)+"---\n"+originProvider(m.ns, url)+fmt.Sprintf(`---
apiVersion: configbutler.ai/v1alpha1
kind: GitTarget
metadata: {name: mirror, namespace: %[1]s}
spec:
  providerRef: {name: origin}
  branch: main
  path: %[2]s
%[3]s---
apiVersion: configbutler.ai/v1alpha1
kind: WatchRule
metadata: {name: config, namespace: %[1]s}
spec:
  targetRef: {name: mirror}
  rules: [{apiGroups: [""], resources: ["configmaps", "secrets"]}]
%[4]s`, m.ns, m.path, enc, extra))
	m.waitReady(t)
	return m
}

// originProvider is the GitProvider "origin" of a test's namespace: the
// stack's Git server at url, with credentials(ns), branch main, pushes
// batched for a second.
func originProvider(ns, url string) string { return gitProvider(ns, "origin", url) }

// gitProvider is a GitProvider name of ns, as originProvider's.
func gitProvider(ns, name, url string) string {
	return fmt.Sprintf(`apiVersion: configbutler.ai/v1alpha1
kind: GitProvider
metadata: {name: %s, namespace: %s}
spec: {url: %q, secretRef: {name: git-credentials}, allowedBranches: ["main"], push: {interval: 1s}}
`, name, ns, url)
}

func (m *mirror) waitReady(t *testing.T) {
	t.Helper()
	out, err := st.Kubectl("wait", "--for=condition=Ready", "gittarget/mirror", "-n", m.ns, "--timeout=90s")
	if err != nil {
		_, cs := targetConditions(t, m.ns, "mirror")
		t.Fatalf("kubectl wait Ready: %v\n%s\n%+v", err, out, cs)
	}
}

// file is the path of an object's file under the mirror's path.
func (m *mirror) file(resource, name string) string {
	ext := ".yaml"
	if resource == "secrets" {
		ext = ".sops.yaml"
	}
	return fmt.Sprintf("%s/v1/%s/%s/%s%s", m.path, resource, m.ns, name, ext)
}

// show returns a file at the remote's branch tip ("" when absent).
func (m *mirror) show(t *testing.T, path string) string {
	t.Helper()
	dir := clone(t, m.repo)
	b, err := os.ReadFile(filepath.Join(dir, path))
	if err != nil {
		return ""
	}
	return string(b)
}

// commits counts commits on the remote's main branch.
func (m *mirror) commits(t *testing.T) int {
	t.Helper()
	return commitsOn(m.repo, "main")
}

func (m *mirror) identity(t *testing.T) string {
	t.Helper()
	s, err := kube.CoreV1().Secrets(m.ns).Get(context.Background(), "sops-age-key", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(s.Data["identity.agekey"]), "\n") {
		if strings.HasPrefix(line, "AGE-SECRET-KEY-") {
			return line
		}
	}
	t.Fatal("no identity in sops-age-key")
	return ""
}

// sopsDecrypt runs the real sops CLI on a file.
func sopsDecrypt(t *testing.T, identity string, content string) string {
	t.Helper()
	dir := t.TempDir()
	f := filepath.Join(dir, "x.sops.yaml")
	if err := os.WriteFile(f, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(root, "bin", "sops"), "-d", f)
	cmd.Env = []string{"HOME=" + dir, "PATH=/usr/bin:/bin", "SOPS_AGE_KEY=" + identity}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("sops -d: %v\n%s", err, errb.String())
	}
	return out.String()
}
