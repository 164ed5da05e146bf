package selection

import (
	"crypto/sha256"
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"
)

// Within the namespaces a TypeSelection covers (its scope, which also bounds
// what a snapshot may delete), its clauses choose the objects: one clause per
// rule that selects the type, an object being mirrored when any clause takes
// it. A clause filters by namespace (a WatchRule's own, or a
// namespaceSelector resolved to the namespaces it matches), by labels, by
// exclusions, and leaves derived objects out unless its rule named the type
// or opted in (IncludeDerived). Objects in the scope that no clause takes are
// not mirrored; their files are removed like those of deleted objects.

// Exclusion leaves out objects matching all of its non-empty fields.
type Exclusion struct {
	Groups, Resources, Namespaces, Names []string
}

func (e Exclusion) matches(gvr schema.GroupVersionResource, ns, name string) bool {
	glob := func(patterns []string, v string) bool {
		if len(patterns) == 0 {
			return true
		}
		for _, p := range patterns {
			if ok, err := path.Match(p, v); err == nil && ok {
				return true
			}
		}
		return false
	}
	in := func(list []string, v string) bool { return len(list) == 0 || slices.Contains(list, v) }
	return in(e.Groups, gvr.Group) && in(e.Resources, gvr.Resource) && glob(e.Namespaces, ns) && glob(e.Names, name)
}

func (e Exclusion) String() string {
	return strings.Join(e.Groups, ",") + "/" + strings.Join(e.Resources, ",") + "/" + strings.Join(e.Namespaces, ",") + "/" + strings.Join(e.Names, ",")
}

// Clause is one rule's choice of objects of a type.
type Clause struct {
	// Namespace is the WatchRule's namespace; "" for a ClusterWatchRule (all
	// namespaces, or a cluster-scoped type).
	Namespace string
	// Namespaces, when not nil, are the namespaces a namespaceSelector matched.
	Namespaces sets.Set[string]
	// Labels selects objects (nil: all).
	Labels  labels.Selector
	Exclude []Exclusion
	// KeepOwned keeps objects a controller owns: the rule named the type (a
	// rule for replicasets wants them), or opted in.
	KeepOwned bool
	// KeepGenerated keeps what the cluster generates (kube-root-ca.crt, the
	// system namespaces, ...): only when the rule opted in. A rule naming
	// configmaps does not name kube-root-ca.crt.
	KeepGenerated bool
	// Ops are the operations the rule mirrors (0: all).
	Ops Ops
	// Ignore is the rule's ignoreChangesBy (nil: none).
	Ignore *Ignore

	// shared, set by Rule.Select, memoizes the digest of the fields the
	// rule's clauses share (all but KeepOwned and KeepGenerated), for all of
	// them; nil computes it from the fields. A clause's fields are not
	// changed once it is made.
	shared *digestMemo
}

// digestMemo is a digest computed once, for every clause that shares it.
type digestMemo struct {
	once sync.Once
	sum  string
	// exclusions is the memo of the exclusions digest (shared by the memos
	// of one rule's clauses with and without a namespace set).
	exclusions *digestMemo
}

func (m *digestMemo) get(compute func() string) string {
	m.once.Do(func() { m.sum = compute() })
	return m.sum
}

// key identifies the clause by content: equal clauses have equal keys, and
// different ones (by namespace, namespace set, labels, exclusions, flags)
// different keys. It is a digest, cheap to compare and sort; the part the
// clauses of one rule share is computed once for them (see shared).
func (c Clause) key() string {
	var shared string
	if c.shared != nil {
		shared = c.shared.get(func() string {
			if c.shared.exclusions != nil {
				return c.sharedDigest(c.shared.exclusions.get(func() string { return exclusionsDigest(c.Exclude) }))
			}
			return c.sharedDigest(exclusionsDigest(c.Exclude))
		})
	} else {
		shared = c.sharedDigest(exclusionsDigest(c.Exclude))
	}
	key := fmt.Sprintf("%s|%t|%t", shared, c.KeepOwned, c.KeepGenerated)
	// Operations and ignoreChangesBy only when set: selections of rules
	// without them keep the fingerprints they had before they existed.
	if ops := c.opsKey(); ops != OpsAll {
		key += fmt.Sprintf("|%d", ops)
	}
	if c.Ignore != nil {
		key += "|i" + c.Ignore.digest
	}
	return key
}

