// Package node brings up a real one-node Kubernetes cluster on this machine, for
// the install test (`make test-cluster`): etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler, kubelet and kube-proxy built from the
// same k8s.io/kubernetes pin as the rest of the stack (hack/tools), containerd
// and runc from Debian, and a bridge CNI from Debian's
// containernetworking-plugins. Nothing is pulled from a registry: the images
// (pause included) are built by hack/image and imported with ctr.
//
// Why a node and not more of test/stack: what an install can get wrong (images,
// probes, Services, anti-affinity, RBAC of a real ServiceAccount, a pod
// replaced mid-stream) only shows when a kubelet runs it.
//
// It needs root (containers, iptables, mounts). Everything lives under
// Options.Dir; Stop removes the containers, mounts, bridge and iptables rules it
// made. There is no cluster DNS: nothing in the test needs a name resolved
// inside a pod (the chart's etcd.bundled.resolve=env, remotes by IP).
package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/configbutler/gitops-reverser/test/stack"
)

// Names and ranges of the node.
const (
	NodeName      = "node-1"
	PodCIDR       = "10.88.0.0/16"
	ServiceCIDR   = "10.96.0.0/16"
	KubernetesSvc = "10.96.0.1"
	Bridge        = "grnode0"
	PauseImage    = "registry.k8s.io/pause:3.10"
	containerdNS  = "k8s.io"
)

// Options configure a node.
type Options struct {
	// Dir holds all state (must be short: containerd's socket lives there).
	Dir string
	// RepoRoot is the repository checkout (bin/ is found there).
	RepoRoot string
	// HostIP is the machine's own address (the endpoint reconciler refuses
	// loopback); empty picks the first non-loopback IPv4 address.
	HostIP string
	// CNIBinDir holds the CNI plugins (Debian: /usr/lib/cni).
	CNIBinDir string
	// Progress receives one line per step.
	Progress io.Writer
	// Audit, when set, has kube-apiserver report writes to our server through
	// its audit webhook (artifacts/audit/policy.yaml), as the README's
	// "Who changed what" describes for a cluster.
	Audit *AuditWebhook
}

// AuditWebhook is where kube-apiserver's audit webhook posts: our server's
// attribution endpoint through its Service.
type AuditWebhook struct {
	URL        string // e.g. https://10.96.0.50:443/attribution/v1/audit
	ServerName string // the name the serving certificate holds (the Service's DNS name)
	CAPEM      []byte // the CA of the serving certificate
}

// AuditReporter is the identity kube-apiserver's audit webhook presents (the
// server's default --attribution-reporters).
const AuditReporter = "system:kube-apiserver-audit"

// Ports of the node's listeners.
type Ports struct {
	EtcdClient, EtcdPeer, KubeAPIServer, Kubelet, KubeletHealthz, ProxyHealthz, ProxyMetrics int
}

// Node is a running one-node cluster. Its parts have one job each: the
// control plane (etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler), the container runtime (containerd), the kubelet, and the
// network (sysctls, the bridge CNI, kube-proxy); cleanup.go undoes what they
// leave on the machine. The node holds what they share: options, ports,
// paths, the processes in start order and the administrator's kubectl.
type Node struct {
	opts  Options
	Ports Ports
	// AdminKubeconfig authenticates as a cluster administrator.
	AdminKubeconfig string
	KubeURL         string

	control    *controlPlane
	containerd *containerRuntime
	kubelet    *kubelet
	net        *network

	procs  []*stack.Process // in start order
	binDir string
}

func (n *Node) path(p string) string { return filepath.Join(n.opts.Dir, p) }
func (n *Node) pki(p string) string  { return filepath.Join(n.opts.Dir, "pki", p) }
func (n *Node) bin(p string) string  { return filepath.Join(n.binDir, p) }

func (n *Node) logf(format string, args ...any) {
	if n.opts.Progress != nil {
		fmt.Fprintf(n.opts.Progress, "[node] "+format+"\n", args...)
	}
}

// Requirements lists what a node needs on this machine, as one error naming
// every missing part and how to get it.
func Requirements(repoRoot, cniBinDir string) error {
	var missing []string
	for _, b := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy", "kubectl"} {
		if _, err := os.Stat(filepath.Join(repoRoot, "bin", b)); err != nil {
			missing = append(missing, "bin/"+b+" (make tools)")
		}
	}
	for _, b := range []string{"containerd", "containerd-shim-runc-v2", "runc", "ctr", "iptables"} {
		if _, err := exec.LookPath(b); err != nil {
			missing = append(missing, b+" (hack/node-packages.sh)")
		}
	}
	for _, p := range []string{"bridge", "host-local", "loopback", "portmap"} {
		if _, err := os.Stat(filepath.Join(cniBinDir, p)); err != nil {
			missing = append(missing, cniBinDir+"/"+p+" (hack/node-packages.sh)")
		}
	}
	if os.Geteuid() != 0 {
		missing = append(missing, "root (containers, iptables and mounts)")
	}
	if len(missing) > 0 {
		return fmt.Errorf("a node needs: %s", strings.Join(missing, ", "))
	}
	return nil
}

