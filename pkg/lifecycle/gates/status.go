package gates

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
	"github.com/configbutler/gitops-reverser/pkg/conditions"
	"github.com/configbutler/gitops-reverser/pkg/lifecycle/files"
)

// Transition is a gate that changed status or reason, recorded as an Event.
type Transition struct {
	Gate string
	// From is "None" for a gate seen for the first time, else Status/Reason.
	From string
	To   Outcome
}

// Message is the Event message: "Gate: From -> Status/Reason: Message".
func (t Transition) Message() string {
	return fmt.Sprintf("%s: %s -> %s/%s: %s", t.Gate, t.From, t.To.Status, t.To.Reason, t.To.Message)
}

// EventType is Warning for a transition to a failing reason, Normal for the
// rest (a gate turning True, Blocked or NotStarted, a snapshot Running).
func (t Transition) EventType() string {
	if t.To.Status == metav1.ConditionFalse && t.To.Reason != v1alpha1.ReasonRunning {
		return corev1.EventTypeWarning
	}
	return corev1.EventTypeNormal
}

// WriteStatus applies a decision and the target's state to the stored status
// st (of a target at generation): the gates' conditions in pipeline order and
// the detail blocks. It reports whether anything changed and which gates
// transitioned. Times move only when what they time changed, so a
// re-evaluation with nothing new writes nothing.
func WriteStatus(st *v1alpha1.GitTargetStatus, d *Decision, s State, path string, generation int64, now time.Time) (bool, []Transition, error) {
	var transitions []Transition
	changed := false
	for _, gate := range v1alpha1.Gates {
		r, ok := d.Gates[gate]
		if !ok {
			continue
		}
		old := conditions.Find(st.Conditions, gate)
		conds, ch, err := conditions.Set(st.Conditions, metav1.Condition{
			Type: gate, Status: r.Status, Reason: r.Reason, Message: r.Message, ObservedGeneration: generation,
		}, now)
		if err != nil {
			return false, nil, err
		}
		if !ch {
			continue
		}
		changed = true
		st.Conditions = conds
		if old == nil || old.Status != r.Status || old.Reason != r.Reason {
			from := "None"
			if old != nil {
				from = string(old.Status) + "/" + old.Reason
			}
			transitions = append(transitions, Transition{Gate: gate, From: from, To: r})
		}
	}
	st.Conditions = conditions.Order(st.Conditions, append(append([]string{}, v1alpha1.Gates...), v1alpha1.ConditionReady)...)
	changed = details(st, d, s, path, now) || changed
	if changed {
		ts := metav1.NewTime(now)
		st.LastReconcileTime = &ts
	}
	return changed, transitions, nil
}

