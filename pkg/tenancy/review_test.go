package tenancy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

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

// TestReviewerServiceAccountsAndGroups: a recorded ServiceAccount user may do
// nothing once its ServiceAccount is gone or replaced (its RoleBindings outlive
// it); identities that differ only in groups or extra values never share a
// verdict; a verdict asked for before an Invalidate is not kept.
func TestReviewerServiceAccountsAndGroups(t *testing.T) {
	az := &countingAuthorizer{rbac: rbac{"system:serviceaccount:a:bot": allow("list configmaps in namespace a")}}
	accounts := map[string]string{"a/bot": "uid-1"}
	created := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r := &Reviewer{Authorizer: az, TTL: time.Minute, ServiceAccount: func(_ context.Context, ns, name string) (Account, error) {
		uid, ok := accounts[ns+"/"+name]
		if !ok {
			return Account{}, apierrors.NewNotFound(schema.GroupResource{Resource: "serviceaccounts"}, name)
		}
		return Account{UID: uid, Created: created}, nil
	}}
	list := Check{Verb: "list", Resource: "configmaps", Namespace: "a", Namespaced: true}
	bot := &v1alpha1.AuthorizedIdentity{Username: "system:serviceaccount:a:bot", UID: "uid-1"}
	if ok, err := r.Allowed(context.Background(), bot, list); !ok || err != nil {
		t.Fatalf("bot: %v %v", ok, err)
	}
	delete(accounts, "a/bot")
	r.Invalidate()
	if ok, _ := r.Allowed(context.Background(), bot, list); ok {
		t.Error("a deleted ServiceAccount's user is still allowed")
	}
	accounts["a/bot"] = "uid-2" // recreated under the same name
	r.Invalidate()
	if ok, _ := r.Allowed(context.Background(), bot, list); ok {
		t.Error("another ServiceAccount of the same name inherits the recorded user")
	}
	// Recorded without a UID (impersonated without --as-uid): the account
	// must not have been created after the identity was recorded.
	recorded := metav1.NewTime(created.Add(time.Hour))
	noUID := &v1alpha1.AuthorizedIdentity{Username: "system:serviceaccount:a:bot", Time: &recorded}
	r.Invalidate()
	if ok, _ := r.Allowed(context.Background(), noUID, list); !ok {
		t.Error("a ServiceAccount older than the record is not the recorded one")
	}
	created = created.Add(2 * time.Hour) // deleted and created again after the record
	r.Invalidate()
	if ok, _ := r.Allowed(context.Background(), noUID, list); ok {
		t.Error("a ServiceAccount recreated after the record (no UID recorded) inherits the recorded user")
	}

	byGroup := authorizerFunc(func(_ context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
		for _, g := range a.GetUser().GetGroups() {
			if g == "readers" {
				return authorizer.DecisionAllow, "", nil
			}
		}
		return authorizer.DecisionNoOpinion, "", nil
	})
	r2 := &Reviewer{Authorizer: byGroup, TTL: time.Minute}
	reader := &v1alpha1.AuthorizedIdentity{Username: "carol", Groups: []string{"readers"}}
	other := &v1alpha1.AuthorizedIdentity{Username: "carol", Groups: []string{"read", "ers"}}
	if ok, _ := r2.Allowed(context.Background(), reader, list); !ok {
		t.Fatal("the group is not sent in the review")
	}
	if ok, _ := r2.Allowed(context.Background(), other, list); ok {
		t.Error("identities differing in groups share a verdict")
	}

	// A review answered across an Invalidate is not cached.
	slow := &Reviewer{TTL: time.Minute}
	slow.Authorizer = authorizerFunc(func(context.Context, authorizer.Attributes) (authorizer.Decision, string, error) {
		slow.Invalidate() // the RBAC change lands while the review is out
		return authorizer.DecisionAllow, "", nil
	})
	slow.Allowed(context.Background(), reader, list)
	if len(slow.cache) != 0 {
		t.Error("a verdict from before an Invalidate was cached")
	}
}

type authorizerFunc func(context.Context, authorizer.Attributes) (authorizer.Decision, string, error)

func (f authorizerFunc) Authorize(ctx context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
	return f(ctx, a)
}

