package stack

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"time"
)

// Kubectl runs bin/kubectl as the administrator.
func (s *Stack) Kubectl(args ...string) (string, error) {
	return s.KubectlAs(s.AdminKubeconfig, args...)
}

// KubectlAs runs bin/kubectl with the given kubeconfig.
func (s *Stack) KubectlAs(kubeconfig string, args ...string) (string, error) {
	return s.KubectlStdin(kubeconfig, nil, args...)
}

// KubectlStdin runs bin/kubectl with the given kubeconfig and standard input.
func (s *Stack) KubectlStdin(kubeconfig string, stdin []byte, args ...string) (string, error) {
	cmd := exec.Command(s.bin("kubectl"), append([]string{"--kubeconfig=" + kubeconfig}, args...)...)
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
func (s *Stack) Apply(ctx context.Context, manifests []byte) error {
	var out string
	var err error
	for i := 0; i < 40; i++ {
		out, err = s.KubectlStdin(s.AdminKubeconfig, manifests, "apply", "--server-side", "--force-conflicts", "--field-manager=stack", "-f", "-")
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
