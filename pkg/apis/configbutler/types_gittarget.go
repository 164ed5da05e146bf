package configbutler

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// GitTarget mirrors the resources selected by WatchRules and ClusterWatchRules into
// a path of a branch of a GitProvider's repository. Its status is written only by the
// server's lifecycle workers; Ready is computed by the server on every read.
type GitTarget struct {
	metav1.TypeMeta `json:",inline"`
	// Standard object metadata.
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec says where to write.
	Spec GitTargetSpec `json:"spec"`
	// Status reports the startup gates and what was written. Read-only.
	Status GitTargetStatus `json:"status,omitempty"`
}

// GitTargetSpec says where mirrored resources are written.
type GitTargetSpec struct {
	// ProviderRef names the GitProvider (in the target's namespace) to write to.
	ProviderRef GitProviderReference `json:"providerRef"`
	// Branch to commit to. Must be a valid git branch name matching one of the
	// provider's allowedBranches.
	Branch string `json:"branch"`
	// Path is the directory in the repository that this target owns, relative to the
	// repository root, in canonical form: slash-separated, no leading or trailing
	// "/", no empty, "." or ".." segments, no ".git" segment in any letter case,
	// no backslashes or control characters. Empty means the repository root.
	Path string `json:"path,omitempty"`
	// Encryption configures how Secrets are encrypted before they are written.
	// Without it, Secrets are not written at all.
	Encryption *EncryptionSpec `json:"encryption,omitempty"`
	// IgnoreFields are fields left out of the files, on top of those the
	// server always leaves out (see the README): a change that touches only
	// them makes no commit.
	IgnoreFields []IgnoreFields `json:"ignoreFields,omitempty"`
}

// GitProviderReference points at a GitProvider or a Flux GitRepository.
type GitProviderReference struct {
	Group string `json:"group,omitempty"`
	Kind  string `json:"kind,omitempty"`
	Name  string `json:"name"`
}

// IgnoreFields names fields to leave out of the files of some kinds.
type IgnoreFields struct {
	// APIGroups of the kinds ("" for the core group; empty or "*" for all).
	APIGroups []string `json:"apiGroups,omitempty"`
	// Kinds, e.g. Deployment (empty or "*" for all).
	Kinds []string `json:"kinds,omitempty"`
	// Paths of the fields: dot-separated names, e.g. spec.replicas; a map key
	// in brackets, e.g. metadata.annotations[example.com/heartbeat], or keys by
	// prefix, metadata.annotations[example.com/*]; every list element as [*],
	// e.g. spec.template.spec.containers[*].image.
	Paths []string `json:"paths"`
}

// EncryptionSpec configures Secret encryption.
type EncryptionSpec struct {
	// Provider is the encryption format. Only "sops" (SOPS with age recipients) is supported.
	Provider string `json:"provider,omitempty"`
	// SecretRef names the Secret, in the target's namespace of the source cluster, whose
	// keys ending in ".agekey" hold the age identities (the convention Flux decrypts with).
	SecretRef LocalSecretReference `json:"secretRef,omitempty"`
	// GenerateWhenMissing creates the Secret with a new age identity when it does not exist.
	// An existing Secret is never overwritten.
	GenerateWhenMissing bool `json:"generateWhenMissing,omitempty"`
	// Age is the seed system's spelling, with more recipients.
	Age *AgeEncryption `json:"age,omitempty"`
}

// AgeEncryption configures the age recipients of SOPS encryption.
type AgeEncryption struct {
	// Enabled turns encryption on.
	Enabled bool `json:"enabled,omitempty"`
	// Recipients are who can decrypt the Secrets written.
	Recipients AgeRecipients `json:"recipients,omitempty"`
}

// AgeRecipients are the age recipients every Secret is encrypted to.
type AgeRecipients struct {
	// PublicKeys are more age recipients (age1...).
	PublicKeys []string `json:"publicKeys,omitempty"`
	// ExtractFromSecret: the identities of secretRef are recipients (always).
	ExtractFromSecret bool `json:"extractFromSecret,omitempty"`
	// GenerateWhenMissing is generateWhenMissing, in this spelling.
	GenerateWhenMissing bool `json:"generateWhenMissing,omitempty"`
}

