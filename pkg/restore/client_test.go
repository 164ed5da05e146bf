package restore

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
)

// request is what the test server saw of one request.
type request struct {
	method, path, contentType string
	query                     url.Values
	header                    http.Header
	body                      string
}

// recordingServer answers every request with a ConfigMap (a list of one,
// two pages, for a list) and records it.
func recordingServer(t *testing.T) (*httptest.Server, func() []request) {
	var mu sync.Mutex
	var seen []request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		seen = append(seen, request{r.Method, r.URL.Path, r.Header.Get("Content-Type"), r.URL.Query(), r.Header.Clone(), string(body)})
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		cm := map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "x", "namespace": "a", "resourceVersion": "7"}}
		switch {
		case r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/configmaps"):
			next := "page2"
			if r.URL.Query().Get("continue") == "page2" {
				next = ""
			}
			_ = json.NewEncoder(w).Encode(map[string]any{"apiVersion": "v1", "kind": "ConfigMapList",
				"metadata": map[string]any{"continue": next}, "items": []any{cm}})
		case r.Method == http.MethodDelete:
			_ = json.NewEncoder(w).Encode(map[string]any{"apiVersion": "v1", "kind": "Status", "status": "Success"})
		default:
			_ = json.NewEncoder(w).Encode(cm)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, func() []request {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(seen)
	}
}

// TestNewClientImpersonates: every request of the client carries the
// recorded user's name, uid, groups and extra as impersonation headers, and
// applies are server-side applies of the restore's field manager, forced.
func TestNewClientImpersonates(t *testing.T) {
	srv, seen := recordingServer(t)
	cfg := &rest.Config{Host: srv.URL, BearerToken: "server-token"}
	id := &v1alpha1.AuthorizedIdentity{
		Username: "alice@example.com",
		UID:      "4f1c-uid",
		Groups:   []string{"devs", "system:authenticated"},
		Extra:    map[string][]string{"scopes": {"view", "edit"}, "example.com/team": {"blue"}},
	}
	c, err := NewClient(cfg, id)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Impersonate.UserName != "" {
		t.Fatal("NewClient changed the server's configuration")
	}
	ctx := context.Background()
	cmGVR := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	if _, err := c.Get(ctx, cmGVR, "a", "x"); err != nil {
		t.Fatal(err)
	}
	if l, err := c.List(ctx, cmGVR, "a"); err != nil || len(l) != 2 {
		t.Fatalf("list: %d items, %v", len(l), err)
	}
	if _, err := c.Apply(ctx, cmGVR, configMap("a", "x", map[string]any{"k": "v"}), true); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, cmGVR, "a", "x", "uid-1", false); err != nil {
		t.Fatal(err)
	}
	reqs := seen()
	if len(reqs) != 5 {
		t.Fatalf("%d requests, want 5", len(reqs))
	}
	for _, r := range reqs {
		h := r.header
		if h.Get("Impersonate-User") != "alice@example.com" || h.Get("Impersonate-Uid") != "4f1c-uid" ||
			!slices.Equal(h.Values("Impersonate-Group"), []string{"devs", "system:authenticated"}) ||
			!slices.Equal(h.Values("Impersonate-Extra-Scopes"), []string{"view", "edit"}) ||
			!slices.Equal(extraHeader(h, "example.com/team"), []string{"blue"}) {
			t.Errorf("%s %s: impersonation headers %v", r.method, r.path, h)
		}
		if h.Get("Authorization") != "Bearer server-token" {
			t.Errorf("%s %s: not authenticated as the server", r.method, r.path)
		}
	}
	apply := reqs[3]
	if apply.method != http.MethodPatch || apply.path != "/api/v1/namespaces/a/configmaps/x" ||
		apply.contentType != "application/apply-patch+yaml" || apply.query.Get("fieldManager") != FieldManager ||
		apply.query.Get("force") != "true" || apply.query.Get("dryRun") != "All" || !strings.Contains(apply.body, `"k":"v"`) {
		t.Errorf("apply: %+v", apply)
	}
	if del := reqs[4]; del.method != http.MethodDelete || !strings.Contains(del.body, `"uid":"uid-1"`) {
		t.Errorf("delete: %+v", del)
	}
}

// extraHeader reads an Impersonate-Extra-<key> header, whose key is escaped.
func extraHeader(h http.Header, key string) []string {
	for k, v := range h {
		if rest, ok := strings.CutPrefix(k, "Impersonate-Extra-"); ok {
			if unescaped, err := url.PathUnescape(rest); err == nil && strings.EqualFold(unescaped, key) {
				return v
			}
		}
	}
	return nil
}

// TestNewClientRefusesNoUser: a restore never writes as the server.
func TestNewClientRefusesNoUser(t *testing.T) {
	cfg := &rest.Config{Host: "https://example.invalid"}
	for _, id := range []*v1alpha1.AuthorizedIdentity{nil, {}, {Groups: []string{"system:masters"}}} {
		if _, err := NewClient(cfg, id); err == nil {
			t.Errorf("NewClient(%+v) made a client", id)
		}
	}
	if _, err := NewClient(nil, &v1alpha1.AuthorizedIdentity{Username: "alice"}); err == nil {
		t.Error("NewClient without a source cluster made a client")
	}
}

// TestNewClientImpersonatesAServiceAccountByName: a ServiceAccount user is
// impersonated by its username alone: constrained impersonation's
// serviceaccount mode takes nothing else, and kube-apiserver adds the
// account's own groups.
func TestNewClientImpersonatesAServiceAccountByName(t *testing.T) {
	srv, seen := recordingServer(t)
	c, err := NewClient(&rest.Config{Host: srv.URL}, &v1alpha1.AuthorizedIdentity{Username: "system:serviceaccount:app:deployer", UID: "u-1",
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:app"}, Extra: map[string][]string{"authentication.kubernetes.io/pod-name": {"p"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(context.Background(), schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}, "app", "x"); err != nil {
		t.Fatal(err)
	}
	h := seen()[0].header
	if h.Get("Impersonate-User") != "system:serviceaccount:app:deployer" || h.Get("Impersonate-Uid") != "" || len(h.Values("Impersonate-Group")) != 0 {
		t.Fatalf("impersonation headers %v", h)
	}
	for k := range h {
		if strings.HasPrefix(k, "Impersonate-Extra-") {
			t.Fatalf("extra impersonated for a ServiceAccount: %v", h)
		}
	}
}

// TestNewClientLeavesOutSystemMasters: kube-apiserver refuses to impersonate
// system:masters, so a member's restore impersonates the user's other groups
// (and so can only do less, never more).
func TestNewClientLeavesOutSystemMasters(t *testing.T) {
	srv, seen := recordingServer(t)
	c, err := NewClient(&rest.Config{Host: srv.URL}, &v1alpha1.AuthorizedIdentity{Username: "admin", Groups: []string{"system:masters", "ops", "system:authenticated"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(context.Background(), schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}, "app", "x"); err != nil {
		t.Fatal(err)
	}
	h := seen()[0].header
	if got := h.Values("Impersonate-Group"); !slices.Equal(got, []string{"ops", "system:authenticated"}) || h.Get("Impersonate-User") != "admin" {
		t.Fatalf("impersonation headers %v", h)
	}
}
