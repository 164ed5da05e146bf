package stack

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/configbutler/gitops-reverser/pkg/pki"
)

// OurServer runs our server, gitops-reverser-apiserver, as a process of the
// stack with the identity artifacts/deploy gives it in a cluster, and its
// replicas (replica.go). Tests restart it with other flags and kill it.
type OurServer struct {
	s *Stack

	ServerURL string
	Server    *Process
	// ServerExtraArgs are the extra flags the server was last started with.
	ServerExtraArgs []string
}

// setupServerIdentity applies the deploy RBAC and service account and writes a
// kubeconfig with that service account's token: locally, our server runs with
// exactly the permissions artifacts/deploy grants it in a cluster.
func (o *OurServer) setupServerIdentity(ctx context.Context) error {
	s := o.s
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
	caPEM, err := os.ReadFile(s.pki.file("kube-ca.crt"))
	if err != nil {
		return err
	}
	s.ServerKubeconfig = filepath.Join(s.opts.Dir, "gitops-reverser.kubeconfig")
	return writeKubeconfig(s.ServerKubeconfig, s.KubeURL, caPEM, &clientcmdapi.AuthInfo{Token: strings.TrimSpace(out)})
}

// StartServer starts gitops-reverser-apiserver and waits until it is ready;
// extraArgs come last (a repeated flag overrides the stack's).
func (o *OurServer) StartServer(ctx context.Context, extraArgs ...string) error {
	s := o.s
	certFile, keyFile := pki.Files(s.pki.dir, "server")
	o.ServerURL = "https://127.0.0.1:" + strconv.Itoa(s.Ports.Server)
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
	o.ServerExtraArgs = append([]string(nil), extraArgs...)
	o.Server = &Process{Name: "gitops-reverser-apiserver", Bin: s.bin("gitops-reverser-apiserver"), Args: args, Env: s.opts.ServerEnv,
		Log: filepath.Join(s.LogDir(), "gitops-reverser-apiserver.log")}
	s.logf("starting gitops-reverser-apiserver on %s", o.ServerURL)
	if err := o.Server.Start(); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	return waitFor(wctx, o.Server, "gitops-reverser-apiserver readiness", func() error {
		return HTTPGetOK(o.ServerURL+"/readyz", s.pki.serverCAPEM)
	})
}

// StopServer stops our server gracefully.
func (o *OurServer) StopServer() { o.Server.Stop(30 * time.Second) }

// ServerDataDir is our server's --data-dir (its clones).
func (o *OurServer) ServerDataDir() string { return filepath.Join(o.s.opts.Dir, "server") }
