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
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"slices"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
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

// derivedTypes are resource types a "*" does not select unless its rule sets
// includeDerived (they can always be named): derived state that controllers
// and the API server keep, not intent. Events churn constantly, leases are
// heartbeats, endpoints follow Services, ControllerRevisions follow
// StatefulSets and DaemonSets, and Nodes and their CSINodes and storage
// capacities are the machines'.
var derivedTypes = sets.New(
	"/events", "events.k8s.io/events", "coordination.k8s.io/leases",
	"/endpoints", "discovery.k8s.io/endpointslices", "apps/controllerrevisions",
	"/nodes", "storage.k8s.io/csinodes", "storage.k8s.io/csistoragecapacities",
)

// neverWildcard are types a "*" never selects: our own kinds would feed
// status-free copies of themselves back into Git.
var neverWildcard = sets.New(v1alpha1.GroupName + "/*")

func excludedFromWildcard(gvr schema.GroupVersionResource, includeDerived bool) bool {
	if neverWildcard.Has(gvr.Group+"/"+gvr.Resource) || neverWildcard.Has(gvr.Group+"/*") {
		return true
	}
	return !includeDerived && derivedTypes.Has(gvr.Group+"/"+gvr.Resource)
}

// TypeSelection says which objects of one resource type a target mirrors.
type TypeSelection struct {
	Resource APIResource
	// AllNamespaces selects the type in every namespace (a ClusterWatchRule with
	// scope Namespaced); otherwise Namespaces lists the selected namespaces (one
	// per WatchRule). Cluster-scoped types ignore both.
	AllNamespaces bool
	Namespaces    sets.Set[string]
	// Clauses choose the objects within those namespaces (see filter.go).
	Clauses []Clause
}

// Matches reports whether an object in namespace ns is selected.
func (s *TypeSelection) Matches(ns string) bool {
	return !s.Resource.Namespaced || s.AllNamespaces || s.Namespaces.Has(ns)
}

// Selection is everything a target mirrors, by resource type.
type Selection map[schema.GroupVersionResource]*TypeSelection

// Fingerprint is a stable digest of the selection, to notice when it changed:
// equal selections have equal fingerprints, whatever the order of their
// clauses. Each type is hashed with the digests of its clauses (see
// Clause.key), and a clause made by Rule.Select hashes what it shares with
// the rule's other clauses (labels, exclusions, namespaces) once for them
// all, so the cost is linear in the size of the rules, not in rules times
// types times their size.
func (s Selection) Fingerprint() string {
	lines := make([]string, 0, len(s))
	for gvr, ts := range s {
		h := sha256.New()
		writeString(h, gvr.String())
		if ts.AllNamespaces {
			writeString(h, "*")
		} else {
			writeString(h, "=")
			writeStrings(h, sets.List(ts.Namespaces))
		}
		keys := make([]string, 0, len(ts.Clauses))
		for _, c := range ts.Clauses {
			keys = append(keys, c.key())
		}
		sort.Strings(keys)
		writeStrings(h, keys)
		lines = append(lines, string(h.Sum(nil)))
	}
	sort.Strings(lines)
	h := sha256.New()
	for _, l := range lines {
		h.Write([]byte(l))
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// writeString writes s to h, length first, so that no two sequences of
// strings hash alike.
func writeString(h hash.Hash, s string) {
	var n [binary.MaxVarintLen64]byte
	h.Write(n[:binary.PutUvarint(n[:], uint64(len(s)))])
	h.Write([]byte(s))
}

// writeStrings writes a list to h, its length first.
func writeStrings(h hash.Hash, list []string) {
	var n [binary.MaxVarintLen64]byte
	h.Write(n[:binary.PutUvarint(n[:], uint64(len(list)))])
	for _, s := range list {
		writeString(h, s)
	}
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
		names = append(names, TypeName(gvr))
	}
	return names
}

// TypeName is a type as resource.version.group (resource.version for the
// core group).
func TypeName(gvr schema.GroupVersionResource) string {
	return strings.TrimSuffix(gvr.Resource+"."+gvr.Version+"."+gvr.Group, ".")
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
	// Labels selects objects by label (nil: all).
	Labels labels.Selector
	// NamespaceSelector (cluster rules) selects namespaces by label;
	// SelectedNamespaces are the namespaces it matches now (the caller
	// resolves them).
	NamespaceSelector  labels.Selector
	SelectedNamespaces sets.Set[string]
	Exclude            []Exclusion
	// IncludeDerived keeps derived types and objects (see Derived).
	IncludeDerived bool
	// Ops are the operations mirrored (0: all).
	Ops Ops
	// Ignore is the rule's ignoreChangesBy (nil: none).
	Ignore *Ignore
}

// RulesOf returns the rules of a WatchRule. Selectors that do not parse
// (validation refuses them) select nothing.
func RulesOf(wr *v1alpha1.WatchRule) []Rule {
	out := make([]Rule, len(wr.Spec.Rules))
	ex := ExclusionsOf(wr.Spec.Exclude)
	ignore := IgnoreOf(wr.Spec.IgnoreChangesBy, wr.Namespace)
	for i, r := range wr.Spec.Rules {
		out[i] = Rule{APIGroups: v1alpha1.GroupsOf(r.APIGroups), APIVersions: r.APIVersions, Resources: r.Resources, Namespace: wr.Namespace,
			Labels: selectorOf(r.LabelSelector), Exclude: ex, IncludeDerived: r.IncludeDerived, Ops: OpsOf(r.Operations), Ignore: ignore}
	}
	return out
}

// ClusterRulesOf returns the rules of a ClusterWatchRule; their
// SelectedNamespaces are left for the caller to resolve.
func ClusterRulesOf(cr *v1alpha1.ClusterWatchRule) []Rule {
	out := make([]Rule, len(cr.Spec.Rules))
	ex := ExclusionsOf(cr.Spec.Exclude)
	ignore := IgnoreOf(cr.Spec.IgnoreChangesBy, "")
	for i, r := range cr.Spec.Rules {
		out[i] = Rule{APIGroups: v1alpha1.GroupsOf(r.APIGroups), APIVersions: r.APIVersions, Resources: r.Resources, Cluster: true, Scope: r.Scope,
			Labels: selectorOf(r.LabelSelector), Exclude: ex, IncludeDerived: r.IncludeDerived, Ops: OpsOf(r.Operations), Ignore: ignore}
		if r.NamespaceSelector != nil {
			out[i].NamespaceSelector = selectorOf(r.NamespaceSelector)
		}
	}
	return out
}

// ExclusionsOf converts API exclusions.
func ExclusionsOf(in []v1alpha1.Exclusion) []Exclusion {
	out := make([]Exclusion, len(in))
	for i, e := range in {
		out[i] = Exclusion{Groups: e.APIGroups, Resources: e.Resources, Namespaces: e.Namespaces, Names: e.Names}
	}
	return out
}

// selectorOf parses a label selector (nil: everything; invalid: nothing).
func selectorOf(ls *metav1.LabelSelector) labels.Selector {
	if ls == nil {
		return nil
	}
	sel, err := metav1.LabelSelectorAsSelector(ls)
	if err != nil {
		return labels.Nothing()
	}
	return sel
}

// Named reports whether the rule names its types: no "*" in its groups nor
// its resources. Admission warns of the server's reads for named types only,
// and only a wildcard leaves out what the server may not read.
func (rule Rule) Named() bool {
	return !slices.Contains(rule.APIGroups, "*") && !slices.Contains(rule.Resources, "*")
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
		return explicit || !excludedFromWildcard(gvr, rule.IncludeDerived)
	}
	return false
}

