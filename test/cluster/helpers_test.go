//go:build cluster

package cluster

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/configbutler/gitops-reverser/test/gitserver"
	"github.com/configbutler/gitops-reverser/test/node"
)

// Helpers of the install test: kubectl and helm on the node, polling, the
// images' digests, and what the mirror wrote.

func must(t *testing.T, n *node.Node, args ...string) string {
	t.Helper()
	out, err := n.Kubectl(args...)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(out)
}

func helm(t *testing.T, root string, n *node.Node, args ...string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(root, "bin", "helm"), append(args, "--kubeconfig="+n.AdminKubeconfig)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helm %s: %v\n%s", args[0], err, out)
	}
	progress(t, "helm %s:\n%s", args[0], strings.TrimSpace(string(out)))
}

func eventually(t *testing.T, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		if err = cond(); err == nil {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("%s: not within %s: %v", what, timeout, err)
}

func readDigests(t *testing.T, root string) []string {
	b, err := os.ReadFile(filepath.Join(root, "_output", "images", "digests"))
	if err != nil {
		t.Fatalf("no images: run `make image` first (%v)", err)
	}
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if f := strings.Fields(l); len(f) == 3 {
			out = append(out, f[0]+"@"+f[1])
		}
	}
	return out
}

func chartAppVersion(t *testing.T, root string) string {
	b, err := os.ReadFile(filepath.Join(root, "charts", "gitops-reverser", "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "appVersion:"); ok {
			return strings.Trim(strings.TrimSpace(v), `"`)
		}
	}
	t.Fatal("Chart.yaml has no appVersion")
	return ""
}

// podNames are the server pods not being deleted.
func podNames(t *testing.T, n *node.Node) []string {
	out := must(t, n, "get", "pods", "-n", ns, "-l", "app.kubernetes.io/name=gitops-reverser", "-o",
		`jsonpath={range .items[*]}{.metadata.name} {.metadata.deletionTimestamp}{"\n"}{end}`)
	var names []string
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) == 1 {
			names = append(names, f[0])
		}
	}
	return names
}

// checkPodsReadyErr wants every pod of the release Running with all containers ready.
func checkPodsReadyErr(n *node.Node) error {
	out, err := n.Kubectl("get", "pods", "-n", ns, "-o",
		`jsonpath={range .items[*]}{.metadata.name} {.status.phase} {.status.containerStatuses[*].ready}{"\n"}{end}`)
	if err != nil {
		return err
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 3 { // two servers and at least one etcd member
		return fmt.Errorf("pods: %q", out)
	}
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) < 3 || f[1] != "Running" || strings.Contains(l, "false") {
			return fmt.Errorf("pod not Running and Ready: %q", l)
		}
	}
	return nil
}

func applyExample(t *testing.T, root string, n *node.Node, remote, password string) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(root, "artifacts", "example", "*.yaml"))
	if len(files) == 0 {
		t.Fatal("no artifacts/example")
	}
	var all []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, strings.ReplaceAll(string(b), "http://127.0.0.1:18080/demo.git", remote))
	}
	all = append(all, fmt.Sprintf("apiVersion: v1\nkind: Secret\nmetadata: {name: git-credentials, namespace: %s}\nstringData: {username: %s, password: %s}\n", exampleNS, gitUser, password))
	manifests := []byte(strings.Join(all, "\n---\n"))
	eventually(t, time.Minute, "kubectl apply artifacts/example", func() error {
		_, err := n.KubectlStdin(manifests, "apply", "-f", "-")
		return err
	})
}

// eventuallyFiles clones (or pulls) the remote into dir until every wanted
// path is there, and returns every file of the tree.
func eventuallyFiles(t *testing.T, git *gitserver.Server, dir string, want []string) []string {
	t.Helper()
	return eventuallyFilesIn(t, git, "demo", dir, want)
}

