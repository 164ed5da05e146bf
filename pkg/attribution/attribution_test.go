package attribution

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

var configmaps = schema.GroupResource{Resource: "configmaps"}

// ev builds an audit event as kube-apiserver sends it (the real
// audit.k8s.io/v1 types, so the field names are the real ones).
func ev(verb, user string, ref auditv1.ObjectReference, code int32, response string) auditv1.Event {
	e := auditv1.Event{
		Level: auditv1.LevelRequestResponse, AuditID: types.UID("id-" + verb), Stage: auditv1.StageResponseComplete,
		Verb: verb, User: authnv1.UserInfo{Username: user, Groups: []string{"system:authenticated", "team"}},
		ObjectRef: &ref, ResponseStatus: &metav1.Status{Code: code},
	}
	if response != "" {
		e.ResponseObject = &runtime.Unknown{Raw: []byte(response), ContentType: runtime.ContentTypeJSON}
	}
	return e
}

func list(t *testing.T, events ...auditv1.Event) []byte {
	t.Helper()
	b, err := json.Marshal(auditv1.EventList{TypeMeta: metav1.TypeMeta{Kind: "EventList", APIVersion: "audit.k8s.io/v1"}, Items: events})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func cm(uid, rv, managed string) string {
	return `{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"a","namespace":"ns","uid":"` + uid + `","resourceVersion":"` + rv +
		`","managedFields":[` + managed + `]},"data":{"k":"v"}}`
}

func TestParseEvents(t *testing.T) {
	ref := func(resource, name string) auditv1.ObjectReference {
		return auditv1.ObjectReference{Resource: resource, Namespace: "ns", Name: name, APIVersion: "v1"}
	}
	now := time.Unix(1000, 0)
	imp := ev("update", "admin", ref("configmaps", "a"), 200, cm("u1", "12", `{"manager":"kubectl-edit","operation":"Update","time":"2026-01-01T00:00:00Z"}`))
	imp.ImpersonatedUser = &authnv1.UserInfo{Username: "alice"}
	applied := ev("patch", "bob", ref("configmaps", "a"), 200, cm("u1", "13",
		`{"manager":"kubectl-edit","operation":"Update","time":"2026-01-01T00:00:00Z"},{"manager":"kubectl","operation":"Apply","time":"2026-01-01T00:01:00Z"}`))
	applied.RequestURI = "/api/v1/namespaces/ns/configmaps/a?fieldManager=kustomize-controller&force=true"
	applied.UserAgent = "kustomize-controller/v1.5.0"
	patched := ev("patch", "bob", ref("configmaps", "a"), 200, cm("u1", "14",
		`{"manager":"kubectl","operation":"Apply","time":"2026-01-01T00:01:00Z"},{"manager":"kubectl-patch","operation":"Update","time":"2026-01-01T00:02:00Z"}`))
	patched.UserAgent = "kubectl-patch/v1.32.0 (linux/amd64) kubernetes/abc"
	deleted := ev("delete", "carol", ref("configmaps", "a"), 200, `{"kind":"Status","apiVersion":"v1","status":"Success","details":{"name":"a","kind":"configmaps","uid":"u1"}}`)
	secret := ev("update", "dave", ref("secrets", "s"), 200, "")
	secret.Level = auditv1.LevelMetadata
	secret.ObjectRef.UID = "su"
	failed := ev("update", "eve", ref("configmaps", "a"), 409, `{"kind":"Status","apiVersion":"v1","status":"Failure","code":409}`)
	received := ev("create", "eve", ref("configmaps", "b"), 201, cm("u2", "20", ""))
	received.Stage = auditv1.StageRequestReceived
	exec := ev("create", "eve", ref("pods", "p"), 200, "")
	exec.ObjectRef.Subresource = "exec"
	status := ev("update", "system:serviceaccount:kube-system:deployment-controller", auditv1.ObjectReference{Resource: "deployments", APIGroup: "apps", APIVersion: "v1", Namespace: "ns", Name: "d", Subresource: "status"}, 200,
		`{"kind":"Deployment","apiVersion":"apps/v1","metadata":{"name":"d","namespace":"ns","uid":"du","resourceVersion":"30"}}`)
	forged := ev("create", "mallory\nKubernetes-User: alice", ref("configmaps", "c"), 201, cm("u3", "40", ""))

	got, err := ParseEvents(list(t, imp, applied, patched, deleted, secret, failed, received, exec, status, forged), now)
	if err != nil {
		t.Fatal(err)
	}
	groups := []string{"system:authenticated", "team"}
	want := []Report{
		// The impersonated user's groups, not the impersonator's.
		{Resource: configmaps, Namespace: "ns", Name: "a", UID: "u1", ResourceVersion: "12", Author: Author{User: "alice", Impersonator: "admin", Verb: "update"}},
		// The field manager: the request's fieldManager, else the user agent up to its first "/".
		{Resource: configmaps, Namespace: "ns", Name: "a", UID: "u1", ResourceVersion: "13", Author: Author{User: "bob", Verb: "apply", Groups: groups, Manager: "kustomize-controller"}},
		{Resource: configmaps, Namespace: "ns", Name: "a", UID: "u1", ResourceVersion: "14", Author: Author{User: "bob", Verb: "patch", Groups: groups, Manager: "kubectl-patch"}},
		{Resource: configmaps, Namespace: "ns", Name: "a", UID: "u1", Author: Author{User: "carol", Verb: "delete", Groups: groups}},
		{Resource: schema.GroupResource{Resource: "secrets"}, Namespace: "ns", Name: "s", UID: "su", Author: Author{User: "dave", Verb: "update", Groups: groups}},
		{Resource: schema.GroupResource{Group: "apps", Resource: "deployments"}, Namespace: "ns", Name: "d", UID: "du", ResourceVersion: "30",
			Author: Author{User: "system:serviceaccount:kube-system:deployment-controller", Verb: "update", Groups: groups}},
		{Resource: configmaps, Namespace: "ns", Name: "c", UID: "u3", ResourceVersion: "40", Author: Author{User: "malloryKubernetes-User: alice", Verb: "create", Groups: groups}},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d reports, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		want[i].Received = now
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Errorf("report %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}

	for _, bad := range []string{`{`, `{"kind":"EventList","apiVersion":"audit.k8s.io/v1beta1","items":[]}`, `{"kind":"Pod","apiVersion":"v1"}`} {
		if _, err := ParseEvents([]byte(bad), now); err == nil {
			t.Errorf("%s parsed", bad)
		}
	}
}

func TestStoreMatchesExactly(t *testing.T) {
	s := NewStore(time.Minute)
	now := time.Now()
	s.Add(
		Report{Resource: configmaps, Namespace: "ns", Name: "a", UID: "u1", ResourceVersion: "12", Author: Author{User: "alice", Verb: "create"}, Received: now},
		// A no-op apply returns the same version: it did not make it.
		Report{Resource: configmaps, Namespace: "ns", Name: "a", UID: "u1", ResourceVersion: "12", Author: Author{User: "bob", Verb: "apply"}, Received: now},
		Report{Resource: configmaps, Namespace: "ns", Name: "a", UID: "u1", ResourceVersion: "13", Author: Author{User: "bob", Verb: "update"}, Received: now},
		Report{Resource: configmaps, Namespace: "ns", Name: "old", UID: "u9", Author: Author{User: "carol", Verb: "delete"}, Received: now},
		Report{Resource: schema.GroupResource{Resource: "secrets"}, Namespace: "ns", Name: "s", Author: Author{User: "dave", Verb: "create"}, Received: now},
		Report{Resource: schema.GroupResource{Resource: "secrets"}, Namespace: "ns", Name: "s", Author: Author{User: "erin", Verb: "update"}, Received: now},
	)
	q := func(name string, uid types.UID, rv string, deleted bool) Query {
		return Query{Resource: configmaps, Namespace: "ns", Name: name, UID: uid, ResourceVersion: rv, Deleted: deleted}
	}
	for _, tc := range []struct {
		q    Query
		user string
	}{
		{q("a", "u1", "12", false), "alice"},
		{q("a", "u1", "12", false), ""}, // used up
		{q("a", "u1", "13", false), "bob"},
		{q("a", "u1", "14", false), ""}, // no report for that version
		{q("a", "u2", "13", false), ""}, // same version, another object (recreated)
		{q("old", "u8", "", true), ""},  // another object's delete
		{q("old", "u9", "", true), "carol"},
		{Query{Resource: schema.GroupResource{Resource: "secrets"}, Namespace: "ns", Name: "s", UID: "x", ResourceVersion: "99"}, "erin"}, // the latest
		{Query{Resource: schema.GroupResource{Resource: "secrets"}, Namespace: "ns", Name: "s"}, ""},
	} {
		a, ok := s.Lookup(tc.q)
		if ok != (tc.user != "") || a.User != tc.user {
			t.Errorf("%+v: got %q %v, want %q", tc.q, a.User, ok, tc.user)
		}
	}
	s.Add(Report{Resource: configmaps, Namespace: "ns", Name: "z", UID: "u5", ResourceVersion: "1", Author: Author{User: "old"}, Received: now.Add(-2 * time.Minute)})
	s.Expire(now)
	if _, ok := s.Lookup(q("z", "u5", "1", false)); ok {
		t.Error("a report older than the TTL was kept")
	}
	if s.Received() != 7 {
		t.Errorf("received %d", s.Received())
	}
}