// Select returns the types of resources the rule selects, in its scope, each
// with the rule's clause. The clauses share one digest of what they have in
// common (see Clause.key), computed when first needed.
func (rule Rule) Select(resources []APIResource) Selection {
	sel := Selection{}
	exclusions := &digestMemo{}
	var plain, scoped *digestMemo
	for _, r := range resources {
		if !rule.Matches(r) {
			continue
		}
		sel.add(r, rule.Namespace, rule.Cluster && r.Namespaced)
		c := Clause{Namespace: rule.Namespace, Labels: rule.Labels, Exclude: rule.Exclude,
			KeepOwned: rule.IncludeDerived || slices.Contains(rule.Resources, r.GVR.Resource), KeepGenerated: rule.IncludeDerived, Ops: rule.Ops, Ignore: rule.Ignore}
		if rule.NamespaceSelector != nil && r.Namespaced {
			c.Namespaces = rule.SelectedNamespaces
			if c.Namespaces == nil {
				c.Namespaces = sets.New[string]()
			}
			if scoped == nil {
				scoped = &digestMemo{exclusions: exclusions}
			}
			c.shared = scoped
		} else {
			if plain == nil {
				plain = &digestMemo{exclusions: exclusions}
			}
			c.shared = plain
		}
		ts := sel[r.GVR]
		ts.Clauses = append(ts.Clauses, c)
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
// the preferred version is kept, so an object is written once. A clause
// equal to one already kept for a type is dropped (an object is taken when
// any clause takes it, so this changes nothing but the work).
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
	for _, ts := range out {
		ts.Clauses = dedupClauses(ts.Clauses)
	}
	return out
}

// dedupClauses drops the clauses equal (by key) to an earlier one, in place.
func dedupClauses(cs []Clause) []Clause {
	if len(cs) < 2 {
		return cs
	}
	seen := make(map[string]bool, len(cs))
	out := cs[:0]
	for _, c := range cs {
		if k := c.key(); !seen[k] {
			seen[k] = true
			out = append(out, c)
		}
	}
	return out
}

// Intersect is what a and b both select: the types and namespaces both
// cover, the objects within chosen by a's clauses.
func Intersect(a, b Selection) Selection {
	out := Selection{}
	for gvr, x := range a {
		y, ok := b[gvr]
		if !ok {
			continue
		}
		ts := &TypeSelection{Resource: x.Resource, AllNamespaces: x.AllNamespaces && y.AllNamespaces, Clauses: x.Clauses}
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

// mergeInto adds src to dst, a TypeSelection of Merge's own: its namespaces
// and clauses are its own (clauses start nil), so both grow in place, never
// writing into an input, and merging n selections is not quadratic in n.
func mergeInto(dst, src *TypeSelection) {
	dst.AllNamespaces = dst.AllNamespaces || src.AllNamespaces
	if dst.Namespaces == nil {
		dst.Namespaces = sets.New[string]()
	}
	for ns := range src.Namespaces {
		dst.Namespaces.Insert(ns)
	}
	dst.Clauses = append(dst.Clauses, src.Clauses...)
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
