package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// +genclient
// +genclient:method=GetGates,verb=get,subresource=gates,result=GitTargetGates
// +genclient:method=GetSnapshot,verb=get,subresource=snapshot,result=GitTargetSnapshot
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// GitTarget mirrors the resources selected by WatchRules and ClusterWatchRules into
// a path of a branch of a GitProvider's repository. Its status is written only by the
// server's lifecycle workers; Ready is computed by the server on every read.
type GitTarget struct {
	metav1.TypeMeta `json:",inline"`
	// Standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec says where to write.
	Spec GitTargetSpec `json:"spec"`
	// Status reports the startup gates and what was written. Read-only.
	// +optional
	Status GitTargetStatus `json:"status,omitempty"`
}

// GitTargetSpec says where mirrored resources are written.
type GitTargetSpec struct {
	// ProviderRef names the GitProvider (in the target's namespace) to write to.
	ProviderRef GitProviderReference `json:"providerRef"`
	// Branch to commit to. Must be a valid git branch name matching one of the
	// provider's allowedBranches, at most 255 characters.
	Branch string `json:"branch"`
	// Path is the directory in the repository that this target owns, relative to the
	// repository root, in canonical form: slash-separated, no leading or trailing
	// "/", no empty, "." or ".." segments, no ".git" segment in any letter case,
	// no backslashes or control characters. Empty means the repository root.
	// +optional
	Path string `json:"path,omitempty"`
	// Encryption configures how Secrets are encrypted before they are written.
	// Without it, Secrets are not written at all.
	// +optional
	Encryption *EncryptionSpec `json:"encryption,omitempty"`
	// IgnoreFields are fields left out of the files, on top of those the
	// server always leaves out (see the README): a change that touches only
	// them makes no commit. At most 32 entries.
	// +optional
	// +listType=atomic
	IgnoreFields []IgnoreFields `json:"ignoreFields,omitempty"`
}

// GitProviderReference points at what a target pushes through: a
// GitProvider, or a Flux GitRepository (group source.toolkit.fluxcd.io,
// kind GitRepository), whose spec.url and spec.secretRef are used as a
// provider's (the target's branch still decides where it writes).
type GitProviderReference struct {
	// Group of the referent: configbutler.ai (the default) or
	// source.toolkit.fluxcd.io.
	// +optional
	Group string `json:"group,omitempty"`
	// Kind of the referent: GitProvider (the default) or GitRepository.
	// +optional
	Kind string `json:"kind,omitempty"`
	// Name of the referent, in the target's namespace.
	Name string `json:"name"`
}

// The Flux GitRepository a target may push through.
const (
	FluxSourceGroup   = "source.toolkit.fluxcd.io"
	KindGitRepository = "GitRepository"
)

// IsFlux reports whether the reference names a Flux GitRepository.
func (r GitProviderReference) IsFlux() bool {
	return r.Group == FluxSourceGroup && r.Kind == KindGitRepository
}

// IgnoreFields names fields to leave out of the files of some kinds.
type IgnoreFields struct {
	// APIGroups of the kinds ("" for the core group; empty or "*" for all).
	// At most 32.
	// +optional
	// +listType=atomic
	APIGroups []string `json:"apiGroups,omitempty"`
	// Kinds, e.g. Deployment (empty or "*" for all). At most 32, each at most
	// 63 characters.
	// +optional
	// +listType=atomic
	Kinds []string `json:"kinds,omitempty"`
	// Paths of the fields: dot-separated names, e.g. spec.replicas; a map key
	// in brackets, e.g. metadata.annotations[example.com/heartbeat], or keys by
	// prefix, metadata.annotations[example.com/*]; every list element as [*],
	// e.g. spec.template.spec.containers[*].image. At least one, at most 32,
	// each at most 512 characters with at most 4 [*].
	// +listType=atomic
	Paths []string `json:"paths"`
}

// EncryptionSpec configures Secret encryption.
type EncryptionSpec struct {
	// Provider is the encryption format: "sops" (SOPS with age recipients),
	// the default and the only one.
	// +optional
	Provider string `json:"provider,omitempty"`
	// SecretRef names the Secret, in the target's namespace of the source cluster, whose
	// keys ending in ".agekey" hold the age identities (the convention Flux decrypts with),
	// at most 16 in all. Every Secret is encrypted to them: the server reads
	// what it wrote with them (to write only what changed, and to restore).
	// Required while encryption is on.
	// +optional
	SecretRef LocalSecretReference `json:"secretRef,omitempty"`
	// GenerateWhenMissing creates the Secret with a new age identity when it does not exist.
	// An existing Secret is never overwritten.
	// +optional
	GenerateWhenMissing bool `json:"generateWhenMissing,omitempty"`
	// Age is the spelling of gitops-reverser v0.16-v0.17, with more
	// recipients. Without it, encryption is on; with it, on when enabled.
	// +optional
	Age *AgeEncryption `json:"age,omitempty"`
}

