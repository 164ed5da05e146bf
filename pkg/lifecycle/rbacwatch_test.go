package lifecycle

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/client-go/tools/cache"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
	"github.com/configbutler/gitops-reverser/pkg/tenancy"
)

func meta(ns, name, uid string) *metav1.PartialObjectMetadata {
	return &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID(uid)}}
}

func withRV(o *metav1.PartialObjectMetadata, rv string) *metav1.PartialObjectMetadata {
	o.ResourceVersion = rv
	return o
}

// TestRBACScope: which verdicts a change of an RBAC object or ServiceAccount
// may change.
func TestRBACScope(t *testing.T) {
	var none *metav1.PartialObjectMetadata
	obj := func(o *metav1.PartialObjectMetadata) metav1.Object {
		if o == nil {
			return nil
		}
		return o
	}
	for _, tc := range []struct {
		name, resource string
		old, obj       *metav1.PartialObjectMetadata
		want           tenancy.Scope
		ok             bool
	}{
		{"Role created", "roles", none, meta("a", "r", "1"), tenancy.Scope{Namespace: "a"}, true},
		{"Role updated", "roles", meta("a", "r", "1"), meta("a", "r", "1"), tenancy.Scope{Namespace: "a"}, true},
		{"RoleBinding deleted", "rolebindings", meta("b", "rb", "1"), none, tenancy.Scope{Namespace: "b"}, true},
		{"ClusterRole created", "clusterroles", none, meta("", "cr", "1"), tenancy.AllScope, true},
		{"ClusterRole updated (aggregated)", "clusterroles", meta("", "admin", "1"), meta("", "admin", "1"), tenancy.AllScope, true},
		{"ClusterRoleBinding deleted", "clusterrolebindings", meta("", "crb", "1"), none, tenancy.AllScope, true},
		{"ServiceAccount created", "serviceaccounts", none, meta("a", "bot", "1"), tenancy.Scope{User: "system:serviceaccount:a:bot"}, true},
		{"ServiceAccount updated, same UID", "serviceaccounts", meta("a", "bot", "1"), meta("a", "bot", "1"), tenancy.Scope{}, false},
		{"ServiceAccount replaced (another UID)", "serviceaccounts", meta("a", "bot", "1"), meta("a", "bot", "2"), tenancy.Scope{User: "system:serviceaccount:a:bot"}, true},
		{"ServiceAccount deleted", "serviceaccounts", meta("a", "bot", "1"), none, tenancy.Scope{User: "system:serviceaccount:a:bot"}, true},
		{"Role unchanged (a relist)", "roles", withRV(meta("a", "r", "1"), "7"), withRV(meta("a", "r", "1"), "7"), tenancy.Scope{}, false},
		{"ClusterRole unchanged (a relist)", "clusterroles", withRV(meta("", "cr", "1"), "7"), withRV(meta("", "cr", "1"), "7"), tenancy.Scope{}, false},
		{"ClusterRole changed", "clusterroles", withRV(meta("", "cr", "1"), "7"), withRV(meta("", "cr", "1"), "8"), tenancy.AllScope, true},
		{"Role without a namespace", "roles", none, meta("", "r", "1"), tenancy.AllScope, true},
		{"unknown resource", "widgets", none, meta("a", "w", "1"), tenancy.AllScope, true},
		{"no object", "roles", none, none, tenancy.Scope{}, false},
	} {
		got, ok := rbacScope(tc.resource, obj(tc.old), obj(tc.obj))
		if got != tc.want || ok != tc.ok {
			t.Errorf("%s: %+v %v, want %+v %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}

// fakeTimers is a clock whose timers run when the test advances it.
type fakeTimers struct {
	now time.Time
	due []fakeTimer
}

type fakeTimer struct {
	at time.Time
	f  func()
}

func (c *fakeTimers) after(d time.Duration, f func()) {
	c.due = append(c.due, fakeTimer{at: c.now.Add(d), f: f})
}

// advance moves the clock by d, running the timers due on the way in order.
func (c *fakeTimers) advance(d time.Duration) {
	end := c.now.Add(d)
	for {
		next := -1
		for i, t := range c.due {
			if !t.at.After(end) && (next < 0 || t.at.Before(c.due[next].at)) {
				next = i
			}
		}
		if next < 0 {
			break
		}
		t := c.due[next]
		c.due = append(c.due[:next], c.due[next+1:]...)
		c.now = t.at
		t.f()
	}
	c.now = end
}

type pass struct {
	at     time.Duration
	scopes int
	all    bool
}

// watchWithPasses is an rbacWatch on a fake clock recording its passes
// (invalidate reports hit).
func watchWithPasses(hit bool) (*rbacWatch, *fakeTimers, *[]pass, *int) {
	clock := &fakeTimers{now: time.Unix(0, 0)}
	var passes []pass
	rechecks := 0
	w := &rbacWatch{
		invalidate: func(scopes ...tenancy.Scope) bool {
			p := pass{at: clock.now.Sub(time.Unix(0, 0)), scopes: len(scopes)}
			for _, s := range scopes {
				p.all = p.all || s.All
			}
			passes = append(passes, p)
			return hit
		},
		recheck: func() { rechecks++ },
		now:     func() time.Time { return clock.now },
		after:   clock.after,
	}
	return w, clock, &passes, &rechecks
}

// TestRBACWatchCoalesces: changes in a loop make one pass once they
// settled and one catch-up pass, not one (or two) per change; a steady
// stream makes a first pass at least every maxWait, and every change gets its
// catch-up pass at least settle after it; a pass that forgot nothing
// re-checks nothing.
func TestRBACWatchCoalesces(t *testing.T) {
	// 100 RoleBindings in 100 namespaces within a second.
	w, clock, passes, rechecks := watchWithPasses(true)
	for i := 0; i < 100; i++ {
		w.changed(tenancy.Scope{Namespace: fmt.Sprintf("ns-%d", i)})
		clock.advance(10 * time.Millisecond)
	}
	clock.advance(time.Minute)
	want := []pass{{at: 1990 * time.Millisecond, scopes: 100}, {at: 5990 * time.Millisecond, scopes: 100}}
	if fmt.Sprint(*passes) != fmt.Sprint(want) || *rechecks != 2 {
		t.Errorf("100 changes in a second: passes %v, rechecks %d; want %v, 2", *passes, *rechecks, want)
	}

	// A ClusterRole among them: everything, once.
	w, clock, passes, _ = watchWithPasses(true)
	w.changed(tenancy.Scope{Namespace: "a"})
	w.changed(tenancy.AllScope)
	w.changed(tenancy.Scope{Namespace: "b"})
	clock.advance(time.Minute)
	want = []pass{{at: time.Second, scopes: 1, all: true}, {at: 5 * time.Second, scopes: 1, all: true}}
	if fmt.Sprint(*passes) != fmt.Sprint(want) {
		t.Errorf("with a ClusterRole: passes %v, want %v", *passes, want)
	}

	// A change every 100 ms for 40 s: first passes every 5 s (the longest
	// wait); catch-ups at 30 s (the longest wait) and once more 5 s after the
	// last change, for the changes too recent at 30 s.
	w, clock, passes, _ = watchWithPasses(true)
	for i := 0; i < 400; i++ {
		w.changed(tenancy.Scope{Namespace: "a"})
		clock.advance(100 * time.Millisecond)
	}
	clock.advance(time.Minute)
	var at []time.Duration
	for _, p := range *passes {
		at = append(at, p.at)
	}
	slices.Sort(at)
	if got, want := fmt.Sprint(at), "[5s 10s 15s 20s 25s 30s 30s 35s 40s 44.9s]"; got != want {
		t.Errorf("a steady stream for 40 s: passes at %s; want first passes every 5 s and catch-ups at 30 s and 44.9 s: %s", got, want)
	}

	// Nothing forgotten (ServiceAccounts nobody recorded): no re-check.
	w, clock, passes, rechecks = watchWithPasses(false)
	for i := 0; i < 100; i++ {
		w.changed(tenancy.Scope{User: fmt.Sprintf("system:serviceaccount:a:sa-%d", i)})
	}
	clock.advance(time.Minute)
	if len(*passes) != 2 || *rechecks != 0 {
		t.Errorf("nothing forgotten: passes %v, rechecks %d; want 2 passes, no re-check", *passes, *rechecks)
	}
}

// countingAuthorizer allows everything and counts the reviews.
type countingAuthorizer struct{ asked atomic.Int32 }

func (c *countingAuthorizer) Authorize(context.Context, authorizer.Attributes) (authorizer.Decision, string, error) {
	c.asked.Add(1)
	return authorizer.DecisionAllow, "", nil
}

// TestRBACWatchReviewsBounded: with 100 identities recorded (each reading
// configmaps in namespace a) and a re-check that reviews them all, 100
// ServiceAccounts created in a loop cost no review, 100 RoleBindings created
// in namespace a cost each identity's verdict twice (the pass and the
// catch-up), 100 in another namespace none, and a ClusterRole change all
// twice.
func TestRBACWatchReviewsBounded(t *testing.T) {
	const n = 100
	az := &countingAuthorizer{}
	r := &tenancy.Reviewer{Authorizer: az, TTL: time.Minute}
	check := tenancy.Check{Verb: "list", Resource: "configmaps", Namespace: "a", Namespaced: true}
	reviewAll := func() {
		for i := 0; i < n; i++ {
			if _, err := r.Allowed(context.Background(), &v1alpha1.AuthorizedIdentity{Username: fmt.Sprintf("user-%d", i)}, check); err != nil {
				t.Fatal(err)
			}
		}
	}
	clock := &fakeTimers{now: time.Unix(0, 0)}
	w := &rbacWatch{invalidate: r.Invalidate, recheck: reviewAll, now: func() time.Time { return clock.now }, after: clock.after}
	reviewAll()
	sas, roles, bindings, clusterRoles := w.handler("serviceaccounts"), w.handler("roles"), w.handler("rolebindings"), w.handler("clusterroles")
	for _, tc := range []struct {
		name string
		loop func(i int)
		want int32
	}{
		{"ServiceAccounts created", func(i int) { sas.OnAdd(meta("a", fmt.Sprintf("sa-%d", i), "u"), false) }, 0},
		{"ServiceAccounts updated", func(i int) {
			sas.OnUpdate(meta("a", fmt.Sprintf("sa-%d", i), "u"), meta("a", fmt.Sprintf("sa-%d", i), "u"))
		}, 0},
		{"RoleBindings created in namespace a", func(i int) { bindings.OnAdd(meta("a", fmt.Sprintf("rb-%d", i), "u"), false) }, 2 * n},
		{"RoleBindings deleted in namespace a (tombstones)", func(i int) {
			bindings.OnDelete(cache.DeletedFinalStateUnknown{Key: "a/rb", Obj: meta("a", fmt.Sprintf("rb-%d", i), "u")})
		}, 2 * n},
		{"Roles created in namespace b", func(i int) { roles.OnAdd(meta("b", fmt.Sprintf("r-%d", i), "u"), false) }, 0},
		{"ClusterRoles created", func(i int) { clusterRoles.OnAdd(meta("", fmt.Sprintf("cr-%d", i), "u"), false) }, 2 * n},
	} {
		before := az.asked.Load()
		for i := 0; i < n; i++ {
			tc.loop(i)
			clock.advance(5 * time.Millisecond)
		}
		clock.advance(time.Minute)
		if got := az.asked.Load() - before; got != tc.want {
			t.Errorf("%d %s: %d reviews, want %d", n, tc.name, got, tc.want)
		}
	}
}
