package stack

import (
	"net"
	"path/filepath"
	"strconv"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/configbutler/gitops-reverser/pkg/pki"
)

// authority is the stack's PKI under Dir/pki, created on the first start and
// reused after: the cluster CA (kube-apiserver's serving certificate, the
// users, the components' client certificates), the front-proxy CA of the
// aggregation layer, the service-account signing key, and our server's own
// CA and serving certificate (the APIService caBundle).
type authority struct {
	dir string
	// kubeCAPEM is the cluster CA: what kubeconfigs of kube-apiserver trust.
	kubeCAPEM []byte
	// serverCAPEM is our server's CA: the caBundle, and what clients of our
	// server trust.
	serverCAPEM []byte
}

// file is the path of a PKI file (e.g. "kube-ca.crt").
func (a *authority) file(name string) string { return filepath.Join(a.dir, name) }

// setup creates what is missing.
func (a *authority) setup() error {
	d := a.dir
	localIP := []net.IP{net.ParseIP("127.0.0.1")}
	kubeCA, err := pki.LoadOrCreate(d, "kube-ca", func() (*pki.Pair, error) { return pki.NewCA("kube-ca") })
	if err != nil {
		return err
	}
	if _, err := pki.LoadOrCreate(d, "kube-apiserver", func() (*pki.Pair, error) {
		return kubeCA.Issue(pki.Request{CommonName: "kube-apiserver", Server: true, IPs: append(localIP, net.ParseIP("10.96.0.1")),
			DNSNames: []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"}})
	}); err != nil {
		return err
	}
	users := map[string][]string{"admin": {"system:masters"}, "reader": nil}
	for name, groups := range users {
		if _, err := pki.LoadOrCreate(d, "user-"+name, func() (*pki.Pair, error) {
			return kubeCA.Issue(pki.Request{CommonName: name, Organization: groups, Client: true})
		}); err != nil {
			return err
		}
	}
	frontCA, err := pki.LoadOrCreate(d, "front-proxy-ca", func() (*pki.Pair, error) { return pki.NewCA("front-proxy-ca") })
	if err != nil {
		return err
	}
	if _, err := pki.LoadOrCreate(d, "front-proxy-client", func() (*pki.Pair, error) {
		return frontCA.Issue(pki.Request{CommonName: "front-proxy-client", Client: true})
	}); err != nil {
		return err
	}
	// The service-account signing key (kube-apiserver signs our server's token).
	if _, err := pki.LoadOrCreate(d, "service-account", func() (*pki.Pair, error) { return pki.NewCA("service-account") }); err != nil {
		return err
	}
	// Our server's serving certificate, from its own CA: the APIService caBundle.
	serverCA, err := pki.LoadOrCreate(d, "server-ca", func() (*pki.Pair, error) { return pki.NewCA("gitops-reverser-ca") })
	if err != nil {
		return err
	}
	if _, err := pki.LoadOrCreate(d, "server", func() (*pki.Pair, error) {
		return serverCA.Issue(pki.Request{CommonName: ServerName, Server: true, IPs: localIP,
			DNSNames: []string{"localhost", ServerName + "." + ServerNamespace + ".svc", LocalServiceName + "." + ServerNamespace + ".svc"}})
	}); err != nil {
		return err
	}
	a.kubeCAPEM, a.serverCAPEM = kubeCA.CertPEM(), serverCA.CertPEM()
	return nil
}

// clusterClient loads (or issues, from the cluster CA) the client
// certificate name of commonName: a component's identity.
func (a *authority) clusterClient(name, commonName string) (*pki.Pair, error) {
	kubeCA, err := pki.Load(a.dir, "kube-ca")
	if err != nil {
		return nil, err
	}
	return pki.LoadOrCreate(a.dir, name, func() (*pki.Pair, error) {
		return kubeCA.Issue(pki.Request{CommonName: commonName, Client: true})
	})
}

// user is the credential of a user setup issued ("admin", "reader").
func (a *authority) user(name string) (*clientcmdapi.AuthInfo, error) {
	p, err := pki.Load(a.dir, "user-"+name)
	if err != nil {
		return nil, err
	}
	return certAuth(p), nil
}

// setupPKI creates (or reuses) the certificates and writes the kubeconfigs
// of the administrator and the reader, and the direct one to our server.
func (s *Stack) setupPKI() error {
	if err := s.pki.setup(); err != nil {
		return err
	}
	s.DirectKubeconfig = filepath.Join(s.opts.Dir, "direct.kubeconfig")
	admin, err := s.pki.user("admin")
	if err != nil {
		return err
	}
	if err := writeKubeconfig(s.DirectKubeconfig, "https://127.0.0.1:"+strconv.Itoa(s.Ports.Server), s.pki.serverCAPEM, admin); err != nil {
		return err
	}
	s.KubeURL = "https://127.0.0.1:" + strconv.Itoa(s.Ports.KubeAPIServer)
	s.AdminKubeconfig = filepath.Join(s.opts.Dir, "admin.kubeconfig")
	s.ReaderKubeconfig = filepath.Join(s.opts.Dir, "reader.kubeconfig")
	for file, user := range map[string]string{s.AdminKubeconfig: "admin", s.ReaderKubeconfig: "reader"} {
		auth, err := s.pki.user(user)
		if err != nil {
			return err
		}
		if err := writeKubeconfig(file, s.KubeURL, s.pki.kubeCAPEM, auth); err != nil {
			return err
		}
	}
	return nil
}

// certAuth authenticates with a client certificate.
func certAuth(p *pki.Pair) *clientcmdapi.AuthInfo {
	return &clientcmdapi.AuthInfo{ClientCertificateData: p.CertPEM(), ClientKeyData: p.KeyPEM()}
}

func writeKubeconfig(file, server string, caPEM []byte, auth *clientcmdapi.AuthInfo) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["local"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caPEM}
	cfg.AuthInfos["user"] = auth
	cfg.Contexts["local"] = &clientcmdapi.Context{Cluster: "local", AuthInfo: "user"}
	cfg.CurrentContext = "local"
	return clientcmd.WriteToFile(*cfg, file)
}