// AgeEncryption configures the age recipients of SOPS encryption.
type AgeEncryption struct {
	// Enabled turns encryption on (default false: Secrets are not written).
	// +optional
	Enabled bool `json:"enabled,omitempty"`
	// Recipients are who can decrypt the Secrets written.
	// +optional
	Recipients AgeRecipients `json:"recipients,omitempty"`
}

// AgeRecipients are the age recipients every Secret is encrypted to.
type AgeRecipients struct {
	// PublicKeys are more age recipients (age1...), at most 32: every Secret
	// is encrypted to them too, so their holders decrypt the repository with
	// the sops CLI without the cluster. Changing them re-encrypts the
	// Secrets already written.
	// +optional
	// +listType=atomic
	PublicKeys []string `json:"publicKeys,omitempty"`
	// ExtractFromSecret: the identities of secretRef are recipients. The
	// server always encrypts to them (it must read what it wrote), so this
	// is accepted for compatibility and changes nothing.
	// +optional
	ExtractFromSecret bool `json:"extractFromSecret,omitempty"`
	// GenerateWhenMissing is generateWhenMissing, in this spelling.
	// +optional
	GenerateWhenMissing bool `json:"generateWhenMissing,omitempty"`
}

// GitTargetStatus is the observed state of a GitTarget.
type GitTargetStatus struct {
	// ObservedGeneration is the lowest generation any gate was evaluated for
	// (computed by the server on read).
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions: the gates Validated, EncryptionConfigured, Bootstrapped, SnapshotSynced,
	// EventStreamLive in pipeline order, and Ready, computed from them on every read.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// LastReconcileTime is when the lifecycle last evaluated the gates.
	// +optional
	LastReconcileTime *metav1.Time `json:"lastReconcileTime,omitempty"`
	// LastCommit is the hash of the last commit this target pushed.
	// +optional
	LastCommit string `json:"lastCommit,omitempty"`
	// LastPushTime is when that commit was pushed.
	// +optional
	LastPushTime *metav1.Time `json:"lastPushTime,omitempty"`
	// WorkerRef names the branch worker (and its owner) that writes for this target.
	// +optional
	WorkerRef *WorkerReference `json:"workerRef,omitempty"`
	// Encryption records the validated encryption configuration.
	// +optional
	Encryption *EncryptionStatus `json:"encryption,omitempty"`
	// Bootstrap records the bootstrap of the target path.
	// +optional
	Bootstrap *BootstrapStatus `json:"bootstrap,omitempty"`
	// Snapshot records the last full snapshot.
	// +optional
	Snapshot *SnapshotStatus `json:"snapshot,omitempty"`
	// Stream records the live event stream.
	// +optional
	Stream *StreamStatus `json:"stream,omitempty"`
	// Claim is the place (repository, branch, path) this target writes and
	// since when: set by the server once the target's branch worker proved it
	// can write there (Bootstrapped=True). Of two targets whose places overlap,
	// the one that claimed first keeps its place, whatever their ages: a target
	// that moves onto a place another already writes is the one that conflicts.
	// +optional
	Claim *PlaceClaim `json:"claim,omitempty"`
	// AuthorizedBy is the user the server authorized this object for: the
	// user who created it or last changed its spec. The server sets it from
	// the request and never takes it from a client; the lifecycle mirrors
	// only what this user may read (see the README, "Multi-tenancy").
	// +optional
	AuthorizedBy *AuthorizedIdentity `json:"authorizedBy,omitempty"`
}

// PlaceClaim is where a GitTarget writes, as the server recorded it.
type PlaceClaim struct {
	// Repository is the normalized repository URL.
	Repository string `json:"repository"`
	// Branch is the branch written.
	Branch string `json:"branch"`
	// Path is the directory written ("" is the repository root).
	// +optional
	Path string `json:"path,omitempty"`
	// Since is when the target claimed the place.
	Since metav1.Time `json:"since"`
}

// WorkerReference identifies a branch worker.
type WorkerReference struct {
	// Name of the worker: the normalized repository URL and branch.
	Name string `json:"name"`
	// UID of the worker instance.
	// +optional
	UID string `json:"uid,omitempty"`
	// Replica is the server replica that owns the worker.
	// +optional
	Replica string `json:"replica,omitempty"`
	// Lease is the etcd lease through which the replica owns the worker.
	// +optional
	Lease string `json:"lease,omitempty"`
}

// EncryptionStatus records the encryption configuration last validated.
type EncryptionStatus struct {
	// Provider is the encryption provider.
	Provider string `json:"provider"`
	// SecretRefName is the name of the key Secret.
	SecretRefName string `json:"secretRefName"`
	// RecipientsHash is the SHA-256 of the sorted age recipients.
	// +optional
	RecipientsHash string `json:"recipientsHash,omitempty"`
	// LastValidatedTime is when the key Secret was last validated.
	// +optional
	LastValidatedTime *metav1.Time `json:"lastValidatedTime,omitempty"`
}

// BootstrapStatus records the bootstrap of a target path.
type BootstrapStatus struct {
	// TargetPath is the path that was bootstrapped.
	TargetPath string `json:"targetPath"`
	// Commit is the bootstrap commit, empty when nothing had to be written.
	// +optional
	Commit string `json:"commit,omitempty"`
	// LastAppliedTime is when the bootstrap was last checked or applied.
	// +optional
	LastAppliedTime *metav1.Time `json:"lastAppliedTime,omitempty"`
}

