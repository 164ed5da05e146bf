package stream

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
)

// TestDecodeList: one pass decodes a LIST into exactly what the dynamic
// client's decoding gives (numbers as int64 or float64, escapes, nested
// lists, items without apiVersion and kind given the list's), and what is
// not a list of objects (no List kind, items not an array of objects) is an
// error, never an empty page.
func TestDecodeList(t *testing.T) {
	for _, body := range []string{
		`{"apiVersion":"v1","kind":"ConfigMapList","metadata":{"resourceVersion":"7","continue":"abc"},"items":[` +
			`{"metadata":{"name":"a","namespace":"ns","labels":{"x":"y"}},"data":{"k":"v\u00e9\n"}},` +
			`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"b"},"n":{"i":3,"big":9007199254740993,"f":1.5,"e":1e3,"neg":-2,"list":[1,"two",null,{"z":[]}]}}]}`,
		`{"apiVersion":"apps/v1","kind":"DeploymentList","metadata":{"resourceVersion":"9"},"items":[]}`,
		`{"apiVersion":"v1","kind":"SecretList","metadata":{},"items":null}`,
		`{"apiVersion":"v1","kind":"ServiceList","metadata":{}}`,
	} {
		got, err := decodeList([]byte(body))
		if err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		obj, err := runtime.Decode(unstructured.UnstructuredJSONScheme, []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		want, ok := obj.(*unstructured.UnstructuredList)
		if !ok {
			u := obj.(*unstructured.Unstructured)
			if want, err = u.ToList(); err != nil {
				t.Fatal(err)
			}
		}
		if len(got.Items) == 0 && len(want.Items) == 0 {
			got.Items, want.Items = nil, nil
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\ngot  %#v\nwant %#v", body, got, want)
		}
	}
	for _, bad := range []string{`null`, `[]`, `{}`, `{"items":[]}`, `{"kind":"Status","status":"Success"}`, `{"kind":"ConfigMap","items":[]}`,
		`{"kind":"ConfigMapList","items":{}}`, `{"kind":"ConfigMapList","items":"x"}`, `{"kind":"ConfigMapList","items":[1]}`,
		`{"kind":"ConfigMapList","items":[{"a":1},"x"]}`, `{"kind":"ConfigMapList","items":[`, `{"kind":"ConfigMapList"}x`} {
		if l, err := decodeList([]byte(bad)); err == nil {
			t.Errorf("%s decoded as %+v, want an error", bad, l)
		}
	}
}

// TestListPath: the URL of a LIST, core and grouped, namespaced or not.
func TestListPath(t *testing.T) {
	for _, c := range []struct {
		gvr  schema.GroupVersionResource
		ns   string
		want string
	}{
		{schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}, "", "/api/v1/configmaps"},
		{schema.GroupVersionResource{Version: "v1", Resource: "secrets"}, "team-a", "/api/v1/namespaces/team-a/secrets"},
		{schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}, "", "/apis/apps/v1/deployments"},
		{schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "roles"}, "ns", "/apis/rbac.authorization.k8s.io/v1/namespaces/ns/roles"},
	} {
		if got := listPath(c.gvr, c.ns); got != c.want {
			t.Errorf("listPath(%v, %q) = %s, want %s", c.gvr, c.ns, got, c.want)
		}
	}
}

// TestRawPageErrors: a refused page is the server's own error, as through
// the dynamic client: its reason (a continue token expired, a LIST
// forbidden) and its message.
func TestRawPageErrors(t *testing.T) {
	for _, c := range []struct {
		code   int
		status string
		is     func(error) bool
	}{
		{http.StatusGone, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Expired","message":"the continue token is too old","code":410}`, apierrors.IsResourceExpired},
		{http.StatusForbidden, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Forbidden","message":"configmaps is forbidden: User \"x\" cannot list","code":403}`, apierrors.IsForbidden},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(c.code)
			fmt.Fprint(w, c.status)
		}))
		cfg := &rest.Config{Host: srv.URL}
		raw, err := rest.UnversionedRESTClientFor(dynamic.ConfigFor(cfg))
		if err != nil {
			t.Fatal(err)
		}
		dyn, _ := dynamic.NewForConfig(cfg)
		_, rawErr := rawPages{raw}.page(context.Background(), configMaps, "", listPage, "")
		_, dynErr := dyn.Resource(configMaps).List(context.Background(), metav1.ListOptions{Limit: listPage})
		if !c.is(rawErr) || rawErr.Error() != dynErr.Error() {
			t.Errorf("%d: raw %v, dynamic %v; want the same error, of its reason", c.code, rawErr, dynErr)
		}
		srv.Close()
	}
}
