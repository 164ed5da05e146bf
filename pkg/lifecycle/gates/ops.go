package gates

import (
	"errors"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
	"github.com/configbutler/gitops-reverser/pkg/gitmodel"
	"github.com/configbutler/gitops-reverser/pkg/lifecycle/files"
	"github.com/configbutler/gitops-reverser/pkg/lifecycle/mirror"
)

// Phase of an asynchronous operation (bootstrap, snapshot) on a branch worker.
type Phase string

const (
	PhaseNone    Phase = ""
	PhaseQueued  Phase = "Queued"
	PhaseRunning Phase = "Running"
	PhaseDone    Phase = "Done"
	PhaseFailed  Phase = "Failed"
)

// Op is the state of one asynchronous operation of a target. Fingerprint says
// which configuration it runs for: when the configuration changes, a new
// operation replaces it, and reports of the old one are ignored.
type Op struct {
	Phase       Phase
	Fingerprint string
	// Path is the target path it works on (for messages).
	Path     string
	Reason   string
	Message  string
	Commit   string
	Started  time.Time
	Finished time.Time
	Failures int
	Stats    v1alpha1.SnapshotStats
}

// Backoff is how long to wait before retrying an operation that failed
// failures times in a row: 2s, 4s, ... up to 2 minutes.
func Backoff(failures int) time.Duration {
	return min(time.Duration(1<<min(failures, 7))*time.Second, 2*time.Minute)
}

// TooLargeBackoff is the least wait before retrying an operation whose clone
// or fetch passed the server's --max-fetch-size: each retry downloads up to
// the limit again, and only a change of the repository (or of the target's
// configuration, which starts over at once) can make it pass.
const TooLargeBackoff = 30 * time.Minute

// backoff is how long o waits after its last failure.
func (o Op) backoff() time.Duration {
	if o.Reason == v1alpha1.ReasonRepositoryTooLarge {
		return max(Backoff(o.Failures), TooLargeBackoff)
	}
	return Backoff(o.Failures)
}

// step is what the start/retry state machine says about an operation for the
// configuration fp.
type step int

const (
	stepDone    step = iota // done for fp
	stepPending             // queued or running for fp
	stepBackoff             // failed for fp; retry after the returned wait
	stepStart               // start it for fp
)

// next is the start/retry state machine shared by bootstrap and snapshot.
func (o Op) next(fp string, now time.Time) (step, time.Duration) {
	if o.Fingerprint != fp {
		return stepStart, 0
	}
	switch o.Phase {
	case PhaseDone:
		return stepDone, 0
	case PhaseQueued, PhaseRunning:
		return stepPending, 0
	case PhaseFailed:
		if wait := o.backoff() - now.Sub(o.Finished); wait > 0 {
			return stepBackoff, wait
		}
	}
	return stepStart, 0
}

// queue is the operation queued for fp; failures count on.
func (o Op) queue(fp, path string) Op {
	return Op{Phase: PhaseQueued, Fingerprint: fp, Path: path, Failures: o.Failures,
		Reason: o.Reason, Message: o.Message}
}

// State is what the controller knows about a target beyond its stored status:
// the outcome of work done asynchronously by branch workers and the stream. It
// lives in memory; after a restart the gates are re-run.
type State struct {
	Worker         mirror.BranchKey
	Bootstrap      Op
	Snapshot       Op
	Streaming      bool
	RegisteredTime time.Time
	LastEventTime  time.Time
	LastCommit     string
	LastPushTime   time.Time
	// Pending counts live changes waiting; PushFailingSince is when pushes of
	// them started failing (zero while they work), LastPushError why.
	Pending          int
	PushFailingSince time.Time
	LastPushError    string
}

// StartBootstrap is the state after a bootstrap for fp was queued. A new
// bootstrap means a new configuration: the snapshot runs again too.
func (s State) StartBootstrap(fp, path string) State {
	s.Bootstrap = s.Bootstrap.queue(fp, path)
	s.Snapshot = Op{}
	return s
}

// StartSnapshot is the state after a snapshot for fp was queued.
func (s State) StartSnapshot(fp, path string) State {
	s.Snapshot = s.Snapshot.queue(fp, path)
	return s
}

