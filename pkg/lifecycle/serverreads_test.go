package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/authorization/authorizer"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
	"github.com/configbutler/gitops-reverser/pkg/selection"
	"github.com/configbutler/gitops-reverser/pkg/tenancy"
)

var (
	srConfigMaps = selection.APIResource{GVR: schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}, Kind: "ConfigMap", Namespaced: true, Preferred: true}
	srGizmos     = selection.APIResource{GVR: schema.GroupVersionResource{Group: "forbidden.example.com", Version: "v1", Resource: "gizmos"}, Kind: "Gizmo", Namespaced: true, Preferred: true}
	srWidgets    = selection.APIResource{GVR: schema.GroupVersionResource{Group: "example.com", Version: "v1", Resource: "widgets"}, Kind: "Widget", Namespaced: true, Preferred: true}
	srBroken     = selection.APIResource{GVR: schema.GroupVersionResource{Group: "broken.example.com", Version: "v1", Resource: "things"}, Kind: "Thing", Namespaced: true, Preferred: true}
	// gizmos are served in v1beta1 too, not the preferred version.
	srGizmosBeta = selection.APIResource{GVR: schema.GroupVersionResource{Group: "forbidden.example.com", Version: "v1beta1", Resource: "gizmos"}, Kind: "Gizmo", Namespaced: true}
	srResources  = []selection.APIResource{srConfigMaps, srGizmos, srGizmosBeta, srWidgets, srBroken}
)

// serverAuthorizer is the source cluster's RBAC as the server's user meets
// it: it may not list gizmos, and reviews of broken.example.com fail. Every
// other user may read everything.
type serverAuthorizer struct{ asked []string }

func (a *serverAuthorizer) Authorize(_ context.Context, attrs authorizer.Attributes) (authorizer.Decision, string, error) {
	if attrs.GetUser().GetName() != "system:serviceaccount:gitops-reverser:server" {
		return authorizer.DecisionAllow, "", nil
	}
	a.asked = append(a.asked, attrs.GetVerb()+" "+attrs.GetResource()+"."+attrs.GetAPIGroup()+" in "+fmt.Sprintf("%q", attrs.GetNamespace()))
	switch {
	case attrs.GetAPIGroup() == "broken.example.com":
		return authorizer.DecisionNoOpinion, "", errors.New("the review failed")
	case attrs.GetResource() == "gizmos" && attrs.GetVerb() == "list":
		return authorizer.DecisionNoOpinion, "", nil
	}
	return authorizer.DecisionAllow, "", nil
}

func wildcardRule(groups, resources []string) selection.Rule {
	return selection.Rule{APIGroups: groups, Resources: resources, Namespace: "a"}
}

func TestWildcardOnly(t *testing.T) {
	all := wildcardRule([]string{"*"}, []string{"*"})
	for _, tc := range []struct {
		name  string
		rules []selection.Rule
		want  string
	}{
		{"a wildcard alone", []selection.Rule{all}, "[/v1, Resource=configmaps broken.example.com/v1, Resource=things example.com/v1, Resource=widgets forbidden.example.com/v1, Resource=gizmos]"},
		{"a wildcard and a rule naming gizmos", []selection.Rule{all, wildcardRule([]string{"forbidden.example.com"}, []string{"gizmos"})},
			"[/v1, Resource=configmaps broken.example.com/v1, Resource=things example.com/v1, Resource=widgets]"},
		{"a wildcard and a rule naming gizmos in another version", []selection.Rule{all, {APIGroups: []string{"forbidden.example.com"}, APIVersions: []string{"v1beta1"}, Resources: []string{"gizmos"}, Namespace: "a"}},
			"[/v1, Resource=configmaps broken.example.com/v1, Resource=things example.com/v1, Resource=widgets]"},
		{"every type of a group", []selection.Rule{wildcardRule([]string{"forbidden.example.com"}, []string{"*"})}, "[forbidden.example.com/v1, Resource=gizmos]"},
		{"a resource in every group", []selection.Rule{wildcardRule([]string{"*"}, []string{"gizmos"})}, "[forbidden.example.com/v1, Resource=gizmos]"},
		{"named types only", []selection.Rule{wildcardRule([]string{"", "example.com"}, []string{"configmaps", "widgets"})}, "[]"},
	} {
		sel := selectAll(srResources, tc.rules)
		if got := fmt.Sprint(wildcardOnly(srResources, tc.rules, sel)); got != tc.want {
			t.Errorf("%s: wildcard-only %s, want %s", tc.name, got, tc.want)
		}
	}
}

