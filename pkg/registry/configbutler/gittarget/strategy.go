// Package gittarget is the registry of GitTargets: strategy, the read-time Ready
// computation, the gates and snapshot views, and tables.
package gittarget

import (
	"context"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler"
	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/validation"
	"github.com/configbutler/gitops-reverser/pkg/conditions"
	"github.com/configbutler/gitops-reverser/pkg/registry"
)

// Kind describes GitTargets to the shared strategies.
var Kind = registry.Kind[*configbutler.GitTarget, configbutler.GitTargetSpec, configbutler.GitTargetStatus]{
	Namespaced:     true,
	Spec:           func(o *configbutler.GitTarget) *configbutler.GitTargetSpec { return &o.Spec },
	Status:         func(o *configbutler.GitTarget) *configbutler.GitTargetStatus { return &o.Status },
	Conditions:     func(s *configbutler.GitTargetStatus) []metav1.Condition { return s.Conditions },
	AuthorizedBy:   func(s *configbutler.GitTargetStatus) **configbutler.AuthorizedIdentity { return &s.AuthorizedBy },
	Validate:       validation.ValidateGitTarget,
	ValidateUpdate: validation.ValidateGitTargetUpdate,
	// The stored Ready anchors Ready's LastTransitionTime for reads (see
	// conditions.SummarizeGitTarget); it is recomputed on every read anyway.
	PrepareStatus: func(_ context.Context, t, _ *configbutler.GitTarget) {
		Decorate(t, nil)
	},
}

// Attrs returns the selectable fields of a GitTarget: metadata.name,
// metadata.namespace, spec.providerRef.name and spec.branch.
var Attrs = registry.MetaAttrs(true, func(obj runtime.Object) fields.Set {
	t := obj.(*configbutler.GitTarget)
	return fields.Set{"spec.providerRef.name": t.Spec.ProviderRef.Name, "spec.branch": t.Spec.Branch}
})

// Liveness tells whether the replica lease named in status.workerRef is alive,
// and since when it is gone.
type Liveness interface {
	Alive(lease string) (bool, time.Time)
}

// Decorate computes the served view of a GitTarget's status in place: Ready from
// the stored gates, and status.observedGeneration as Ready's (the lowest of the
// gates'). With liveness, the stream of a target whose owning replica's lease has
// expired reads as False/Disconnected until another replica has taken it over
// and re-run the gates. It replaces slices rather than writing into them, so it
// is safe on a shallow copy of an object held by the watch cache.
func Decorate(t *configbutler.GitTarget, liveness Liveness) {
	stored := t.Status.Conditions
	if ref := t.Status.WorkerRef; liveness != nil && ref != nil && ref.Lease != "" {
		if alive, since := liveness.Alive(ref.Lease); !alive {
			stored = ownerGone(stored, ref, since)
		}
	}
	conds, ready := conditions.WithReady(stored, t.CreationTimestamp)
	t.Status.Conditions = conds
	t.Status.ObservedGeneration = ready.ObservedGeneration
}

// ownerGone returns conds with EventStreamLive turned False/Disconnected.
func ownerGone(conds []metav1.Condition, ref *configbutler.WorkerReference, since time.Time) []metav1.Condition {
	cur := conditions.Find(conds, v1alpha1.ConditionEventStreamLive)
	if cur == nil {
		return conds
	}
	gone := *cur
	if gone.Status != metav1.ConditionFalse {
		gone.LastTransitionTime = metav1.NewTime(since.UTC().Truncate(time.Second))
		if since.IsZero() {
			gone.LastTransitionTime = cur.LastTransitionTime
		}
	}
	gone.Status, gone.Reason = metav1.ConditionFalse, v1alpha1.ReasonDisconnected
	gone.Message = fmt.Sprintf("Owner replica %s (lease %s) is gone; waiting for another replica to take the branch worker over", ref.Replica, ref.Lease)
	out := make([]metav1.Condition, len(conds))
	for i, c := range conds {
		if c.Type == gone.Type {
			c = gone
		}
		out[i] = c
	}
	return out
}