// details updates the observational detail blocks.
func details(st *v1alpha1.GitTargetStatus, d *Decision, s State, path string, now time.Time) bool {
	changed := false
	ts := func(t time.Time) *metav1.Time {
		if t.IsZero() {
			return nil
		}
		m := metav1.NewTime(t.UTC().Truncate(time.Second))
		return &m
	}
	// Encryption: lastValidatedTime moves when the recipients change.
	switch {
	case d.Encryption == nil && st.Encryption != nil && d.Gates[v1alpha1.ConditionEncryptionConfigured].Reason == v1alpha1.ReasonNotRequired:
		st.Encryption, changed = nil, true
	case d.Encryption != nil && (st.Encryption == nil || st.Encryption.RecipientsHash != d.Encryption.RecipientsHash ||
		st.Encryption.SecretRefName != d.Encryption.SecretRefName || st.Encryption.Provider != d.Encryption.Provider):
		e := *d.Encryption
		e.LastValidatedTime = ts(now)
		st.Encryption, changed = &e, true
	}
	bootstrapped := d.Gates[v1alpha1.ConditionBootstrapped].Status == metav1.ConditionTrue
	changed = claim(st, d.Place, path, bootstrapped, now) || changed
	if d.WorkerRef != nil && (st.WorkerRef == nil || *st.WorkerRef != *d.WorkerRef) {
		w := *d.WorkerRef
		st.WorkerRef, changed = &w, true
	}
	if b := s.Bootstrap; b.Phase == PhaseDone {
		want := v1alpha1.BootstrapStatus{TargetPath: files.DisplayPath(path), Commit: b.Commit, LastAppliedTime: ts(b.Finished)}
		if st.Bootstrap == nil || st.Bootstrap.TargetPath != want.TargetPath || st.Bootstrap.Commit != want.Commit ||
			!timeEq(st.Bootstrap.LastAppliedTime, want.LastAppliedTime) {
			if b.Commit == "" && st.Bootstrap != nil && st.Bootstrap.TargetPath == want.TargetPath {
				// Nothing to apply: keep the record of the bootstrap that did.
				want = *st.Bootstrap
			}
			if st.Bootstrap == nil || *st.Bootstrap != want {
				st.Bootstrap, changed = &want, true
			}
		}
	}
	if sn := s.Snapshot; (sn.Phase == PhaseRunning && runningDue(sn.Started, now) == 0) || sn.Phase == PhaseDone {
		want := v1alpha1.SnapshotStatus{StartTime: ts(sn.Started), Stats: sn.Stats}
		if st.Snapshot != nil {
			want.LastCompletedTime, want.Duration, want.Commit = st.Snapshot.LastCompletedTime, st.Snapshot.Duration, st.Snapshot.Commit
		}
		if sn.Phase == PhaseDone {
			want.LastCompletedTime = ts(sn.Finished)
			want.Duration = &metav1.Duration{Duration: sn.Finished.Sub(sn.Started).Round(time.Millisecond)}
			want.Commit = sn.Commit
		}
		if st.Snapshot == nil || !snapshotEq(st.Snapshot, &want) {
			st.Snapshot, changed = &want, true
		}
	}
	live := d.Gates[v1alpha1.ConditionEventStreamLive].Reason == v1alpha1.ReasonRegistered ||
		d.Gates[v1alpha1.ConditionEventStreamLive].Reason == v1alpha1.ReasonDisconnected
	if s.Streaming && live {
		want := v1alpha1.StreamStatus{Registered: true, RegisteredTime: ts(s.RegisteredTime), LastEventTime: ts(s.LastEventTime),
			PendingChanges: int32(s.Pending), PushFailingSince: ts(s.PushFailingSince), LastPushError: s.LastPushError}
		if st.Stream == nil || st.Stream.Registered != want.Registered || !timeEq(st.Stream.RegisteredTime, want.RegisteredTime) ||
			!timeEq(st.Stream.LastEventTime, want.LastEventTime) || st.Stream.PendingChanges != want.PendingChanges ||
			!timeEq(st.Stream.PushFailingSince, want.PushFailingSince) || st.Stream.LastPushError != want.LastPushError {
			st.Stream, changed = &want, true
		}
	} else if st.Stream != nil && st.Stream.Registered {
		st.Stream.Registered, changed = false, true
	}
	if s.LastCommit != "" && st.LastCommit != s.LastCommit {
		st.LastCommit, st.LastPushTime, changed = s.LastCommit, ts(s.LastPushTime), true
	}
	return changed
}

// RunningQuiet is how long a running snapshot goes without its detail block
// (startTime, progress) in status. Most snapshots finish sooner, and their
// block is written once, with the completion: one write fewer for every
// target that comes up. Each write is a version of the target that the watch
// cache keeps in its history, and 1,000 targets coming up together keep
// thousands (docs/benchmarks.md, issue 28). The gate itself says Running from
// the moment the snapshot is queued.
const RunningQuiet = 2 * time.Second

// runningDue is how long until a snapshot running since started has its
// block written (0: it is).
func runningDue(started, now time.Time) time.Duration {
	return max(0, started.Add(RunningQuiet).Sub(now))
}

func timeEq(a, b *metav1.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(b)
}

func snapshotEq(a, b *v1alpha1.SnapshotStatus) bool {
	durEq := (a.Duration == nil) == (b.Duration == nil) && (a.Duration == nil || a.Duration.Duration == b.Duration.Duration)
	return timeEq(a.StartTime, b.StartTime) && timeEq(a.LastCompletedTime, b.LastCompletedTime) && durEq &&
		a.Commit == b.Commit && a.Stats == b.Stats
}
