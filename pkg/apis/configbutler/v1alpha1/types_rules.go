package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// +genclient
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// WatchRule selects resources of its own namespace to mirror through a GitTarget
// of the same namespace.
type WatchRule struct {
	metav1.TypeMeta `json:",inline"`
	// Standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec selects what to mirror.
	Spec WatchRuleSpec `json:"spec"`
	// Status is observed by the server. Read-only.
	// +optional
	Status WatchRuleStatus `json:"status,omitempty"`
}

// WatchRuleSpec selects namespaced resources of the rule's namespace.
type WatchRuleSpec struct {
	// TargetRef names the GitTarget, in this namespace, to write to.
	TargetRef LocalTargetReference `json:"targetRef"`
	// Rules select resource types. At least one is required, at most 64.
	// +listType=atomic
	Rules []ResourceRule `json:"rules"`
	// Exclude leaves objects out of what the rules select. At most 64.
	// +optional
	// +listType=atomic
	Exclude []Exclusion `json:"exclude,omitempty"`
	// IgnoreChangesBy leaves out of Git the changes made only by these
	// authors (a GitOps tool such as Flux or Argo CD, applying what is
	// already in another repository): the branch then holds the changes
	// made outside that flow, not the live state. Changes are matched by
	// the audit report of each write coalesced into one commit; a snapshot
	// writes the live state whoever made it. See docs/mirroring.md.
	// +optional
	IgnoreChangesBy *ChangeAuthors `json:"ignoreChangesBy,omitempty"`
}

// ResourceRule selects resource types by group, version and plural name; "*" matches all.
type ResourceRule struct {
	// Operations are the changes mirrored: CREATE, UPDATE, DELETE, or "*"
	// (empty: all). Without DELETE a deleted object's file stays in Git
	// (an archive); without UPDATE only an object's first version is
	// written; without CREATE a new object is written once it changes.
	// Snapshots keep to them too.
	// +optional
	// +listType=atomic
	Operations []OperationType `json:"operations,omitempty"`
	// APIGroups, "" for the core group, "*" (or none listed) for all. At
	// most 32.
	// +optional
	// +listType=atomic
	APIGroups []string `json:"apiGroups,omitempty"`
	// APIVersions, "*" for all; empty means the preferred version. At most 32.
	// +optional
	// +listType=atomic
	APIVersions []string `json:"apiVersions,omitempty"`
	// Resources: plural resource names, "*" for all. At most 32.
	// +listType=atomic
	Resources []string `json:"resources"`
	// LabelSelector selects objects by their labels (all objects when empty).
	// At most 32 matchLabels, 32 matchExpressions and 32 values per expression.
	// +optional
	LabelSelector *metav1.LabelSelector `json:"labelSelector,omitempty"`
	// IncludeDerived mirrors, under this rule, what is left out by default:
	// objects a controller owns (their owner is what belongs in Git), the
	// derived types a wildcard skips (Endpoints, EndpointSlices, Events, Leases,
	// ControllerRevisions, ...) and the objects the cluster generates itself
	// (kube-root-ca.crt, the default ServiceAccount, ...). See the README.
	// +optional
	IncludeDerived bool `json:"includeDerived,omitempty"`
}

