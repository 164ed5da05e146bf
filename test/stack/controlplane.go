package stack

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"time"
)

// ControlPlane runs the source cluster's processes: etcd, kube-apiserver
// (with the aggregation layer and, unless attribution is off, the audit
// webhook to our server) and kube-controller-manager. Tests stop and start
// kube-apiserver to see what our server does while the cluster is away.
type ControlPlane struct {
	s *Stack

	EtcdURL string
	KubeURL string

	Etcd          *Process
	KubeAPIServer *Process
	// ControllerManager is kube-controller-manager (nil with NoControllerManager).
	ControllerManager *Process

	// AuditOff: the next StartKubeAPIServer runs without the audit webhook
	// (attribution reports stop; tests of the fallback).
	AuditOff bool
	// KubeAPIServerAudits: kube-apiserver was last started with the audit
	// webhook.
	KubeAPIServerAudits bool
}

func (c *ControlPlane) startEtcd(ctx context.Context) error {
	s := c.s
	c.EtcdURL = "http://127.0.0.1:" + strconv.Itoa(s.Ports.EtcdClient)
	peer := "http://127.0.0.1:" + strconv.Itoa(s.Ports.EtcdPeer)
	args := []string{
		"--name=local", "--data-dir=" + filepath.Join(s.opts.Dir, "etcd"),
		"--listen-client-urls=" + c.EtcdURL, "--advertise-client-urls=" + c.EtcdURL,
		"--listen-peer-urls=" + peer, "--initial-advertise-peer-urls=" + peer,
		"--initial-cluster=local=" + peer, "--log-level=warn",
		"--auto-compaction-mode=periodic", "--auto-compaction-retention=1h",
	}
	if s.opts.FastEtcd {
		args = append(args, "--unsafe-no-fsync")
	}
	c.Etcd = &Process{Name: "etcd", Bin: s.bin("etcd"), Args: args, Log: filepath.Join(s.LogDir(), "etcd.log")}
	s.logf("starting etcd on %s", c.EtcdURL)
	if err := c.Etcd.Start(); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	return waitFor(wctx, c.Etcd, "etcd health", func() error { return HTTPGetOK(c.EtcdURL+"/health", nil) })
}

// StartKubeAPIServer starts kube-apiserver (again) and waits until it is ready.
func (c *ControlPlane) StartKubeAPIServer(ctx context.Context) error {
	s := c.s
	f := s.pki.file
	args := []string{
		"--etcd-servers=" + c.EtcdURL,
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
	audit, err := c.auditArgs()
	if err != nil {
		return err
	}
	args = append(args, audit...)
	c.KubeAPIServerAudits = len(audit) > 0
	c.KubeAPIServer = &Process{Name: "kube-apiserver", Bin: s.bin("kube-apiserver"), Args: args, Log: filepath.Join(s.LogDir(), "kube-apiserver.log")}
	s.logf("starting kube-apiserver on %s", c.KubeURL)
	if err := c.KubeAPIServer.Start(); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 120*time.Second)
	defer cancel()
	return waitFor(wctx, c.KubeAPIServer, "kube-apiserver readiness", func() error {
		out, err := s.Kubectl("get", "--raw", "/readyz")
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	})
}

// StopKubeAPIServer stops kube-apiserver (the source cluster goes away).
func (c *ControlPlane) StopKubeAPIServer() { c.KubeAPIServer.Stop(30 * time.Second) }
