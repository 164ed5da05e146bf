package stack

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"time"
)

// Client runs bin/kubectl against the stack's kube-apiserver: how the tests,
// and the stack's own setup and readiness checks, talk to the cluster.
type Client struct {
	kubectl string
	// AdminKubeconfig authenticates as a cluster administrator (system:masters):
	// the identity of Kubectl and Apply.
	AdminKubeconfig string
}

// Kubectl runs bin/kubectl as the administrator.
func (c *Client) Kubectl(args ...string) (string, error) {
	return c.KubectlAs(c.AdminKubeconfig, args...)
}

// KubectlAs runs bin/kubectl with the given kubeconfig.
func (c *Client) KubectlAs(kubeconfig string, args ...string) (string, error) {
	return c.KubectlStdin(kubeconfig, nil, args...)
}

// KubectlStdin runs bin/kubectl with the given kubeconfig and standard input.
func (c *Client) KubectlStdin(kubeconfig string, stdin []byte, args ...string) (string, error) {
	cmd := exec.Command(c.kubectl, append([]string{"--kubeconfig=" + kubeconfig}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	err := cmd.Run()
	return out.String(), err
}

// Apply server-side applies manifests as the administrator, retrying briefly:
// a namespace just created may not be in every admission cache yet.
func (c *Client) Apply(ctx context.Context, manifests []byte) error {
	var out string
	var err error
	for i := 0; i < 40; i++ {
		out, err = c.KubectlStdin(c.AdminKubeconfig, manifests, "apply", "--server-side", "--force-conflicts", "--field-manager=stack", "-f", "-")
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	return fmt.Errorf("kubectl apply: %v\n%s", err, out)
}