// GitTargetStatus is the observed state of a GitTarget.
type GitTargetStatus struct {
	// ObservedGeneration is the lowest generation any gate was evaluated for
	// (computed by the server on read).
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions: the gates Validated, EncryptionConfigured, Bootstrapped, SnapshotSynced,
	// EventStreamLive in pipeline order, and Ready, computed from them on every read.
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// LastReconcileTime is when the lifecycle last evaluated the gates.
	LastReconcileTime *metav1.Time `json:"lastReconcileTime,omitempty"`
	// LastCommit is the hash of the last commit this target pushed.
	LastCommit string `json:"lastCommit,omitempty"`
	// LastPushTime is when that commit was pushed.
	LastPushTime *metav1.Time `json:"lastPushTime,omitempty"`
	// WorkerRef names the branch worker (and its owner) that writes for this target.
	WorkerRef *WorkerReference `json:"workerRef,omitempty"`
	// Encryption records the validated encryption configuration.
	Encryption *EncryptionStatus `json:"encryption,omitempty"`
	// Bootstrap records the bootstrap of the target path.
	Bootstrap *BootstrapStatus `json:"bootstrap,omitempty"`
	// Snapshot records the last full snapshot.
	Snapshot *SnapshotStatus `json:"snapshot,omitempty"`
	// Stream records the live event stream.
	Stream *StreamStatus `json:"stream,omitempty"`
	// Claim is the place (repository, branch, path) this target writes and
	// since when: set by the server once the target's branch worker proved it
	// can write there (Bootstrapped=True). Of two targets whose places overlap,
	// the one that claimed first keeps its place, whatever their ages: a target
	// that moves onto a place another already writes is the one that conflicts.
	Claim *PlaceClaim `json:"claim,omitempty"`
	// AuthorizedBy is the user the server authorized this object for: the
	// user who created it or last changed its spec. The server sets it from
	// the request and never takes it from a client; the lifecycle mirrors
	// only what this user may read (see the README, "Multi-tenancy").
	AuthorizedBy *AuthorizedIdentity `json:"authorizedBy,omitempty"`
}

// PlaceClaim is where a GitTarget writes, as the server recorded it.
type PlaceClaim struct {
	// Repository is the normalized repository URL.
	Repository string `json:"repository"`
	// Branch is the branch written.
	Branch string `json:"branch"`
	// Path is the directory written ("" is the repository root).
	Path string `json:"path,omitempty"`
	// Since is when the target claimed the place.
	Since metav1.Time `json:"since"`
}

// WorkerReference identifies a branch worker.
type WorkerReference struct {
	// Name of the worker: the normalized repository URL and branch.
	Name string `json:"name"`
	// UID of the worker instance.
	UID string `json:"uid,omitempty"`
	// Replica is the server replica that owns the worker.
	Replica string `json:"replica,omitempty"`
	// Lease is the etcd lease through which the replica owns the worker.
	Lease string `json:"lease,omitempty"`
}

// EncryptionStatus records the encryption configuration last validated.
type EncryptionStatus struct {
	// Provider is the encryption provider.
	Provider string `json:"provider"`
	// SecretRefName is the name of the key Secret.
	SecretRefName string `json:"secretRefName"`
	// RecipientsHash is the SHA-256 of the sorted age recipients.
	RecipientsHash string `json:"recipientsHash,omitempty"`
	// LastValidatedTime is when the key Secret was last validated.
	LastValidatedTime *metav1.Time `json:"lastValidatedTime,omitempty"`
}

// BootstrapStatus records the bootstrap of a target path.
type BootstrapStatus struct {
	// TargetPath is the path that was bootstrapped.
	TargetPath string `json:"targetPath"`
	// Commit is the bootstrap commit, empty when nothing had to be written.
	Commit string `json:"commit,omitempty"`
	// LastAppliedTime is when the bootstrap was last checked or applied.
	LastAppliedTime *metav1.Time `json:"lastAppliedTime,omitempty"`
}

