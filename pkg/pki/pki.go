// Package pki issues the small certificate authorities the project needs: the
// standalone server's CA, and, in the local stack and the end-to-end tests,
// kube-apiserver's serving, client, request-header and aggregated-server CAs.
// Keys are ECDSA P-256; everything is kept as PEM on disk so a restart reuses it.
package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Pair is a certificate with its key.
type Pair struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
}

// CertPEM returns the certificate as PEM.
func (p *Pair) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.Cert.Raw})
}

// KeyPEM returns the private key as PEM.
func (p *Pair) KeyPEM() []byte {
	der, err := x509.MarshalECPrivateKey(p.Key)
	if err != nil {
		panic(fmt.Sprintf("marshalling an ECDSA key cannot fail: %v", err))
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
}

// Request describes a certificate to issue.
type Request struct {
	CommonName   string
	Organization []string
	// Server and/or Client usage.
	Server, Client bool
	DNSNames       []string
	IPs            []net.IP
}

// NewCA returns a self-signed CA.
func NewCA(commonName string) (*Pair, error) {
	return issue(nil, &Request{CommonName: commonName}, true)
}

// Issue signs a leaf certificate with the CA.
func (p *Pair) Issue(r Request) (*Pair, error) {
	return issue(p, &r, false)
}

func issue(ca *Pair, r *Request, isCA bool) (*Pair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: r.CommonName, Organization: r.Organization},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(10 * 365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		DNSNames:     r.DNSNames,
		IPAddresses:  r.IPs,
	}
	if r.Server {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
	}
	if r.Client {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	}
	parent, parentKey := tmpl, key
	if isCA {
		tmpl.IsCA = true
		tmpl.BasicConstraintsValid = true
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	} else {
		parent, parentKey = ca.Cert, ca.Key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &Pair{Cert: cert, Key: key}, nil
}

// Files are the paths of a stored pair.
func Files(dir, name string) (certFile, keyFile string) {
	return filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
}

// Write stores the pair as <dir>/<name>.crt and <dir>/<name>.key (0600).
func (p *Pair) Write(dir, name string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	certFile, keyFile := Files(dir, name)
	if err := os.WriteFile(keyFile, p.KeyPEM(), 0o600); err != nil {
		return err
	}
	return os.WriteFile(certFile, p.CertPEM(), 0o644)
}

// Load reads a pair written by Write. The error wraps os.ErrNotExist when absent.
func Load(dir, name string) (*Pair, error) {
	certFile, keyFile := Files(dir, name)
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, err
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, err
	}
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, fmt.Errorf("%s or %s is not PEM", certFile, keyFile)
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, err
	}
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil {
		return nil, err
	}
	return &Pair{Cert: cert, Key: key}, nil
}

// LoadOrCreate loads <dir>/<name> or creates it with create and stores it.
func LoadOrCreate(dir, name string, create func() (*Pair, error)) (*Pair, error) {
	p, err := Load(dir, name)
	if err == nil {
		return p, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("loading %s: %w", name, err)
	}
	if p, err = create(); err != nil {
		return nil, fmt.Errorf("creating %s: %w", name, err)
	}
	if err := p.Write(dir, name); err != nil {
		return nil, err
	}
	return p, nil
}
