// Command deploy-certs prints what artifacts/deploy leaves to you: the serving
// certificate Secret of the aggregated server, the bundled etcd's certificates
// (its server and peer certificate, and the server's client certificate, both
// from a CA of their own) and the APIService with the matching caBundle. Pipe
// it to kubectl:
//
//	go run ./hack/deploy-certs | kubectl apply -f -
//
// With the Helm chart, which installs the APIService itself and by default
// makes the etcd certificates, apply only the serving Secret and pass the
// caBundle as a value:
//
//	go run ./hack/deploy-certs -print=secret | kubectl apply -f -
//	helm install ... --set apiService.caBundle=$(go run ./hack/deploy-certs -print=ca-bundle)
//
// To give the chart the etcd certificates instead (a reproducible rendering,
// as charts/gitops-reverser/ci/deploy-values.yaml does):
//
//	go run ./hack/deploy-certs -print=etcd-secrets | kubectl apply -f -
//	helm install ... --set etcd.bundled.tls.secretName=gitops-reverser-etcd-tls \
//	  --set etcd.bundled.tls.clientSecretName=gitops-reverser-etcd-client
//
// The CAs and certificates are kept in -dir, so running it again prints the
// same ones. Rotate by deleting the directory (or only its etcd-* files for
// the etcd certificates), applying again and restarting etcd and the server
// (kubectl rollout restart statefulset/gitops-reverser-etcd
// deployment/gitops-reverser).
package main

import (
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"slices"

	"github.com/configbutler/gitops-reverser/pkg/pki"
)

func main() {
	var o options
	flag.StringVar(&o.dir, "dir", ".local/deploy-pki", "where the CAs and certificates are kept")
	flag.StringVar(&o.ns, "namespace", "gitops-reverser", "namespace of the server's Service")
	flag.StringVar(&o.svc, "service", "gitops-reverser", "name of the server's Service (the objects' name: the bundled etcd is <service>-etcd)")
	flag.StringVar(&o.clusterDomain, "cluster-domain", "cluster.local", "the cluster's DNS domain, in the names of etcd's certificate")
	flag.StringVar(&o.etcdClientIP, "etcd-client-ip", "", "the ClusterIP of the bundled etcd's client Service, for etcd.bundled.resolve=env (etcd.bundled.clientService.clusterIP)")
	flag.StringVar(&o.print, "print", "all", "what to print: all (every Secret and the APIService), secret (the serving Secret), etcd-secrets, or ca-bundle (base64)")
	flag.Parse()
	if err := run(os.Stdout, o); err != nil {
		fmt.Fprintln(os.Stderr, "deploy-certs:", err)
		os.Exit(1)
	}
}

type options struct {
	dir, ns, svc, clusterDomain, etcdClientIP, print string
}

func run(w io.Writer, o options) error {
	switch o.print {
	case "all", "secret", "etcd-secrets", "ca-bundle":
	default:
		return fmt.Errorf("-print=%q: want all, secret, etcd-secrets or ca-bundle", o.print)
	}
	b64 := base64.StdEncoding.EncodeToString
	var docs []string
	apiService := ""
	if o.print != "etcd-secrets" {
		ca, err := pki.LoadOrCreate(o.dir, "ca", func() (*pki.Pair, error) { return pki.NewCA("gitops-reverser-ca") })
		if err != nil {
			return err
		}
		host := o.svc + "." + o.ns + ".svc"
		cert, err := pki.LoadOrCreate(o.dir, "serving", func() (*pki.Pair, error) {
			return ca.Issue(pki.Request{CommonName: host, Server: true, DNSNames: []string{o.svc, o.svc + "." + o.ns, host, host + ".cluster.local"}})
		})
		if err != nil {
			return err
		}
		if o.print == "ca-bundle" {
			_, err := fmt.Fprintln(w, b64(ca.CertPEM()))
			return err
		}
		docs = append(docs, secret(o.svc+"-serving", o.ns, nil, cert))
		if o.print == "all" {
			apiService = fmt.Sprintf(`apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata:
  name: v1alpha1.configbutler.ai
  labels:
    app.kubernetes.io/name: gitops-reverser
spec:
  group: configbutler.ai
  version: v1alpha1
  groupPriorityMinimum: 1000
  versionPriority: 15
  caBundle: %[3]s
  service:
    name: %[2]s
    namespace: %[1]s
    port: 443
`, o.ns, o.svc, b64(ca.CertPEM()))
		}
	}
	if o.print == "all" || o.print == "etcd-secrets" {
		e, err := etcdCerts(o)
		if err != nil {
			return err
		}
		docs = append(docs,
			secret(o.svc+"-etcd-tls", o.ns, e.ca, e.server),
			secret(o.svc+"-etcd-client", o.ns, e.ca, e.client))
	}
	if apiService != "" {
		docs = append(docs, apiService)
	}
	for i, d := range docs {
		if i > 0 {
			d = "---\n" + d
		}
		if _, err := io.WriteString(w, d); err != nil {
			return err
		}
	}
	return nil
}

