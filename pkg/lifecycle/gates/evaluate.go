package gates

import (
	"time"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
	"github.com/configbutler/gitops-reverser/pkg/conditions"
	"github.com/configbutler/gitops-reverser/pkg/lifecycle/mirror"
	"github.com/configbutler/gitops-reverser/pkg/render"
	"github.com/configbutler/gitops-reverser/pkg/selection"
)

// View is everything one evaluation of a target's gates reads. The inputs
// below the line cost I/O: they are nil until Evaluate asks for them.
type View struct {
	Target    *v1alpha1.GitTarget
	Targets   []*v1alpha1.GitTarget // the targets that may conflict (at least every one on the branch at an overlapping path)
	Providers ProviderLookup
	Now       time.Time
	// Prefers: this replica is the one (of several) that writes the status of
	// a target that is not valid; any replica can tell, one says so.
	Prefers bool
	Source  Source
	State   State
	// Live: the target's events flow to its worker.
	Live bool

	Ownership   *Ownership
	KeySecret   *KeySecret
	Credentials *Credentials
	Worker      *Worker
	Selection   *Selected
}

// Source is what the controller knows of the source cluster.
type Source struct {
	// Kube: there is a source cluster client (--kubeconfig or in-cluster).
	Kube bool
	// Stream: the event stream exists (dynamic client and discovery).
	Stream bool
	// Connected: the source cluster answers; Why tells the last error when not.
	Connected bool
	Why       string
	// Refused: why the stream does not carry one of this target's types
	// though the cluster answers (its watch refused: the server's own
	// ClusterRole, or the type's conversion webhook down); "" when it
	// carries them all.
	Refused string
}

// Ownership is whether this replica owns the target's branch worker.
type Ownership struct {
	Owned bool
	Err   error
	// Preferred: this replica is the branch's preferred owner (it retries
	// sooner when another holds it).
	Preferred bool
}

// Credentials is the branch worker configuration built from the GitProvider
// and its credentials Secret.
type Credentials struct {
	Config mirror.WorkerConfig
	Err    error
}

// Worker is the running branch worker the target was added to.
type Worker struct {
	UID string
	// Replica and Lease name this replica's ownership (empty without it).
	Replica, Lease string
}

// Selected is the target's selection resolved against discovery.
type Selected struct {
	Selection selection.Selection
	Err       error
}

// Need names the input a Decision asks for before it can go on.
type Need int

const (
	NeedNothing Need = iota
	// NeedOwnership: acquire (or check) the branch worker's lease.
	NeedOwnership
	// NeedKeySecret: read the age key Secret; asked again with Create when it
	// is missing and generateWhenMissing is set.
	NeedKeySecret
	NeedCreateKeySecret
	// NeedCredentials: read the provider's credentials Secret.
	NeedCredentials
	// NeedWorker: ensure the branch worker (and leave a previous one).
	NeedWorker
	// NeedSelection: resolve the rules against discovery.
	NeedSelection
)

// Effect is work a Decision asks the controller to do at the edge.
type Effect interface{ effect() }

// Release stops the target's writing: its stream, its branch workers and its
// in-memory state.
type Release struct{}

// ReportUnreachable tells the stream the source cluster did not answer.
type ReportUnreachable struct{ Err error }

// ResetState starts the target's state afresh on a (new) branch worker.
type ResetState struct{ Worker mirror.BranchKey }

// StartBootstrap queues the bootstrap of Target for Fingerprint.
type StartBootstrap struct {
	Target      *mirror.Target
	Fingerprint string
}

// Restrict narrows what the target's stream and worker take to Selection (the
// new selection, when it changed): what left it stops at once.
type Restrict struct{ Selection selection.Selection }

// StartSnapshot queues the snapshot of Target for Fingerprint.
type StartSnapshot struct {
	Target      *mirror.Target
	Fingerprint string
}

func (Release) effect()           {}
func (ReportUnreachable) effect() {}
func (ResetState) effect()        {}
func (StartBootstrap) effect()    {}
func (StartSnapshot) effect()     {}
func (Restrict) effect()          {}