// TestSARAuthorizer: the review sent to kube-apiserver carries the whole user
// (name, uid, groups, extra) and the resource attributes; the answer maps to
// a decision.
func TestSARAuthorizer(t *testing.T) {
	kube := fake.NewClientset()
	var got *authorizationv1.SubjectAccessReview
	kube.PrependReactor("create", "subjectaccessreviews", func(action k8stesting.Action) (bool, runtime.Object, error) {
		got = action.(k8stesting.CreateAction).GetObject().(*authorizationv1.SubjectAccessReview).DeepCopy()
		out := got.DeepCopy()
		out.Status.Allowed = got.Spec.User == "alice"
		return true, out, nil
	})
	az := SARAuthorizer{Client: kube.AuthorizationV1().SubjectAccessReviews()}
	u := UserOf(&v1alpha1.AuthorizedIdentity{Username: "alice", UID: "u1", Groups: []string{"g"}, Extra: map[string][]string{"k": {"v"}}})
	d, _, err := az.Authorize(context.Background(), SecretGet("ns", "creds", "").Attributes(u))
	if err != nil || d != authorizer.DecisionAllow {
		t.Fatalf("%v %v", d, err)
	}
	s := got.Spec
	if s.User != "alice" || s.UID != "u1" || len(s.Groups) != 1 || s.Groups[0] != "g" || len(s.Extra["k"]) != 1 ||
		s.ResourceAttributes.Verb != "get" || s.ResourceAttributes.Resource != "secrets" || s.ResourceAttributes.Name != "creds" || s.ResourceAttributes.Namespace != "ns" {
		t.Errorf("review sent: %+v %+v", s, s.ResourceAttributes)
	}
	if d, _, _ := az.Authorize(context.Background(), SecretGet("ns", "creds", "").Attributes(UserOf(&v1alpha1.AuthorizedIdentity{Username: "bob"}))); d == authorizer.DecisionAllow {
		t.Error("bob allowed")
	}
}

// TestReviewerScopes: a change invalidates only the verdicts it may have
// changed. ServiceAccounts created (no recorded user is theirs) re-ask
// nothing; a RoleBinding change in namespace a re-asks the verdicts in a
// only; a ClusterRole change re-asks all; a deleted ServiceAccount re-asks
// its user's.
func TestReviewerScopes(t *testing.T) {
	az := &countingAuthorizer{rbac: rbac{
		"alice":                       allow("list configmaps in namespace a", "list configmaps in namespace b", "list clusterroles.rbac.authorization.k8s.io"),
		"system:serviceaccount:a:bot": allow("list configmaps in namespace a", "list configmaps in namespace b"),
	}}
	r := &Reviewer{Authorizer: az, TTL: time.Minute}
	alice := &v1alpha1.AuthorizedIdentity{Username: "alice"}
	bot := &v1alpha1.AuthorizedIdentity{Username: "system:serviceaccount:a:bot"}
	checks := []Check{
		{Verb: "list", Resource: "configmaps", Namespace: "a", Namespaced: true},
		{Verb: "list", Resource: "configmaps", Namespace: "b", Namespaced: true},
		{Verb: "list", Resource: "configmaps", Namespaced: true}, // all namespaces
		{Verb: "list", Group: "rbac.authorization.k8s.io", Resource: "clusterroles"},
	}
	// pass asks every identity every check, as a re-check pass does, and
	// returns how many reviews it took.
	pass := func() int {
		before := az.asked
		for _, id := range []*v1alpha1.AuthorizedIdentity{alice, bot} {
			for _, c := range checks {
				if _, err := r.Allowed(context.Background(), id, c); err != nil {
					t.Fatal(err)
				}
			}
		}
		return az.asked - before
	}
	if n := pass(); n != 8 {
		t.Fatalf("first pass asked %d, want 8", n)
	}

	for _, tc := range []struct {
		name   string
		scopes []Scope
		hit    bool
		asked  int
	}{
		{"100 ServiceAccounts created", saScopes(100), false, 0},
		{"a RoleBinding changed in namespace a", []Scope{{Namespace: "a"}}, true, 2},
		{"RoleBindings changed in namespaces a and b", []Scope{{Namespace: "a"}, {Namespace: "b"}}, true, 4},
		{"a Role changed in namespace c", []Scope{{Namespace: "c"}}, false, 0},
		{"the bot's ServiceAccount deleted", []Scope{{User: bot.Username}}, true, 4},
		{"a ClusterRole changed", []Scope{AllScope}, true, 8},
		{"everything (no scope)", nil, true, 8},
		{"the zero scope", []Scope{{}}, false, 0},
	} {
		if hit := r.Invalidate(tc.scopes...); hit != tc.hit {
			t.Errorf("%s: Invalidate reported %v, want %v", tc.name, hit, tc.hit)
		}
		if n := pass(); n != tc.asked {
			t.Errorf("%s: the pass after it asked %d, want %d", tc.name, n, tc.asked)
		}
	}
}

func saScopes(n int) []Scope {
	var out []Scope
	for i := 0; i < n; i++ {
		out = append(out, Scope{User: fmt.Sprintf("system:serviceaccount:a:new-%d", i)})
	}
	return out
}

