// Package stack brings up the whole system on one machine, from real parts: an
// etcd, a kube-apiserver with the aggregation layer, our server registered by an
// APIService (caBundle, through an ExternalName Service to loopback), and a Git
// remote served by `git http-backend` with basic auth. `make run`
// (hack/local-up.sh) and the end-to-end tests both use it.
//
// All state lives under Options.Dir (PKI, etcd data, logs, the git repositories,
// the chosen ports), so starting again on the same Dir reuses it.
package stack

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/configbutler/gitops-reverser/pkg/pki"
	"github.com/configbutler/gitops-reverser/test/gitserver"
)

// Options configure a stack.
type Options struct {
	// Dir holds all state; reused when it exists.
	Dir string
	// RepoRoot is the repository checkout (bin/ and artifacts/ are found there).
	RepoRoot string
	// FixedPorts uses the well-known ports of `make run` (see DefaultPorts)
	// instead of free ones; either way the choice is kept in Dir.
	FixedPorts bool
	// Progress receives one line per step.
	Progress io.Writer
	// ServerArgs are extra flags for gitops-reverser-apiserver, ServerEnv extra
	// environment (e.g. GOMEMLIMIT).
	ServerArgs []string
	ServerEnv  []string
	// FastEtcd trades durability for speed (tests): etcd --unsafe-no-fsync.
	FastEtcd bool
	// NoControllerManager leaves kube-controller-manager out (benchmarks
	// comparable with runs before it was part of the stack).
	NoControllerManager bool
	// NoAttribution runs kube-apiserver without its audit webhook and our
	// server without reporters: commits are authored by field managers.
	NoAttribution bool
}

// Ports of the stack's listeners.
type Ports struct {
	EtcdClient    int `json:"etcdClient"`
	EtcdPeer      int `json:"etcdPeer"`
	KubeAPIServer int `json:"kubeAPIServer"`
	Server        int `json:"server"`
	Git           int `json:"git"`
}

// DefaultPorts are the ports of `make run`; artifacts/example points at Git's.
var DefaultPorts = Ports{EtcdClient: 22379, EtcdPeer: 22380, KubeAPIServer: 16443, Server: 18443, Git: 18080}

// Names used in the cluster.
const (
	ServerNamespace = "gitops-reverser"
	ServerName      = "gitops-reverser"
	// LocalServiceName is the ExternalName Service that routes the APIService to
	// our server on loopback (artifacts/deploy's "gitops-reverser" Service is the
	// in-cluster ClusterIP one).
	LocalServiceName = "gitops-reverser-local"
	APIServiceName   = "v1alpha1.configbutler.ai"
	ExampleGitURL    = "http://127.0.0.1:18080/demo.git"
	GitUser          = "gitops"
	DemoRepo         = "demo"
)

// Stack is a running local system.
type Stack struct {
	opts  Options
	Ports Ports

	// AdminKubeconfig authenticates as a cluster administrator (system:masters).
	AdminKubeconfig string
	// ReaderKubeconfig authenticates as user "reader" (no permissions until bound).
	ReaderKubeconfig string
	// ServerKubeconfig is our server's identity: the gitops-reverser ServiceAccount.
	ServerKubeconfig string
	// DirectKubeconfig reaches our server directly, not through the aggregator, as
	// the administrator (system:masters is authorized without kube-apiserver, so
	// it works while kube-apiserver is down).
	DirectKubeconfig string
	EtcdURL          string
	KubeURL          string
	ServerURL        string

	Etcd          *Process
	KubeAPIServer *Process
	// ControllerManager is kube-controller-manager (nil with NoControllerManager).
	ControllerManager *Process
	Server            *Process
	// ServerExtraArgs are the extra flags the server was last started with.
	ServerExtraArgs []string

	// AuditOff: the next StartKubeAPIServer runs without the audit webhook
	// (attribution reports stop; tests of the fallback).
	AuditOff bool
	// KubeAPIServerAudits: kube-apiserver was last started with the audit
	// webhook.
	KubeAPIServerAudits bool

	Git         *gitserver.Server
	GitPassword string
	serverCAPEM []byte
	kubeServing string
	pkiDir      string
	binDir      string
}