// Decision is the outcome of one evaluation.
type Decision struct {
	// Need, when set, asks for an input; nothing else in the Decision counts.
	Need Need
	// Resolved is the provider and branch of a valid target.
	Resolved *Resolved
	// Place is the branch key the target's spec names, valid or not (nil
	// when its provider is missing): a claim on another place is dropped.
	Place *mirror.BranchKey

	Gates   map[string]Outcome
	Effects []Effect
	// Requeue asks to evaluate again after this long (0: only on events).
	Requeue time.Duration
	// SkipWrite leaves the stored status alone (nothing could be learned, or
	// another replica writes it).
	SkipWrite bool
	// Detail blocks observed on the way.
	Encryption *v1alpha1.EncryptionStatus
	WorkerRef  *v1alpha1.WorkerReference

	// selectionGate: the evaluation reached SnapshotSynced, which reads the
	// selection itself.
	selectionGate bool
}

func (d *Decision) block(gate string, o Outcome, present map[string]bool) {
	d.Gates[gate] = o
	for g, out := range Downstream(gate, present) {
		d.Gates[g] = out
	}
}

func (d *Decision) requeueWithin(after time.Duration) {
	if after > 0 && (d.Requeue == 0 || after < d.Requeue) {
		d.Requeue = after
	}
}

// Evaluate decides a target's gates in order, stopping at the first one not
// True, with the effects that start the work the next gate needs.
//
// A target that streams keeps its stream while a gate before SnapshotSynced
// is not True (a bootstrap retried after a credentials change, say), so its
// selection is still resolved and the stream narrowed to it (Restrict): what
// its users may no longer read stops then too, whatever else blocks.
func Evaluate(v *View) Decision {
	d := evaluate(v)
	if d.Need != NeedNothing || !v.State.Streaming || d.Resolved == nil || d.selectionGate || !v.Source.Connected {
		return d
	}
	for _, e := range d.Effects {
		switch e.(type) {
		case Release, ReportUnreachable:
			return d // nothing streams, or the source cluster is away
		}
	}
	switch {
	case v.Selection == nil:
		return Decision{Need: NeedSelection, Resolved: d.Resolved}
	case v.Selection.Err == nil:
		d.Effects = append(d.Effects, Restrict{Selection: v.Selection.Selection})
	}
	return d
}

// disconnected is the decision for a live target while the source cluster is
// away: the gates between Validated and the stream keep their stored values.
func disconnected(v *View, d Decision, why string) Decision {
	for _, g := range []string{v1alpha1.ConditionEncryptionConfigured, v1alpha1.ConditionBootstrapped, v1alpha1.ConditionSnapshotSynced} {
		if c := conditions.Find(v.Target.Status.Conditions, g); c != nil {
			d.Gates[g] = Outcome{c.Status, c.Reason, c.Message}
		}
	}
	d.Gates[v1alpha1.ConditionEventStreamLive] = False(v1alpha1.ReasonDisconnected, "Not streaming from the source cluster: "+why)
	return d
}

// sourceUnreachable is the decision after a read of the source cluster failed
// because it did not answer: no gate flips to False for it. The stream learns
// of it (and probes for the recovery); a live target reports Disconnected; any
// other target is retried.
func sourceUnreachable(v *View, d Decision, err error) Decision {
	d.Effects = append(d.Effects, ReportUnreachable{Err: err})
	if v.State.Streaming {
		return disconnected(v, d, err.Error())
	}
	d.SkipWrite, d.Requeue = true, 5*time.Second
	return d
}

// CleanerOf is the cleaner of a target's spec.ignoreFields on top of the
// defaults. Paths that do not parse (validation refuses them) are skipped.
func CleanerOf(fields []v1alpha1.IgnoreFields) *render.Cleaner {
	var drops []render.Drop
	for _, f := range fields {
		for _, p := range f.Paths {
			fp, err := render.ParseFieldPath(p)
			if err != nil {
				continue
			}
			drops = append(drops, render.Drop{Groups: f.APIGroups, Kinds: f.Kinds, Path: fp})
		}
	}
	return render.NewCleaner(drops)
}
