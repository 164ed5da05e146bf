package stack

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/configbutler/gitops-reverser/pkg/pki"
)

// StartControllerManager starts kube-controller-manager (built from the same
// k8s.io/kubernetes pin as kube-apiserver) with its own identity, the
// service-account signing key and the cluster CA, so the stack behaves like a
// real cluster: Deployments get ReplicaSets (their Pods stay Pending: there is
// no kubelet), Services get EndpointSlices, every namespace gets its
// kube-root-ca.crt and default ServiceAccount, garbage collection cascades and
// namespaces finish deleting. It returns once the controllers run (the root CA
// is published into the default namespace).
func (s *Stack) StartControllerManager(ctx context.Context) error {
	d := s.pkiDir
	f := func(name string) string { return filepath.Join(d, name) }
	kubeCA, err := pki.Load(d, "kube-ca")
	if err != nil {
		return err
	}
	id, err := pki.LoadOrCreate(d, "kube-controller-manager", func() (*pki.Pair, error) {
		return kubeCA.Issue(pki.Request{CommonName: "system:kube-controller-manager", Client: true})
	})
	if err != nil {
		return err
	}
	kubeconfig := filepath.Join(s.opts.Dir, "kube-controller-manager.kubeconfig")
	if err := writeKubeconfig(kubeconfig, s.KubeURL, kubeCA.CertPEM(), &clientcmdapi.AuthInfo{
		ClientCertificateData: id.CertPEM(), ClientKeyData: id.KeyPEM()}); err != nil {
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
	s.ControllerManager = &Process{Name: "kube-controller-manager", Bin: s.bin("kube-controller-manager"), Args: args,
		Log: filepath.Join(s.LogDir(), "kube-controller-manager.log")}
	s.logf("starting kube-controller-manager")
	if err := s.ControllerManager.Start(); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	return waitFor(wctx, s.ControllerManager, "kube-controller-manager's controllers", func() error {
		if out, err := s.Kubectl("get", "configmap", "kube-root-ca.crt", "-n", "default"); err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	})
}

// StopControllerManager stops kube-controller-manager.
func (s *Stack) StopControllerManager() {
	if s.ControllerManager != nil {
		s.ControllerManager.Stop(15 * time.Second)
	}
}
