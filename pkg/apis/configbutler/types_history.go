package configbutler

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ObjectRevision is one change to one mirrored object in one commit (a
// create, an update or a delete), served from Git: the server reads the
// branches its GitTargets write, it stores nothing. It lives in the mirrored
// object's namespace; revisions of cluster-scoped objects live in the
// namespace of the GitTarget that mirrored them. A user sees a revision only
// while they may get the object's resource there. Its name is derived from
// the commit and the file, so it names the same revision on every replica and
// after every restart.
type ObjectRevision struct {
	metav1.TypeMeta `json:",inline"`
	// Standard object metadata; creationTimestamp is the commit's time.
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Object is the mirrored object this revision is of.
	Object RevisionObject `json:"object"`
	// Operation is what the commit did to the object: Create, Update or Delete.
	Operation string `json:"operation"`
	// Author is who made the change, as the commit records it.
	Author RevisionAuthor `json:"author"`
	// Commit is the commit's hash; PreviousCommit the object's revision before
	// it ("" for the first).
	Commit         string `json:"commit"`
	PreviousCommit string `json:"previousCommit,omitempty"`
	// Time is the commit's time.
	Time metav1.Time `json:"time"`
	// Target is the GitTarget whose branch holds the revision.
	Target NamespacedObjectReference `json:"target"`
	// Repository (normalized URL), Branch and Path are where the file is.
	Repository string `json:"repository"`
	Branch     string `json:"branch"`
	Path       string `json:"path"`
	// Content is the file after the change (for a delete: before it), as Git
	// holds it: a Secret's values stay encrypted (SOPS). Left out of lists.
	Content string `json:"content,omitempty"`
	// Diff is a unified diff of the file against the object's previous
	// revision. Left out of lists.
	Diff string `json:"diff,omitempty"`
}

// RevisionObject identifies a mirrored object.
type RevisionObject struct {
	// APIGroup, APIVersion, Kind and Resource of the object ("" group: core).
	APIGroup   string `json:"apiGroup,omitempty"`
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Resource   string `json:"resource"`
	// Namespace of the object ("" for a cluster-scoped one).
	Namespace string `json:"namespace,omitempty"`
	// Name of the object.
	Name string `json:"name"`
}

// RevisionAuthor is who made a change, as its commit records it.
type RevisionAuthor struct {
	// Name and Email are the commit's author.
	Name  string `json:"name"`
	Email string `json:"email"`
	// User is the Kubernetes user kube-apiserver reported (the
	// Kubernetes-User trailer), "" when only a field manager was known.
	User string `json:"user,omitempty"`
	// FieldManager is the field manager of the write when no report named
	// the user (the Kubernetes-Field-Manager trailer).
	FieldManager string `json:"fieldManager,omitempty"`
	// Impersonator is who impersonated User, if anyone.
	Impersonator string `json:"impersonator,omitempty"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ObjectRevisionList is a list of ObjectRevisions, newest first.
type ObjectRevisionList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ObjectRevision `json:"items"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// GitRestore puts objects back as Git holds them. The server makes the writes
// as the user who created the GitRestore (impersonating their user, uid,
// groups and extra), so RBAC, admission and audit see that user, and what it
// writes comes back through the mirror authored by them. With
// `kubectl create --dry-run=server -o yaml` it returns the plan and writes
// nothing.
type GitRestore struct {
	metav1.TypeMeta `json:",inline"`
	// Standard object metadata.
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec says what to restore.
	Spec GitRestoreSpec `json:"spec"`
	// Status is written by the server; it cannot be written by clients.
	Status GitRestoreStatus `json:"status,omitempty"`
}

// GitRestoreSpec says what to restore: one revision (objectRevision), or
// everything a GitTarget mirrored from some namespaces at a commit (target,
// commit, namespaces). Exactly one of objectRevision and target is set.
type GitRestoreSpec struct {
	// ObjectRevision names an ObjectRevision in this namespace: its object is
	// put back as it was in that revision (a deleted object is created again).
	ObjectRevision string `json:"objectRevision,omitempty"`
	// Target is the GitTarget whose branch to restore from (its namespace
	// defaults to the GitRestore's).
	Target *GitRestoreTarget `json:"target,omitempty"`
	// Commit to restore from: a full or abbreviated hash of the target's
	// branch ("": its tip).
	Commit string `json:"commit,omitempty"`
	// Namespaces whose objects are restored (with target; at least one, at
	// most 32). A namespace that no longer exists is created first.
	Namespaces []string `json:"namespaces,omitempty"`
	// Prune deletes the objects of the restored namespaces and types that
	// exist now but not at the commit (default: they are left alone).
	Prune bool `json:"prune,omitempty"`
}

// GitRestoreTarget names a GitTarget.
type GitRestoreTarget struct {
	// Name of the GitTarget.
	Name string `json:"name"`
	// Namespace of the GitTarget ("": the GitRestore's).
	Namespace string `json:"namespace,omitempty"`
}

// GitRestoreStatus is what the restore did, or with a dry run would do.
type GitRestoreStatus struct {
	// Conditions: Complete (True when every object was handled, False with
	// reason Failed when some failed), and Planned on a dry run.
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// Commit is the commit restored from (resolved from spec).
	Commit string `json:"commit,omitempty"`
	// StartTime and CompletionTime of the restore.
	StartTime      *metav1.Time `json:"startTime,omitempty"`
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`
	// Objects are the objects restored, in the order they were written.
	Objects []RestoredObject `json:"objects,omitempty"`
	// Summary counts the objects by result.
	Summary RestoreSummary `json:"summary,omitempty"`
	// AuthorizedBy is the user the restore writes as: the user who created
	// it, set by the server from the request.
	AuthorizedBy *AuthorizedIdentity `json:"authorizedBy,omitempty"`
}

// RestoredObject is one object of a restore and what happened to it.
type RestoredObject struct {
	// APIVersion, Kind, Namespace and Name of the object.
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace,omitempty"`
	Name       string `json:"name"`
	// Result: Created, Updated, Unchanged, Deleted or Failed; on a dry run
	// what would happen: Create, Update, Unchanged or Delete.
	Result string `json:"result"`
	// Reason is the API's reason for a failure (Forbidden, Invalid, ...).
	Reason string `json:"reason,omitempty"`
	// Message says why it failed.
	Message string `json:"message,omitempty"`
	// Diff (dry run) is a unified diff of the object now against what the
	// restore writes; a Secret's values are masked.
	Diff string `json:"diff,omitempty"`
}

// RestoreSummary counts the objects of a restore by result.
type RestoreSummary struct {
	Created   int32 `json:"created,omitempty"`
	Updated   int32 `json:"updated,omitempty"`
	Unchanged int32 `json:"unchanged,omitempty"`
	Deleted   int32 `json:"deleted,omitempty"`
	Failed    int32 `json:"failed,omitempty"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// GitRestoreList is a list of GitRestores.
type GitRestoreList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []GitRestore `json:"items"`
}
