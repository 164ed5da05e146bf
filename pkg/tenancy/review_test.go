package tenancy

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apiserver/pkg/authorization/authorizer"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
	"github.com/configbutler/gitops-reverser/pkg/selection"
)

// countingAuthorizer counts questions and can be switched to failing.
type countingAuthorizer struct {
	rbac
	asked int
	down  bool
}

func (c *countingAuthorizer) Authorize(ctx context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
	c.asked++
	if c.down {
		return authorizer.DecisionNoOpinion, "", errors.New("kube-apiserver away")
	}
	return c.rbac.Authorize(ctx, a)
}

var (
	cmGVR  = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	secGVR = schema.GroupVersionResource{Version: "v1", Resource: "secrets"}
	crGVR  = schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterroles"}
)

// TestFilterAndReview: a type is mirrored only in the namespaces every
// identity on the rule's way may read; verdicts are cached until the TTL or
// Invalidate; a failed review keeps the last verdict and, without one, denies.
func TestFilterAndReview(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	az := &countingAuthorizer{rbac: rbac{
		"alice": allow("list configmaps in namespace a", "watch configmaps in namespace a", "list configmaps in namespace b", "watch configmaps in namespace b",
			"list clusterroles.rbac.authorization.k8s.io", "watch clusterroles.rbac.authorization.k8s.io"),
		"bob": allow("list configmaps in namespace a", "watch configmaps in namespace a", "list secrets in namespace a", "watch secrets in namespace a",
			"list clusterroles.rbac.authorization.k8s.io", "watch clusterroles.rbac.authorization.k8s.io"),
	}}
	r := &Reviewer{Authorizer: az, TTL: time.Minute, Now: func() time.Time { return now }}
	sel := selection.Selection{
		cmGVR:  {Resource: selection.APIResource{GVR: cmGVR, Namespaced: true}, Namespaces: sets.New("a", "b")},
		secGVR: {Resource: selection.APIResource{GVR: secGVR, Namespaced: true}, Namespaces: sets.New("a")},
		crGVR:  {Resource: selection.APIResource{GVR: crGVR}},
	}
	alice := &v1alpha1.AuthorizedIdentity{Username: "alice"}
	bob := &v1alpha1.AuthorizedIdentity{Username: "bob"}
	links := []Link{{Ref: "WatchRule a/r", Identity: alice}, {Ref: "GitTarget a/t", Identity: bob}}

	got, denied, err := Filter(context.Background(), r, sel, links)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !got[cmGVR].Namespaces.Equal(sets.New("a")) || got[crGVR] == nil || got[secGVR] != nil {
		t.Fatalf("filtered %v", got.Names())
	}
	msg := Summary(denied)
	for _, w := range []string{`user "bob" (GitTarget a/t) may not list configmaps in namespace b`, `user "alice" (WatchRule a/r) may not list secrets in namespace a`} {
		if !strings.Contains(msg, w) {
			t.Errorf("summary %q lacks %q", msg, w)
		}
	}
	if strings.Contains(msg, "clusterroles") {
		t.Errorf("allowed permissions reported denied: %s", msg)
	}
	asked := az.asked

	// Cached: no question asked again within the TTL.
	if _, _, err := Filter(context.Background(), r, sel, links); err != nil || az.asked != asked {
		t.Errorf("asked %d more times within the TTL (%v)", az.asked-asked, err)
	}
	// Revoked: after Invalidate the new verdict counts.
	delete(az.rbac["bob"], "list clusterroles.rbac.authorization.k8s.io")
	r.Invalidate()
	if got, _, _ := Filter(context.Background(), r, sel, links); got[crGVR] != nil {
		t.Error("a revoked permission is still mirrored after Invalidate")
	}
	// kube-apiserver away: the last verdicts stand (even past the TTL)...
	az.down = true
	now = now.Add(2 * time.Minute)
	if got, _, err := Filter(context.Background(), r, sel, links); err != nil || got[cmGVR] == nil {
		t.Errorf("with the last verdicts: %v %v", got.Names(), err)
	}
	// ...and without one, nothing is mirrored.
	r.Invalidate()
	got, _, err = Filter(context.Background(), r, sel, links)
	if err == nil || len(got) != 0 {
		t.Errorf("without verdicts while the authorizer is away: %v %v", got.Names(), err)
	}
	// An object nobody authorized (no recorded identity) mirrors nothing.
	az.down = false
	if got, denied, _ := Filter(context.Background(), r, sel, []Link{{Ref: "WatchRule a/old"}}); len(got) != 0 || !strings.Contains(Summary(denied), "no recorded user (WatchRule a/old)") {
		t.Errorf("nil identity: %v %s", got.Names(), Summary(denied))
	}
}

func TestUserOf(t *testing.T) {
	u := UserOf(&v1alpha1.AuthorizedIdentity{Username: "system:serviceaccount:t1:bot", UID: "u1", Groups: []string{"system:serviceaccounts"},
		Extra: map[string][]string{"authentication.kubernetes.io/pod-name": {"p"}}})
	if u.GetName() != "system:serviceaccount:t1:bot" || u.GetUID() != "u1" || u.GetGroups()[0] != "system:serviceaccounts" || u.GetExtra()["authentication.kubernetes.io/pod-name"][0] != "p" {
		t.Errorf("%+v", u)
	}
}
