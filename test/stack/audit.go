package stack

import (
	"net"
	"path/filepath"
	"strconv"

	"github.com/configbutler/gitops-reverser/pkg/attribution"
)

// AuditReporter is the user kube-apiserver's audit webhook authenticates as
// to our server (the server's default --attribution-reporters).
const AuditReporter = "system:kube-apiserver-audit"

// auditArgs configures kube-apiserver's audit webhook backend to report
// writes to our server's attribution endpoint, as the README describes: the
// policy of artifacts/audit, a kubeconfig with our server's CA and a client
// certificate of AuditReporter from the cluster's client CA, batches sent at
// least every second.
func (c *ControlPlane) auditArgs() ([]string, error) {
	s := c.s
	if s.opts.NoAttribution || c.AuditOff {
		return nil, nil
	}
	client, err := s.pki.clusterClient("audit-webhook", AuditReporter)
	if err != nil {
		return nil, err
	}
	kubeconfig := filepath.Join(s.opts.Dir, "audit-webhook.kubeconfig")
	url := "https://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Ports.Server)) + attribution.Path
	if err := writeKubeconfig(kubeconfig, url, s.pki.serverCAPEM, certAuth(client)); err != nil {
		return nil, err
	}
	return []string{
		"--audit-policy-file=" + filepath.Join(s.opts.RepoRoot, "artifacts", "audit", "policy.yaml"),
		"--audit-webhook-config-file=" + kubeconfig,
		"--audit-webhook-mode=batch",
		"--audit-webhook-batch-max-wait=1s",
	}, nil
}
