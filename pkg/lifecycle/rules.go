package lifecycle

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

// ruleMatches reports whether a resource matches one rule's groups, versions and
// resources. No versions means the group's preferred version.
func ruleMatches(r APIResource, groups, versions, resources []string) bool {
	explicit := false
	gvr := r.GVR
	switch {
	case slices.Contains(groups, gvr.Group):
		explicit = true
	case slices.Contains(groups, "*"):
	default:
		return false
	}
	switch {
	case len(versions) == 0:
		if !r.Preferred {
			return false
		}
	case slices.Contains(versions, gvr.Version) || slices.Contains(versions, "*"):
	default:
		return false
	}
	switch {
	case slices.Contains(resources, gvr.Resource):
		return true
	case slices.Contains(resources, "*"):
		return explicit || !excludedFromWildcard(gvr)
	}
	return false
}

// resolveSelection computes what a target mirrors from the rules that point at
// it. A namespaced WatchRule selects namespaced types in its own namespace only;
// a ClusterWatchRule selects cluster-scoped types (scope Cluster) or namespaced
// types in all namespaces (scope Namespaced). When several versions of one type
// match, the preferred version is kept so an object is written once.
func resolveSelection(resources []APIResource, rules []*v1alpha1.WatchRule, clusterRules []*v1alpha1.ClusterWatchRule) Selection {
	sel := Selection{}
	add := func(r APIResource, ns string, all bool) {
		ts, ok := sel[r.GVR]
		if !ok {
			ts = &TypeSelection{Resource: r, Namespaces: sets.New[string]()}
			sel[r.GVR] = ts
		}
		if all {
			ts.AllNamespaces = true
		} else if ns != "" {
			ts.Namespaces.Insert(ns)
		}
	}
	for _, wr := range rules {
		for _, rule := range wr.Spec.Rules {
			for _, r := range resources {
				if r.Namespaced && ruleMatches(r, rule.APIGroups, rule.APIVersions, rule.Resources) {
					add(r, wr.Namespace, false)
				}
			}
		}
	}
	for _, cr := range clusterRules {
		for _, rule := range cr.Spec.Rules {
			for _, r := range resources {
				if !ruleMatches(r, rule.APIGroups, rule.APIVersions, rule.Resources) {
					continue
				}
				if rule.Scope == v1alpha1.ClusterScope && !r.Namespaced {
					add(r, "", false)
				}
				if rule.Scope == v1alpha1.NamespacedScope && r.Namespaced {
					add(r, "", true)
				}
			}
		}
	}
	// One version per group/resource: prefer the preferred version.
	byGR := map[schema.GroupResource][]schema.GroupVersionResource{}
	for gvr := range sel {
		byGR[gvr.GroupResource()] = append(byGR[gvr.GroupResource()], gvr)
	}
	for _, gvrs := range byGR {
		if len(gvrs) < 2 {
			continue
		}
		keep := gvrs[0]
		for _, g := range gvrs {
			if sel[g].Resource.Preferred {
				keep = g
			}
		}
		for _, g := range gvrs {
			if g != keep {
				mergeInto(sel[keep], sel[g])
				delete(sel, g)
			}
		}
	}
	return sel
}

func mergeInto(dst, src *TypeSelection) {
	dst.AllNamespaces = dst.AllNamespaces || src.AllNamespaces
	dst.Namespaces = dst.Namespaces.Union(src.Namespaces)
}

// apiResourcesFrom flattens discovery: listable and watchable resources, no
// subresources, with the preferred version of each group marked.
func apiResourcesFrom(groups []*metav1.APIGroup, lists []*metav1.APIResourceList) ([]APIResource, error) {
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
