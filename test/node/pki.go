package node

import (
	"context"
	"net"
	"strconv"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/configbutler/gitops-reverser/pkg/pki"
)

// setupPKI issues (or reuses, under Dir/pki) the cluster CA and every
// component's certificate from it, the front-proxy pair and the
// service-account key, and writes the components' kubeconfigs.
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