// blockingAuthorizer allows everything, once release is closed, and counts
// the questions (safely across goroutines).
type blockingAuthorizer struct {
	asked   atomic.Int32
	release chan struct{}
}

func (b *blockingAuthorizer) Authorize(context.Context, authorizer.Attributes) (authorizer.Decision, string, error) {
	b.asked.Add(1)
	<-b.release
	return authorizer.DecisionAllow, "", nil
}

// TestReviewerSingleFlight: the same question asked at once by several
// reconciles is one review; after an Invalidate in its scope, a question is
// asked anew and the answer from before it is not cached, while one outside
// its scope is.
func TestReviewerSingleFlight(t *testing.T) {
	az := &blockingAuthorizer{release: make(chan struct{})}
	r := &Reviewer{Authorizer: az, TTL: time.Minute}
	alice := &v1alpha1.AuthorizedIdentity{Username: "alice"}
	inA := Check{Verb: "list", Resource: "configmaps", Namespace: "a", Namespaced: true}
	inB := Check{Verb: "list", Resource: "configmaps", Namespace: "b", Namespaced: true}

	var wg sync.WaitGroup
	results := make(chan bool, 20)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := r.Allowed(context.Background(), alice, inA)
			results <- ok && err == nil
		}()
	}
	waitFor(t, func() bool { return az.asked.Load() == 1 })
	time.Sleep(20 * time.Millisecond) // the others join the review out
	close(az.release)
	wg.Wait()
	close(results)
	for ok := range results {
		if !ok {
			t.Fatal("a caller sharing the review was not allowed")
		}
	}
	if n := az.asked.Load(); n != 1 {
		t.Errorf("20 identical questions at once asked %d reviews, want 1", n)
	}

	// A review out when its scope is invalidated: the next question is asked
	// anew, and the answer from before is not cached.
	az = &blockingAuthorizer{release: make(chan struct{})}
	r = &Reviewer{Authorizer: az, TTL: time.Minute}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = r.Allowed(context.Background(), alice, inA)
		_, _ = r.Allowed(context.Background(), alice, inB)
	}()
	waitFor(t, func() bool { return az.asked.Load() == 1 })
	r.Invalidate(Scope{Namespace: "b"}) // not its scope
	r.Invalidate(Scope{Namespace: "a"})
	close(az.release)
	<-done
	if _, err := r.Allowed(context.Background(), alice, inA); err != nil || az.asked.Load() != 3 {
		t.Errorf("after an Invalidate in its scope, asked %d reviews in all (%v), want 3: the answer from before was cached", az.asked.Load(), err)
	}
	if _, err := r.Allowed(context.Background(), alice, inB); err != nil || az.asked.Load() != 3 {
		t.Errorf("a verdict asked after the Invalidate was not cached (%d reviews, %v)", az.asked.Load(), err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestFilterRequires: a link whose user lacks a permission it requires (a
// ClusterWatchRule's user, update of the GitTarget it writes through)
// carries nothing, whatever that user may read; with it, the usual filter.
func TestFilterRequires(t *testing.T) {
	reads := []string{"list configmaps in namespace a", "watch configmaps in namespace a"}
	az := &countingAuthorizer{rbac: rbac{"carol": allow(reads...), "bob": allow(reads...)}}
	r := &Reviewer{Authorizer: az, TTL: time.Minute, Now: time.Now}
	sel := selection.Selection{cmGVR: {Resource: selection.APIResource{GVR: cmGVR, Namespaced: true}, Namespaces: sets.New("a")}}
	links := []Link{
		{Ref: "ClusterWatchRule c", Identity: &v1alpha1.AuthorizedIdentity{Username: "carol"},
			Requires: []Check{TargetUpdate("team", "t", "spec.targetRef")}},
		{Ref: "GitTarget team/t", Identity: &v1alpha1.AuthorizedIdentity{Username: "bob"}},
	}
	got, denied, err := Filter(context.Background(), r, sel, links)
	if err != nil {
		t.Fatal(err)
	}
	want := `user "carol" (ClusterWatchRule c) may not update gittargets.configbutler.ai t in namespace team`
	if len(got) != 0 || Summary(denied) != want {
		t.Fatalf("without the required permission: mirrored %v, denials %q; want nothing and %q", got.Names(), Summary(denied), want)
	}
	az.rbac["carol"]["update gittargets.configbutler.ai t in namespace team"] = true
	r.Invalidate()
	if got, denied, err := Filter(context.Background(), r, sel, links); err != nil || len(denied) != 0 || got[cmGVR] == nil {
		t.Fatalf("with it: mirrored %v, denials %q, %v", got.Names(), Summary(denied), err)
	}
}
