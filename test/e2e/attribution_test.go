package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/configbutler/gitops-reverser/pkg/attribution"
)

// usersRole lets the test's users write configmaps and secrets in ns.
func usersRole(ns string, users ...string) string {
	var subjects []string
	for _, u := range users {
		subjects = append(subjects, fmt.Sprintf("{kind: User, apiGroup: rbac.authorization.k8s.io, name: %s}", u))
	}
	return fmt.Sprintf(`apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: writers, namespace: %[1]s}
rules:
- apiGroups: [""]
  resources: [configmaps, secrets]
  verbs: [get, list, create, update, patch, delete]
---
`, ns) + binding(ns, "writers", "writers", strings.Join(subjects, ", "))
}

// commitLog is the remote's history, oldest first: one line per commit, the
// author, the attribution trailers and the files it touched.
func commitLog(t *testing.T, repo, since string) []string {
	t.Helper()
	args := []string{"--git-dir", st.Git.RepoPath(repo), "log", "--reverse", "--no-renames", "--name-only",
		"--format=@@%an <%ae> |%(trailers:key=Kubernetes-User,key=Kubernetes-Field-Manager,key=Kubernetes-Verb,key=Kubernetes-Impersonator,key=Kubernetes-Attribution,valueonly,separator=%x2C)|"}
	if since != "" {
		args = append(args, since+"..main")
	} else {
		args = append(args, "main")
	}
	out, err := exec.Command("git", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("git log: %v\n%s", err, out)
	}
	var commits []string
	for _, block := range strings.Split(string(out), "@@")[1:] {
		commits = append(commits, strings.Join(strings.Fields(strings.ReplaceAll(block, ", ", ",")), " "))
	}
	return commits
}

func tip(t *testing.T, repo string) string {
	t.Helper()
	out, err := exec.Command("git", "--git-dir", st.Git.RepoPath(repo), "rev-parse", "main").CombinedOutput()
	if err != nil {
		t.Fatalf("rev-parse: %v\n%s", err, out)
	}
	return strings.TrimSpace(string(out))
}