// Apply is the state after a worker's or the stream's report. Reports of an
// operation for another configuration than the current one are ignored.
func (s State) Apply(r mirror.Result) State {
	switch r.Op {
	case mirror.OpBootstrap:
		b := &s.Bootstrap
		if r.Fingerprint != b.Fingerprint {
			return s
		}
		switch {
		case r.Running:
			b.Phase, b.Started = PhaseRunning, r.Time
		case r.Err != nil:
			b.Phase, b.Reason, b.Finished = PhaseFailed, failureReason(r.Err, v1alpha1.ReasonBootstrapFailed), r.Time
			b.Message = fmt.Sprintf("Bootstrap of path %s failed: %s", files.DisplayPath(b.Path), gitmodel.Describe(r.Err))
			b.Failures++
		case r.Applied:
			b.Phase, b.Reason, b.Commit, b.Failures, b.Finished = PhaseDone, v1alpha1.ReasonBootstrapApplied, r.Commit, 0, r.Time
			s.LastCommit, s.LastPushTime = r.Commit, r.Time
		default:
			b.Phase, b.Reason, b.Failures, b.Finished = PhaseDone, v1alpha1.ReasonBootstrapNotNeeded, 0, r.Time
		}
	case mirror.OpSnapshot:
		sn := &s.Snapshot
		if r.Fingerprint != sn.Fingerprint {
			return s
		}
		switch {
		case r.Running && sn.Phase != PhaseRunning:
			*sn = Op{Phase: PhaseRunning, Fingerprint: sn.Fingerprint, Path: sn.Path, Started: r.Time, Failures: sn.Failures, Stats: r.Stats}
		case r.Running:
			sn.Stats = r.Stats // progress
		case r.Err != nil:
			sn.Phase, sn.Reason, sn.Finished = PhaseFailed, failureReason(r.Err, v1alpha1.ReasonSnapshotFailed), r.Time
			sn.Message = fmt.Sprintf("Snapshot of %s failed: %s", files.DisplayPath(sn.Path), describe(r.Err))
			sn.Failures++
		default:
			if !s.Streaming {
				s.Streaming, s.RegisteredTime = true, r.Time
			}
			sn.Phase, sn.Reason, sn.Stats, sn.Commit, sn.Finished, sn.Failures = PhaseDone, v1alpha1.ReasonCompleted, r.Stats, r.Commit, r.Time, 0
			if r.Commit != "" {
				s.LastCommit, s.LastPushTime = r.Commit, r.Time
			}
		}
	case mirror.OpCommit:
		s.Pending = r.Pending
		if r.Err != nil {
			if s.PushFailingSince.IsZero() {
				s.PushFailingSince = r.Time
			}
			s.LastPushError = gitmodel.Describe(r.Err)
			return s
		}
		s.PushFailingSince, s.LastPushError = time.Time{}, ""
		if r.Commit != "" {
			s.LastCommit, s.LastPushTime, s.LastEventTime = r.Commit, r.Time, r.Time
		}
	}
	return s
}

// PushGrace is how long live pushes may fail before EventStreamLive says so:
// three push intervals, at least 10 s (one failed push, retried with backoff,
// is not an outage).
func PushGrace(interval time.Duration) time.Duration {
	return max(10*time.Second, 3*interval)
}

// failureReason is the reason of an operation that failed with err: a clone
// or fetch past the server's --max-fetch-size, or stopped at an object past
// its size bound (git.SetMaxObjectSize), says so (retrying will not help
// until the limit or the repository changes), anything else is generic.
func failureReason(err error, generic string) string {
	if errors.Is(err, gitmodel.ErrFetchTooLarge) || errors.Is(err, gitmodel.ErrObjectTooLarge) {
		return v1alpha1.ReasonRepositoryTooLarge
	}
	return generic
}

// failedReason is the reason a gate shows for the failed operation o:
// RepositoryTooLarge when that is what it failed with, generic otherwise.
func (o Op) failedReason(generic string) string {
	if o.Reason == v1alpha1.ReasonRepositoryTooLarge {
		return o.Reason
	}
	return generic
}

// describe is a snapshot failure as status may show it: the remote's part
// described without what it sent (gitmodel.Describe), and the server's own
// reasons (a listing that failed, a selection that narrowed) as they are.
func describe(err error) string {
	var local *mirror.LocalError
	if errors.As(err, &local) {
		return local.Error()
	}
	return gitmodel.Describe(err)
}

// bootstrapGate is the Bootstrapped gate for the configuration fp on worker
// key: start tells to (re)start the bootstrap, requeue when to look again.
func bootstrapGate(o Op, fp, path string, key mirror.BranchKey, now time.Time) (g Outcome, start bool, requeue time.Duration) {
	pending := Outcome{metav1.ConditionUnknown, v1alpha1.ReasonNotStarted,
		fmt.Sprintf("Bootstrap of path %s is queued on the branch worker for %s", files.DisplayPath(path), key)}
	st, wait := o.next(fp, now)
	switch st {
	case stepDone:
		if o.Reason == v1alpha1.ReasonBootstrapApplied {
			return True(o.Reason, MsgBootstrapApplied(path)), false, 0
		}
		return True(v1alpha1.ReasonBootstrapNotNeeded, MsgBootstrapNotNeeded), false, 0
	case stepPending:
		return pending, false, 0
	case stepBackoff:
		return False(o.failedReason(v1alpha1.ReasonBootstrapFailed), o.Message), false, wait
	}
	if o.Phase == PhaseFailed {
		// Retrying: the failure stays visible until the retry says otherwise.
		return False(o.failedReason(v1alpha1.ReasonBootstrapFailed), o.Message), true, 0
	}
	return pending, true, 0
}

// snapshotGate is the SnapshotSynced gate for the configuration fp. A
// re-snapshot (the selection changed) shows False/Running until it completes:
// Ready says that the new selection is not mirrored yet.
func snapshotGate(o Op, fp string, now time.Time) (g Outcome, start bool, requeue time.Duration) {
	running := False(v1alpha1.ReasonRunning, MsgSnapshotRunning)
	st, wait := o.next(fp, now)
	switch st {
	case stepDone:
		return True(v1alpha1.ReasonCompleted, MsgSnapshotCompleted), false, 0
	case stepPending:
		if o.Phase == PhaseRunning {
			return running, false, runningDue(o.Started, now) // when its detail block is written
		}
		return running, false, 0
	case stepBackoff:
		return False(o.failedReason(v1alpha1.ReasonSnapshotFailed), o.Message), false, wait
	}
	if o.Phase == PhaseFailed {
		// Retrying: the failure stays visible until the retry says otherwise.
		return False(o.failedReason(v1alpha1.ReasonSnapshotFailed), o.Message), true, 0
	}
	return running, true, 0
}
