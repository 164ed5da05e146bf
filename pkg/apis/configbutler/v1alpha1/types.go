package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// +genclient
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// GitProvider is a Git repository that GitTargets write to, with the credentials
// to reach it and the branches targets may use.
type GitProvider struct {
	metav1.TypeMeta `json:",inline"`
	// Standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the desired repository and push policy.
	Spec GitProviderSpec `json:"spec"`
	// Status is observed by the server; it cannot be written by clients.
	// +optional
	Status GitProviderStatus `json:"status,omitempty"`
}

// GitProviderSpec describes a Git repository.
type GitProviderSpec struct {
	// URL of the repository: https://, http://, ssh://, scp-style git@host:path, or file://.
	// Credentials must not be embedded in the URL; use secretRef. At most 2048 characters.
	URL string `json:"url"`
	// SecretRef names a Secret in the provider's namespace holding the credentials:
	// `username` and `password` (a token goes in password) for HTTP(S), or
	// `ssh-privatekey` and `known_hosts` for SSH.
	// +optional
	SecretRef *LocalSecretReference `json:"secretRef,omitempty"`
	// AllowedBranches are glob patterns (path.Match syntax, e.g. "main", "env/*")
	// of the branches GitTargets may write to. At least one is required, at
	// most 32, each at most 255 characters.
	// +listType=atomic
	AllowedBranches []string `json:"allowedBranches"`
	// Push controls how changes are batched into commits.
	// +optional
	Push PushPolicy `json:"push,omitempty"`
	// Commit says how live commits are written: committer, author and
	// message templates, signing.
	// +optional
	Commit *CommitSpec `json:"commit,omitempty"`
}

// CommitSpec says how commits are written. Live commits are authored by the
// Kubernetes user who made the changes (see the README, "Who changed what").
type CommitSpec struct {
	// CommitterName and CommitterEmail are the committer of every commit
	// (default gitops-reverser <gitops-reverser@configbutler.ai>), each at
	// most 255 characters.
	// +optional
	CommitterName string `json:"committerName,omitempty"`
	// +optional
	CommitterEmail string `json:"committerEmail,omitempty"`
	// AuthorName and AuthorEmail are text/template templates over the author:
	// {{.User}} (the Kubernetes username), {{.SafeUser}} (the same, usable in
	// an email address), {{.Impersonator}}, {{.FieldManager}} (no report named
	// the user: User is the field manager of the last write). Defaults
	// "{{.User}}" and "{{.SafeUser}}@kubernetes.invalid".
	// +optional
	AuthorName string `json:"authorName,omitempty"`
	// +optional
	AuthorEmail string `json:"authorEmail,omitempty"`
	// Message is a text/template template of a live commit's message, over
	// the author's fields and {{.Changes}} (each .Verb, .Path, .Target),
	// {{.Targets}} and {{.Verbs}}. The default lists what changed. Trailers
	// naming the user, the verbs and any impersonator, and the replica, are
	// always added.
	// +optional
	Message string `json:"message,omitempty"`
	// SigningKeyRef names a Secret in the provider's namespace whose key
	// "signing.key" holds an armored OpenPGP private key (and "passphrase" its
	// passphrase, if any): every commit the server writes is signed with it.
	// The key is refused unless it is at most 64 KiB armored, holds at most 8
	// keys (primary and subkeys), RSA and DSA ones of at most 8192 bits, and,
	// when protected with Argon2, asks for at most 64 MiB and 4 passes.
	// +optional
	SigningKeyRef *LocalObjectReference `json:"signingKeyRef,omitempty"`
}

// PushPolicy controls commit batching for live changes.
type PushPolicy struct {
	// Interval is the batch window: changes seen within it are committed together.
	// Between 1s and 1h; defaults to 5s.
	// +optional
	Interval metav1.Duration `json:"interval,omitempty"`
	// MaxChanges caps the number of changed files per commit: between 1 and
	// 10000, defaults to 500. As many changes waiting make a push due before
	// the interval ends.
	// +optional
	MaxChanges int32 `json:"maxChanges,omitempty"`
	// MaxCommits is the spelling of gitops-reverser v0.16-v0.17: a push is
	// due as soon as this many changes wait, before the interval ends
	// (between 1 and 10000; at most maxChanges take effect). The changes are
	// committed as always, one commit per author, so a push may hold fewer
	// commits than this.
	// +optional
	MaxCommits *int32 `json:"maxCommits,omitempty"`
}

// LocalObjectReference names an object in the same namespace.
type LocalObjectReference struct {
	// Name of the referent.
	Name string `json:"name"`
}

// LocalSecretReference names a Secret in the same namespace.
type LocalSecretReference struct {
	// Group of the referent: "" (the core group), the default.
	// +optional
	Group string `json:"group,omitempty"`
	// Kind of the referent: Secret, the default.
	// +optional
	Kind string `json:"kind,omitempty"`
	// Name of the Secret.
	Name string `json:"name"`
}

// AuthorizedIdentity is a user as kube-apiserver authenticated them, recorded
// when the server authorized a create or spec change.
type AuthorizedIdentity struct {
	// Username of the user.
	Username string `json:"username"`
	// UID of the user, when the authenticator provides one.
	// +optional
	UID string `json:"uid,omitempty"`
	// Groups of the user.
	// +optional
	// +listType=atomic
	Groups []string `json:"groups,omitempty"`
	// Extra holds the authenticator's additional attributes, which authorizers may read.
	// +optional
	Extra map[string][]string `json:"extra,omitempty"`
	// Time is when the server authorized the user.
	// +optional
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
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions: Ready tells whether credentials are present and the remote answers.
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
	// Signing shows the key commits are signed with.
	// +optional
	Signing *SigningStatus `json:"signing,omitempty"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// GitProviderList is a list of GitProviders.
type GitProviderList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	// Items is the list of GitProviders.
	Items []GitProvider `json:"items"`
}
