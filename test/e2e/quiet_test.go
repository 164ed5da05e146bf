package e2e

import (
	"fmt"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"
)

// files lists the files of a repository's main branch under dir, without the
// bootstrap files.
func files(t *testing.T, repo, dir string) []string {
	t.Helper()
	out, err := exec.Command("git", "--git-dir", st.Git.RepoPath(repo), "ls-tree", "-r", "--name-only", "main", "--", dir).CombinedOutput()
	if err != nil {
		return nil
	}
	var fs []string
	for _, f := range strings.Fields(string(out)) {
		if !strings.HasSuffix(f, "/README.md") && !strings.HasSuffix(f, "/.sops.yaml") {
			fs = append(fs, f)
		}
	}
	sort.Strings(fs)
	return fs
}

func commitCount(repo string) int { return commitsOn(repo, "main") }

// commitsOn counts the commits of a branch of a repository (0: none).
func commitsOn(repo, branch string) int {
	out, err := exec.Command("git", "--git-dir", st.Git.RepoPath(repo), "rev-list", "--count", branch).CombinedOutput()
	if err != nil {
		return 0
	}
	var n int
	fmt.Sscan(string(out), &n)
	return n
}

// TestQuietWildcardMirror: on the realistic stack (kube-controller-manager
// runs), a "*" rule over a namespace with a Deployment, a Service, a
// ConfigMap and a Secret mirrors exactly those (no ReplicaSet, Pod,
// EndpointSlice, kube-root-ca.crt, default ServiceAccount); scaling 1 -> 3 ->
// 1 makes one commit per change; a writer rewriting an ignored annotation
// every second for a minute makes no commit.
func TestQuietWildcardMirror(t *testing.T) {
	ns := newNamespace(t, "quiet")
	url := newRepo(t, ns)
	apply(t, credentials(ns)+fmt.Sprintf(`---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: %[1]s}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx:1.27}]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: %[1]s}
spec: {selector: {app: web}, ports: [{port: 80}]}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: %[1]s}
data: {mode: quiet}
---
apiVersion: v1
kind: Secret
metadata: {name: db, namespace: %[1]s}
stringData: {password: quiet-hunter2}
`, ns))
	// The controllers make their derived objects before the snapshot.
	eventually(t, 60*time.Second, "ReplicaSet, Pod and EndpointSlice created by the controllers", func() error {
		for _, kind := range []string{"replicasets", "pods", "endpointslices", "serviceaccounts/default", "configmaps/kube-root-ca.crt"} {
			if out, err := st.Kubectl("get", kind, "-n", ns, "-o", "name"); err != nil || strings.TrimSpace(out) == "" {
				return fmt.Errorf("no %s yet: %v %s", kind, err, out)
			}
		}
		return nil
	})
	apply(t, fmt.Sprintf(`apiVersion: configbutler.ai/v1alpha1
kind: GitProvider
metadata: {name: origin, namespace: %[1]s}
spec: {url: %[2]q, secretRef: {name: git-credentials}, allowedBranches: [main], push: {interval: 1s}}
---
apiVersion: configbutler.ai/v1alpha1
kind: GitTarget
metadata: {name: mirror, namespace: %[1]s}
spec:
  providerRef: {name: origin}
  branch: main
  path: quiet
  encryption: {provider: sops, secretRef: {name: sops-age-key}, generateWhenMissing: true}
  ignoreFields: [{paths: ["metadata.annotations[example.com/heartbeat]"]}]
---
apiVersion: configbutler.ai/v1alpha1
kind: WatchRule
metadata: {name: everything, namespace: %[1]s}
spec: {targetRef: {name: mirror}, rules: [{apiGroups: ["*"], resources: ["*"]}]}
`, ns, url))
	m := &mirror{ns: ns, repo: ns, path: "quiet"}
	m.waitReady(t)
	want := []string{
		"quiet/apps/v1/deployments/" + ns + "/web.yaml",
		"quiet/v1/configmaps/" + ns + "/settings.yaml",
		"quiet/v1/secrets/" + ns + "/db.sops.yaml",
		"quiet/v1/secrets/" + ns + "/git-credentials.sops.yaml",
		"quiet/v1/services/" + ns + "/web.yaml",
	}
	// Ready can come before the rule is seen (the target and its rule are
	// applied together; a target without rules is Ready with nothing), so
	// Git is read until it holds exactly these.
	eventually(t, 30*time.Second, "exactly the namespace's own objects in Git", func() error {
		if got := files(t, ns, "quiet"); strings.Join(got, "\n") != strings.Join(want, "\n") {
			return fmt.Errorf("Git holds\n%s\nwant exactly\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		return nil
	})
	svc := m.show(t, "quiet/v1/services/"+ns+"/web.yaml")
	if strings.Contains(svc, "clusterIP") || strings.Contains(m.show(t, "quiet/apps/v1/deployments/"+ns+"/web.yaml"), "deployment.kubernetes.io/revision") {
		t.Errorf("allocated or controller-written fields in Git:\n%s", svc)
	}

	// Scaling: one commit per real change.
	for _, replicas := range []string{"3", "1"} {
		before := commitCount(ns)
		kubectl(t, "scale", "deployment/web", "-n", ns, "--replicas="+replicas)
		eventually(t, 30*time.Second, "scale to "+replicas+" mirrored", func() error {
			if !strings.Contains(m.show(t, "quiet/apps/v1/deployments/"+ns+"/web.yaml"), "replicas: "+replicas) {
				return fmt.Errorf("not yet")
			}
			return nil
		})
		// The controllers keep writing status, ReplicaSets, Pods and
		// EndpointSlices meanwhile: none of it is a commit.
		time.Sleep(4 * time.Second)
		if n := commitCount(ns) - before; n != 1 {
			out, _ := exec.Command("git", "--git-dir", st.Git.RepoPath(ns), "log", "--stat", "-5", "main").CombinedOutput()
			t.Errorf("scaling to %s made %d commits, want 1:\n%s", replicas, n, out)
		}
	}

	// A heartbeat on an ignored annotation, every second for a minute.
	before := commitCount(ns)
	for i := 0; i < 60; i++ {
		kubectl(t, "annotate", "--overwrite", "configmap/settings", "-n", ns, fmt.Sprintf("example.com/heartbeat=%d", i))
		time.Sleep(time.Second)
	}
	time.Sleep(3 * time.Second)
	if n := commitCount(ns) - before; n != 0 {
		out, _ := exec.Command("git", "--git-dir", st.Git.RepoPath(ns), "log", "--stat", "-3", "main").CombinedOutput()
		t.Errorf("the heartbeat made %d commits:\n%s", n, out)
	}
	if strings.Contains(m.show(t, "quiet/v1/configmaps/"+ns+"/settings.yaml"), "heartbeat") {
		t.Error("the ignored annotation is in Git")
	}
}

// TestSelectorsAndNamespaceDeletion: objects entering and leaving a label
// selector, and namespaces entering and leaving a ClusterWatchRule's
// namespaceSelector, appear in and disappear from Git; objects outside never
// appear; a mirrored namespace that is deleted finishes deleting and its files
// go.
func TestSelectorsAndNamespaceDeletion(t *testing.T) {
	home := newNamespace(t, "selectors")
	url := newRepo(t, home)
	watched, other := newNamespace(t, "sel-watched"), newNamespace(t, "sel-other")
	apply(t, credentials(home)+fmt.Sprintf(`---
apiVersion: configbutler.ai/v1alpha1
kind: GitProvider
metadata: {name: origin, namespace: %[1]s}
spec: {url: %[2]q, secretRef: {name: git-credentials}, allowedBranches: [main], push: {interval: 1s}}
---
apiVersion: configbutler.ai/v1alpha1
kind: GitTarget
metadata: {name: mirror, namespace: %[1]s}
spec: {providerRef: {name: origin}, branch: main, path: sel}
---
apiVersion: configbutler.ai/v1alpha1
kind: WatchRule
metadata: {name: labelled, namespace: %[1]s}
spec:
  targetRef: {name: mirror}
  rules: [{apiGroups: [""], resources: [configmaps], labelSelector: {matchLabels: {mirror: "yes"}}}]
---
apiVersion: configbutler.ai/v1alpha1
kind: ClusterWatchRule
metadata: {name: %[1]s-namespaces}
spec:
  targetRef: {name: mirror, namespace: %[1]s}
  rules: [{apiGroups: [""], resources: [configmaps], scope: Namespaced, namespaceSelector: {matchLabels: {mirror-%[1]s: "yes"}}}]
`, home, url))
	t.Cleanup(func() { st.Kubectl("delete", "clusterwatchrule", home+"-namespaces") })
	m := &mirror{ns: home, repo: home, path: "sel"}
	m.waitReady(t)
	file := func(ns, name string) string { return "sel/v1/configmaps/" + ns + "/" + name + ".yaml" }
	has := func(ns, name string) bool { return m.show(t, file(ns, name)) != "" }
	waitFile := func(what, ns, name string, present bool) {
		t.Helper()
		eventually(t, 30*time.Second, what, func() error {
			if has(ns, name) != present {
				return fmt.Errorf("%s present=%v", file(ns, name), !present)
			}
			return nil
		})
	}

	// Label selector.
	kubectl(t, "create", "configmap", "tagged", "-n", home, "--from-literal=a=1")
	kubectl(t, "create", "configmap", "untagged", "-n", home, "--from-literal=a=1")
	kubectl(t, "label", "configmap/tagged", "-n", home, "mirror=yes")
	waitFile("a ConfigMap labelled into the selection", home, "tagged", true)
	kubectl(t, "label", "configmap/tagged", "-n", home, "mirror-")
	waitFile("a ConfigMap unlabelled out of the selection", home, "tagged", false)

	// Namespace selector, live.
	for _, ns := range []string{watched, other} {
		kubectl(t, "create", "configmap", "app", "-n", ns, "--from-literal=a=1")
	}
	time.Sleep(3 * time.Second)
	if has(watched, "app") || has(other, "app") || has(home, "untagged") {
		t.Fatal("objects outside the selectors reached Git")
	}
	kubectl(t, "label", "namespace", watched, "mirror-"+home+"=yes")
	waitFile("a namespace labelled into the selection", watched, "app", true)
	kubectl(t, "label", "namespace", watched, "mirror-"+home+"-")
	waitFile("a namespace unlabelled out of the selection", watched, "app", false)
	kubectl(t, "label", "namespace", watched, "mirror-"+home+"=yes")
	waitFile("the namespace labelled again", watched, "app", true)
	if has(other, "app") || has(watched, "kube-root-ca.crt") {
		t.Error("another namespace's ConfigMap, or a generated one, reached Git")
	}

	// The mirrored namespace is deleted: deletion finishes (the namespace
	// controller runs) and its files go.
	kubectl(t, "delete", "namespace", watched, "--wait=false")
	if out, err := st.Kubectl("wait", "--for=delete", "namespace/"+watched, "--timeout=90s"); err != nil {
		ns, _ := st.Kubectl("get", "namespace", watched, "-o", "yaml")
		t.Fatalf("namespace deletion did not finish: %v %s\n%s", err, out, ns)
	}
	waitFile("the deleted namespace's files removed", watched, "app", false)
}