// Start brings the node up and returns once it is Ready and kube-proxy serves.
func Start(ctx context.Context, opts Options) (*Node, error) {
	if opts.CNIBinDir == "" {
		opts.CNIBinDir = "/usr/lib/cni"
	}
	if err := Requirements(opts.RepoRoot, opts.CNIBinDir); err != nil {
		return nil, err
	}
	if opts.HostIP == "" {
		ip, err := hostIP()
		if err != nil {
			return nil, err
		}
		opts.HostIP = ip
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, err
	}
	opts.Dir = dir
	n := &Node{opts: opts, binDir: filepath.Join(opts.RepoRoot, "bin")}
	n.control, n.kubelet, n.net = &controlPlane{n: n}, &kubelet{n: n}, &network{n: n}
	n.containerd = &containerRuntime{n: n, sock: filepath.Join(dir, "containerd", "c.sock")}
	if len(n.containerd.sock) > 100 {
		return nil, fmt.Errorf("node: %s is too long for a unix socket; use a shorter Dir", n.containerd.sock)
	}
	ok := false
	defer func() {
		if !ok {
			n.Stop()
		}
	}()
	steps := []struct {
		what string
		fn   func(context.Context) error
	}{
		{"ports", n.pickPorts},
		{"pki", n.setupPKI},
		{"sysctls", n.net.sysctls},
		{"etcd", n.control.startEtcd},
		{"kube-apiserver", n.control.startKubeAPIServer},
		{"kube-controller-manager", n.control.startControllerManager},
		{"kube-scheduler", n.control.startScheduler},
		{"containerd", n.containerd.start},
		{"kubelet", n.kubelet.start},
		// After the kubelet: its health endpoint wants the Node object.
		{"kube-proxy", n.net.startKubeProxy},
	}
	start := time.Now()
	for _, s := range steps {
		if err := s.fn(ctx); err != nil {
			return nil, fmt.Errorf("node: %s: %w", s.what, err)
		}
	}
	n.logf("node %s Ready %.1fs after the first process started", NodeName, time.Since(start).Seconds())
	ok = true
	return n, nil
}

func hostIP() (string, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return "", err
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && !ipn.IP.IsLoopback() && !ipn.IP.IsLinkLocalUnicast() {
			if _, pods, _ := net.ParseCIDR(PodCIDR); pods.Contains(ipn.IP) {
				continue // our own bridge, left from an earlier run
			}
			return ipn.IP.String(), nil
		}
	}
	return "", errors.New("node: no non-loopback IPv4 address on this machine")
}

// HostIP is the address pods reach the machine at.
func (n *Node) HostIP() string { return n.opts.HostIP }

func (n *Node) pickPorts(context.Context) error {
	ps, err := stack.FreePorts(n.opts.HostIP, 7)
	if err != nil {
		return err
	}
	n.Ports = Ports{EtcdClient: ps[0], EtcdPeer: ps[1], KubeAPIServer: ps[2], Kubelet: ps[3], KubeletHealthz: ps[4], ProxyHealthz: ps[5], ProxyMetrics: ps[6]}
	return nil
}

// start runs a process of the node (a path for one not in bin/) and waits
// until ready passes; Stop stops it.
func (n *Node) start(ctx context.Context, name string, args []string, timeout time.Duration, ready func() error) error {
	p := &stack.Process{Name: name, Bin: n.bin(name), Args: args, Log: n.path("logs/" + name + ".log")}
	if strings.HasPrefix(name, "/") {
		p.Name, p.Bin, p.Log = filepath.Base(name), name, n.path("logs/"+filepath.Base(name)+".log")
	}
	n.logf("starting %s", p.Name)
	if err := p.Start(); err != nil {
		return err
	}
	n.procs = append(n.procs, p)
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return waitFor(wctx, p, p.Name, ready)
}

func waitFor(ctx context.Context, p *stack.Process, what string, check func() error) error {
	var last error
	for {
		if last = check(); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w (last error: %v)\nlog tail:\n%s", what, ctx.Err(), last, p.TailLog(2000))
		case <-p.Exited():
			return fmt.Errorf("%s exited\nlog tail:\n%s", what, p.TailLog(3000))
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// ImportImage loads an image tarball (hack/image) into the kubelet's namespace.
func (n *Node) ImportImage(ctx context.Context, tarball string) error {
	return n.containerd.importImage(ctx, tarball)
}

// Kubectl runs bin/kubectl as the administrator.
func (n *Node) Kubectl(args ...string) (string, error) {
	return n.KubectlStdin(nil, args...)
}

// KubectlStdin runs bin/kubectl as the administrator with standard input.
func (n *Node) KubectlStdin(stdin []byte, args ...string) (string, error) {
	cmd := exec.Command(n.bin("kubectl"), append([]string{"--kubeconfig=" + n.AdminKubeconfig}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("kubectl %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

// LogDir holds one log per process.
func (n *Node) LogDir() string { return n.path("logs") }