// eventuallyFilesIn is eventuallyFiles for the remote repository name.
func eventuallyFilesIn(t *testing.T, git *gitserver.Server, name, dir string, want []string) []string {
	t.Helper()
	var files []string
	eventually(t, 2*time.Minute, fmt.Sprintf("%d files in Git", len(want)), func() error {
		os.RemoveAll(dir)
		out, err := exec.Command("git", "clone", "-q", git.URLWithCredentials(name), dir).CombinedOutput()
		if err != nil {
			return fmt.Errorf("git clone: %v: %s", err, out)
		}
		out, err = exec.Command("git", "-C", dir, "ls-files").Output()
		if err != nil {
			return err
		}
		files = strings.Fields(string(out))
		for _, w := range want {
			if !contains(files, w) {
				return fmt.Errorf("%s missing (have %d files)", w, len(files))
			}
		}
		return nil
	})
	return files
}

// authorOf is the author of the last commit that touched path in the clone.
func authorOf(t *testing.T, repo, path string) string {
	t.Helper()
	out, err := exec.Command("git", "-C", repo, "log", "-1", "--format=%an", "--", path).Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

func filter(xs []string, prefix string) []string {
	var out []string
	for _, x := range xs {
		if strings.HasPrefix(x, prefix) {
			out = append(out, x)
		}
	}
	return out
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// dumpState logs what an operator would look at when an install fails.
func dumpState(t *testing.T, n *node.Node) {
	for _, args := range [][]string{
		{"get", "nodes", "-o", "wide"},
		{"get", "pods", "-A", "-o", "wide"},
		{"get", "events", "-A", "--sort-by=.lastTimestamp"},
		{"describe", "pods", "-n", ns},
		{"get", "pv,pvc", "-A", "-o", "wide"},
		{"logs", "-n", ns, "-l", "app.kubernetes.io/name=gitops-reverser", "--tail=60", "--all-containers"},
		{"logs", "-n", ns, "-l", "app.kubernetes.io/name=gitops-reverser-etcd", "--tail=30", "--prefix"},
		{"get", "gittarget", "-A", "-o", "yaml"},
	} {
		out, err := n.Kubectl(args...)
		t.Logf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	t.Logf("node logs in %s", n.LogDir())
	for _, f := range []string{"kubelet.log", "containerd.log", "kube-proxy.log"} {
		b, _ := os.ReadFile(filepath.Join(n.LogDir(), f))
		if len(b) > 3000 {
			b = b[len(b)-3000:]
		}
		t.Logf("%s tail:\n%s", f, b)
	}
}

// checkRestrictedEnforced proves the namespace's Pod Security label is
// enforced: a pod that breaks the restricted profile (no securityContext) is
// refused, even in a server-side dry run.
func checkRestrictedEnforced(t *testing.T, n *node.Node, ns string) {
	t.Helper()
	out, err := n.Kubectl("run", "not-restricted", "-n", ns, "--image=registry.k8s.io/pause:3.10", "--restart=Never", "--dry-run=server")
	if err == nil || !strings.Contains(out, "violates PodSecurity \"restricted") {
		t.Fatalf("a pod breaking the restricted profile was not refused in %s: %v\n%s", ns, err, out)
	}
}

// exampleReadyErr is nil once the example's GitTarget demo is Ready.
func exampleReadyErr(n *node.Node) error {
	out, err := n.Kubectl("get", "gittarget", "demo", "-n", exampleNS, "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}`)
	if err != nil {
		return err
	}
	if out != "True" {
		return fmt.Errorf("Ready=%q", out)
	}
	return nil
}

// livePods lists the pods of ns not being deleted (a deleted or replaced pod
// may linger, terminating), as "name uid", matching the kubectl get args.
func livePods(t *testing.T, n *node.Node, args ...string) []string {
	t.Helper()
	out := must(t, n, append(append([]string{"get", "pods", "-n", ns}, args...),
		"-o", `jsonpath={range .items[*]}{.metadata.name} {.metadata.uid} {.metadata.deletionTimestamp}{"\n"}{end}`)...)
	var live []string
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) == 2 {
			live = append(live, l)
		}
	}
	return live
}
