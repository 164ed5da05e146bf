// Package smoke drives the real binaries: bin/gitops-reverser-apiserver in
// standalone mode and bin/kubectl (v1.37.2, built by hack/tools). Run through
// `make test`, which builds both first.
package smoke

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var binDir = func() string { d, _ := filepath.Abs("../../bin"); return d }()

func requireBinary(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join(binDir, name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s is missing: run `make build tools` (or `make test`, which does)", p)
	}
	return p
}

type kubectl struct {
	t          *testing.T
	bin        string
	kubeconfig string
}

func (k kubectl) run(args ...string) (string, error) {
	cmd := exec.Command(k.bin, append([]string{"--kubeconfig", k.kubeconfig}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func (k kubectl) must(args ...string) string {
	k.t.Helper()
	out, err := k.run(args...)
	if err != nil {
		k.t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startStandalone runs the server binary and returns a kubectl bound to it.
func startStandalone(t *testing.T) kubectl {
	t.Helper()
	server := requireBinary(t, "gitops-reverser-apiserver")
	k := kubectl{t: t, bin: requireBinary(t, "kubectl")}
	dir := t.TempDir()
	k.kubeconfig = filepath.Join(dir, "kubeconfig")
	var log bytes.Buffer
	var cmd *exec.Cmd
	for attempt := 0; attempt < 3; attempt++ { // a free port can be taken between probe and bind
		cmd = exec.Command(server, "--standalone", fmt.Sprintf("--secure-port=%d", freePort(t)),
			"--data-dir="+filepath.Join(dir, "data"), "--write-kubeconfig="+k.kubeconfig)
		log.Reset()
		cmd.Stdout, cmd.Stderr = &log, &log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		t.Cleanup(func() {
			_ = cmd.Process.Signal(os.Interrupt)
			select {
			case <-exited:
			case <-time.After(20 * time.Second):
				_ = cmd.Process.Kill()
			}
		})
		deadline := time.Now().Add(60 * time.Second)
		for time.Now().Before(deadline) {
			select {
			case <-exited:
				deadline = time.Time{}
				continue
			default:
			}
			if _, err := os.Stat(k.kubeconfig); err == nil {
				if out, err := k.run("get", "--raw", "/readyz"); err == nil && strings.TrimSpace(out) == "ok" {
					return k
				}
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	t.Fatalf("standalone server did not become ready:\n%s", log.String())
	return k
}

const example = `apiVersion: configbutler.ai/v1alpha1
kind: GitProvider
metadata:
  name: origin
  namespace: demo
spec:
  url: https://git.example.com/org/fleet.git
  secretRef:
    name: git-creds
  allowedBranches: ["main"]
---
apiVersion: configbutler.ai/v1alpha1
kind: GitTarget
metadata:
  name: prod
  namespace: demo
spec:
  providerRef:
    name: origin
  branch: main
  path: clusters/prod
---
apiVersion: configbutler.ai/v1alpha1
kind: WatchRule
metadata:
  name: config
  namespace: demo
spec:
  targetRef:
    name: prod
  rules:
  - apiGroups: [""]
    resources: ["configmaps", "secrets"]
`

func TestKubectlAgainstStandaloneServer(t *testing.T) {
	k := startStandalone(t)
	file := filepath.Join(t.TempDir(), "example.yaml")
	if err := os.WriteFile(file, []byte(example), 0o600); err != nil {
		t.Fatal(err)
	}

	out := k.must("version")
	if !strings.Contains(out, "Client Version: v1.37.2") {
		t.Errorf("kubectl is not the pinned v1.37.2:\n%s", out)
	}
	out = k.must("api-resources", "--api-group=configbutler.ai", "--no-headers")
	for _, r := range []string{"gitproviders", "gittargets", "watchrules", "clusterwatchrules"} {
		if !strings.Contains(out, r) {
			t.Errorf("api-resources lacks %s:\n%s", r, out)
		}
	}

	out = k.must("create", "-f", file)
	if !strings.Contains(out, "gittarget.configbutler.ai/prod created") {
		t.Errorf("create:\n%s", out)
	}
	out = k.must("apply", "--server-side", "-f", file)
	if !strings.Contains(out, "gittarget.configbutler.ai/prod serverside-applied") {
		t.Errorf("server-side apply:\n%s", out)
	}

	// Without --kubeconfig the lifecycle runs all the same, and stops where it
	// needs the source cluster: the credentials Secret cannot be read.
	out = k.must("wait", "--for=condition=Bootstrapped=false", "gittarget/prod", "-n", "demo", "--timeout=60s")
	if !strings.Contains(out, "condition met") {
		t.Errorf("wait: %s", out)
	}
	out = k.must("get", "gittargets", "-A")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	header := strings.Fields(lines[0])
	wantHeader := []string{"NAMESPACE", "NAME", "PROVIDER", "BRANCH", "PATH", "READY", "REASON", "LAST", "COMMIT", "AGE"}
	if strings.Join(header, " ") != strings.Join(wantHeader, " ") {
		t.Errorf("columns %v, want %v", header, wantHeader)
	}
	row := strings.Fields(lines[1])
	if len(row) < 8 || row[0] != "demo" || row[1] != "prod" || row[2] != "origin" || row[3] != "main" ||
		row[4] != "clusters/prod" || row[5] != "False" || row[6] != "BootstrapNotComplete" {
		t.Errorf("row %v", row)
	}
	out = k.must("get", "gittargets", "-n", "demo", "-o", "wide")
	if !strings.Contains(out, "BLOCKING GATE") || !strings.Contains(out, "the server has no source cluster (--kubeconfig)") {
		t.Errorf("-o wide:\n%s", out)
	}

	out = k.must("get", "gittarget", "prod", "-n", "demo", "--subresource=gates")
	gateLines := strings.Split(strings.TrimSpace(out), "\n")
	if len(gateLines) != 7 || !strings.HasPrefix(gateLines[0], "GATE") {
		t.Fatalf("gates table:\n%s", out)
	}
	for i, g := range []string{"Validated True OK", "EncryptionConfigured True NotRequired", "Bootstrapped False WorkerNotFound",
		"SnapshotSynced Unknown NotChecked", "EventStreamLive Unknown NotChecked", "Ready False BootstrapNotComplete"} {
		if f := strings.Fields(gateLines[i+1]); strings.Join(f[:3], " ") != g {
			t.Errorf("gate row %d is %q, want %s", i, gateLines[i+1], g)
		}
	}
	out = k.must("get", "gittarget", "prod", "-n", "demo", "--subresource=snapshot")
	if !strings.Contains(out, "CREATED") || !strings.Contains(out, "DELETED") {
		t.Errorf("snapshot table:\n%s", out)
	}
	out = k.must("get", "gitproviders,watchrules", "-n", "demo")
	if !strings.Contains(out, "https://git.example.com/org/fleet.git") || !strings.Contains(out, "configmaps,secrets") {
		t.Errorf("providers/rules:\n%s", out)
	}

	// Status is read-only, even for the administrator.
	if out, err := k.run("patch", "gittarget", "prod", "-n", "demo", "--subresource=status", "--type=merge",
		"-p", `{"status":{"lastCommit":"forged"}}`); err == nil || !strings.Contains(out, "MethodNotAllowed") {
		t.Errorf("patching status succeeded or failed oddly: %v\n%s", err, out)
	}
	// Bad input is refused with the field path.
	if out, err := k.run("patch", "gittarget", "prod", "-n", "demo", "--type=merge", "-p", `{"spec":{"path":"../etc"}}`); err == nil ||
		!strings.Contains(out, "spec.path") {
		t.Errorf("invalid path accepted: %v\n%s", err, out)
	}
	out = k.must("get", "gittarget", "prod", "-n", "demo", "-o", "jsonpath={.spec.path}")
	if out != "clusters/prod" {
		t.Errorf("path changed to %q by a rejected patch", out)
	}
	k.must("delete", "-f", file)
}
