// Package mirror is the vocabulary the lifecycle's parts share: which branch a
// target writes (BranchKey), a target as the branch workers and the event
// stream see it (Target), its encryption keys (Keys), how a worker reaches its
// branch (WorkerConfig), one pending object change (Change), and the one report
// workers and the stream send back to the controller (Result).
//
// Work flows one way: the controller decides (pkg/lifecycle/gates), starts work
// on branch workers (pkg/lifecycle/worker) and registers targets with the stream
// (pkg/lifecycle/stream); they never call back into the controller, they Report
// a Result, which the controller applies to the target's state.
package mirror

import (
	"crypto/sha256"
	"encoding/hex"
	"time"

	"filippo.io/age"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
	"github.com/configbutler/gitops-reverser/pkg/commitstyle"
	"github.com/configbutler/gitops-reverser/pkg/render"
	"github.com/configbutler/gitops-reverser/pkg/selection"
)

// BranchKey identifies one branch worker: the repository it writes
// (normalized URL, so https and scp forms of one repo are one key), the
// branch, and the GitProvider (namespace/name) whose configuration it runs
// with. A worker serves exactly one provider's credentials, committer,
// templates and signing key: targets of another provider on the same branch,
// another team's say, get their own worker and clone, and nothing one team
// configures ever changes how the other's work is done. Two workers on one
// branch write disjoint paths (the Validated gate sees to it) and replay their
// changes when a push is rejected because the other pushed first.
type BranchKey struct {
	Repo     string
	Branch   string
	Provider string
}

func (k BranchKey) String() string { return k.Repo + "#" + k.Branch + " via " + k.Provider }

// SameBranch reports whether two keys write the same branch of the same
// repository (whatever their providers): their targets' paths may conflict.
func (k BranchKey) SameBranch(o BranchKey) bool { return k.Repo == o.Repo && k.Branch == o.Branch }

// Keys is a validated encryption configuration: recipients encrypt, the
// identities decrypt what is already in Git (to tell whether a Secret changed).
// Identities are private keys: they never leave memory, never reach status,
// events or logs.
type Keys struct {
	Recipients []string
	Identities []age.Identity
	Hash       string
}

// HashOf is the recipients hash of keys, "" without encryption.
func HashOf(k *Keys) string {
	if k == nil {
		return ""
	}
	return k.Hash
}

// Target is a GitTarget as a branch worker and the stream see it.
type Target struct {
	Key       string // namespace/name
	Namespace string
	Name      string
	Path      string
	Keys      *Keys
	// Clean drops fields from the files (the defaults and the target's
	// spec.ignoreFields).
	Clean     *render.Cleaner
	Selection selection.Selection
}

// RenderID identifies how the target renders files: its keys and its
// cleaner. A file rendered from an object version with another RenderID is
// rendered again.
func (t *Target) RenderID() string { return renderID(t.Keys, t.Clean) }

func renderID(k *Keys, c *render.Cleaner) string { return HashOf(k) + "|" + c.Hash() }

// WorkerConfig is what a branch worker needs to reach its branch.
type WorkerConfig struct {
	URL    string
	Auth   transport.AuthMethod
	AuthID string // changes when the credentials change
	// CommitID changes when the signing key or the committer change (the
	// clone is reopened with them; unlike AuthID, nothing is bootstrapped
	// again).
	CommitID   string
	Interval   time.Duration
	MaxChanges int
	// PushAt is how many waiting changes make a push due before Interval
	// ends (0: MaxChanges; see v1alpha1.PushPolicy.PushAt).
	PushAt int
	Commit CommitStyle
}

// DueAt is how many waiting changes make a push due before the interval
// ends: PushAt, at most MaxChanges.
func (c WorkerConfig) DueAt() int {
	if c.PushAt > 0 && c.PushAt < c.MaxChanges {
		return c.PushAt
	}
	return c.MaxChanges
}

// CommitStyle is how live commits are written (GitProvider.spec.commit).
type CommitStyle struct {
	// Committer of every commit ("" for the default).
	CommitterName, CommitterEmail string
	// AuthorName, AuthorEmail and Message are text/template sources ("" for
	// the defaults; see pkg/lifecycle/worker).
	AuthorName, AuthorEmail, Message string
	// Sign signs commits (nil: unsigned).
	Sign func(payload []byte) (string, error)
}

// Change is one object change waiting to be committed, coalesced by file path:
// the latest state of an object wins, and a delete after a create is a delete.
type Change struct {
	TargetKey string
	GVR       schema.GroupVersionResource
	Namespace string // of the object ("" when cluster-scoped)
	Name      string // of the object (its path may hold it shortened)
	Path      string
	// Object is the new state; nil deletes the file.
	Object *unstructured.Unstructured
	Keys   *Keys
	Clean  *render.Cleaner
	// Since is when the change (the first of those coalesced into it) was
	// queued: the change -> pushed latency counts from it.
	Since time.Time
	// UID and ResourceVersion identify the object version (for a delete, the
	// deleted object's): attribution matches its report by them.
	UID             types.UID
	ResourceVersion string
	// Last is when the latest of the coalesced events was queued: its
	// attribution report is waited for from then.
	Last time.Time
	// Author is who made the change, once a report named them (kept across
	// a failed push: the report is used up).
	Author *commitstyle.Author

	// Ignore is the ignoreChangesBy of the rules that take the object (nil:
	// none). When every write coalesced into the change is by an author it
	// names, the change is not committed.
	Ignore selection.Ignores
	// Earlier are the resourceVersions of the writes coalesced into the
	// change before its latest, whose authors Ignore is asked about too (at
	// most MaxEarlier; only with Ignore).
	Earlier []string
	// Mirrored: some write coalesced into the change is not left out by
	// Ignore (or cannot be told: too many, or a rule without it).
	Mirrored bool
}