// WatchRuleStatus is the observed state of a rule.
type WatchRuleStatus struct {
	// ObservedGeneration is the generation the conditions were computed for.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions: Ready tells whether the target exists and the rules resolve.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// AuthorizedBy is the user the server authorized this object for: the
	// user who created it or last changed its spec. The server sets it from
	// the request and never takes it from a client; the lifecycle mirrors
	// only what this user may read (see the README, "Multi-tenancy").
	// +optional
	AuthorizedBy *AuthorizedIdentity `json:"authorizedBy,omitempty"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// WatchRuleList is a list of WatchRules.
type WatchRuleList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	// Items is the list of WatchRules.
	Items []WatchRule `json:"items"`
}

// +genclient
// +genclient:nonNamespaced
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ClusterWatchRule selects cluster-scoped resources, or namespaced resources in all
// namespaces, to mirror through a GitTarget.
type ClusterWatchRule struct {
	metav1.TypeMeta `json:",inline"`
	// Standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec selects what to mirror.
	Spec ClusterWatchRuleSpec `json:"spec"`
	// Status is observed by the server. Read-only.
	// +optional
	Status WatchRuleStatus `json:"status,omitempty"`
}

// ClusterWatchRuleSpec selects resources across the cluster.
type ClusterWatchRuleSpec struct {
	// TargetRef names the GitTarget to write to.
	TargetRef NamespacedTargetReference `json:"targetRef"`
	// Rules select resource types. At least one is required, at most 64.
	// +listType=atomic
	Rules []ClusterResourceRule `json:"rules"`
	// Exclude leaves objects out of what the rules select. At most 64.
	// +optional
	// +listType=atomic
	Exclude []Exclusion `json:"exclude,omitempty"`
	// IgnoreChangesBy leaves out of Git the changes made only by these
	// authors (a GitOps tool such as Flux or Argo CD, applying what is
	// already in another repository): the branch then holds the changes
	// made outside that flow, not the live state. Changes are matched by
	// the audit report of each write coalesced into one commit; a snapshot
	// writes the live state whoever made it. See docs/mirroring.md.
	// +optional
	IgnoreChangesBy *ChangeAuthors `json:"ignoreChangesBy,omitempty"`
}

// NamespacedObjectReference names an object in a namespace.
type NamespacedObjectReference struct {
	// Name of the referent.
	Name string `json:"name"`
	// Namespace of the referent.
	Namespace string `json:"namespace"`
}

// Exclusion leaves out the objects that match all of its fields (a field left
// empty matches everything; at least one must be set). Each list holds at
// most 32 entries.
type Exclusion struct {
	// APIGroups of the excluded types ("" for the core group).
	// +optional
	// +listType=atomic
	APIGroups []string `json:"apiGroups,omitempty"`
	// Resources: plural names of the excluded types.
	// +optional
	// +listType=atomic
	Resources []string `json:"resources,omitempty"`
	// Namespaces: glob patterns (path.Match syntax) of namespaces, each at
	// most 253 characters.
	// +optional
	// +listType=atomic
	Namespaces []string `json:"namespaces,omitempty"`
	// Names: glob patterns (path.Match syntax) of object names, each at most
	// 253 characters.
	// +optional
	// +listType=atomic
	Names []string `json:"names,omitempty"`
}

// OperationType is a kind of change to an object.
type OperationType string

const (
	// OperationCreate: an object appears.
	OperationCreate OperationType = "CREATE"
	// OperationUpdate: an object changes.
	OperationUpdate OperationType = "UPDATE"
	// OperationDelete: an object goes.
	OperationDelete OperationType = "DELETE"
	// OperationAll: every change.
	OperationAll OperationType = "*"
)

// ResourceScope is Cluster or Namespaced.
type ResourceScope string

const (
	// ClusterScope selects cluster-scoped resources.
	ClusterScope ResourceScope = "Cluster"
	// NamespacedScope selects namespaced resources in all namespaces.
	NamespacedScope ResourceScope = "Namespaced"
)

// ClusterResourceRule selects resource types and the scope they must have.
type ClusterResourceRule struct {
	// Operations are the changes mirrored: CREATE, UPDATE, DELETE, or "*"
	// (empty: all). Without DELETE a deleted object's file stays in Git
	// (an archive); without UPDATE only an object's first version is
	// written; without CREATE a new object is written once it changes.
	// Snapshots keep to them too.
	// +optional
	// +listType=atomic
	Operations []OperationType `json:"operations,omitempty"`
	// APIGroups, "" for the core group, "*" (or none listed) for all. At
	// most 32.
	// +optional
	// +listType=atomic
	APIGroups []string `json:"apiGroups,omitempty"`
	// APIVersions, "*" for all; empty means the preferred version. At most 32.
	// +optional
	// +listType=atomic
	APIVersions []string `json:"apiVersions,omitempty"`
	// Resources: plural resource names, "*" for all. At most 32.
	// +listType=atomic
	Resources []string `json:"resources"`
	// Scope of the selected resources: Cluster or Namespaced.
	Scope ResourceScope `json:"scope"`
	// LabelSelector selects objects by their labels (all objects when empty).
	// At most 32 matchLabels, 32 matchExpressions and 32 values per expression.
	// +optional
	LabelSelector *metav1.LabelSelector `json:"labelSelector,omitempty"`
	// IncludeDerived mirrors, under this rule, what is left out by default:
	// objects a controller owns (their owner is what belongs in Git), the
	// derived types a wildcard skips (Endpoints, EndpointSlices, Events, Leases,
	// ControllerRevisions, ...) and the objects the cluster generates itself
	// (kube-root-ca.crt, the default ServiceAccount, ...). See the README.
	// +optional
	IncludeDerived bool `json:"includeDerived,omitempty"`
	// NamespaceSelector selects the namespaces, by their labels, whose objects
	// are mirrored (scope Namespaced only; all namespaces when empty). It is
	// live: labelling a namespace later mirrors it, unlabelling it removes its
	// files. At most 32 matchLabels, 32 matchExpressions and 32 values per
	// expression.
	// +optional
	NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector,omitempty"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ClusterWatchRuleList is a list of ClusterWatchRules.
type ClusterWatchRuleList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	// Items is the list of ClusterWatchRules.
	Items []ClusterWatchRule `json:"items"`
}
