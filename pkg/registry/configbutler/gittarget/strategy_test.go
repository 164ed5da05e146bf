package gittarget

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler"
	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
	"github.com/configbutler/gitops-reverser/pkg/conditions"
)

type leases map[string]time.Time // lease -> when it expired (absent: alive)

func (l leases) Alive(lease string) (bool, time.Time) {
	at, dead := l[lease]
	return !dead, at
}

func readyTarget(lease string) *configbutler.GitTarget {
	t := target("owned",
		c("Validated", "True", "OK", ""), c("EncryptionConfigured", "True", "NotRequired", ""),
		c("Bootstrapped", "True", "BootstrapNotNeeded", ""), c("SnapshotSynced", "True", "Completed", ""),
		c("EventStreamLive", "True", "Registered", "GitTarget event stream is live"))
	t.Status.WorkerRef = &configbutler.WorkerReference{Name: "w", Replica: "r2", Lease: lease}
	return t
}

// TestDecorateReadsAnExpiredOwnerAsDisconnected: while the owning replica's
// lease lives, Ready is computed from the stored gates; once it has expired,
// the read path serves EventStreamLive=False/Disconnected (naming the replica
// and lease, transition at the expiry) and Ready=False/StreamNotLive, without
// touching the stored object's conditions.
func TestDecorateReadsAnExpiredOwnerAsDisconnected(t *testing.T) {
	expired := time.Now().Add(-3 * time.Second).UTC().Truncate(time.Second)
	live := readyTarget("lease-a")
	Decorate(live, leases{"lease-b": expired})
	if r := conditions.Find(live.Status.Conditions, v1alpha1.ConditionReady); r == nil || r.Status != metav1.ConditionTrue || r.Reason != v1alpha1.ReasonOK {
		t.Fatalf("owner alive: Ready %+v", r)
	}

	gone := readyTarget("lease-b")
	stored := append([]metav1.Condition(nil), gone.Status.Conditions...)
	storedSlice := gone.Status.Conditions
	Decorate(gone, leases{"lease-b": expired})
	s := conditions.Find(gone.Status.Conditions, v1alpha1.ConditionEventStreamLive)
	if s == nil || s.Status != metav1.ConditionFalse || s.Reason != v1alpha1.ReasonDisconnected || !s.LastTransitionTime.Time.Equal(expired) {
		t.Fatalf("owner gone: EventStreamLive %+v", s)
	}
	if want := "Owner replica r2 (lease lease-b) is gone; waiting for another replica to take the branch worker over"; s.Message != want {
		t.Errorf("message %q, want %q", s.Message, want)
	}
	r := conditions.Find(gone.Status.Conditions, v1alpha1.ConditionReady)
	if r == nil || r.Status != metav1.ConditionFalse || r.Reason != v1alpha1.ReadyReasonFor[v1alpha1.ConditionEventStreamLive] {
		t.Fatalf("owner gone: Ready %+v", r)
	}
	for i := range stored {
		if storedSlice[i] != stored[i] {
			t.Errorf("Decorate wrote into the stored conditions: %+v", storedSlice[i])
		}
	}

	// Without liveness (one replica), nothing is overridden.
	single := readyTarget("lease-b")
	Decorate(single, nil)
	if r := conditions.Find(single.Status.Conditions, v1alpha1.ConditionReady); r == nil || r.Status != metav1.ConditionTrue {
		t.Fatalf("no liveness: Ready %+v", r)
	}
}
