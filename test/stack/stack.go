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
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
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

// Stack is a running local system. It is made of parts with one job each,
// embedded so that tests reach every part through the stack (st.Kubectl,
// st.StartServer, st.Git.RepoPath): Client runs kubectl, ControlPlane the
// etcd, kube-apiserver and kube-controller-manager processes, OurServer our
// server and its replicas, APIService the registration with the aggregator
// and the readiness of our API through it, Remote the Git remote. The stack
// itself holds what they share: the options, ports, state directory, PKI and
// kubeconfigs.
type Stack struct {
	opts  Options
	Ports Ports

	// ReaderKubeconfig authenticates as user "reader" (no permissions until bound).
	ReaderKubeconfig string
	// ServerKubeconfig is our server's identity: the gitops-reverser ServiceAccount.
	ServerKubeconfig string
	// DirectKubeconfig reaches our server directly, not through the aggregator, as
	// the administrator (system:masters is authorized without kube-apiserver, so
	// it works while kube-apiserver is down).
	DirectKubeconfig string

	*Client
	*ControlPlane
	*OurServer
	*APIService
	*Remote

	pki    *authority
	binDir string
}

// newStack lays a stack out (nothing runs yet): every part exists from the
// start, so Stop works whatever step failed.
func newStack(opts Options) *Stack {
	s := &Stack{opts: opts, binDir: filepath.Join(opts.RepoRoot, "bin"), pki: &authority{dir: filepath.Join(opts.Dir, "pki")}}
	s.Client = &Client{kubectl: s.bin("kubectl")}
	s.ControlPlane = &ControlPlane{s: s}
	s.OurServer = &OurServer{s: s}
	s.APIService = &APIService{s: s}
	s.Remote = &Remote{s: s}
	return s
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
	s := newStack(opts)
	if err := s.checkBinaries(); err != nil {
		return nil, err
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
	if err := s.register(ctx); err != nil {
		return nil, err
	}
	ok = true
	return s, nil
}

// checkBinaries: every binary the stack runs is in bin/.
func (s *Stack) checkBinaries() error {
	bins := []string{"etcd", "kube-apiserver", "kubectl", "gitops-reverser-apiserver"}
	if !s.opts.NoControllerManager {
		bins = append(bins, "kube-controller-manager")
	}
	for _, b := range bins {
		if _, err := os.Stat(filepath.Join(s.binDir, b)); err != nil {
			return fmt.Errorf("stack: %s/%s is missing: run `make tools build`", s.binDir, b)
		}
	}
	return nil
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
