package lifecycle

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
)

// Messages of the seed design's status examples; the conditions users see are
// the contract, so they live here, together.
const (
	msgValidatedOK         = "Provider and branch validation passed"
	msgEncryptionOK        = "Encryption configuration is valid"
	msgEncryptionNotNeeded = "Encryption is not configured for this GitTarget"
	msgBootstrapNotNeeded  = "Bootstrap files already present"
	msgSnapshotRunning     = "Initial snapshot reconciliation in progress"
	msgSnapshotCompleted   = "Initial snapshot reconciliation completed"
	msgSnapshotNotStarted  = "Initial snapshot sync has not started"
	msgStreamLive          = "GitTarget event stream is live"
	msgStreamNotStarted    = "Event stream activation has not started"
	msgStreamBlocked       = "Blocked until SnapshotSynced=True"
)

func msgBootstrapApplied(path string) string {
	if path == "" {
		return "Bootstrap commit applied at the repository root"
	}
	return "Bootstrap commit applied for path " + path
}

func msgBlockedBy(gate string) string { return fmt.Sprintf("Blocked by %s=False", gate) }

// gateResult is the outcome of evaluating one gate.
type gateResult struct {
	Status  metav1.ConditionStatus
	Reason  string
	Message string
}

func trueGate(reason, msg string) gateResult { return gateResult{metav1.ConditionTrue, reason, msg} }
func falseGate(reason, msg string) gateResult {
	return gateResult{metav1.ConditionFalse, reason, msg}
}

// downstream returns what the gates after a gate that is not True show, exactly
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
// gate type to its result; a gate absent from the map is not written.
func downstream(failed string, present map[string]bool) map[string]gateResult {
	out := map[string]gateResult{}
	idx := gateIndex(failed)
	unknown := func(reason, msg string) gateResult { return gateResult{metav1.ConditionUnknown, reason, msg} }
	for _, g := range v1alpha1.Gates[idx+1:] {
		switch {
		case g == v1alpha1.ConditionEncryptionConfigured || g == v1alpha1.ConditionBootstrapped:
			out[g] = unknown(v1alpha1.ReasonBlocked, msgBlockedBy(failed))
		case failed == v1alpha1.ConditionValidated && g == v1alpha1.ConditionSnapshotSynced:
			out[g] = unknown(v1alpha1.ReasonNotStarted, msgSnapshotNotStarted)
		case failed == v1alpha1.ConditionValidated && g == v1alpha1.ConditionEventStreamLive:
			out[g] = unknown(v1alpha1.ReasonNotStarted, msgStreamNotStarted)
		case failed == v1alpha1.ConditionSnapshotSynced && g == v1alpha1.ConditionEventStreamLive:
			out[g] = unknown(v1alpha1.ReasonBlocked, msgStreamBlocked)
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