// postReport posts an audit EventList to our server's attribution endpoint
// directly, with the client certificate of kubeconfig ("" for none).
func postReport(t *testing.T, kubeconfig string, body []byte) int {
	t.Helper()
	direct, err := clientcmd.BuildConfigFromFlags("", st.DirectKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &rest.Config{Host: st.ServerURL, TLSClientConfig: rest.TLSClientConfig{CAData: direct.CAData}}
	if kubeconfig != "" {
		user, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
		if err != nil {
			t.Fatal(err)
		}
		cfg.CertData, cfg.KeyData = user.CertData, user.KeyData
	}
	client, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Post(st.ServerURL+attribution.Path, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// forgedSecretReport claims user wrote Secret ns/name.
func forgedSecretReport(ns, name, user string) []byte {
	b, _ := json.Marshal(map[string]any{"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": []any{map[string]any{
		"level": "Metadata", "auditID": "forged", "stage": "ResponseComplete", "verb": "update",
		"user":           map[string]any{"username": user},
		"objectRef":      map[string]any{"resource": "secrets", "namespace": ns, "name": name, "apiVersion": "v1"},
		"responseStatus": map[string]any{"code": 200},
	}}})
	return b
}

// TestCommitsAreAuthoredByTheUser: writes by alice and bob within one push
// interval become one commit each, authored by them and holding only their
// file; a delete is attributed; a Secret is attributed by name, and reports
// forged by anyone but kube-apiserver are refused and change no author.
func TestCommitsAreAuthoredByTheUser(t *testing.T) {
	m := newMirror(t, "authors", true, "")
	apply(t, usersRole(m.ns, "alice", "bob", "carol", "dave"))
	kubectl(t, "create", "configmap", "bobs", "-n", m.ns, "--from-literal=k=v")
	kubectl(t, "create", "configmap", "doomed", "-n", m.ns, "--from-literal=k=v")
	eventually(t, 30*time.Second, "the admin's configmaps mirrored", func() error {
		if m.show(t, m.file("configmaps", "doomed")) == "" {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	// A push interval long enough for both writes to land in one batch.
	apply(t, fmt.Sprintf(`apiVersion: configbutler.ai/v1alpha1
kind: GitProvider
metadata: {name: origin, namespace: %s}
spec: {url: %q, secretRef: {name: git-credentials}, allowedBranches: ["main"], push: {interval: 4s}}
`, m.ns, st.Git.URL(m.repo)))
	time.Sleep(2 * time.Second) // the worker takes the new interval on the target's next sync
	before := tip(t, m.repo)

	start := time.Now()
	if out, err := as("alice", "create", "configmap", "alices", "-n", m.ns, "--from-literal=k=alice"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if out, err := as("bob", "patch", "configmap", "bobs", "-n", m.ns, "--type=merge", "-p", `{"data":{"k":"bob"}}`); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	eventually(t, 30*time.Second, "alice's and bob's changes pushed", func() error {
		if !strings.Contains(m.show(t, m.file("configmaps", "alices")), "alice") || !strings.Contains(m.show(t, m.file("configmaps", "bobs")), "bob") {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	t.Logf("two users' writes -> pushed: %v (push interval 4s)", time.Since(start).Round(10*time.Millisecond))
	got := commitLog(t, m.repo, before)
	want := []string{
		fmt.Sprintf("alice <alice@kubernetes.invalid> |alice,create,admin| %s", m.file("configmaps", "alices")),
		fmt.Sprintf("bob <bob@kubernetes.invalid> |bob,patch,admin| %s", m.file("configmaps", "bobs")),
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("commits:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// One batch: bob's commit sits directly on alice's, pushed together.
	parents, _ := exec.Command("git", "--git-dir", st.Git.RepoPath(m.repo), "log", "--format=%an", "-2", "main").CombinedOutput()
	if string(parents) != "bob\nalice\n" {
		t.Errorf("the two commits are not one batch:\n%s", parents)
	}

	// A delete, and a Secret (attributed by name, never its value).
	before = tip(t, m.repo)
	if out, err := as("carol", "delete", "configmap", "doomed", "-n", m.ns); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if out, err := as("dave", "create", "secret", "generic", "daves", "-n", m.ns, "--from-literal=token=dave-secret-value"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	// Forged reports, after the real one arrived and before the push: if
	// one were taken, the Secret's commit would name mallory (the latest
	// report of a Secret wins).
	time.Sleep(1500 * time.Millisecond)
	forged := forgedSecretReport(m.ns, "daves", "mallory")
	for _, tc := range []struct {
		who, kubeconfig string
		want            int
	}{
		{"nobody (no client certificate)", "", http.StatusUnauthorized},
		{"the cluster administrator", st.AdminKubeconfig, http.StatusForbidden},
		{"user reader", st.ReaderKubeconfig, http.StatusForbidden},
	} {
		if code := postReport(t, tc.kubeconfig, forged); code != tc.want {
			t.Errorf("a report forged by %s: %d, want %d", tc.who, code, tc.want)
		}
	}
	eventually(t, 30*time.Second, "the delete and the secret pushed", func() error {
		if m.show(t, m.file("configmaps", "doomed")) != "" || m.show(t, m.file("secrets", "daves")) == "" {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	got = commitLog(t, m.repo, before)
	want = []string{
		fmt.Sprintf("carol <carol@kubernetes.invalid> |carol,delete,admin| %s", m.file("configmaps", "doomed")),
		fmt.Sprintf("dave <dave@kubernetes.invalid> |dave,create,admin| %s", m.file("secrets", "daves")),
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("commits:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	authors, _ := exec.Command("git", "--git-dir", st.Git.RepoPath(m.repo), "log", "--format=%an", "main").CombinedOutput()
	t.Logf("git log --format=%%an:\n%s", authors)
	for _, u := range []string{"alice", "bob", "carol", "dave"} {
		if !strings.Contains(string(authors), u+"\n") {
			t.Errorf("git log --format=%%an does not show %s", u)
		}
	}
	if strings.Contains(string(authors), "mallory") {
		t.Error("a forged report named an author")
	}
	if strings.Contains(st.Server.TailLog(1<<20), "dave-secret-value") {
		t.Error("the server log holds the Secret's value")
	}

	// Writes where no target streams are reported too, but their reports
	// are kept for a minute only (any later snapshot holds them): a bulk
	// import into a namespace nobody mirrors costs the store little.
	before0, _ := scrape(t, st.AdminKubeconfig)
	elsewhere := newNamespace(t, "authors-elsewhere")
	for i := range 5 {
		kubectl(t, "create", "configmap", fmt.Sprint("imported-", i), "-n", elsewhere, "--from-literal=k=v")
	}
	eventually(t, 30*time.Second, "the writes elsewhere reported and not kept", func() error {
		now, _ := scrape(t, st.AdminKubeconfig)
		d := value(now, "gitopsreverser_attribution_reports_total", "result", "unwanted") -
			value(before0, "gitopsreverser_attribution_reports_total", "result", "unwanted")
		if d < 5 {
			return fmt.Errorf("%v reports counted unwanted, want at least the 5 creates", d)
		}
		return nil
	})
	if kept := value(before0, "gitopsreverser_attribution_reports_total", "result", "kept"); kept < 6 {
		t.Errorf("%v reports kept before, want at least the 6 writes above", kept)
	}
}

// TestTwoTargetsNameTheSameAuthor: two targets mirroring one object (here
// into two repositories) each commit its change as the user who made it; the
// report is not used up by the first target's lookup.
func TestTwoTargetsNameTheSameAuthor(t *testing.T) {
	m := newMirror(t, "twoauthors", false, "")
	copyRepo := m.repo + "-copy"
	apply(t, usersRole(m.ns, "alice")+"---\n"+gitProvider(m.ns, "copy", newRepo(t, copyRepo))+fmt.Sprintf(`---
apiVersion: configbutler.ai/v1alpha1
kind: GitTarget
metadata: {name: copy, namespace: %[1]s}
spec: {providerRef: {name: copy}, branch: main, path: copy}
---
apiVersion: configbutler.ai/v1alpha1
kind: WatchRule
metadata: {name: copy, namespace: %[1]s}
spec:
  targetRef: {name: copy}
  rules: [{apiGroups: [""], resources: ["configmaps"]}]
`, m.ns))
	if out, err := st.Kubectl("wait", "--for=condition=Ready", "gittarget/copy", "-n", m.ns, "--timeout=90s"); err != nil {
		t.Fatalf("kubectl wait Ready: %v\n%s", err, out)
	}
	if out, err := as("alice", "create", "configmap", "shared", "-n", m.ns, "--from-literal=k=alice"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	for _, r := range []struct{ repo, file string }{
		{m.repo, m.file("configmaps", "shared")},
		{copyRepo, fmt.Sprintf("copy/v1/configmaps/%s/shared.yaml", m.ns)},
	} {
		eventually(t, 30*time.Second, r.repo+" holds the ConfigMap", func() error {
			out, err := exec.Command("git", "--git-dir", st.Git.RepoPath(r.repo), "log", "-1", "--format=%an", "main", "--", r.file).CombinedOutput()
			switch {
			case err != nil:
				return fmt.Errorf("git log: %v: %s", err, out)
			case len(out) == 0:
				return fmt.Errorf("not yet")
			case string(out) != "alice\n":
				t.Fatalf("%s: %s committed by %q, want alice", r.repo, r.file, strings.TrimSpace(string(out)))
			}
			return nil
		})
	}
}