type etcdPKI struct{ ca, server, client *pki.Pair }

// etcdCerts loads or makes the bundled etcd's CA (apart from the serving CA,
// which kube-apiserver trusts for the APIService), its server and peer
// certificate and the server's client certificate: the shape the chart makes
// itself (gitops-reverser.etcd.tls in its _helpers.tpl).
func etcdCerts(o options) (*etcdPKI, error) {
	ca, err := pki.LoadOrCreate(o.dir, "etcd-ca", func() (*pki.Pair, error) { return pki.NewCA(o.svc + "-etcd-ca") })
	if err != nil {
		return nil, err
	}
	dns, ips, err := etcdNames(o)
	if err != nil {
		return nil, err
	}
	// Server and client use: etcd's members present it to clients and to
	// each other (peers), so 1 or 3 members work with the one certificate.
	issue := func() (*pki.Pair, error) {
		return ca.Issue(pki.Request{CommonName: o.svc + "-etcd", Server: true, Client: true, DNSNames: dns, IPs: ips})
	}
	server, err := pki.LoadOrCreate(o.dir, "etcd-server", issue)
	if err != nil {
		return nil, err
	}
	if !names(server, dns, ips) {
		// Made for other names (another namespace, -etcd-client-ip): reissue
		// from the same CA.
		if server, err = issue(); err != nil {
			return nil, err
		}
		if err := server.Write(o.dir, "etcd-server"); err != nil {
			return nil, err
		}
	}
	client, err := pki.LoadOrCreate(o.dir, "etcd-client", func() (*pki.Pair, error) {
		return ca.Issue(pki.Request{CommonName: o.svc, Client: true})
	})
	if err != nil {
		return nil, err
	}
	return &etcdPKI{ca: ca, server: server, client: client}, nil
}

// etcdNames are the names in etcd's server certificate: every member's stable
// name in the headless Service (a wildcard), both Services' names, localhost
// and loopback, and the client Service's ClusterIP when the server connects
// by it (etcd.bundled.resolve=env).
func etcdNames(o options) ([]string, []net.IP, error) {
	etcd := o.svc + "-etcd"
	dns := []string{"localhost", "*." + etcd + "." + o.ns + ".svc", "*." + etcd + "." + o.ns + ".svc." + o.clusterDomain}
	for _, name := range []string{etcd, etcd + "-client"} {
		dns = append(dns, name, name+"."+o.ns, name+"."+o.ns+".svc", name+"."+o.ns+".svc."+o.clusterDomain)
	}
	ips := []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")}
	if o.etcdClientIP != "" {
		ip := net.ParseIP(o.etcdClientIP)
		if ip == nil {
			return nil, nil, fmt.Errorf("-etcd-client-ip=%q is not an IP address", o.etcdClientIP)
		}
		ips = append(ips, ip)
	}
	return dns, ips, nil
}

// names reports whether p's certificate names exactly dns and ips.
func names(p *pki.Pair, dns []string, ips []net.IP) bool {
	if !slices.Equal(p.Cert.DNSNames, dns) || len(p.Cert.IPAddresses) != len(ips) {
		return false
	}
	for i, ip := range ips {
		if !p.Cert.IPAddresses[i].Equal(ip) {
			return false
		}
	}
	return true
}

// secret is a kubernetes.io/tls Secret with the pair and, when ca is given,
// ca.crt.
func secret(name, ns string, ca, p *pki.Pair) string {
	b64 := base64.StdEncoding.EncodeToString
	s := fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata:
  name: %s
  namespace: %s
type: kubernetes.io/tls
data:
`, name, ns)
	if ca != nil {
		s += "  ca.crt: " + b64(ca.CertPEM()) + "\n"
	}
	return s + "  tls.crt: " + b64(p.CertPEM()) + "\n  tls.key: " + b64(p.KeyPEM()) + "\n"
}
