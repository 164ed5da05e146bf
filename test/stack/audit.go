package stack

import (
	"net"
	"path/filepath"
	"strconv"

	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/configbutler/gitops-reverser/pkg/attribution"
	"github.com/configbutler/gitops-reverser/pkg/pki"
)

// AuditReporter is the user kube-apiserver's audit webhook authenticates as
// to our server (the server's default --attribution-reporters).
const AuditReporter = "system:kube-apiserver-audit"

// auditArgs configures kube-apiserver's audit webhook backend to report
// writes to our server's attribution endpoint, as the README describes: the
// policy of artifacts/audit, a kubeconfig with our server's CA and a client
// certificate of AuditReporter from the cluster's client CA, batches sent at
// least every second.
func (s *Stack) auditArgs() ([]string, error) {
	if s.opts.NoAttribution || s.AuditOff {
		return nil, nil
	}
	kubeCA, err := pki.Load(s.pkiDir, "kube-ca")
	if err != nil {
		return nil, err
	}
	client, err := pki.LoadOrCreate(s.pkiDir, "audit-webhook", func() (*pki.Pair, error) {
		return kubeCA.Issue(pki.Request{CommonName: AuditReporter, Client: true})
	})
	if err != nil {
		return nil, err
	}
	kubeconfig := filepath.Join(s.opts.Dir, "audit-webhook.kubeconfig")
	url := "https://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Ports.Server)) + attribution.Path
	if err := writeKubeconfig(kubeconfig, url, s.serverCAPEM, &clientcmdapi.AuthInfo{
		ClientCertificateData: client.CertPEM(), ClientKeyData: client.KeyPEM()}); err != nil {
		return nil, err
	}
	return []string{
		"--audit-policy-file=" + filepath.Join(s.opts.RepoRoot, "artifacts", "audit", "policy.yaml"),
		"--audit-webhook-config-file=" + kubeconfig,
		"--audit-webhook-mode=batch",
		"--audit-webhook-batch-max-wait=1s",
	}, nil
}