func (s *Stack) logf(format string, args ...any) {
	if s.opts.Progress != nil {
		fmt.Fprintf(s.opts.Progress, "[stack] "+format+"\n", args...)
	}
}

// Start brings up etcd, kube-apiserver, the RBAC and identity of our server, our
// server and its APIService, and the Git remote. It does not apply the example.
func Start(ctx context.Context, opts Options) (*Stack, error) {
	if opts.Dir == "" || opts.RepoRoot == "" {
		return nil, errors.New("stack: Dir and RepoRoot are required")
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, err
	}
	opts.Dir = dir
	s := &Stack{opts: opts, pkiDir: filepath.Join(dir, "pki"), binDir: filepath.Join(opts.RepoRoot, "bin")}
	bins := []string{"etcd", "kube-apiserver", "kubectl", "gitops-reverser-apiserver"}
	if !opts.NoControllerManager {
		bins = append(bins, "kube-controller-manager")
	}
	for _, b := range bins {
		if _, err := os.Stat(filepath.Join(s.binDir, b)); err != nil {
			return nil, fmt.Errorf("stack: %s/%s is missing: run `make tools build`", s.binDir, b)
		}
	}
	if err := s.loadPorts(); err != nil {
		return nil, err
	}
	if err := s.setupPKI(); err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			s.Stop()
		}
	}()
	if err := s.startEtcd(ctx); err != nil {
		return nil, err
	}
	if err := s.StartKubeAPIServer(ctx); err != nil {
		return nil, err
	}
	if err := s.setupServerIdentity(ctx); err != nil {
		return nil, err
	}
	if !opts.NoControllerManager {
		if err := s.StartControllerManager(ctx); err != nil {
			return nil, err
		}
	}
	if err := s.startGit(); err != nil {
		return nil, err
	}
	if err := s.StartServer(ctx); err != nil {
		return nil, err
	}
	if err := s.registerAPIService(ctx); err != nil {
		return nil, err
	}
	ok = true
	return s, nil
}

// Stop stops everything the stack started, newest first.
func (s *Stack) Stop() {
	for _, p := range []*Process{s.Server, s.ControllerManager, s.KubeAPIServer, s.Etcd} {
		if p != nil {
			p.Stop(15 * time.Second)
		}
	}
	if s.Git != nil {
		_ = s.Git.Close()
	}
}

// Dir is the stack's state directory.
func (s *Stack) Dir() string { return s.opts.Dir }

// LogDir holds one log per process.
func (s *Stack) LogDir() string { return filepath.Join(s.opts.Dir, "logs") }

func (s *Stack) loadPorts() error {
	file := filepath.Join(s.opts.Dir, "ports.json")
	if b, err := os.ReadFile(file); err == nil {
		return json.Unmarshal(b, &s.Ports)
	}
	if s.opts.FixedPorts {
		s.Ports = DefaultPorts
	} else {
		ps, err := FreePorts("127.0.0.1", 5)
		if err != nil {
			return err
		}
		s.Ports = Ports{EtcdClient: ps[0], EtcdPeer: ps[1], KubeAPIServer: ps[2], Server: ps[3], Git: ps[4]}
	}
	if err := os.MkdirAll(s.opts.Dir, 0o700); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(s.Ports, "", "  ")
	return os.WriteFile(file, b, 0o600)
}

func (s *Stack) bin(name string) string { return filepath.Join(s.binDir, name) }

