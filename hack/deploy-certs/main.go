// Command deploy-certs prints what artifacts/deploy leaves to you: the serving
// certificate Secret of the aggregated server and the APIService with the
// matching caBundle. Pipe it to kubectl:
//
//	go run ./hack/deploy-certs | kubectl apply -f -
//
// With the Helm chart, which installs the APIService itself, apply only the
// Secret and pass the caBundle as a value:
//
//	go run ./hack/deploy-certs -print=secret | kubectl apply -f -
//	helm install ... --set apiService.caBundle=$(go run ./hack/deploy-certs -print=ca-bundle)
//
// The CA and certificate are kept in -dir, so running it again prints the same
// ones (rotate by deleting the directory).
package main

import (
	"encoding/base64"
	"flag"
	"fmt"
	"os"

	"github.com/configbutler/gitops-reverser/pkg/pki"
)

func main() {
	dir := flag.String("dir", ".local/deploy-pki", "where the CA and certificate are kept")
	ns := flag.String("namespace", "gitops-reverser", "namespace of the server's Service")
	svc := flag.String("service", "gitops-reverser", "name of the server's Service")
	print := flag.String("print", "all", "what to print: all (the Secret and the APIService), secret, or ca-bundle (base64)")
	flag.Parse()
	if err := run(*dir, *ns, *svc, *print); err != nil {
		fmt.Fprintln(os.Stderr, "deploy-certs:", err)
		os.Exit(1)
	}
}

func run(dir, ns, svc, print string) error {
	if print != "all" && print != "secret" && print != "ca-bundle" {
		return fmt.Errorf("-print=%q: want all, secret or ca-bundle", print)
	}
	ca, err := pki.LoadOrCreate(dir, "ca", func() (*pki.Pair, error) { return pki.NewCA("gitops-reverser-ca") })
	if err != nil {
		return err
	}
	host := svc + "." + ns + ".svc"
	cert, err := pki.LoadOrCreate(dir, "serving", func() (*pki.Pair, error) {
		return ca.Issue(pki.Request{CommonName: host, Server: true, DNSNames: []string{svc, svc + "." + ns, host, host + ".cluster.local"}})
	})
	if err != nil {
		return err
	}
	b64 := base64.StdEncoding.EncodeToString
	if print == "ca-bundle" {
		fmt.Println(b64(ca.CertPEM()))
		return nil
	}
	fmt.Printf(`apiVersion: v1
kind: Secret
metadata:
  name: gitops-reverser-serving
  namespace: %[1]s
type: kubernetes.io/tls
data:
  tls.crt: %[2]s
  tls.key: %[3]s
`, ns, b64(cert.CertPEM()), b64(cert.KeyPEM()))
	if print == "secret" {
		return nil
	}
	fmt.Printf(`---
apiVersion: apiregistration.k8s.io/v1
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
`, ns, svc, b64(ca.CertPEM()))
	return nil
}
