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
	"strconv"
	"strings"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/configbutler/gitops-reverser/pkg/pki"
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

// Node is a running one-node cluster.
type Node struct {
	opts  Options
	Ports Ports
	// AdminKubeconfig authenticates as a cluster administrator.
	AdminKubeconfig string
	KubeURL         string

	procs          []*stack.Process // in start order
	containerdSock string
	binDir         string
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
	n := &Node{opts: opts, binDir: filepath.Join(opts.RepoRoot, "bin"), containerdSock: filepath.Join(dir, "containerd", "c.sock")}
	if len(n.containerdSock) > 100 {
		return nil, fmt.Errorf("node: %s is too long for a unix socket; use a shorter Dir", n.containerdSock)
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
		{"sysctls", n.sysctls},
		{"etcd", n.startEtcd},
		{"kube-apiserver", n.startKubeAPIServer},
		{"kube-controller-manager", n.startControllerManager},
		{"kube-scheduler", n.startScheduler},
		{"containerd", n.startContainerd},
		{"kubelet", n.startKubelet},
		// After the kubelet: its health endpoint wants the Node object.
		{"kube-proxy", n.startKubeProxy},
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

func (n *Node) setupPKI(context.Context) error {
	d := n.path("pki")
	ca, err := pki.LoadOrCreate(d, "kube-ca", func() (*pki.Pair, error) { return pki.NewCA("kube-ca") })
	if err != nil {
		return err
	}
	host := net.ParseIP(n.opts.HostIP)
	certs := map[string]pki.Request{
		"kube-apiserver": {CommonName: "kube-apiserver", Server: true,
			IPs:      []net.IP{net.ParseIP("127.0.0.1"), host, net.ParseIP(KubernetesSvc)},
			DNSNames: []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}},
		"kubelet-serving":    {CommonName: "system:node:" + NodeName, Server: true, IPs: []net.IP{host}, DNSNames: []string{NodeName}},
		"admin":              {CommonName: "admin", Organization: []string{"system:masters"}, Client: true},
		"kubelet":            {CommonName: "system:node:" + NodeName, Organization: []string{"system:nodes"}, Client: true},
		"apiserver-kubelet":  {CommonName: "kube-apiserver-kubelet-client", Organization: []string{"system:masters"}, Client: true},
		"controller-manager": {CommonName: "system:kube-controller-manager", Client: true},
		"audit-webhook":      {CommonName: AuditReporter, Client: true},
		"scheduler":          {CommonName: "system:kube-scheduler", Client: true},
		"kube-proxy":         {CommonName: "system:kube-proxy", Client: true},
	}
	for name, req := range certs {
		if _, err := pki.LoadOrCreate(d, name, func() (*pki.Pair, error) { return ca.Issue(req) }); err != nil {
			return err
		}
	}
	front, err := pki.LoadOrCreate(d, "front-proxy-ca", func() (*pki.Pair, error) { return pki.NewCA("front-proxy-ca") })
	if err != nil {
		return err
	}
	if _, err := pki.LoadOrCreate(d, "front-proxy-client", func() (*pki.Pair, error) {
		return front.Issue(pki.Request{CommonName: "front-proxy-client", Client: true})
	}); err != nil {
		return err
	}
	if _, err := pki.LoadOrCreate(d, "service-account", func() (*pki.Pair, error) { return pki.NewCA("service-account") }); err != nil {
		return err
	}
	n.KubeURL = "https://" + net.JoinHostPort(n.opts.HostIP, strconv.Itoa(n.Ports.KubeAPIServer))
	kubeconfigs := map[string]string{"admin": "admin.kubeconfig", "kubelet": "kubelet.kubeconfig",
		"controller-manager": "controller-manager.kubeconfig", "scheduler": "scheduler.kubeconfig", "kube-proxy": "kube-proxy.kubeconfig"}
	for cert, file := range kubeconfigs {
		p, err := pki.Load(d, cert)
		if err != nil {
			return err
		}
		if err := writeKubeconfig(n.path(file), n.KubeURL, ca.CertPEM(), p); err != nil {
			return err
		}
	}
	n.AdminKubeconfig = n.path("admin.kubeconfig")
	return nil
}

func writeKubeconfig(file, server string, caPEM []byte, p *pki.Pair) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["node"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caPEM}
	cfg.AuthInfos["user"] = &clientcmdapi.AuthInfo{ClientCertificateData: p.CertPEM(), ClientKeyData: p.KeyPEM()}
	cfg.Contexts["node"] = &clientcmdapi.Context{Cluster: "node", AuthInfo: "user"}
	cfg.CurrentContext = "node"
	return clientcmd.WriteToFile(*cfg, file)
}