// TestLeaveOutUnreadable: a wildcard leaves out the types the server may not
// list and watch in every namespace, and only those; a type a rule names,
// a type whose review fails and every type when the server's user is
// unknown are kept.
func TestLeaveOutUnreadable(t *testing.T) {
	server := &v1alpha1.AuthorizedIdentity{Username: "system:serviceaccount:gitops-reverser:server"}
	self := func(context.Context) (*v1alpha1.AuthorizedIdentity, error) { return server, nil }
	unknown := func(context.Context) (*v1alpha1.AuthorizedIdentity, error) {
		return nil, errors.New("no SelfSubjectReview")
	}
	all := wildcardRule([]string{"*"}, []string{"*"})
	for _, tc := range []struct {
		name     string
		rules    []selection.Rule
		self     func(context.Context) (*v1alpha1.AuthorizedIdentity, error)
		noReview bool
		kept     string
		left     string
	}{
		{name: "a wildcard", rules: []selection.Rule{all}, self: self,
			kept: "[configmaps.v1 things.v1.broken.example.com widgets.v1.example.com]", left: "[gizmos.v1.forbidden.example.com]"},
		{name: "a wildcard, gizmos named", rules: []selection.Rule{all, wildcardRule([]string{"forbidden.example.com"}, []string{"gizmos"})}, self: self,
			kept: "[configmaps.v1 gizmos.v1.forbidden.example.com things.v1.broken.example.com widgets.v1.example.com]", left: "[]"},
		{name: "the group's wildcard", rules: []selection.Rule{wildcardRule([]string{"forbidden.example.com"}, []string{"*"})}, self: self,
			kept: "[]", left: "[gizmos.v1.forbidden.example.com]"},
		{name: "the server's user unknown", rules: []selection.Rule{all}, self: unknown,
			kept: "[configmaps.v1 gizmos.v1.forbidden.example.com things.v1.broken.example.com widgets.v1.example.com]", left: "[]"},
		{name: "no reviewer of the server's reads", rules: []selection.Rule{all}, self: self, noReview: true,
			kept: "[configmaps.v1 gizmos.v1.forbidden.example.com things.v1.broken.example.com widgets.v1.example.com]", left: "[]"},
	} {
		az := &serverAuthorizer{}
		src := &source{self: tc.self}
		if !tc.noReview {
			src.selfReviewer = &tenancy.Reviewer{Authorizer: az, TTL: time.Minute}
		}
		s := &shared{source: src}
		sel := selectAll(srResources, tc.rules)
		before := sel.Fingerprint()
		got, left := s.leaveOutUnreadable(context.Background(), srResources, tc.rules, sel)
		names := got.Names()
		slices.Sort(names)
		if fmt.Sprint(names) != tc.kept || fmt.Sprint(left) != fmt.Sprint(strings.Fields(strings.Trim(tc.left, "[]"))) {
			t.Errorf("%s: kept %v, left out %v; want kept %s, left out %s", tc.name, names, left, tc.kept, tc.left)
		}
		if sel.Fingerprint() != before {
			t.Errorf("%s: the selection given was changed", tc.name)
		}
		for _, q := range az.asked {
			if !strings.HasSuffix(q, ` in ""`) {
				t.Errorf("%s: asked %s; the server's reads are reviewed in every namespace", tc.name, q)
			}
			if strings.Contains(q, "configmaps") && !slices.ContainsFunc(tc.rules, func(r selection.Rule) bool { return slices.Contains(r.Resources, "*") }) {
				t.Errorf("%s: asked %s of a type only named", tc.name, q)
			}
		}
	}
}

func TestLeftOutMessage(t *testing.T) {
	if got := leftOutMessage(nil); got != "" {
		t.Errorf("none left out: %q", got)
	}
	want := "; its wildcard leaves out gizmos.v1.forbidden.example.com, things.v1.x: the server may not list and watch them in every namespace (its ClusterRole, the chart's rbac.readRules)"
	if got := leftOutMessage([]string{"gizmos.v1.forbidden.example.com", "things.v1.x"}); got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
}
