package v1alpha1

// LocalTargetReference names a GitTarget in the same namespace.
type LocalTargetReference struct {
	// Group of the referent: configbutler.ai, the default.
	// +optional
	Group string `json:"group,omitempty"`
	// Kind of the referent: GitTarget, the default.
	// +optional
	Kind string `json:"kind,omitempty"`
	// Name of the GitTarget.
	Name string `json:"name"`
}

// NamespacedTargetReference names a GitTarget in a namespace.
type NamespacedTargetReference struct {
	// Group of the referent: configbutler.ai, the default.
	// +optional
	Group string `json:"group,omitempty"`
	// Kind of the referent: GitTarget, the default.
	// +optional
	Kind string `json:"kind,omitempty"`
	// Name of the GitTarget.
	Name string `json:"name"`
	// Namespace of the GitTarget.
	Namespace string `json:"namespace"`
}
