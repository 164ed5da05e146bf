package integration

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
	"github.com/configbutler/gitops-reverser/pkg/generated/clientset/versioned/scheme"
)

// TestStandaloneAuthentication: only holders of the kubeconfig's credentials get in.
func TestStandaloneAuthentication(t *testing.T) {
	insecure := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, Timeout: 10 * time.Second}
	get := func(token string) int {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, srv.URL+"/apis/configbutler.ai/v1alpha1/gittargets", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := insecure.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get(""); code != http.StatusUnauthorized {
		t.Errorf("anonymous: %d, want 401", code)
	}
	if code := get("wrong-token"); code != http.StatusUnauthorized {
		t.Errorf("wrong token: %d, want 401", code)
	}
	if code := get(srv.Token); code != http.StatusOK {
		t.Errorf("token: %d, want 200", code)
	}
	// The kubeconfig's client certificate (used by srv.Client) works, and the
	// server's certificate verifies against the kubeconfig's CA.
	rc, err := rest.RESTClientFor(withNegotiated(srv.Config))
	if err != nil {
		t.Fatal(err)
	}
	if err := rc.Get().AbsPath("/apis/configbutler.ai/v1alpha1").Do(context.Background()).Error(); err != nil {
		t.Errorf("client certificate: %v", err)
	}
}

func withNegotiated(c *rest.Config) *rest.Config {
	cfg := rest.CopyConfig(c)
	cfg.GroupVersion = &v1alpha1.SchemeGroupVersion
	cfg.APIPath = "/apis"
	cfg.NegotiatedSerializer = scheme.Codecs.WithoutConversion()
	return cfg
}
