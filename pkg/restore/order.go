package restore

import (
	"sort"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

// The order of writes is Velero's: what other objects refer to is written
// before them, so that each object finds what it names when it is admitted,
// and a Pod started by a restored workload finds what it mounts or runs as.
//
//	tier  kinds
//	 0    Namespace                      everything namespaced lives in one
//	 1    CustomResourceDefinition       custom resources need their kind served
//	 2    StorageClass, PriorityClass,   named by claims and Pods (a Pod naming a
//	      RuntimeClass, IngressClass     missing PriorityClass is refused)
//	 3    ServiceAccount                 a Pod runs as one (admission refuses
//	                                     a Pod whose ServiceAccount is missing)
//	 4    ConfigMap                      mounted and read into env by Pods
//	 5    Secret                         same; also image pull secrets
//	 6    LimitRange                     admission defaults and limits new Pods
//	 7    ResourceQuota                  admission counts new objects against it
//	 8    PersistentVolume               bound by claims
//	 9    PersistentVolumeClaim          mounted by Pods
//	10    Role, ClusterRole              referred to by bindings
//	11    RoleBinding, ClusterRoleBinding  give the ServiceAccounts their rights
//	12    everything else                NetworkPolicies, PodDisruptionBudgets,
//	                                     HPAs, Ingresses, custom resources, ...
//	                                     (a NetworkPolicy is in place before
//	                                     the Pods it protects start)
//	13    Service                        before its backends: a container gets
//	                                     the environment variables of the
//	                                     Services that exist when it starts
//	14    Deployment, StatefulSet,       workloads last among the objects:
//	      DaemonSet, ReplicaSet,         their Pods start at once and need all
//	      ReplicationController, Pod,    of the above
//	      Job, CronJob
//	15    Mutating/ValidatingWebhook-    admission configuration after what it
//	      Configuration, Validating/     calls: a webhook restored before its
//	      MutatingAdmissionPolicy(Binding), Service and Deployment would refuse
//	      APIService                     the writes after it
//
// Within a tier objects are ordered by group, kind, namespace and name, so
// the same files are always written in the same order. Prune deletes run
// after all writes, in the reverse order (dependents first).
var tiers = map[schema.GroupKind]int{
	{Kind: "Namespace"}: 0,
	{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}:                 1,
	{Group: "storage.k8s.io", Kind: "StorageClass"}:                                   2,
	{Group: "scheduling.k8s.io", Kind: "PriorityClass"}:                               2,
	{Group: "node.k8s.io", Kind: "RuntimeClass"}:                                      2,
	{Group: "networking.k8s.io", Kind: "IngressClass"}:                                2,
	{Kind: "ServiceAccount"}:                                                          3,
	{Kind: "ConfigMap"}:                                                               4,
	{Kind: "Secret"}:                                                                  5,
	{Kind: "LimitRange"}:                                                              6,
	{Kind: "ResourceQuota"}:                                                           7,
	{Kind: "PersistentVolume"}:                                                        8,
	{Kind: "PersistentVolumeClaim"}:                                                   9,
	{Group: "rbac.authorization.k8s.io", Kind: "Role"}:                                10,
	{Group: "rbac.authorization.k8s.io", Kind: "ClusterRole"}:                         10,
	{Group: "rbac.authorization.k8s.io", Kind: "RoleBinding"}:                         11,
	{Group: "rbac.authorization.k8s.io", Kind: "ClusterRoleBinding"}:                  11,
	{Kind: "Service"}:                                                                 13,
	{Group: "apps", Kind: "Deployment"}:                                               14,
	{Group: "apps", Kind: "StatefulSet"}:                                              14,
	{Group: "apps", Kind: "DaemonSet"}:                                                14,
	{Group: "apps", Kind: "ReplicaSet"}:                                               14,
	{Kind: "ReplicationController"}:                                                   14,
	{Kind: "Pod"}:                                                                     14,
	{Group: "batch", Kind: "Job"}:                                                     14,
	{Group: "batch", Kind: "CronJob"}:                                                 14,
	{Group: "admissionregistration.k8s.io", Kind: "MutatingWebhookConfiguration"}:     15,
	{Group: "admissionregistration.k8s.io", Kind: "ValidatingWebhookConfiguration"}:   15,
	{Group: "admissionregistration.k8s.io", Kind: "ValidatingAdmissionPolicy"}:        15,
	{Group: "admissionregistration.k8s.io", Kind: "ValidatingAdmissionPolicyBinding"}: 15,
	{Group: "admissionregistration.k8s.io", Kind: "MutatingAdmissionPolicy"}:          15,
	{Group: "admissionregistration.k8s.io", Kind: "MutatingAdmissionPolicyBinding"}:   15,
	{Group: "apiregistration.k8s.io", Kind: "APIService"}:                             15,
}

// TierOther is the tier of every kind the table does not name.
const TierOther = 12

// Tier is the tier of a kind in the order of writes (lower: written first).
func Tier(gk schema.GroupKind) int {
	if t, ok := tiers[gk]; ok {
		return t
	}
	return TierOther
}

// Order sorts decoded files into the order of writes: by Tier, then group,
// kind, namespace, name and path (stable).
func Order(ds []Decoded) {
	sort.SliceStable(ds, func(i, j int) bool { return less(&ds[i], &ds[j]) })
}

func less(a, b *Decoded) bool {
	ga, gb := a.GroupKind(), b.GroupKind()
	if ta, tb := Tier(ga), Tier(gb); ta != tb {
		return ta < tb
	}
	switch {
	case ga.Group != gb.Group:
		return ga.Group < gb.Group
	case ga.Kind != gb.Kind:
		return ga.Kind < gb.Kind
	case a.Namespace != b.Namespace:
		return a.Namespace < b.Namespace
	case a.Name != b.Name:
		return a.Name < b.Name
	}
	return a.Path < b.Path
}