func (s *Stack) startEtcd(ctx context.Context) error {
	s.EtcdURL = "http://127.0.0.1:" + strconv.Itoa(s.Ports.EtcdClient)
	peer := "http://127.0.0.1:" + strconv.Itoa(s.Ports.EtcdPeer)
	args := []string{
		"--name=local", "--data-dir=" + filepath.Join(s.opts.Dir, "etcd"),
		"--listen-client-urls=" + s.EtcdURL, "--advertise-client-urls=" + s.EtcdURL,
		"--listen-peer-urls=" + peer, "--initial-advertise-peer-urls=" + peer,
		"--initial-cluster=local=" + peer, "--log-level=warn",
		"--auto-compaction-mode=periodic", "--auto-compaction-retention=1h",
	}
	if s.opts.FastEtcd {
		args = append(args, "--unsafe-no-fsync")
	}
	s.Etcd = &Process{Name: "etcd", Bin: s.bin("etcd"), Args: args, Log: filepath.Join(s.LogDir(), "etcd.log")}
	s.logf("starting etcd on %s", s.EtcdURL)
	if err := s.Etcd.Start(); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	return waitFor(wctx, s.Etcd, "etcd health", func() error { return HTTPGetOK(s.EtcdURL+"/health", nil) })
}

// StartKubeAPIServer starts kube-apiserver (again) and waits until it is ready.
func (s *Stack) StartKubeAPIServer(ctx context.Context) error {
	d := s.pkiDir
	f := func(name string) string { return filepath.Join(d, name) }
	args := []string{
		"--etcd-servers=" + s.EtcdURL,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(s.Ports.KubeAPIServer),
		"--cert-dir=" + filepath.Join(s.opts.Dir, "kube-apiserver-certs"),
		"--tls-cert-file=" + f("kube-apiserver.crt"), "--tls-private-key-file=" + f("kube-apiserver.key"),
		"--client-ca-file=" + f("kube-ca.crt"),
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file=" + f("service-account.key"),
		"--service-account-signing-key-file=" + f("service-account.key"),
		"--service-cluster-ip-range=10.96.0.0/24",
		"--authorization-mode=RBAC",
		// The aggregation layer: the request-header CA our server trusts, and the
		// client certificate kube-apiserver proxies with.
		"--requestheader-client-ca-file=" + f("front-proxy-ca.crt"),
		"--requestheader-allowed-names=front-proxy-client",
		"--requestheader-username-headers=X-Remote-User",
		"--requestheader-group-headers=X-Remote-Group",
		"--requestheader-extra-headers-prefix=X-Remote-Extra-",
		"--proxy-client-cert-file=" + f("front-proxy-client.crt"),
		"--proxy-client-key-file=" + f("front-proxy-client.key"),
		"--profiling=false",
		// No kube-proxy or nodes: the "kubernetes" Service endpoints would be a loopback IP, which the reconciler refuses.
		"--endpoint-reconciler-type=none",
	}
	audit, err := s.auditArgs()
	if err != nil {
		return err
	}
	args = append(args, audit...)
	s.KubeAPIServerAudits = len(audit) > 0
	s.KubeAPIServer = &Process{Name: "kube-apiserver", Bin: s.bin("kube-apiserver"), Args: args, Log: filepath.Join(s.LogDir(), "kube-apiserver.log")}
	s.logf("starting kube-apiserver on %s", s.KubeURL)
	if err := s.KubeAPIServer.Start(); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 120*time.Second)
	defer cancel()
	return waitFor(wctx, s.KubeAPIServer, "kube-apiserver readiness", func() error {
		out, err := s.Kubectl("get", "--raw", "/readyz")
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	})
}

// StopKubeAPIServer stops kube-apiserver (the source cluster goes away).
func (s *Stack) StopKubeAPIServer() { s.KubeAPIServer.Stop(30 * time.Second) }

