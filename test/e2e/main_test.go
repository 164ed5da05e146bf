// Package e2e tests the whole system from real parts (test/stack): etcd,
// kube-apiserver v1.37.2 with the aggregation layer, gitops-reverser-apiserver
// registered by an APIService, a Git remote served by `git http-backend`, and
// kubectl v1.37.2. One stack serves every test of the package. No test depends
// on the order tests run in: a test that stops a component calls disrupts(t),
// whose cleanup brings the stack back as it was before the next test starts.
package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/configbutler/gitops-reverser/pkg/generated/clientset/versioned"
	"github.com/configbutler/gitops-reverser/test/stack"
)

var (
	st   *stack.Stack
	kube kubernetes.Interface
	cb   versioned.Interface
	root string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	root, _ = filepath.Abs("../..")
	dir, err := os.MkdirTemp("", "gitops-reverser-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	keep := os.Getenv("E2E_KEEP") != ""
	defer func() {
		if !keep {
			os.RemoveAll(dir)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	st, err = stack.Start(ctx, stack.Options{Dir: dir, RepoRoot: root, FastEtcd: true, Progress: os.Stderr})
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting the stack:", err)
		return 1
	}
	defer st.Stop()
	if err := st.WaitAPIServiceAvailable(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err, "\n", st.Server.TailLog(4000))
		return 1
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", st.AdminKubeconfig)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cfg.QPS, cfg.Burst = 200, 400
	kube = kubernetes.NewForConfigOrDie(cfg)
	cb = versioned.NewForConfigOrDie(cfg)
	code := m.Run()
	if code != 0 {
		fmt.Fprintf(os.Stderr, "--- server log tail ---\n%s\n", st.Server.TailLog(6000))
		if keep {
			fmt.Fprintf(os.Stderr, "stack state kept in %s\n", dir)
		}
	}
	return code
}

// disrupts marks a test that stops or restarts components of the shared
// stack: its cleanup starts what is down again (the server with its usual
// flags, kube-apiserver with its audit webhook) and waits until the whole
// stack serves (APIService Available, our API discoverable), so the tests
// after it find the stack as the tests before it did.
func disrupts(t *testing.T) {
	t.Helper()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
		defer cancel()
		if !st.KubeAPIServerAudits || !st.KubeAPIServer.Running() {
			st.AuditOff = false
			st.StopKubeAPIServer()
			if err := st.StartKubeAPIServer(ctx); err != nil {
				t.Fatalf("restoring kube-apiserver: %v", err)
			}
		}
		if len(st.ServerExtraArgs) > 0 || !st.Server.Running() {
			st.StopServer()
			if err := st.StartServer(ctx); err != nil {
				t.Fatalf("restoring the server: %v", err)
			}
		}
		if err := st.WaitAPIServiceAvailable(ctx); err != nil {
			t.Fatalf("the stack does not serve again: %v", err)
		}
		if err := st.WaitAPIReady(ctx); err != nil {
			t.Fatalf("the stack does not serve again: %v", err)
		}
	})
}

// kubectl runs kubectl as the cluster administrator and fails the test on error.
func kubectl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := st.Kubectl(args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// apply applies YAML as the administrator.
func apply(t *testing.T, yaml string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := st.Apply(ctx, []byte(yaml)); err != nil {
		t.Fatal(err)
	}
}

var seq atomic.Int32

// newNamespace creates a namespace for one test.
func newNamespace(t *testing.T, prefix string) string {
	t.Helper()
	ns := fmt.Sprintf("%s-%d", prefix, seq.Add(1))
	kubectl(t, "create", "namespace", ns)
	return ns
}

// newRepo creates a bare repository on the stack's Git server.
func newRepo(t *testing.T, name string) string {
	t.Helper()
	if _, err := st.Git.CreateBareRepo(name); err != nil {
		t.Fatal(err)
	}
	return st.Git.URL(name)
}

// credentials is the Secret with the Git server's basic-auth credentials.
func credentials(ns string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata: {name: git-credentials, namespace: %s}
stringData: {username: %s, password: %s}
`, ns, stack.GitUser, st.GitPassword)
}

// eventually polls cond until it returns nil or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		if err = cond(); err == nil {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("%s: not within %s: %v", what, timeout, err)
}

// gitCLI runs the git command line in dir.
func gitCLI(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_AUTHOR_NAME=human", "GIT_AUTHOR_EMAIL=human@example.com",
		"GIT_COMMITTER_NAME=human", "GIT_COMMITTER_EMAIL=human@example.com")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// clone clones (or pulls) a repository of the stack's Git server with the CLI.
func clone(t *testing.T, repo string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), repo)
	gitCLI(t, filepath.Dir(dir), "clone", "-q", st.Git.URLWithCredentials(repo), dir)
	return dir
}