// MaxEarlier bounds the earlier writes a change remembers for
// ignoreChangesBy: past it, the change is committed.
const MaxEarlier = 16

// Absorb makes c, a newer change to prev's path, stand for both: the
// latency counts from prev's first write, and prev's writes are asked
// about by ignoreChangesBy with c's.
func (c *Change) Absorb(prev *Change) {
	if prev.Since.Before(c.Since) {
		c.Since = prev.Since
	}
	if c.Ignore == nil || c.Mirrored {
		return
	}
	switch {
	case prev.Ignore == nil, prev.Mirrored, prev.Author != nil:
		// A rule that mirrored every write took prev, or prev's report was
		// used up by a flush that failed: prev stays a write to commit.
		c.Mirrored = true
	default:
		c.Earlier = append(append(c.Earlier, prev.Earlier...), prev.ResourceVersion)
		if len(c.Earlier) > MaxEarlier {
			c.Earlier, c.Mirrored = nil, true
		}
	}
}

// RenderID is the RenderID of the change's target.
func (c *Change) RenderID() string { return renderID(c.Keys, c.Clean) }

// Sink takes live changes (a branch worker). It never blocks and never drops.
type Sink interface {
	Enqueue(changes ...*Change)
}

// Operation names what a Result reports on.
type Operation string

const (
	// OpBootstrap: a target's bootstrap files (README.md, .sops.yaml).
	OpBootstrap Operation = "Bootstrap"
	// OpSnapshot: a target's full snapshot, with the stream barrier around it.
	OpSnapshot Operation = "Snapshot"
	// OpCommit: live changes of a target were committed and pushed (Commit
	// is empty when they changed no file), or, with Err, the push failed and
	// they wait. Pending is how many of the target's changes wait after it.
	OpCommit Operation = "Commit"
	// OpSource: the source cluster stopped (Err set) or started answering
	// again; Target is empty (it concerns every target).
	OpSource Operation = "Source"
	// OpStream: the cluster refuses the watch of one of the target's types
	// (the server may not read it, or its conversion webhook fails), or
	// streams it again. It changes no state: the target's EventStreamLive
	// is evaluated again.
	OpStream Operation = "Stream"
	// OpNotWritten: live changes of the target could not be written (Failed
	// names them); the rest of their batch was committed. It changes no gate.
	OpNotWritten Operation = "NotWritten"
	// OpResync: the stream missed events of the target (its watch's position
	// expired); Git is right again only after a new snapshot.
	OpResync Operation = "Resync"
)

// Position is how far the stream has delivered a type to a target: every
// event up to RV reached the target's worker, routed by the type selection
// whose TypeFingerprint is Fingerprint.
type Position struct {
	RV, Fingerprint string
}

// TypeFingerprint identifies what a target writes for one type: its path,
// rendering and keys, and its selection of the type. A branch worker resumes
// a type only when the fingerprint it mirrored under is the current one.
func TypeFingerprint(t *Target, gvr schema.GroupVersionResource) string {
	ts := t.Selection[gvr]
	if ts == nil {
		return ""
	}
	sum := sha256.Sum256([]byte(t.Path + "\x00" + t.RenderID() + "\x00" + selection.Selection{gvr: ts}.Fingerprint()))
	return hex.EncodeToString(sum[:16])
}

// Result is the one report of the workers and the stream. Running reports
// that an operation started (for a snapshot, also its progress, in Stats);
// otherwise the operation finished, with Err when it failed.
type Result struct {
	Target      string
	Op          Operation
	Fingerprint string
	Running     bool
	Commit      string
	// Applied tells whether a bootstrap had anything to write for the target.
	Applied bool
	Stats   v1alpha1.SnapshotStats
	// Pending counts the target's live changes still waiting (OpCommit).
	Pending int
	// Failed names objects that could not be written (the rest was
	// committed); the controller records them in an Event of the target.
	Failed []string
	Err    error
	Time   time.Time
}

// Reporter receives Results. It must not block for long: workers call it from
// their goroutine.
type Reporter func(Result)

// LocalError is a failure of the server's own making (a listing that failed,
// a selection that narrowed), safe to show in status as it is. Any other error
// of a Git operation is described without the remote's answer (git.Describe).
type LocalError struct{ Err error }

func (e *LocalError) Error() string { return e.Err.Error() }
func (e *LocalError) Unwrap() error { return e.Err }
