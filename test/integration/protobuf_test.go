package integration

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
)

// TestProtobufFirstClientsGetJSON: our kinds have no protobuf encoding, so the
// server does not offer it; a client that asks for protobuf first (as
// kube-controller-manager's namespace controller does, deleting a
// namespace's objects) gets JSON, not an error.
func TestProtobufFirstClientsGetJSON(t *testing.T) {
	ctx := context.Background()
	if _, err := srv.Client.ConfigbutlerV1alpha1().GitProviders("proto").Create(ctx, provider("proto", "p"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	hc, err := rest.HTTPClientFor(srv.Config)
	if err != nil {
		t.Fatal(err)
	}
	for _, method := range []string{http.MethodGet, http.MethodDelete} {
		req, _ := http.NewRequestWithContext(ctx, method, srv.URL+"/apis/configbutler.ai/v1alpha1/namespaces/proto/gitproviders", nil)
		req.Header.Set("Accept", "application/vnd.kubernetes.protobuf, application/json")
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") || !strings.Contains(string(body), "GitProviderList") {
			t.Errorf("%s with protobuf first: %d %s %.200s", method, resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
	}
}
