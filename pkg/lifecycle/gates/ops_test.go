package gates

import (
	"errors"
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
	"github.com/configbutler/gitops-reverser/pkg/gitmodel"
	"github.com/configbutler/gitops-reverser/pkg/lifecycle/mirror"
)

// TestOperationFailureReasons: a bootstrap or snapshot whose clone or fetch
// passed --max-fetch-size shows RepositoryTooLarge, not the generic reason, on
// its gate (waiting, retrying, and until another outcome replaces it), and
// waits at least TooLargeBackoff before it downloads again.
func TestOperationFailureReasons(t *testing.T) {
	// As the worker reports it: wrapped by the git engine's fetch error.
	tooLarge := fmt.Errorf("git: fetch https://example.com/big.git branch main: %w", &gitmodel.FetchTooLargeError{Limit: 1 << 30})
	generic := errors.New("connection reset")
	const tooLargeMsg = "the repository is larger than the server's limit (--max-fetch-size=1Gi)"

	type gateFn func(o Op, now time.Time) (Outcome, bool, time.Duration)
	boot := func(o Op, now time.Time) (Outcome, bool, time.Duration) {
		return bootstrapGate(o, "fp", "apps", branch, now)
	}
	snap := func(o Op, now time.Time) (Outcome, bool, time.Duration) { return snapshotGate(o, "fp", now) }

	cases := []struct {
		name  string
		op    mirror.Operation
		err   error
		gate  gateFn
		after time.Duration // since the failure
		// want
		reason  string
		msg     string
		start   bool
		requeue time.Duration
	}{
		{name: "bootstrap too large: waits", op: mirror.OpBootstrap, err: tooLarge, gate: boot, after: time.Minute,
			reason: v1alpha1.ReasonRepositoryTooLarge, msg: "Bootstrap of path apps failed: " + tooLargeMsg, requeue: TooLargeBackoff - time.Minute},
		{name: "bootstrap too large: retries after TooLargeBackoff, the reason shows", op: mirror.OpBootstrap, err: tooLarge, gate: boot, after: TooLargeBackoff,
			reason: v1alpha1.ReasonRepositoryTooLarge, msg: "Bootstrap of path apps failed: " + tooLargeMsg, start: true},
		{name: "bootstrap other failure", op: mirror.OpBootstrap, err: generic, gate: boot, after: time.Second,
			reason: v1alpha1.ReasonBootstrapFailed, msg: "Bootstrap of path apps failed: the remote did not answer as a Git server", requeue: Backoff(1) - time.Second},
		{name: "bootstrap other failure: retries after the backoff", op: mirror.OpBootstrap, err: generic, gate: boot, after: time.Minute,
			reason: v1alpha1.ReasonBootstrapFailed, msg: "Bootstrap of path apps failed: the remote did not answer as a Git server", start: true},
		{name: "snapshot too large: waits", op: mirror.OpSnapshot, err: tooLarge, gate: snap, after: time.Minute,
			reason: v1alpha1.ReasonRepositoryTooLarge, msg: "Snapshot of apps failed: " + tooLargeMsg, requeue: TooLargeBackoff - time.Minute},
		{name: "snapshot too large: retries, the reason shows", op: mirror.OpSnapshot, err: tooLarge, gate: snap, after: time.Hour,
			reason: v1alpha1.ReasonRepositoryTooLarge, msg: "Snapshot of apps failed: " + tooLargeMsg, start: true},
		{name: "snapshot other failure", op: mirror.OpSnapshot, err: generic, gate: snap, after: time.Second,
			reason: v1alpha1.ReasonSnapshotFailed, msg: "Snapshot of apps failed: the remote did not answer as a Git server", requeue: Backoff(1) - time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var s State
			if tc.op == mirror.OpBootstrap {
				s = s.StartBootstrap("fp", "apps")
			} else {
				s = s.StartSnapshot("fp", "apps")
			}
			s = s.Apply(mirror.Result{Op: tc.op, Fingerprint: "fp", Running: true, Time: now})
			s = s.Apply(mirror.Result{Op: tc.op, Fingerprint: "fp", Err: tc.err, Time: now})
			o := s.Bootstrap
			if tc.op == mirror.OpSnapshot {
				o = s.Snapshot
			}
			if o.Phase != PhaseFailed || o.Reason != tc.reason || o.Failures != 1 {
				t.Fatalf("op %+v, want failed with %s", o, tc.reason)
			}
			g, start, requeue := tc.gate(o, now.Add(tc.after))
			if g.Status != metav1.ConditionFalse || g.Reason != tc.reason || g.Message != tc.msg {
				t.Errorf("gate %s/%s %q, want False/%s %q", g.Status, g.Reason, g.Message, tc.reason, tc.msg)
			}
			if start != tc.start || requeue != tc.requeue {
				t.Errorf("start %v requeue %v, want %v %v", start, requeue, tc.start, tc.requeue)
			}
		})
	}

	// A queued retry keeps the failure; another outcome replaces its reason.
	s := State{}.StartBootstrap("fp", "apps")
	s = s.Apply(mirror.Result{Op: mirror.OpBootstrap, Fingerprint: "fp", Err: tooLarge, Time: now})
	s = s.StartBootstrap("fp", "apps")
	if g, start, _ := bootstrapGate(s.Bootstrap, "fp", "apps", branch, now); g.Reason != v1alpha1.ReasonNotStarted || start {
		t.Errorf("queued retry: %+v start %v", g, start)
	}
	s = s.Apply(mirror.Result{Op: mirror.OpBootstrap, Fingerprint: "fp", Err: generic, Time: now})
	if s.Bootstrap.Reason != v1alpha1.ReasonBootstrapFailed || s.Bootstrap.Failures != 2 {
		t.Errorf("a later failure of another kind: %+v", s.Bootstrap)
	}
	if g, _, wait := bootstrapGate(s.Bootstrap, "fp", "apps", branch, now); g.Reason != v1alpha1.ReasonBootstrapFailed || wait != Backoff(2) {
		t.Errorf("after another failure: %s, wait %v", g.Reason, wait)
	}
	// A too-large failure is a Warning event like any failure.
	if tr := (Transition{To: False(v1alpha1.ReasonRepositoryTooLarge, "x")}); tr.EventType() != "Warning" {
		t.Errorf("event type %s", tr.EventType())
	}
}
