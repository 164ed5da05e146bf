package configbutler

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// GitProvider is a Git repository that GitTargets write to, with the credentials
// to reach it and the branches targets may use.
type GitProvider struct {
	metav1.TypeMeta `json:",inline"`
	// Standard object metadata.
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the desired repository and push policy.
	Spec GitProviderSpec `json:"spec"`
	// Status is observed by the server; it cannot be written by clients.
	Status GitProviderStatus `json:"status,omitempty"`
}

// GitProviderSpec describes a Git repository.
type GitProviderSpec struct {
	// URL of the repository: https://, http://, ssh://, scp-style git@host:path, or file://.
	// Credentials must not be embedded in the URL; use secretRef.
	URL string `json:"url"`
	// SecretRef names a Secret in the provider's namespace holding the credentials:
	// `username` and `password` (a token goes in password) for HTTP(S), or
	// `ssh-privatekey` and `known_hosts` for SSH.
	SecretRef *LocalSecretReference `json:"secretRef,omitempty"`
	// AllowedBranches are glob patterns (path.Match syntax, e.g. "main", "env/*")
	// of the branches GitTargets may write to. At least one is required.
	AllowedBranches []string `json:"allowedBranches"`
	// Push controls how changes are batched into commits.
	Push PushPolicy `json:"push,omitempty"`
	// Commit says how live commits are written: committer, author and
	// message templates, signing.
	Commit *CommitSpec `json:"commit,omitempty"`
}

// CommitSpec says how commits are written. Live commits are authored by the
// Kubernetes user who made the changes (see the README, "Who changed what").
type CommitSpec struct {
	// CommitterName and CommitterEmail are the committer of every commit
	// (default gitops-reverser <gitops-reverser@configbutler.ai>).
	CommitterName  string `json:"committerName,omitempty"`
	CommitterEmail string `json:"committerEmail,omitempty"`
	// AuthorName and AuthorEmail are text/template templates over the author:
	// {{.User}} (the Kubernetes username), {{.SafeUser}} (the same, usable in
	// an email address), {{.Impersonator}}, {{.FieldManager}} (no report named
	// the user: User is the field manager of the last write). Defaults
	// "{{.User}}" and "{{.SafeUser}}@kubernetes.invalid".
	AuthorName  string `json:"authorName,omitempty"`
	AuthorEmail string `json:"authorEmail,omitempty"`
	// Message is a text/template template of a live commit's message, over
	// the author's fields and {{.Changes}} (each .Verb, .Path, .Target),
	// {{.Targets}} and {{.Verbs}}. The default lists what changed. Trailers
	// naming the user, the verbs and any impersonator, and the replica, are
	// always added.
	Message string `json:"message,omitempty"`
	// SigningKeyRef names a Secret in the provider's namespace whose key
	// "signing.key" holds an armored OpenPGP private key (and "passphrase" its
	// passphrase, if any): every commit the server writes is signed with it.
	SigningKeyRef *LocalObjectReference `json:"signingKeyRef,omitempty"`
}

// PushPolicy controls commit batching for live changes.
type PushPolicy struct {
	// Interval is the batch window: changes seen within it are committed together.
	// Defaults to 5s.
	Interval metav1.Duration `json:"interval,omitempty"`
	// MaxChanges caps the number of changed files per commit. Defaults to 500.
	MaxChanges int32 `json:"maxChanges,omitempty"`
	// MaxCommits (the seed system's spelling): a push is due as soon as this
	// many changes wait.
	MaxCommits *int32 `json:"maxCommits,omitempty"`
}

// LocalObjectReference names an object in the same namespace.
type LocalObjectReference struct {
	// Name of the referent.
	Name string `json:"name"`
}

// LocalSecretReference names a Secret in the same namespace.
type LocalSecretReference struct {
	// Group ("") and Kind (Secret) of the referent.
	Group string `json:"group,omitempty"`
	Kind  string `json:"kind,omitempty"`
	// Name of the Secret.
	Name string `json:"name"`
}

// AuthorizedIdentity is a user as kube-apiserver authenticated them, recorded
// when the server authorized a create or spec change.
type AuthorizedIdentity struct {
	// Username of the user.
	Username string `json:"username"`
	// UID of the user, when the authenticator provides one.
	UID string `json:"uid,omitempty"`
	// Groups of the user.
	Groups []string `json:"groups,omitempty"`
	// Extra holds the authenticator's additional attributes, which authorizers may read.
	Extra map[string][]string `json:"extra,omitempty"`
	// Time is when the server authorized the user.
	Time *metav1.Time `json:"time,omitempty"`
}

// SigningStatus is the public half of a provider's signing key.
type SigningStatus struct {
	// Fingerprint of the OpenPGP key.
	Fingerprint string `json:"fingerprint"`
	// PublicKey is the armored public key: import it where commits are
	// verified (gpg --import; git verify-commit).
	PublicKey string `json:"publicKey"`
}

// GitProviderStatus is the observed state of a GitProvider.
type GitProviderStatus struct {
	// ObservedGeneration is the generation the conditions were computed for.
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions: Ready tells whether credentials are present and the remote answers.
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// AuthorizedBy is the user the server authorized this object for: the
	// user who created it or last changed its spec. The server sets it from
	// the request and never takes it from a client; the lifecycle mirrors
	// only what this user may read (see the README, "Multi-tenancy").
	AuthorizedBy *AuthorizedIdentity `json:"authorizedBy,omitempty"`
	// Signing shows the key commits are signed with.
	Signing *SigningStatus `json:"signing,omitempty"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// GitProviderList is a list of GitProviders.
type GitProviderList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	// Items is the list of GitProviders.
	Items []GitProvider `json:"items"`
}
