// Package localup tests `make run` (hack/local-up): the whole stack comes up,
// says how to reach it, mirrors the example, stops every process on Ctrl-C,
// and a second run reuses the data.
package localup

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

type localUp struct {
	cmd        *exec.Cmd
	kubeconfig string
	gitRemote  string
	lines      chan string
	output     *strings.Builder
}

var root, _ = filepath.Abs("../..")

// start runs local-up and waits until it says the API is ready.
func start(t *testing.T, bin, dir string) *localUp {
	t.Helper()
	cmd := exec.Command(bin, "-dir", dir, "-free-ports")
	cmd.Dir = root
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	l := &localUp{cmd: cmd, lines: make(chan string, 1000), output: &strings.Builder{}}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			l.lines <- sc.Text()
		}
		close(l.lines)
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Signal(os.Interrupt)
			_ = cmd.Wait()
		}
	})
	timeout := time.After(5 * time.Minute)
	for {
		select {
		case line, ok := <-l.lines:
			if !ok {
				t.Fatalf("local-up ended before the APIService was Available:\n%s", l.output)
			}
			l.output.WriteString(line + "\n")
			if v, ok := strings.CutPrefix(line, "KUBECONFIG="); ok {
				l.kubeconfig = v
			}
			if v, ok := strings.CutPrefix(line, "GIT_REMOTE="); ok {
				l.gitRemote = v
			}
			if strings.Contains(line, "API configbutler.ai/v1alpha1 is ready") {
				return l
			}
		case <-timeout:
			t.Fatalf("no \"API ... is ready\" within 5 minutes:\n%s", l.output)
		}
	}
}

// stop sends Ctrl-C and waits for local-up to end.
func (l *localUp) stop(t *testing.T) {
	t.Helper()
	if err := l.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		for line := range l.lines {
			l.output.WriteString(line + "\n")
		}
		done <- l.cmd.Wait()
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("local-up exited with %v after Ctrl-C:\n%s", err, l.output)
		}
	case <-time.After(90 * time.Second):
		_ = l.cmd.Process.Signal(syscall.SIGKILL)
		t.Fatalf("local-up did not stop within 90s of Ctrl-C")
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func run(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func TestMakeRun(t *testing.T) {
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "local-up")
	run(t, root, "go", "build", "-o", bin, "./hack/local-up")
	kubectl := filepath.Join(root, "bin", "kubectl")
	dir := filepath.Join(tmp, "state")

	l := start(t, bin, dir)
	explainAtOnce(t, kubectl, l.kubeconfig)
	if !filepath.IsAbs(l.kubeconfig) {
		t.Fatalf("KUBECONFIG=%q is not an absolute path", l.kubeconfig)
	}
	if !strings.Contains(l.gitRemote, "@127.0.0.1:") || !strings.HasPrefix(l.gitRemote, "http://gitops:") {
		t.Fatalf("GIT_REMOTE=%q is not a clone URL with credentials", l.gitRemote)
	}
	run(t, root, kubectl, "--kubeconfig", l.kubeconfig, "wait", "--for=condition=Ready", "gittarget/demo", "-n", "demo", "--timeout=3m")
	created := run(t, root, kubectl, "--kubeconfig", l.kubeconfig, "get", "gittarget", "demo", "-n", "demo", "-o", "jsonpath={.metadata.uid}")
	clone := filepath.Join(tmp, "clone")
	run(t, tmp, "git", "clone", "-q", l.gitRemote, clone)
	for _, f := range []string{"clusters/local/README.md", "clusters/local/.sops.yaml", "clusters/local/v1/configmaps/demo/app-settings.yaml", "clusters/local/v1/secrets/demo/app-credentials.sops.yaml"} {
		if _, err := os.Stat(filepath.Join(clone, f)); err != nil {
			t.Errorf("%s not mirrored: %v", f, err)
		}
	}
	commits := run(t, clone, "git", "rev-list", "--count", "HEAD")

	l.stop(t)
	var ports map[string]int
	b, err := os.ReadFile(filepath.Join(dir, "ports.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &ports); err != nil {
		t.Fatal(err)
	}
	for name, port := range ports {
		if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second); err == nil {
			c.Close()
			t.Errorf("after Ctrl-C, %s still listens on %d", name, port)
		}
	}
	if out, err := exec.Command("pgrep", "-f", dir).Output(); len(out) > 0 || (err != nil && !isExit1(err)) {
		t.Errorf("processes of the stack still running after Ctrl-C: %s", out)
	}

	// A second run reuses the data: the same GitTarget, the same repository.
	// The APIService's stored status still says Available from the first run,
	// so only the discovery and OpenAPI checks make "ready" true here.
	l = start(t, bin, dir)
	explainAtOnce(t, kubectl, l.kubeconfig)
	run(t, root, kubectl, "--kubeconfig", l.kubeconfig, "wait", "--for=condition=Ready", "gittarget/demo", "-n", "demo", "--timeout=3m")
	if again := run(t, root, kubectl, "--kubeconfig", l.kubeconfig, "get", "gittarget", "demo", "-n", "demo", "-o", "jsonpath={.metadata.uid}"); again != created {
		t.Errorf("the GitTarget was created anew (uid %s, was %s): the data was not reused", again, created)
	}
	run(t, clone, "git", "pull", "-q")
	if n := run(t, clone, "git", "rev-list", "--count", "HEAD"); atoi(t, n) < atoi(t, commits) {
		t.Errorf("the repository has %s commits after the second run, had %s", n, commits)
	}
	l.stop(t)
}

// explainAtOnce: the moment local-up says ready, a new user's kubectl (no
// discovery cache) explains our types at the first try: bin/kubectl and, when
// the machine has one of another version (v1.32 here), that one too.
func explainAtOnce(t *testing.T, ours, kubeconfig string) {
	t.Helper()
	kubectls := []string{ours}
	if other, err := exec.LookPath("kubectl"); err == nil && other != ours {
		kubectls = append(kubectls, other)
	}
	for _, k := range kubectls {
		out, err := exec.Command(k, "--kubeconfig", kubeconfig, "--cache-dir", t.TempDir(), "explain", "gittarget.spec.path").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "FIELD: path") {
			t.Errorf("%s explain gittarget.spec.path right after the ready line: %v\n%s", k, err, out)
		}
	}
}

// isExit1 is pgrep's answer when nothing matches.

func isExit1(err error) bool {
	var ee *exec.ExitError
	return errors.As(err, &ee) && ee.ExitCode() == 1
}