// SnapshotStatus records the last full snapshot of the selected resources.
type SnapshotStatus struct {
	// StartTime is when the last snapshot started.
	StartTime *metav1.Time `json:"startTime,omitempty"`
	// LastCompletedTime is when the last snapshot completed.
	LastCompletedTime *metav1.Time `json:"lastCompletedTime,omitempty"`
	// Duration of the last completed snapshot.
	Duration *metav1.Duration `json:"duration,omitempty"`
	// Commit is the commit the last snapshot pushed, empty when the repository was
	// already in sync.
	Commit string `json:"commit,omitempty"`
	// Stats counts the files the snapshot wrote.
	Stats SnapshotStats `json:"stats,omitempty"`
}

// SnapshotStats counts what a snapshot changed.
type SnapshotStats struct {
	// Created files.
	Created int32 `json:"created"`
	// Updated files.
	Updated int32 `json:"updated"`
	// Deleted stale files.
	Deleted int32 `json:"deleted"`
	// Unchanged files.
	Unchanged int32 `json:"unchanged,omitempty"`
	// SkippedSecrets counts Secrets not written because the target has no encryption.
	SkippedSecrets int32 `json:"skippedSecrets,omitempty"`
	// Failed counts selected objects that could not be written (each is named
	// in an Event of the target); everything else was committed.
	Failed int32 `json:"failed,omitempty"`
}

// StreamStatus records the live event stream.
type StreamStatus struct {
	// Registered is true while the stream delivers events to this target.
	Registered bool `json:"registered"`
	// RegisteredTime is when the stream was registered.
	RegisteredTime *metav1.Time `json:"registeredTime,omitempty"`
	// LastEventTime is when the last event was applied.
	LastEventTime *metav1.Time `json:"lastEventTime,omitempty"`
	// PendingChanges is the number of live changes waiting to be pushed.
	PendingChanges int32 `json:"pendingChanges,omitempty"`
	// PushFailingSince is when pushes of live changes started failing (unset
	// while they succeed).
	PushFailingSince *metav1.Time `json:"pushFailingSince,omitempty"`
	// LastPushError says why the last push failed (what kind of failure,
	// never what the remote sent).
	LastPushError string `json:"lastPushError,omitempty"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// GitTargetList is a list of GitTargets.
type GitTargetList struct {
	metav1.TypeMeta `json:",inline"`
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
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Gates are Validated, EncryptionConfigured, Bootstrapped, SnapshotSynced,
	// EventStreamLive and Ready, in that order. A gate not evaluated yet is Unknown.
	Gates []metav1.Condition `json:"gates"`
	// Ready is true when every gate is True.
	Ready bool `json:"ready"`
	// BlockingGate is the first gate in pipeline order that is not True.
	BlockingGate string `json:"blockingGate,omitempty"`
	// Reason of the blocking gate.
	Reason string `json:"reason,omitempty"`
	// Message of the blocking gate.
	Message string `json:"message,omitempty"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// GitTargetSnapshot is the read-only view of a GitTarget's last snapshot
// (subresource "snapshot").
type GitTargetSnapshot struct {
	metav1.TypeMeta `json:",inline"`
	// Metadata of the GitTarget.
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// State is the SnapshotSynced gate's status: "True", "False" or "Unknown".
	State metav1.ConditionStatus `json:"state"`
	// Reason is the SnapshotSynced reason: Running, Completed, SnapshotFailed, or
	// NotStarted/Blocked before the snapshot ran.
	Reason string `json:"reason,omitempty"`
	// Message of the SnapshotSynced gate.
	Message string `json:"message,omitempty"`
	// Branch and Path the snapshot wrote to.
	Branch string `json:"branch,omitempty"`
	Path   string `json:"path,omitempty"`
	// StartTime is when the last snapshot started.
	StartTime *metav1.Time `json:"startTime,omitempty"`
	// LastCompletedTime is when the last snapshot completed.
	LastCompletedTime *metav1.Time `json:"lastCompletedTime,omitempty"`
	// Duration of the last completed snapshot.
	Duration *metav1.Duration `json:"duration,omitempty"`
	// Commit pushed by the last snapshot.
	Commit string `json:"commit,omitempty"`
	// Stats of the last (or running) snapshot.
	Stats SnapshotStats `json:"stats"`
}
