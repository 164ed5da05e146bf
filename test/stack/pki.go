package stack

import (
	"net"
	"path/filepath"
	"strconv"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/configbutler/gitops-reverser/pkg/pki"
)

func (s *Stack) setupPKI() error {
	d := s.pkiDir
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
	s.serverCAPEM = serverCA.CertPEM()
	s.DirectKubeconfig = filepath.Join(s.opts.Dir, "direct.kubeconfig")
	admin, err := pki.Load(d, "user-admin")
	if err != nil {
		return err
	}
	if err := writeKubeconfig(s.DirectKubeconfig, "https://127.0.0.1:"+strconv.Itoa(s.Ports.Server), s.serverCAPEM,
		&clientcmdapi.AuthInfo{ClientCertificateData: admin.CertPEM(), ClientKeyData: admin.KeyPEM()}); err != nil {
		return err
	}
	s.kubeServing = filepath.Join(d, "kube-ca.crt")

	s.KubeURL = "https://127.0.0.1:" + strconv.Itoa(s.Ports.KubeAPIServer)
	s.AdminKubeconfig = filepath.Join(s.opts.Dir, "admin.kubeconfig")
	s.ReaderKubeconfig = filepath.Join(s.opts.Dir, "reader.kubeconfig")
	for file, user := range map[string]string{s.AdminKubeconfig: "admin", s.ReaderKubeconfig: "reader"} {
		p, err := pki.Load(d, "user-"+user)
		if err != nil {
			return err
		}
		if err := writeKubeconfig(file, s.KubeURL, kubeCA.CertPEM(), &clientcmdapi.AuthInfo{
			ClientCertificateData: p.CertPEM(), ClientKeyData: p.KeyPEM()}); err != nil {
			return err
		}
	}
	return nil
}

func writeKubeconfig(file, server string, caPEM []byte, auth *clientcmdapi.AuthInfo) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["local"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caPEM}
	cfg.AuthInfos["user"] = auth
	cfg.Contexts["local"] = &clientcmdapi.Context{Cluster: "local", AuthInfo: "user"}
	cfg.CurrentContext = "local"
	return clientcmd.WriteToFile(*cfg, file)
}
