package server

import (
	"encoding/pem"
	"fmt"
	"net/http"
	"sync/atomic"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/server/dynamiccertificates"
	"k8s.io/apiserver/pkg/server/healthz"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// authCAReady is a readyz check for delegated authentication. The client CA and
// the request-header CA that kube-apiserver publishes in
// kube-system/extension-apiserver-authentication reach the TLS and
// authentication layers through ConfigMap informers, which sync on their own
// time; until they have, a valid client certificate, and every request the
// aggregator proxies, is served as system:anonymous (403). So the server is not
// ready until it trusts every CA published there that it takes from there.
// Once passed, the check stays passed (later rotations are the informers' job).
type authCAReady struct {
	kube kubernetes.Interface
	// trusted is what the serving layer verifies client certificates with.
	trusted dynamiccertificates.CAContentProvider
	// keys are the ConfigMap keys taken from the cluster (not given by flags).
	keys  []string
	ready atomic.Bool
}

var _ healthz.HealthChecker = &authCAReady{}

const (
	authConfigMapNamespace = "kube-system"
	authConfigMapName      = "extension-apiserver-authentication"
)

func (c *authCAReady) Name() string { return "authentication-ca-loaded" }

func (c *authCAReady) Check(r *http.Request) error {
	if c.ready.Load() {
		return nil
	}
	cm, err := c.kube.CoreV1().ConfigMaps(authConfigMapNamespace).Get(r.Context(), authConfigMapName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		// Nothing published: nothing to wait for.
		c.ready.Store(true)
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading %s/%s: %w", authConfigMapNamespace, authConfigMapName, err)
	}
	have := map[string]bool{}
	for _, der := range pemCerts(c.trusted.CurrentCABundleContent()) {
		have[der] = true
	}
	for _, key := range c.keys {
		for _, der := range pemCerts([]byte(cm.Data[key])) {
			if !have[der] {
				return fmt.Errorf("%s of %s/%s is not trusted yet", key, authConfigMapNamespace, authConfigMapName)
			}
		}
	}
	c.ready.Store(true)
	return nil
}

// pemCerts returns the DER bytes of every certificate in a PEM bundle.
func pemCerts(b []byte) []string {
	var out []string
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			return out
		}
		if block.Type == "CERTIFICATE" {
			out = append(out, string(block.Bytes))
		}
	}
}

// authCACheck returns the readiness check for delegated authentication, or nil
// when the server does not take CAs from the cluster (standalone, or both CAs
// given by flags).
func (o *Options) authCACheck(trusted dynamiccertificates.CAContentProvider) (healthz.HealthChecker, error) {
	a := o.RecommendedOptions.Authentication
	if a == nil || trusted == nil || a.SkipInClusterLookup {
		return nil, nil
	}
	var keys []string
	if a.ClientCert.ClientCA == "" {
		keys = append(keys, "client-ca-file")
	}
	if a.RequestHeader.ClientCAFile == "" {
		keys = append(keys, "requestheader-client-ca-file")
	}
	if len(keys) == 0 {
		return nil, nil
	}
	// The same identity delegated authentication reads the ConfigMap with.
	var cfg *rest.Config
	var err error
	if a.RemoteKubeConfigFile != "" {
		cfg, err = clientcmd.BuildConfigFromFlags("", a.RemoteKubeConfigFile)
	} else {
		cfg, err = rest.InClusterConfig()
		if err != nil && a.RemoteKubeConfigFileOptional {
			return nil, nil // no cluster to take CAs from
		}
	}
	if err != nil {
		return nil, fmt.Errorf("authentication kubeconfig: %w", err)
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &authCAReady{kube: kube, trusted: trusted, keys: keys}, nil
}
