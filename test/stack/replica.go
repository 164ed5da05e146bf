package stack

import (
	"context"
	"net"
	"path/filepath"
	"strconv"
	"time"

	"github.com/configbutler/gitops-reverser/pkg/pki"
)

// Replica is an extra gitops-reverser-apiserver of the stack, sharing its etcd
// (directly or through a proxy) and source cluster. The APIService keeps
// pointing at the primary server; a replica is reached directly.
type Replica struct {
	Name       string
	Process    *Process
	URL        string
	Kubeconfig string // admin, straight to this replica
}

// StartReplica starts a replica named name on a free port, with its etcd at
// etcdURL ("" for the stack's), and waits until it is ready.
func (o *OurServer) StartReplica(ctx context.Context, name, etcdURL string, extraArgs ...string) (*Replica, error) {
	s := o.s
	if etcdURL == "" {
		etcdURL = s.EtcdURL
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	certFile, keyFile := pki.Files(s.pki.dir, "server")
	r := &Replica{Name: name, URL: "https://127.0.0.1:" + strconv.Itoa(port),
		Kubeconfig: filepath.Join(s.opts.Dir, "replica-"+name+".kubeconfig")}
	admin, err := s.pki.user("admin")
	if err != nil {
		return nil, err
	}
	if err := writeKubeconfig(r.Kubeconfig, r.URL, s.pki.serverCAPEM, admin); err != nil {
		return nil, err
	}
	args := append([]string{
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(port),
		"--tls-cert-file=" + certFile, "--tls-private-key-file=" + keyFile,
		"--etcd-servers=" + etcdURL,
		"--kubeconfig=" + s.ServerKubeconfig,
		"--authentication-kubeconfig=" + s.ServerKubeconfig,
		"--authorization-kubeconfig=" + s.ServerKubeconfig,
		"--data-dir=" + filepath.Join(s.opts.Dir, "replica-"+name),
		"--replica-name=" + name,
		"--allow-remotes=loopback",
	}, extraArgs...)
	r.Process = &Process{Name: "replica " + name, Bin: s.bin("gitops-reverser-apiserver"), Args: args, Env: s.opts.ServerEnv,
		Log: filepath.Join(s.LogDir(), "replica-"+name+".log")}
	s.logf("starting replica %s on %s", name, r.URL)
	if err := r.Process.Start(); err != nil {
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	if err := waitFor(wctx, r.Process, "replica "+name+" readiness", func() error {
		return HTTPGetOK(r.URL+"/readyz", s.pki.serverCAPEM)
	}); err != nil {
		r.Process.Kill()
		return nil, err
	}
	return r, nil
}
