package tenancy

import (
	"context"
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler"
	"github.com/configbutler/gitops-reverser/pkg/selection"
)

// TestRuleNamingANewTypeRefreshesDiscovery: a rule naming a type the cached
// discovery does not hold yet (a CRD installed a moment ago) makes
// admission read discovery again, and the rule is authorized for that type:
// a user who may not read it is refused, one who may is admitted. A rule
// whose named types are all known asks no refresh; a type that does not
// exist at all is asked about once, then admitted with nothing to check.
// The read asked for is one begun after the request arrived (a read from
// before it may have missed the CRD).
func TestRuleNamingANewTypeRefreshesDiscovery(t *testing.T) {
	gizmos := selection.APIResource{GVR: schema.GroupVersionResource{Group: "example.com", Version: "v1", Resource: "gizmos"}, Kind: "Gizmo", Namespaced: true, Preferred: true}
	az := rbac{"tenant": allow("list gizmos.example.com in namespace t1", "watch gizmos.example.com in namespace t1",
		"list configmaps in namespace t1", "watch configmaps in namespace t1")}
	rule := func(group, resource string) *configbutler.WatchRule {
		return &configbutler.WatchRule{ObjectMeta: metav1.ObjectMeta{Namespace: "t1", Name: "r"},
			Spec: configbutler.WatchRuleSpec{Rules: []configbutler.ResourceRule{{APIGroups: []string{group}, Resources: []string{resource}}}}}
	}
	for _, tc := range []struct {
		name      string
		user      string
		rule      *configbutler.WatchRule
		refreshes int
		refused   bool
	}{
		{name: "a new type the user may read", user: "tenant", rule: rule("example.com", "gizmos"), refreshes: 1},
		{name: "a new type the user may not read", user: "nobody", rule: rule("example.com", "gizmos"), refreshes: 1, refused: true},
		{name: "a known type", user: "tenant", rule: rule("", "configmaps")},
		{name: "a type that does not exist", user: "tenant", rule: rule("example.com", "nothings"), refreshes: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			known := slices.Clone(resources)
			refreshes := 0
			a := admission(az)
			a.Resources = func() ([]selection.APIResource, error) { return known, nil }
			received := time.Now().Add(-time.Minute)
			a.Refresh = func(_ context.Context, since time.Time) {
				if !since.Equal(received) {
					t.Errorf("refresh asked for a read since %v, want since the request arrived (%v)", since, received)
				}
				refreshes++
				known = append(slices.Clone(resources), gizmos)
			}
			err := a.WatchRule(genericapirequest.WithReceivedTimestamp(asUser(tc.user), received), tc.rule, nil)
			if (err != nil) != tc.refused {
				t.Fatalf("admission: %v, want refused: %v", err, tc.refused)
			}
			if refreshes != tc.refreshes {
				t.Errorf("%d refreshes of discovery, want %d", refreshes, tc.refreshes)
			}
		})
	}
}
