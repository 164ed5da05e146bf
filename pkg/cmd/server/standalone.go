package server

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"

	"k8s.io/apiserver/pkg/authentication/request/bearertoken"
	"k8s.io/apiserver/pkg/authentication/request/union"
	x509request "k8s.io/apiserver/pkg/authentication/request/x509"
	"k8s.io/apiserver/pkg/authentication/token/tokenfile"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizerfactory"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/apiserver/pkg/server/dynamiccertificates"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/configbutler/gitops-reverser/pkg/pki"
)

// Standalone mode serves without kube-apiserver: on 127.0.0.1 only, with our own
// CA. Clients authenticate with the admin client certificate or the bearer token
// written into the kubeconfig; anonymous requests get 401. Everyone who
// authenticates is an administrator: holding the kubeconfig is the permission.
// The PKI lives in <data-dir>/pki so the kubeconfig stays valid across restarts.
type standalonePKI struct {
	caPEM                   []byte
	servingCert, servingKey string // file paths
	clientCertPEM           []byte
	clientKeyPEM            []byte
	token                   string
}

const standaloneUser = "standalone-admin"

func loadOrCreatePKI(dir string) (*standalonePKI, error) {
	ca, err := pki.LoadOrCreate(dir, "ca", func() (*pki.Pair, error) { return pki.NewCA("gitops-reverser-standalone-ca") })
	if err != nil {
		return nil, fmt.Errorf("standalone CA: %w", err)
	}
	if _, err := pki.LoadOrCreate(dir, "serving", func() (*pki.Pair, error) {
		return ca.Issue(pki.Request{CommonName: "gitops-reverser-apiserver", Server: true,
			DNSNames: []string{"localhost"}, IPs: []net.IP{net.ParseIP("127.0.0.1")}})
	}); err != nil {
		return nil, fmt.Errorf("standalone serving certificate: %w", err)
	}
	client, err := pki.LoadOrCreate(dir, "admin", func() (*pki.Pair, error) {
		return ca.Issue(pki.Request{CommonName: standaloneUser, Organization: []string{user.SystemPrivilegedGroup}, Client: true})
	})
	if err != nil {
		return nil, fmt.Errorf("standalone client certificate: %w", err)
	}
	p := &standalonePKI{caPEM: ca.CertPEM(), clientCertPEM: client.CertPEM(), clientKeyPEM: client.KeyPEM()}
	p.servingCert, p.servingKey = pki.Files(dir, "serving")

	tokenFile := filepath.Join(dir, "token")
	tok, err := os.ReadFile(tokenFile)
	if errors.Is(err, os.ErrNotExist) {
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		tok = []byte(hex.EncodeToString(b))
		err = os.WriteFile(tokenFile, tok, 0o600)
	}
	if err != nil {
		return nil, fmt.Errorf("standalone token: %w", err)
	}
	p.token = string(tok)
	return p, nil
}

// applyTo installs the certificate and token authenticators and an
// authorizer that admits every authenticated user.
func (p *standalonePKI) applyTo(cfg *genericapiserver.Config) error {
	caContent, err := dynamiccertificates.NewStaticCAContent("standalone-client-ca", p.caPEM)
	if err != nil {
		return err
	}
	cfg.SecureServing.ClientCA = caContent
	certAuth := x509request.NewDynamic(caContent.VerifyOptions, x509request.CommonNameUserConversion)
	tokenAuth := bearertoken.New(tokenfile.New(map[string]*user.DefaultInfo{
		p.token: {Name: standaloneUser, Groups: []string{user.SystemPrivilegedGroup, user.AllAuthenticated}},
	}))
	cfg.Authentication.Authenticator = union.New(certAuth, tokenAuth)
	cfg.Authorization.Authorizer = authorizerfactory.NewAlwaysAllowAuthorizer()
	return nil
}

// writeKubeconfig writes a kubeconfig for the standalone server: context
// "standalone" uses the client certificate, "standalone-token" the bearer token.
func (p *standalonePKI) writeKubeconfig(path string, port int) error {
	server := "https://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["gitops-reverser"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: p.caPEM}
	cfg.AuthInfos[standaloneUser] = &clientcmdapi.AuthInfo{ClientCertificateData: p.clientCertPEM, ClientKeyData: p.clientKeyPEM}
	cfg.AuthInfos[standaloneUser+"-token"] = &clientcmdapi.AuthInfo{Token: p.token}
	cfg.Contexts["standalone"] = &clientcmdapi.Context{Cluster: "gitops-reverser", AuthInfo: standaloneUser, Namespace: "default"}
	cfg.Contexts["standalone-token"] = &clientcmdapi.Context{Cluster: "gitops-reverser", AuthInfo: standaloneUser + "-token", Namespace: "default"}
	cfg.CurrentContext = "standalone"
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
	}
	// Write then rename, so a reader never sees a half-written kubeconfig.
	tmp := path + ".tmp"
	if err := clientcmd.WriteToFile(*cfg, tmp); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