// SnapshotStatus records the last full snapshot of the selected resources.
type SnapshotStatus struct {
	// StartTime is when the last snapshot started.
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`
	// LastCompletedTime is when the last snapshot completed.
	// +optional
	LastCompletedTime *metav1.Time `json:"lastCompletedTime,omitempty"`
	// Duration of the last completed snapshot.
	// +optional
	Duration *metav1.Duration `json:"duration,omitempty"`
	// Commit is the commit the last snapshot pushed, empty when the repository was
	// already in sync.
	// +optional
	Commit string `json:"commit,omitempty"`
	// Stats counts the files the snapshot wrote.
	// +optional
	Stats SnapshotStats `json:"stats,omitempty"`
}

// SnapshotStats counts what a snapshot changed.
type SnapshotStats struct {
	// Created files.
	// +optional
	Created int32 `json:"created"`
	// Updated files.
	// +optional
	Updated int32 `json:"updated"`
	// Deleted stale files.
	// +optional
	Deleted int32 `json:"deleted"`
	// Unchanged files.
	// +optional
	Unchanged int32 `json:"unchanged,omitempty"`
	// SkippedSecrets counts Secrets not written because the target has no encryption.
	// +optional
	SkippedSecrets int32 `json:"skippedSecrets,omitempty"`
	// Failed counts selected objects that could not be written (each is named
	// in an Event of the target); everything else was committed.
	// +optional
	Failed int32 `json:"failed,omitempty"`
}

// StreamStatus records the live event stream.
type StreamStatus struct {
	// Registered is true while the stream delivers events to this target.
	Registered bool `json:"registered"`
	// RegisteredTime is when the stream was registered.
	// +optional
	RegisteredTime *metav1.Time `json:"registeredTime,omitempty"`
	// LastEventTime is when the last event was applied.
	// +optional
	LastEventTime *metav1.Time `json:"lastEventTime,omitempty"`
	// PendingChanges is the number of live changes waiting to be pushed.
	// +optional
	PendingChanges int32 `json:"pendingChanges,omitempty"`
	// PushFailingSince is when pushes of live changes started failing (unset
	// while they succeed).
	// +optional
	PushFailingSince *metav1.Time `json:"pushFailingSince,omitempty"`
	// LastPushError says why the last push failed (what kind of failure,
	// never what the remote sent).
	// +optional
	LastPushError string `json:"lastPushError,omitempty"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// GitTargetList is a list of GitTargets.
type GitTargetList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	// Items is the list of GitTargets.
	Items []GitTarget `json:"items"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// GitTargetGates is the read-only gates view of a GitTarget (subresource "gates"):
// the gates in pipeline order, then Ready, and which gate blocks and why.
type GitTargetGates struct {
	metav1.TypeMeta `json:",inline"`
	// Metadata of the GitTarget.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Gates are Validated, EncryptionConfigured, Bootstrapped, SnapshotSynced,
	// EventStreamLive and Ready, in that order. A gate not evaluated yet is Unknown.
	// +listType=atomic
	Gates []metav1.Condition `json:"gates"`
	// Ready is true when every gate is True.
	Ready bool `json:"ready"`
	// BlockingGate is the first gate in pipeline order that is not True.
	// +optional
	BlockingGate string `json:"blockingGate,omitempty"`
	// Reason of the blocking gate.
	// +optional
	Reason string `json:"reason,omitempty"`
	// Message of the blocking gate.
	// +optional
	Message string `json:"message,omitempty"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// GitTargetSnapshot is the read-only view of a GitTarget's last snapshot
// (subresource "snapshot").
type GitTargetSnapshot struct {
	metav1.TypeMeta `json:",inline"`
	// Metadata of the GitTarget.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// State is the SnapshotSynced gate's status: "True", "False" or "Unknown".
	State metav1.ConditionStatus `json:"state"`
	// Reason is the SnapshotSynced reason: Running, Completed, SnapshotFailed, or
	// NotStarted/Blocked before the snapshot ran.
	// +optional
	Reason string `json:"reason,omitempty"`
	// Message of the SnapshotSynced gate.
	// +optional
	Message string `json:"message,omitempty"`
	// Branch and Path the snapshot wrote to.
	// +optional
	Branch string `json:"branch,omitempty"`
	// +optional
	Path string `json:"path,omitempty"`
	// StartTime is when the last snapshot started.
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`
	// LastCompletedTime is when the last snapshot completed.
	// +optional
	LastCompletedTime *metav1.Time `json:"lastCompletedTime,omitempty"`
	// Duration of the last completed snapshot.
	// +optional
	Duration *metav1.Duration `json:"duration,omitempty"`
	// Commit pushed by the last snapshot.
	// +optional
	Commit string `json:"commit,omitempty"`
	// Stats of the last (or running) snapshot.
	Stats SnapshotStats `json:"stats"`
}
