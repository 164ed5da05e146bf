// Package selection decides which objects of the source cluster a GitTarget
// mirrors: the resource types its WatchRules and ClusterWatchRules select,
// resolved against the cluster's discovery, and in which namespaces.
//
// It is pure (no I/O): the lifecycle resolves a target's selection with it, and
// the API server's admission uses the same resolution to authorize the user
// writing a rule for exactly what the rule will make the server read.
package selection

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
)

// APIResource is a listable, watchable resource type of the source cluster.
type APIResource struct {
	GVR        schema.GroupVersionResource
	Kind       string
	Namespaced bool
	// Preferred is true for the group's preferred version.
	Preferred bool
}

// wildcardExcluded are resource types a "*" does not select (they can still be
// named explicitly): events churn constantly, leases are heartbeats, and our own
// kinds would feed status-free copies of themselves back into Git.
var wildcardExcluded = sets.New(
	"/events", "events.k8s.io/events", "coordination.k8s.io/leases", v1alpha1.GroupName+"/*",
)

func excludedFromWildcard(gvr schema.GroupVersionResource) bool {
	return wildcardExcluded.Has(gvr.Group+"/"+gvr.Resource) || wildcardExcluded.Has(gvr.Group+"/*")
}

// TypeSelection says which objects of one resource type a target mirrors.
type TypeSelection struct {
	Resource APIResource
	// AllNamespaces selects the type in every namespace (a ClusterWatchRule with
	// scope Namespaced); otherwise Namespaces lists the selected namespaces (one
	// per WatchRule). Cluster-scoped types ignore both.
	AllNamespaces bool
	Namespaces    sets.Set[string]
}

// Matches reports whether an object in namespace ns is selected.
func (s *TypeSelection) Matches(ns string) bool {
	return !s.Resource.Namespaced || s.AllNamespaces || s.Namespaces.Has(ns)
}

// Selection is everything a target mirrors, by resource type.
type Selection map[schema.GroupVersionResource]*TypeSelection

// Fingerprint is a stable digest of the selection, to notice when it changed.
func (s Selection) Fingerprint() string {
	lines := make([]string, 0, len(s))
	for gvr, ts := range s {
		ns := "*"
		if !ts.AllNamespaces {
			ns = strings.Join(sets.List(ts.Namespaces), ",")
		}
		lines = append(lines, gvr.String()+"|"+ns)
	}
	sort.Strings(lines)
	h := sha256.Sum256([]byte(strings.Join(lines, "\n")))
	return hex.EncodeToString(h[:8])
}

// GVRs returns the selected resource types in a stable order.
func (s Selection) GVRs() []schema.GroupVersionResource {
	out := make([]schema.GroupVersionResource, 0, len(s))
	for gvr := range s {
		out = append(out, gvr)
	}
	slices.SortFunc(out, func(a, b schema.GroupVersionResource) int { return strings.Compare(a.String(), b.String()) })
	return out
}

// Names lists the selected types as resource.version.group, in a stable order.
func (s Selection) Names() []string {
	var names []string
	for _, gvr := range s.GVRs() {
		names = append(names, strings.TrimSuffix(gvr.Resource+"."+gvr.Version+"."+gvr.Group, "."))
	}
	return names
}

// Rule is one rule of a WatchRule or a ClusterWatchRule.
type Rule struct {
	APIGroups, APIVersions, Resources []string
	// Cluster marks a ClusterWatchRule's rule; Scope then says whether it
	// selects cluster-scoped types (Cluster) or namespaced types in all
	// namespaces (Namespaced). A WatchRule's rule selects namespaced types in
	// Namespace only.
	Cluster   bool
	Scope     v1alpha1.ResourceScope
	Namespace string
}

// RulesOf returns the rules of a WatchRule.
func RulesOf(wr *v1alpha1.WatchRule) []Rule {
	out := make([]Rule, len(wr.Spec.Rules))
	for i, r := range wr.Spec.Rules {
		out[i] = Rule{APIGroups: r.APIGroups, APIVersions: r.APIVersions, Resources: r.Resources, Namespace: wr.Namespace}
	}
	return out
}

// ClusterRulesOf returns the rules of a ClusterWatchRule.
func ClusterRulesOf(cr *v1alpha1.ClusterWatchRule) []Rule {
	out := make([]Rule, len(cr.Spec.Rules))
	for i, r := range cr.Spec.Rules {
		out[i] = Rule{APIGroups: r.APIGroups, APIVersions: r.APIVersions, Resources: r.Resources, Cluster: true, Scope: r.Scope}
	}
	return out
}

// Matches reports whether a resource type matches the rule's groups, versions
// and resources, and lies in its scope. No versions means the group's
// preferred version; a wildcard resource skips the types excluded from
// wildcards unless the group is named explicitly.
func (rule Rule) Matches(r APIResource) bool {
	switch {
	case !rule.Cluster && !r.Namespaced:
		return false
	case rule.Cluster && rule.Scope == v1alpha1.ClusterScope && r.Namespaced:
		return false
	case rule.Cluster && rule.Scope == v1alpha1.NamespacedScope && !r.Namespaced:
		return false
	case rule.Cluster && rule.Scope != v1alpha1.ClusterScope && rule.Scope != v1alpha1.NamespacedScope:
		return false
	}
	explicit := false
	gvr := r.GVR
	switch {
	case slices.Contains(rule.APIGroups, gvr.Group):
		explicit = true
	case slices.Contains(rule.APIGroups, "*"):
	default:
		return false
	}
	switch {
	case len(rule.APIVersions) == 0:
		if !r.Preferred {
			return false
		}
	case slices.Contains(rule.APIVersions, gvr.Version) || slices.Contains(rule.APIVersions, "*"):
	default:
		return false
	}
	switch {
	case slices.Contains(rule.Resources, gvr.Resource):
		return true
	case slices.Contains(rule.Resources, "*"):
		return explicit || !excludedFromWildcard(gvr)
	}
	return false
}

