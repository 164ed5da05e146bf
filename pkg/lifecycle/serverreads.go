package lifecycle

import (
	"context"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/klog/v2"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
	"github.com/configbutler/gitops-reverser/pkg/selection"
	"github.com/configbutler/gitops-reverser/pkg/tenancy"
)

// A wildcard selects every type of the cluster (that its users may read).
// The server reads each type with its own ServiceAccount, whose ClusterRole a
// platform team may narrow (the chart's rbac.readRules, as install.md
// recommends). The watch of a type it may not read is refused (403, final),
// and the target's snapshot fails on it: under a narrowed ClusterRole a
// wildcard rule would mirror nothing at all. So a wildcard leaves out the
// types the server may not list and watch in every namespace, as it leaves
// out derived types, and the rule's Ready names them. A type a rule names is
// kept: the target's status says why it is not mirrored, and admission
// warned when the rule was written (pkg/tenancy, ServerReads).

// wildcardOnly are the types of sel that only a wildcard of rules selects:
// no rule without "*" in its groups and resources selects them, in any
// version (a selection holds each type once, in its preferred version,
// whichever version a rule names).
func wildcardOnly(resources []selection.APIResource, rules []selection.Rule, sel selection.Selection) []schema.GroupVersionResource {
	named := sets.New[schema.GroupResource]()
	for _, r := range rules {
		if !r.Named() {
			continue
		}
		for gvr := range r.Select(resources) {
			named.Insert(gvr.GroupResource())
		}
	}
	var out []schema.GroupVersionResource
	for _, gvr := range sel.GVRs() {
		if !named.Has(gvr.GroupResource()) {
			out = append(out, gvr)
		}
	}
	return out
}

// leaveOutUnreadable returns sel without the wildcard-only types the server
// may not list and watch in every namespace, and their names. A review that
// fails keeps its type (its target then says why it is not mirrored): a
// type is left out on an answer, never on a guess.
func (s *shared) leaveOutUnreadable(ctx context.Context, resources []selection.APIResource, rules []selection.Rule, sel selection.Selection) (selection.Selection, []string) {
	if s.source.selfReviewer == nil || s.source.self == nil {
		return sel, nil
	}
	only := wildcardOnly(resources, rules, sel)
	if len(only) == 0 {
		return sel, nil
	}
	id, err := s.source.self(ctx)
	if err != nil {
		klog.V(2).InfoS("Cannot tell who the server is in the source cluster; wildcards keep every type", "err", err)
		return sel, nil
	}
	var out selection.Selection
	var left []string
	for _, gvr := range only {
		if s.serverMayRead(ctx, id, gvr, sel[gvr].Resource.Namespaced) {
			continue
		}
		if out == nil {
			out = selection.Selection{}
			for k, v := range sel {
				out[k] = v
			}
		}
		delete(out, gvr)
		left = append(left, selection.TypeName(gvr))
	}
	if out == nil {
		return sel, nil
	}
	return out, left
}

// serverMayRead reports whether the server may list and watch gvr in every
// namespace; true when a review fails.
func (s *shared) serverMayRead(ctx context.Context, id *v1alpha1.AuthorizedIdentity, gvr schema.GroupVersionResource, namespaced bool) bool {
	for _, c := range tenancy.TypeChecks(gvr, namespaced, "", "") {
		ok, err := s.source.selfReviewer.Allowed(ctx, id, c)
		if err != nil {
			klog.V(2).InfoS("Reviewing the server's own read failed; the wildcard keeps the type", "resource", gvr.String(), "err", err)
			return true
		}
		if !ok {
			return false
		}
	}
	return true
}

// leftOutMessage is what a rule's Ready says of the types its wildcard left
// out ("" for none).
func leftOutMessage(left []string) string {
	if len(left) == 0 {
		return ""
	}
	return fmt.Sprintf("; its wildcard leaves out %s: the server may not list and watch them in every namespace (its ClusterRole, the chart's rbac.readRules)",
		strings.Join(left, ", "))
}

// invalidateBoth is what an RBAC change forgets: the recorded users' verdicts
// and the server's own (nil: none). It reports whether either held any.
func invalidateBoth(users, server *tenancy.Reviewer) func(...tenancy.Scope) bool {
	if server == nil {
		return users.Invalidate
	}
	return func(scopes ...tenancy.Scope) bool {
		a := users.Invalidate(scopes...)
		b := server.Invalidate(scopes...)
		return a || b
	}
}