// sysctls: pods' traffic is routed through the host, and bridged traffic
// passes iptables so kube-proxy's Service rules apply between pods too.
func (n *Node) sysctls(context.Context) error {
	if _, err := os.Stat("/proc/sys/net/bridge"); err != nil {
		if out, err := exec.Command("modprobe", "br_netfilter").CombinedOutput(); err != nil {
			return fmt.Errorf("bridged traffic must pass iptables: modprobe br_netfilter: %v %s", err, bytes.TrimSpace(out))
		}
	}
	for k, v := range map[string]string{"net/ipv4/ip_forward": "1", "net/bridge/bridge-nf-call-iptables": "1"} {
		if err := os.WriteFile("/proc/sys/"+k, []byte(v), 0o644); err != nil {
			return err
		}
	}
	return nil
}

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

func (n *Node) startEtcd(ctx context.Context) error {
	url := "http://127.0.0.1:" + strconv.Itoa(n.Ports.EtcdClient)
	peer := "http://127.0.0.1:" + strconv.Itoa(n.Ports.EtcdPeer)
	return n.start(ctx, "etcd", []string{
		"--name=node", "--data-dir=" + n.path("etcd"),
		"--listen-client-urls=" + url, "--advertise-client-urls=" + url,
		"--listen-peer-urls=" + peer, "--initial-advertise-peer-urls=" + peer,
		"--initial-cluster=node=" + peer, "--log-level=warn", "--unsafe-no-fsync",
	}, 60*time.Second, func() error { return stack.HTTPGetOK(url+"/health", nil) })
}

func (n *Node) startKubeAPIServer(ctx context.Context) error {
	f := n.pki
	audit, err := n.auditArgs()
	if err != nil {
		return err
	}
	return n.start(ctx, "kube-apiserver", append(audit,
		"--etcd-servers=http://127.0.0.1:"+strconv.Itoa(n.Ports.EtcdClient),
		// Pods reach it through the kubernetes Service: the endpoint reconciler
		// publishes this address, and refuses loopback.
		"--bind-address="+n.opts.HostIP, "--advertise-address="+n.opts.HostIP,
		"--secure-port="+strconv.Itoa(n.Ports.KubeAPIServer),
		"--cert-dir="+n.path("kube-apiserver-certs"),
		"--tls-cert-file="+f("kube-apiserver.crt"), "--tls-private-key-file="+f("kube-apiserver.key"),
		"--client-ca-file="+f("kube-ca.crt"),
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file="+f("service-account.key"),
		"--service-account-signing-key-file="+f("service-account.key"),
		"--service-cluster-ip-range="+ServiceCIDR,
		"--authorization-mode=Node,RBAC",
		"--enable-admission-plugins=NodeRestriction",
		"--kubelet-client-certificate="+f("apiserver-kubelet.crt"), "--kubelet-client-key="+f("apiserver-kubelet.key"),
		"--kubelet-certificate-authority="+f("kube-ca.crt"),
		// No DNS for the node's name.
		"--kubelet-preferred-address-types=InternalIP,Hostname",
		"--requestheader-client-ca-file="+f("front-proxy-ca.crt"),
		"--requestheader-allowed-names=front-proxy-client",
		"--requestheader-username-headers=X-Remote-User",
		"--requestheader-group-headers=X-Remote-Group",
		"--requestheader-extra-headers-prefix=X-Remote-Extra-",
		"--proxy-client-cert-file="+f("front-proxy-client.crt"), "--proxy-client-key-file="+f("front-proxy-client.key"),
		"--profiling=false",
	), 120*time.Second, func() error {
		_, err := n.Kubectl("get", "--raw", "/readyz")
		return err
	})
}

