package v1alpha1

// ChangeAuthors names who makes changes: users, groups, ServiceAccounts and
// field managers. A change matches when any entry names its author.
type ChangeAuthors struct {
	// Users are Kubernetes usernames, as the audit log names them (the
	// impersonated user of an impersonated request). At most 32.
	// +optional
	// +listType=atomic
	Users []string `json:"users,omitempty"`
	// Groups are groups of the user who made the change. At most 32.
	// +optional
	// +listType=atomic
	Groups []string `json:"groups,omitempty"`
	// ServiceAccounts are ServiceAccounts (the user
	// system:serviceaccount:<namespace>:<name>). At most 32.
	// +optional
	// +listType=atomic
	ServiceAccounts []ServiceAccountReference `json:"serviceAccounts,omitempty"`
	// FieldManagers are the field managers of the writes (server-side
	// apply's fieldManager, or the client's user agent up to its first
	// "/", as kube-apiserver records them). At most 32.
	// +optional
	// +listType=atomic
	FieldManagers []string `json:"fieldManagers,omitempty"`
}

// ServiceAccountReference names a ServiceAccount.
type ServiceAccountReference struct {
	// Namespace of the ServiceAccount; in a WatchRule, the rule's namespace
	// when empty.
	// +optional
	Namespace string `json:"namespace,omitempty"`
	// Name of the ServiceAccount.
	Name string `json:"name"`
}
