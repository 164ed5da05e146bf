// Package framework starts the API server in-process for integration tests:
// standalone mode, embedded etcd, a free loopback port, a temp data dir.
package framework

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/configbutler/gitops-reverser/pkg/apiserver"
	"github.com/configbutler/gitops-reverser/pkg/cmd/server"
	"github.com/configbutler/gitops-reverser/pkg/generated/clientset/versioned"
)

// Server is an in-process gitops-reverser-apiserver.
type Server struct {
	// Kubeconfig is the file the server wrote (admin client certificate).
	Kubeconfig string
	// Config is the admin client config.
	Config *rest.Config
	// Client is the generated clientset.
	Client versioned.Interface
	// Writers are the internal status writers (the lifecycle's only way to write status).
	Writers apiserver.StatusWriters
	// Token is the standalone bearer token.
	Token string
	// URL is the server's base URL.
	URL string

	cancel context.CancelFunc
	done   chan error
}

// Start runs a standalone server with its data under dataDir. extraArgs are
// appended to the command line. Stop it with Stop.
func Start(dataDir string, extraArgs ...string) (*Server, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	kubeconfig := filepath.Join(dataDir, "kubeconfig")

	ctx, cancel := context.WithCancel(context.Background())
	opts := server.NewOptions(io.Discard, io.Discard)
	ready := make(chan struct{})
	opts.Ready = ready
	var srv *apiserver.Server
	opts.OnStarted = func(s *apiserver.Server) { srv = s }
	opts.RecommendedOptions.SecureServing.Listener = l

	cmd := server.NewCommand(ctx, opts)
	cmd.SetArgs(append([]string{
		"--standalone",
		fmt.Sprintf("--secure-port=%d", port),
		"--data-dir=" + dataDir,
		"--write-kubeconfig=" + kubeconfig,
		// The API alone: status is written by the tests through the internal writer.
		"--lifecycle=false",
	}, extraArgs...))
	cmd.SetOut(io.Discard)
	cmd.SetErr(os.Stderr)

	s := &Server{Kubeconfig: kubeconfig, cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- cmd.Execute() }()

	select {
	case <-ready:
	case err := <-s.done:
		cancel()
		return nil, fmt.Errorf("server exited before it was ready: %w", err)
	case <-time.After(90 * time.Second):
		s.Stop()
		return nil, fmt.Errorf("server not ready within 90s")
	}
	s.Writers = srv.StatusWriters
	if s.Config, err = clientcmd.BuildConfigFromFlags("", kubeconfig); err != nil {
		s.Stop()
		return nil, err
	}
	s.Config.QPS, s.Config.Burst = 1000, 2000
	if s.Client, err = versioned.NewForConfig(s.Config); err != nil {
		s.Stop()
		return nil, err
	}
	tok, err := os.ReadFile(filepath.Join(dataDir, "pki", "token"))
	if err != nil {
		s.Stop()
		return nil, err
	}
	s.Token = string(tok)
	s.URL = s.Config.Host
	return s, nil
}

// Stop shuts the server down and waits for it.
func (s *Server) Stop() {
	s.cancel()
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
	}
}
