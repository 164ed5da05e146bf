package node

import (
	"context"
	"path/filepath"
	"strconv"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/configbutler/gitops-reverser/pkg/pki"
	"github.com/configbutler/gitops-reverser/test/stack"
)

// controlPlane runs the cluster's control plane on the host: etcd,
// kube-apiserver (reachable from pods through the kubernetes Service, with the
// audit webhook of Options.Audit), kube-controller-manager and
// kube-scheduler, each with its own identity from the cluster CA.
type controlPlane struct {
	n *Node
}

func (c *controlPlane) startEtcd(ctx context.Context) error {
	n := c.n
	url := "http://127.0.0.1:" + strconv.Itoa(n.Ports.EtcdClient)
	peer := "http://127.0.0.1:" + strconv.Itoa(n.Ports.EtcdPeer)
	return n.start(ctx, "etcd", []string{
		"--name=node", "--data-dir=" + n.path("etcd"),
		"--listen-client-urls=" + url, "--advertise-client-urls=" + url,
		"--listen-peer-urls=" + peer, "--initial-advertise-peer-urls=" + peer,
		"--initial-cluster=node=" + peer, "--log-level=warn", "--unsafe-no-fsync",
	}, 60*time.Second, func() error { return stack.HTTPGetOK(url+"/health", nil) })
}

func (c *controlPlane) startKubeAPIServer(ctx context.Context) error {
	n := c.n
	f := n.pki
	audit, err := c.auditArgs()
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
func (c *controlPlane) auditArgs() ([]string, error) {
	n := c.n
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

func (c *controlPlane) startControllerManager(ctx context.Context) error {
	n := c.n
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

func (c *controlPlane) startScheduler(ctx context.Context) error {
	n := c.n
	kc := n.path("scheduler.kubeconfig")
	return n.start(ctx, "kube-scheduler", []string{
		"--kubeconfig=" + kc, "--authentication-kubeconfig=" + kc, "--authorization-kubeconfig=" + kc,
		"--bind-address=127.0.0.1", "--secure-port=0", "--leader-elect=false", "--profiling=false",
	}, 30*time.Second, func() error { return nil })
}