// sharedDigest digests the namespace, namespace set, labels and (already
// digested) exclusions of the clause.
func (c Clause) sharedDigest(exclusions string) string {
	h := sha256.New()
	writeString(h, c.Namespace)
	if c.Namespaces == nil {
		writeString(h, "-")
	} else {
		writeString(h, "+")
		writeStrings(h, sets.List(c.Namespaces))
	}
	if c.Labels == nil {
		writeString(h, "-")
	} else {
		writeString(h, "+"+c.Labels.String())
	}
	writeString(h, exclusions)
	return string(h.Sum(nil))
}

// exclusionsDigest digests exclusions independent of their order.
func exclusionsDigest(ex []Exclusion) string {
	sums := make([]string, 0, len(ex))
	for _, e := range ex {
		h := sha256.New()
		for _, l := range [][]string{e.Groups, e.Resources, e.Namespaces, e.Names} {
			writeStrings(h, l)
		}
		sums = append(sums, string(h.Sum(nil)))
	}
	sort.Strings(sums)
	h := sha256.New()
	writeStrings(h, sums)
	return string(h.Sum(nil))
}

// opsKey is the clause's operations, all spelled one way.
func (c Clause) opsKey() Ops {
	if c.Ops == 0 {
		return OpsAll
	}
	return c.Ops
}

func (c Clause) takes(gvr schema.GroupVersionResource, u *unstructured.Unstructured) bool {
	ns := u.GetNamespace()
	if c.Namespace != "" && c.Namespace != ns {
		return false
	}
	if c.Namespaces != nil && !c.Namespaces.Has(ns) {
		return false
	}
	if c.Labels != nil && !c.Labels.Matches(objectLabels(metaMap(u, "labels"))) {
		return false
	}
	for _, e := range c.Exclude {
		if e.matches(gvr, ns, u.GetName()) {
			return false
		}
	}
	if !c.KeepOwned || !c.KeepGenerated {
		switch kind, _ := Derived(gvr, u); {
		case kind == Owned && !c.KeepOwned, kind == Generated && !c.KeepGenerated:
			return false
		}
	}
	return true
}

func (c Clause) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "ns=%s", c.Namespace)
	if c.Namespaces != nil {
		fmt.Fprintf(&b, " nss=%s", strings.Join(sets.List(c.Namespaces), ","))
	}
	if c.Labels != nil {
		fmt.Fprintf(&b, " labels=%s", c.Labels.String())
	}
	ex := make([]string, 0, len(c.Exclude))
	for _, e := range c.Exclude {
		ex = append(ex, e.String())
	}
	sort.Strings(ex)
	fmt.Fprintf(&b, " exclude=%s owned=%v generated=%v ops=%d", strings.Join(ex, ";"), c.KeepOwned, c.KeepGenerated, c.opsKey())
	return b.String()
}

// MatchesObject reports whether an object (of the type) is mirrored: it lies
// in the scope and a clause takes it. A selection without clauses (built by
// hand, in tests) takes every object in its scope.
func (s *TypeSelection) MatchesObject(u *unstructured.Unstructured) bool {
	if !s.Matches(u.GetNamespace()) {
		return false
	}
	if len(s.Clauses) == 0 {
		return true
	}
	for _, c := range s.Clauses {
		if c.takes(s.Resource.GVR, u) {
			return true
		}
	}
	return false
}

// Namespaces the cluster generates, whose objects are derived under a wildcard.
var systemNamespaces = sets.New("kube-system", "kube-public", "kube-node-lease")

// DerivedKind says how an object is derived state rather than intent.
type DerivedKind int