// Select returns the types of resources the rule selects, in its scope.
func (rule Rule) Select(resources []APIResource) Selection {
	sel := Selection{}
	for _, r := range resources {
		if rule.Matches(r) {
			sel.add(r, rule.Namespace, rule.Cluster && r.Namespaced)
		}
	}
	return sel
}

func (s Selection) add(r APIResource, ns string, all bool) {
	ts, ok := s[r.GVR]
	if !ok {
		ts = &TypeSelection{Resource: r, Namespaces: sets.New[string]()}
		s[r.GVR] = ts
	}
	if all {
		ts.AllNamespaces = true
	} else if ns != "" && r.Namespaced {
		ts.Namespaces.Insert(ns)
	}
}

// Merge unites selections. When several versions of one type are selected,
// the preferred version is kept, so an object is written once.
func Merge(sels ...Selection) Selection {
	out := Selection{}
	for _, s := range sels {
		for gvr, ts := range s {
			cur, ok := out[gvr]
			if !ok {
				cur = &TypeSelection{Resource: ts.Resource, Namespaces: sets.New[string]()}
				out[gvr] = cur
			}
			mergeInto(cur, ts)
		}
	}
	byGR := map[schema.GroupResource][]schema.GroupVersionResource{}
	for gvr := range out {
		byGR[gvr.GroupResource()] = append(byGR[gvr.GroupResource()], gvr)
	}
	for _, gvrs := range byGR {
		if len(gvrs) < 2 {
			continue
		}
		slices.SortFunc(gvrs, func(a, b schema.GroupVersionResource) int { return strings.Compare(a.Version, b.Version) })
		keep := gvrs[0]
		for _, g := range gvrs {
			if out[g].Resource.Preferred {
				keep = g
			}
		}
		for _, g := range gvrs {
			if g != keep {
				mergeInto(out[keep], out[g])
				delete(out, g)
			}
		}
	}
	return out
}

// Intersect is what a and b both select.
func Intersect(a, b Selection) Selection {
	out := Selection{}
	for gvr, x := range a {
		y, ok := b[gvr]
		if !ok {
			continue
		}
		ts := &TypeSelection{Resource: x.Resource, AllNamespaces: x.AllNamespaces && y.AllNamespaces}
		switch {
		case x.AllNamespaces:
			ts.Namespaces = y.Namespaces.Clone()
		case y.AllNamespaces:
			ts.Namespaces = x.Namespaces.Clone()
		default:
			ts.Namespaces = x.Namespaces.Intersection(y.Namespaces)
		}
		if ts.Namespaces == nil {
			ts.Namespaces = sets.New[string]()
		}
		if x.Resource.Namespaced && !ts.AllNamespaces && ts.Namespaces.Len() == 0 {
			continue
		}
		out[gvr] = ts
	}
	return out
}

func mergeInto(dst, src *TypeSelection) {
	dst.AllNamespaces = dst.AllNamespaces || src.AllNamespaces
	dst.Namespaces = dst.Namespaces.Union(src.Namespaces)
}

// Resolve computes what a target mirrors from the rules that point at it. A
// WatchRule selects namespaced types in its own namespace only; a
// ClusterWatchRule selects cluster-scoped types (scope Cluster) or namespaced
// types in all namespaces (scope Namespaced).
func Resolve(resources []APIResource, rules []*v1alpha1.WatchRule, clusterRules []*v1alpha1.ClusterWatchRule) Selection {
	var sels []Selection
	for _, wr := range rules {
		for _, r := range RulesOf(wr) {
			sels = append(sels, r.Select(resources))
		}
	}
	for _, cr := range clusterRules {
		for _, r := range ClusterRulesOf(cr) {
			sels = append(sels, r.Select(resources))
		}
	}
	return Merge(sels...)
}

// APIResourcesFrom flattens discovery: listable and watchable resources, no
// subresources, with the preferred version of each group marked.
func APIResourcesFrom(groups []*metav1.APIGroup, lists []*metav1.APIResourceList) ([]APIResource, error) {
	preferred := map[string]string{}
	for _, g := range groups {
		preferred[g.Name] = g.PreferredVersion.Version
	}
	var out []APIResource
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			return nil, fmt.Errorf("discovery: %w", err)
		}
		for _, r := range l.APIResources {
			if strings.Contains(r.Name, "/") || !slices.Contains(r.Verbs, "list") || !slices.Contains(r.Verbs, "watch") {
				continue
			}
			out = append(out, APIResource{
				GVR:        gv.WithResource(r.Name),
				Kind:       r.Kind,
				Namespaced: r.Namespaced,
				Preferred:  preferred[gv.Group] == gv.Version,
			})
		}
	}
	return out, nil
}
