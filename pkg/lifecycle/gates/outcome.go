// Package gates decides a GitTarget's startup gates (Validated,
// EncryptionConfigured, Bootstrapped, SnapshotSynced, EventStreamLive; see
// docs/status.md) as pure functions: no
// I/O, no clock, no goroutines. Evaluate takes an assembled View of the inputs
// and returns a Decision: the gates' outcomes, the effects the controller runs
// at the edge (release a target, start a bootstrap or a snapshot, report the
// source cluster unreachable) and when to look again. Inputs that cost I/O
// (the ownership lease, Secrets, the branch worker, the selection) are asked
// for one at a time (Decision.Need) in the order the gates need them, so a
// target that a gate blocks reads nothing it does not need.
//
// Bootstrap and snapshot share one start/retry state machine (Op); a target's
// in-memory State changes only through State.Apply (a worker's or the
// stream's report) and the Start* transitions of a Decision's effects, both
// applied by the controller, the one owner of target state.
package gates

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
)

// Messages of the seed design's status examples; the conditions users see are
// the contract, so they live here, together.
const (
	MsgValidatedOK         = "Provider and branch validation passed"
	MsgEncryptionOK        = "Encryption configuration is valid"
	MsgEncryptionNotNeeded = "Encryption is not configured for this GitTarget"
	MsgBootstrapNotNeeded  = "Bootstrap files already present"
	MsgSnapshotRunning     = "Initial snapshot reconciliation in progress"
	MsgSnapshotCompleted   = "Initial snapshot reconciliation completed"
	MsgSnapshotNotStarted  = "Initial snapshot sync has not started"
	MsgStreamLive          = "GitTarget event stream is live"
	MsgStreamNotStarted    = "Event stream activation has not started"
	MsgStreamBlocked       = "Blocked until SnapshotSynced=True"
)

// MsgBootstrapApplied is the message of Bootstrapped=True/BootstrapApplied.
func MsgBootstrapApplied(path string) string {
	if path == "" {
		return "Bootstrap commit applied at the repository root"
	}
	return "Bootstrap commit applied for path " + path
}

func msgBlockedBy(gate string) string { return fmt.Sprintf("Blocked by %s=False", gate) }

// Outcome is the result of evaluating one gate (or a Ready condition).
type Outcome struct {
	Status  metav1.ConditionStatus
	Reason  string
	Message string
}

// True returns a True outcome.
func True(reason, msg string) Outcome { return Outcome{metav1.ConditionTrue, reason, msg} }

// False returns a False outcome.
func False(reason, msg string) Outcome { return Outcome{metav1.ConditionFalse, reason, msg} }

func unknown(reason, msg string) Outcome { return Outcome{metav1.ConditionUnknown, reason, msg} }

// Downstream returns what the gates after a gate that is not True show, exactly
// as the seed's examples do:
//
//   - Validated fails (example 1): EncryptionConfigured and Bootstrapped are
//     Unknown/Blocked "Blocked by Validated=False"; SnapshotSynced and
//     EventStreamLive are Unknown/NotStarted.
//   - EncryptionConfigured or Bootstrapped fails (example 2): the gates up to
//     Bootstrapped are Blocked; the snapshot and stream gates are left out unless
//     they were already there, in which case they turn Unknown/Blocked (a stale
//     True must not linger).
//   - SnapshotSynced is not True (examples 3 and 4): EventStreamLive is
//     Unknown/Blocked "Blocked until SnapshotSynced=True".
//
// present tells which condition types the target already has. The result maps
// gate type to its outcome; a gate absent from the map is not written.
func Downstream(failed string, present map[string]bool) map[string]Outcome {
	out := map[string]Outcome{}
	idx := gateIndex(failed)
	for _, g := range v1alpha1.Gates[idx+1:] {
		switch {
		case g == v1alpha1.ConditionEncryptionConfigured || g == v1alpha1.ConditionBootstrapped:
			out[g] = unknown(v1alpha1.ReasonBlocked, msgBlockedBy(failed))
		case failed == v1alpha1.ConditionValidated && g == v1alpha1.ConditionSnapshotSynced:
			out[g] = unknown(v1alpha1.ReasonNotStarted, MsgSnapshotNotStarted)
		case failed == v1alpha1.ConditionValidated && g == v1alpha1.ConditionEventStreamLive:
			out[g] = unknown(v1alpha1.ReasonNotStarted, MsgStreamNotStarted)
		case failed == v1alpha1.ConditionSnapshotSynced && g == v1alpha1.ConditionEventStreamLive:
			out[g] = unknown(v1alpha1.ReasonBlocked, MsgStreamBlocked)
		case present[g]:
			out[g] = unknown(v1alpha1.ReasonBlocked, msgBlockedBy(failed))
		}
	}
	return out
}

func gateIndex(gate string) int {
	for i, g := range v1alpha1.Gates {
		if g == gate {
			return i
		}
	}
	panic("unknown gate " + gate)
}
