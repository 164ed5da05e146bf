package attribution

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
)

// TestHandlerAcceptsOnlyReporters: a report from anyone but a reporter is
// refused and names nobody.
func TestHandlerAcceptsOnlyReporters(t *testing.T) {
	store := NewStore(DefaultTTL)
	h := Handler(store, sets.New("system:kube-apiserver-audit"))
	body := list(t, ev("create", "alice", auditv1.ObjectReference{Resource: "configmaps", Namespace: "ns", Name: "a"}, 201, cm("u1", "5", "")))
	post := func(u user.Info, method string, body []byte) int {
		r := httptest.NewRequest(method, Path, bytes.NewReader(body))
		if u != nil {
			r = r.WithContext(genericapirequest.WithUser(r.Context(), u))
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	for _, tc := range []struct {
		name   string
		u      user.Info
		method string
		body   []byte
		want   int
	}{
		{"no user", nil, http.MethodPost, body, http.StatusUnauthorized},
		{"anonymous", &user.DefaultInfo{Name: user.Anonymous, Groups: []string{user.AllUnauthenticated}}, http.MethodPost, body, http.StatusUnauthorized},
		{"a cluster admin", &user.DefaultInfo{Name: "admin", Groups: []string{user.SystemPrivilegedGroup}}, http.MethodPost, body, http.StatusForbidden},
		{"a service account", &user.DefaultInfo{Name: "system:serviceaccount:kube-system:default"}, http.MethodPost, body, http.StatusForbidden},
		{"the reporter, GET", &user.DefaultInfo{Name: "system:kube-apiserver-audit"}, http.MethodGet, nil, http.StatusMethodNotAllowed},
		{"the reporter, garbage", &user.DefaultInfo{Name: "system:kube-apiserver-audit"}, http.MethodPost, []byte("{"), http.StatusBadRequest},
	} {
		if got := post(tc.u, tc.method, tc.body); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
	if store.Received() != 0 {
		t.Fatalf("refused reports were kept: %d", store.Received())
	}
	if got := post(&user.DefaultInfo{Name: "system:kube-apiserver-audit"}, http.MethodPost, body); got != http.StatusOK {
		t.Fatalf("the reporter: %d", got)
	}
	if a, ok := store.Lookup(Query{Resource: configmaps, Namespace: "ns", Name: "a", UID: types.UID("u1"), ResourceVersion: "5"}); !ok || a.User != "alice" {
		t.Errorf("reported: %+v %v", a, ok)
	}
}