// setupServerIdentity applies the deploy RBAC and service account and writes a
// kubeconfig with that service account's token: locally, our server runs with
// exactly the permissions artifacts/deploy grants it in a cluster.
func (s *Stack) setupServerIdentity(ctx context.Context) error {
	var manifests []byte
	for _, f := range []string{"00-namespace.yaml", "01-serviceaccount.yaml", "02-rbac.yaml"} {
		b, err := os.ReadFile(filepath.Join(s.opts.RepoRoot, "artifacts", "deploy", f))
		if err != nil {
			return err
		}
		manifests = append(append(manifests, b...), []byte("\n---\n")...)
	}
	s.logf("applying artifacts/deploy RBAC and service account")
	if err := s.Apply(ctx, manifests); err != nil {
		return err
	}
	out, err := s.Kubectl("create", "token", ServerName, "-n", ServerNamespace, "--duration=8760h")
	if err != nil {
		return fmt.Errorf("creating a token for the server: %v: %s", err, out)
	}
	caPEM, err := os.ReadFile(s.kubeServing)
	if err != nil {
		return err
	}
	s.ServerKubeconfig = filepath.Join(s.opts.Dir, "gitops-reverser.kubeconfig")
	return writeKubeconfig(s.ServerKubeconfig, s.KubeURL, caPEM, &clientcmdapi.AuthInfo{Token: strings.TrimSpace(out)})
}

// StartServer starts gitops-reverser-apiserver and waits until it is ready;
// extraArgs come last (a repeated flag overrides the stack's).
func (s *Stack) StartServer(ctx context.Context, extraArgs ...string) error {
	certFile, keyFile := pki.Files(s.pkiDir, "server")
	s.ServerURL = "https://127.0.0.1:" + strconv.Itoa(s.Ports.Server)
	args := append([]string{
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(s.Ports.Server),
		"--tls-cert-file=" + certFile, "--tls-private-key-file=" + keyFile,
		"--etcd-servers=" + s.EtcdURL,
		"--kubeconfig=" + s.ServerKubeconfig,
		"--authentication-kubeconfig=" + s.ServerKubeconfig,
		"--authorization-kubeconfig=" + s.ServerKubeconfig,
		"--data-dir=" + filepath.Join(s.opts.Dir, "server"),
		// The stack's Git server listens on loopback; nothing else local is allowed.
		"--allow-remotes=loopback",
	}, s.opts.ServerArgs...)
	if s.opts.NoAttribution {
		args = append(args, "--attribution-reporters=")
	}
	args = append(args, extraArgs...)
	s.ServerExtraArgs = append([]string(nil), extraArgs...)
	s.Server = &Process{Name: "gitops-reverser-apiserver", Bin: s.bin("gitops-reverser-apiserver"), Args: args, Env: s.opts.ServerEnv,
		Log: filepath.Join(s.LogDir(), "gitops-reverser-apiserver.log")}
	s.logf("starting gitops-reverser-apiserver on %s", s.ServerURL)
	if err := s.Server.Start(); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	return waitFor(wctx, s.Server, "gitops-reverser-apiserver readiness", func() error {
		return HTTPGetOK(s.ServerURL+"/readyz", s.serverCAPEM)
	})
}

// StopServer stops our server gracefully.
func (s *Stack) StopServer() { s.Server.Stop(30 * time.Second) }

// registerAPIService points the aggregator at our server: an ExternalName Service
// to localhost (no kube-proxy here) and an APIService with our CA as caBundle.
func (s *Stack) registerAPIService(ctx context.Context) error {
	manifest := fmt.Sprintf(`apiVersion: v1
kind: Service
metadata:
  name: %[1]s
  namespace: %[2]s
spec:
  type: ExternalName
  externalName: localhost
  ports:
  - name: https
    port: %[3]d
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata:
  name: %[4]s
spec:
  group: configbutler.ai
  version: v1alpha1
  groupPriorityMinimum: 1000
  versionPriority: 15
  caBundle: %[5]s
  service:
    name: %[1]s
    namespace: %[2]s
    port: %[3]d
`, LocalServiceName, ServerNamespace, s.Ports.Server, APIServiceName, base64.StdEncoding.EncodeToString(s.serverCAPEM))
	s.logf("registering APIService %s", APIServiceName)
	return s.Apply(ctx, []byte(manifest))
}

// ServerDataDir is our server's --data-dir (its clones).
func (s *Stack) ServerDataDir() string { return filepath.Join(s.opts.Dir, "server") }
