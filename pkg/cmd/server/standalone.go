package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"k8s.io/apiserver/pkg/authentication/authenticator"
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
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	p := filepath.Join
	caCertFile, caKeyFile := p(dir, "ca.crt"), p(dir, "ca.key")
	pki := &standalonePKI{servingCert: p(dir, "serving.crt"), servingKey: p(dir, "serving.key")}

	caCert, caKey, err := loadCertKey(caCertFile, caKeyFile)
	if errors.Is(err, os.ErrNotExist) {
		caCert, caKey, err = newCert(nil, nil, pkix.Name{CommonName: "gitops-reverser-standalone-ca"}, true, nil)
		if err == nil {
			err = writeCertKey(caCertFile, caKeyFile, caCert, caKey)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("standalone CA: %w", err)
	}
	pki.caPEM = pemCert(caCert)

	if _, _, err := loadCertKey(pki.servingCert, pki.servingKey); errors.Is(err, os.ErrNotExist) {
		cert, key, err := newCert(caCert, caKey, pkix.Name{CommonName: "gitops-reverser-apiserver"}, false, &x509.Certificate{
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			DNSNames:    []string{"localhost"},
			IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		})
		if err == nil {
			err = writeCertKey(pki.servingCert, pki.servingKey, cert, key)
		}
		if err != nil {
			return nil, fmt.Errorf("standalone serving certificate: %w", err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("standalone serving certificate: %w", err)
	}

	clientCertFile, clientKeyFile := p(dir, "admin.crt"), p(dir, "admin.key")
	clientCert, clientKey, err := loadCertKey(clientCertFile, clientKeyFile)
	if errors.Is(err, os.ErrNotExist) {
		clientCert, clientKey, err = newCert(caCert, caKey, pkix.Name{CommonName: standaloneUser, Organization: []string{user.SystemPrivilegedGroup}}, false, &x509.Certificate{
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		})
		if err == nil {
			err = writeCertKey(clientCertFile, clientKeyFile, clientCert, clientKey)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("standalone client certificate: %w", err)
	}
	pki.clientCertPEM = pemCert(clientCert)
	if pki.clientKeyPEM, err = pemKey(clientKey); err != nil {
		return nil, err
	}

	tokenFile := p(dir, "token")
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
	pki.token = string(tok)
	return pki, nil
}

// applyStandaloneAuth installs the certificate and token authenticators and an
// authorizer that admits every authenticated user.
func (pki *standalonePKI) applyTo(cfg *genericapiserver.Config) error {
	caContent, err := dynamiccertificates.NewStaticCAContent("standalone-client-ca", pki.caPEM)
	if err != nil {
		return err
	}
	cfg.SecureServing.ClientCA = caContent
	certAuth := x509request.NewDynamic(caContent.VerifyOptions, x509request.CommonNameUserConversion)
	tokenAuth := bearertoken.New(tokenfile.New(map[string]*user.DefaultInfo{
		pki.token: {Name: standaloneUser, Groups: []string{user.SystemPrivilegedGroup, user.AllAuthenticated}},
	}))
	cfg.Authentication.Authenticator = union.New(certAuth, tokenAuth)
	cfg.Authorization.Authorizer = authorizerfactory.NewAlwaysAllowAuthorizer()
	return nil
}

var _ authenticator.Request = union.New()

// writeKubeconfig writes a kubeconfig for the standalone server: context
// "standalone" uses the client certificate, "standalone-token" the bearer token.
func (pki *standalonePKI) writeKubeconfig(path string, port int) error {
	server := "https://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["gitops-reverser"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: pki.caPEM}
	cfg.AuthInfos[standaloneUser] = &clientcmdapi.AuthInfo{ClientCertificateData: pki.clientCertPEM, ClientKeyData: pki.clientKeyPEM}
	cfg.AuthInfos[standaloneUser+"-token"] = &clientcmdapi.AuthInfo{Token: pki.token}
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

func newCert(parent *x509.Certificate, parentKey *ecdsa.PrivateKey, subject pkix.Name, isCA bool, tmpl *x509.Certificate) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, nil, err
	}
	if tmpl == nil {
		tmpl = &x509.Certificate{}
	}
	tmpl.SerialNumber = serial
	tmpl.Subject = subject
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(10 * 365 * 24 * time.Hour)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
	if isCA {
		tmpl.IsCA = true
		tmpl.BasicConstraintsValid = true
		tmpl.KeyUsage |= x509.KeyUsageCertSign
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return cert, key, err
}

func pemCert(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

func pemKey(k *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
}

func writeCertKey(certFile, keyFile string, c *x509.Certificate, k *ecdsa.PrivateKey) error {
	keyPEM, err := pemKey(k)
	if err != nil {
		return err
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		return err
	}
	return os.WriteFile(certFile, pemCert(c), 0o644)
}

func loadCertKey(certFile, keyFile string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, nil, err
	}
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, nil, fmt.Errorf("%s or %s is not PEM", certFile, keyFile)
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, nil, err
	}
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	return cert, key, err
}
