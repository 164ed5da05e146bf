package node

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// containerRuntime is the node's containerd: its own root, state and socket
// under Dir (it never meets a system containerd), the images imported into
// the kubelet's namespace, and, on Stop, the containers removed.
type containerRuntime struct {
	n    *Node
	sock string
}

// start writes containerd's configuration and the CNI configuration its CRI
// reads, runs containerd, and imports the pause image (no registry is
// reachable).
func (r *containerRuntime) start(ctx context.Context) error {
	n := r.n
	for _, d := range []string{"containerd", "cni/net.d", "cni/ipam", "logs"} {
		if err := os.MkdirAll(n.path(d), 0o755); err != nil {
			return err
		}
	}
	if err := os.WriteFile(n.path("containerd/config.toml"), []byte(r.config()), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(n.path("cni/net.d/10-bridge.conflist"), []byte(n.net.cniConfig()), 0o644); err != nil {
		return err
	}
	bin, err := exec.LookPath("containerd")
	if err != nil {
		return err
	}
	if err := n.start(ctx, bin, []string{"--config=" + n.path("containerd/config.toml")}, 30*time.Second, func() error {
		_, err := r.ctr("version")
		return err
	}); err != nil {
		return err
	}
	pause := filepath.Join(n.opts.RepoRoot, "_output", "images", "pause.tar")
	return r.importImage(ctx, pause)
}

// importImage loads an image tarball (hack/image) into the kubelet's namespace.
func (r *containerRuntime) importImage(_ context.Context, tarball string) error {
	out, err := r.ctr("images", "import", "--all-platforms", tarball)
	if err != nil {
		return fmt.Errorf("ctr images import %s: %v", tarball, err)
	}
	r.n.logf("imported %s", strings.TrimSpace(strings.ReplaceAll(out, "\n", "; ")))
	return nil
}

// ctr runs containerd's CLI in the kubelet's namespace.
func (r *containerRuntime) ctr(args ...string) (string, error) {
	cmd := exec.Command("ctr", append([]string{"--address", r.sock, "--namespace", containerdNS}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%v: %s", err, out)
	}
	return string(out), nil
}

// removeContainers kills every task in the kubelet's containerd namespace and
// deletes the containers; their network namespaces (CNI's) go with them.
func (r *containerRuntime) removeContainers() {
	out, err := r.ctr("tasks", "ls", "-q")
	if err == nil {
		for _, id := range strings.Fields(out) {
			_, _ = r.ctr("tasks", "kill", "-s", "SIGKILL", id)
		}
		deadline := time.Now().Add(10 * time.Second)
		for _, id := range strings.Fields(out) {
			for time.Now().Before(deadline) {
				if _, err := r.ctr("tasks", "delete", "-f", id); err == nil {
					break
				}
				time.Sleep(200 * time.Millisecond)
			}
		}
	}
	if out, err := r.ctr("containers", "ls", "-q"); err == nil {
		for _, id := range strings.Fields(out) {
			_, _ = r.ctr("containers", "delete", id)
		}
	}
	// The sandboxes' network namespaces, bind-mounted by containerd's CRI.
	nss, _ := filepath.Glob("/var/run/netns/cni-*")
	for _, ns := range nss {
		_ = syscall.Unmount(ns, syscall.MNT_DETACH)
		_ = os.Remove(ns)
	}
}

// containerdConfig is containerd's CRI setup for this machine (docs/testing.md,
// "The one-node cluster"): its own root, state and socket, so it never meets a system
// containerd; runc with cgroupfs (cgroup v1, no systemd); restrict_oom_score_adj
// because the machine lacks CAP_SYS_RESOURCE (runc otherwise fails with "can't
// get final child's PID from pipe"); the sandbox image we build and import, as
// no registry is reachable; CNI from Debian's containernetworking-plugins.
func (r *containerRuntime) config() string {
	n := r.n
	return fmt.Sprintf(`version = 2
root = %[1]q
state = %[2]q
[grpc]
  address = %[3]q
[ttrpc]
  address = %[4]q
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %[5]q
  restrict_oom_score_adj = true
  disable_apparmor = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %[6]q
    conf_dir = %[7]q
[plugins."io.containerd.internal.v1.opt"]
  path = %[8]q
`, n.path("containerd/root"), n.path("containerd/state"), r.sock, r.sock+".ttrpc",
		PauseImage, n.opts.CNIBinDir, n.path("cni/net.d"), n.path("containerd/opt"))
}
