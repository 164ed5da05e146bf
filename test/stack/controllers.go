package stack

import (
	"context"
	"fmt"
	"path/filepath"
	"time"
)

// StartControllerManager starts kube-controller-manager (built from the same
// k8s.io/kubernetes pin as kube-apiserver) with its own identity, the
// service-account signing key and the cluster CA, so the stack behaves like a
// real cluster: Deployments get ReplicaSets (their Pods stay Pending: there is
// no kubelet), Services get EndpointSlices, every namespace gets its
// kube-root-ca.crt and default ServiceAccount, garbage collection cascades and
// namespaces finish deleting. It returns once the controllers run (the root CA
// is published into the default namespace).
func (c *ControlPlane) StartControllerManager(ctx context.Context) error {
	s := c.s
	f := s.pki.file
	id, err := s.pki.clusterClient("kube-controller-manager", "system:kube-controller-manager")
	if err != nil {
		return err
	}
	kubeconfig := filepath.Join(s.opts.Dir, "kube-controller-manager.kubeconfig")
	if err := writeKubeconfig(kubeconfig, c.KubeURL, s.pki.kubeCAPEM, certAuth(id)); err != nil {
		return err
	}
	args := []string{
		"--kubeconfig=" + kubeconfig,
		"--authentication-kubeconfig=" + kubeconfig, "--authorization-kubeconfig=" + kubeconfig,
		"--bind-address=127.0.0.1", "--secure-port=0", // nothing reads its metrics here
		"--leader-elect=false",
		"--use-service-account-credentials=true",
		"--service-account-private-key-file=" + f("service-account.key"),
		"--root-ca-file=" + f("kube-ca.crt"),
		"--cluster-signing-cert-file=" + f("kube-ca.crt"), "--cluster-signing-key-file=" + f("kube-ca.key"),
		"--profiling=false",
	}
	c.ControllerManager = &Process{Name: "kube-controller-manager", Bin: s.bin("kube-controller-manager"), Args: args,
		Log: filepath.Join(s.LogDir(), "kube-controller-manager.log")}
	s.logf("starting kube-controller-manager")
	if err := c.ControllerManager.Start(); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	return waitFor(wctx, c.ControllerManager, "kube-controller-manager's controllers", func() error {
		if out, err := s.Kubectl("get", "configmap", "kube-root-ca.crt", "-n", "default"); err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	})
}

// StopControllerManager stops kube-controller-manager.
func (c *ControlPlane) StopControllerManager() {
	if c.ControllerManager != nil {
		c.ControllerManager.Stop(15 * time.Second)
	}
}