const (
	// NotDerived: intent, mirrored.
	NotDerived DerivedKind = iota
	// Owned: a controller owns it (the owner belongs in Git: ReplicaSets of
	// Deployments, their Pods, Jobs of CronJobs, ...). Left out under a
	// wildcard; mirrored when a rule names its type or sets includeDerived.
	Owned
	// Generated: the cluster creates it. Mirrored only with includeDerived.
	Generated
)

// Derived says whether and how an object is derived state, and why (the
// README lists these):
//   - Owned: an object with a controller owner reference;
//   - Generated: the objects the cluster creates in every namespace (the
//     kube-root-ca.crt ConfigMap and the default ServiceAccount), and what the
//     cluster creates for itself: everything in kube-system,
//     kube-public and kube-node-lease, those namespaces and default, the
//     default/kubernetes Service, the RBAC defaults (label
//     kubernetes.io/bootstrapping=rbac-defaults), automanaged APIServices,
//     the built-in flow control objects (annotation
//     apf.kubernetes.io/autoupdate-spec=true), the system-* PriorityClasses,
//     ServiceAccount token Secrets, Helm's release records (Secrets of type
//     helm.sh/release.v1, ConfigMaps sh.helm.release.v1.* labelled
//     owner=helm), and the age key Secrets this server generates.
func Derived(gvr schema.GroupVersionResource, u *unstructured.Unstructured) (DerivedKind, string) {
	if ref := metav1.GetControllerOfNoCopy(u); ref != nil {
		return Owned, "owned by " + ref.Kind + " " + ref.Name
	}
	if why := generated(gvr, u); why != "" {
		return Generated, why
	}
	return NotDerived, ""
}

func generated(gvr schema.GroupVersionResource, u *unstructured.Unstructured) string {
	ns, name := u.GetNamespace(), u.GetName()
	switch {
	case systemNamespaces.Has(ns):
		return "in the system namespace " + ns
	case gvr.Group == "" && gvr.Resource == "configmaps" && name == "kube-root-ca.crt":
		return "created in every namespace"
	case gvr.Group == "" && gvr.Resource == "serviceaccounts" && name == "default":
		return "created in every namespace"
	case gvr.Group == "" && gvr.Resource == "namespaces" && (systemNamespaces.Has(name) || name == "default"):
		return "created by the cluster"
	case gvr.Group == "" && gvr.Resource == "services" && ns == "default" && name == "kubernetes":
		return "the API server's Service"
	case gvr.Group == "" && gvr.Resource == "secrets" && typeOf(u) == "kubernetes.io/service-account-token":
		return "a ServiceAccount token"
	case gvr.Group == "" && gvr.Resource == "secrets" && typeOf(u) == "helm.sh/release.v1":
		return "a Helm release record (rewritten on every upgrade)"
	case gvr.Group == "" && gvr.Resource == "configmaps" && strings.HasPrefix(name, "sh.helm.release.v1.") && label(u, "owner") == "helm":
		return "a Helm release record (rewritten on every upgrade)"
	case gvr.Group == "" && gvr.Resource == "secrets" && annotation(u, "configbutler.ai/age-recipient") != "" &&
		label(u, "app.kubernetes.io/managed-by") == "gitops-reverser":
		return "an age key gitops-reverser generated (it cannot decrypt itself: back it up elsewhere)"
	case label(u, "kubernetes.io/bootstrapping") == "rbac-defaults":
		return "an RBAC default"
	case label(u, "kube-aggregator.kubernetes.io/automanaged") != "":
		return "an automanaged APIService"
	case annotation(u, "apf.kubernetes.io/autoupdate-spec") == "true":
		return "a built-in flow control object"
	case gvr.Group == "scheduling.k8s.io" && strings.HasPrefix(name, "system-"):
		return "a built-in PriorityClass"
	}
	return ""
}

func typeOf(u *unstructured.Unstructured) string {
	t, _, _ := unstructured.NestedString(u.Object, "type")
	return t
}