// auditArgs: the audit webhook of Options.Audit, with the client certificate
// of AuditReporter from the cluster's CA. Until our Service exists its batches
// fail and are dropped; nothing waits on them.
func (n *Node) auditArgs() ([]string, error) {
	a := n.opts.Audit
	if a == nil {
		return nil, nil
	}
	p, err := pki.Load(n.path("pki"), "audit-webhook")
	if err != nil {
		return nil, err
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["server"] = &clientcmdapi.Cluster{Server: a.URL, CertificateAuthorityData: a.CAPEM, TLSServerName: a.ServerName}
	cfg.AuthInfos["kube-apiserver"] = &clientcmdapi.AuthInfo{ClientCertificateData: p.CertPEM(), ClientKeyData: p.KeyPEM()}
	cfg.Contexts["audit"] = &clientcmdapi.Context{Cluster: "server", AuthInfo: "kube-apiserver"}
	cfg.CurrentContext = "audit"
	file := n.path("audit-webhook.kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, file); err != nil {
		return nil, err
	}
	return []string{
		"--audit-policy-file=" + filepath.Join(n.opts.RepoRoot, "artifacts", "audit", "policy.yaml"),
		"--audit-webhook-config-file=" + file,
		"--audit-webhook-mode=batch",
		"--audit-webhook-batch-max-wait=1s",
	}, nil
}

func (n *Node) startControllerManager(ctx context.Context) error {
	kc := n.path("controller-manager.kubeconfig")
	return n.start(ctx, "kube-controller-manager", []string{
		"--kubeconfig=" + kc, "--authentication-kubeconfig=" + kc, "--authorization-kubeconfig=" + kc,
		"--bind-address=127.0.0.1", "--secure-port=0", "--leader-elect=false",
		"--use-service-account-credentials=true",
		"--service-account-private-key-file=" + n.pki("service-account.key"),
		"--root-ca-file=" + n.pki("kube-ca.crt"),
		"--cluster-signing-cert-file=" + n.pki("kube-ca.crt"), "--cluster-signing-key-file=" + n.pki("kube-ca.key"),
		"--profiling=false",
	}, 90*time.Second, func() error {
		_, err := n.Kubectl("get", "serviceaccount", "default", "-n", "default")
		return err
	})
}

func (n *Node) startScheduler(ctx context.Context) error {
	kc := n.path("scheduler.kubeconfig")
	return n.start(ctx, "kube-scheduler", []string{
		"--kubeconfig=" + kc, "--authentication-kubeconfig=" + kc, "--authorization-kubeconfig=" + kc,
		"--bind-address=127.0.0.1", "--secure-port=0", "--leader-elect=false", "--profiling=false",
	}, 30*time.Second, func() error { return nil })
}

func (n *Node) startContainerd(ctx context.Context) error {
	for _, d := range []string{"containerd", "cni/net.d", "cni/ipam", "logs"} {
		if err := os.MkdirAll(n.path(d), 0o755); err != nil {
			return err
		}
	}
	if err := os.WriteFile(n.path("containerd/config.toml"), []byte(n.containerdConfig()), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(n.path("cni/net.d/10-bridge.conflist"), []byte(n.cniConfig()), 0o644); err != nil {
		return err
	}
	bin, err := exec.LookPath("containerd")
	if err != nil {
		return err
	}
	if err := n.start(ctx, bin, []string{"--config=" + n.path("containerd/config.toml")}, 30*time.Second, func() error {
		_, err := n.ctr("version")
		return err
	}); err != nil {
		return err
	}
	pause := filepath.Join(n.opts.RepoRoot, "_output", "images", "pause.tar")
	return n.ImportImage(ctx, pause)
}

// ImportImage loads an image tarball (hack/image) into the kubelet's namespace.
func (n *Node) ImportImage(ctx context.Context, tarball string) error {
	out, err := n.ctr("images", "import", "--all-platforms", tarball)
	if err != nil {
		return fmt.Errorf("ctr images import %s: %v", tarball, err)
	}
	n.logf("imported %s", strings.TrimSpace(strings.ReplaceAll(out, "\n", "; ")))
	return nil
}

func (n *Node) ctr(args ...string) (string, error) {
	cmd := exec.Command("ctr", append([]string{"--address", n.containerdSock, "--namespace", containerdNS}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%v: %s", err, out)
	}
	return string(out), nil
}

func (n *Node) startKubeProxy(ctx context.Context) error {
	if err := os.WriteFile(n.path("kube-proxy.yaml"), []byte(n.kubeProxyConfig()), 0o644); err != nil {
		return err
	}
	return n.start(ctx, "kube-proxy", []string{"--config=" + n.path("kube-proxy.yaml")}, 60*time.Second, func() error {
		return stack.HTTPGetOK("http://127.0.0.1:"+strconv.Itoa(n.Ports.ProxyHealthz)+"/healthz", nil)
	})
}

func (n *Node) startKubelet(ctx context.Context) error {
	if err := os.WriteFile(n.path("kubelet.yaml"), []byte(n.kubeletConfig()), 0o644); err != nil {
		return err
	}
	return n.start(ctx, "kubelet", []string{
		"--config=" + n.path("kubelet.yaml"),
		"--kubeconfig=" + n.path("kubelet.kubeconfig"),
		"--root-dir=" + n.path("kubelet"),
		"--cert-dir=" + n.path("kubelet-certs"),
		"--hostname-override=" + NodeName,
		"--node-ip=" + n.opts.HostIP,
	}, 120*time.Second, func() error {
		out, err := n.Kubectl("get", "node", NodeName, "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}`)
		if err != nil {
			return err
		}
		if out != "True" {
			return fmt.Errorf("node Ready=%q", out)
		}
		return nil
	})
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
