package gittarget

import (
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler"
	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
	"github.com/configbutler/gitops-reverser/pkg/conditions"
)

// GatesView builds the gates subresource from a served GitTarget: the five gates
// in pipeline order (Unknown/NotChecked when not evaluated yet), then Ready.
func GatesView(obj runtime.Object) runtime.Object {
	t := obj.(*configbutler.GitTarget)
	s := conditions.SummarizeGitTarget(t.Status.Conditions, t.CreationTimestamp)
	g := &configbutler.GitTargetGates{
		ObjectMeta: *t.ObjectMeta.DeepCopy(),
		Gates:      append(s.Gates, s.Ready),
		Ready:      s.BlockingGate == "",
	}
	g.ManagedFields = nil
	if s.BlockingGate != "" {
		for _, c := range s.Gates {
			if c.Type == s.BlockingGate {
				g.BlockingGate, g.Reason, g.Message = c.Type, c.Reason, c.Message
			}
		}
	}
	return g
}

// SnapshotView builds the snapshot subresource: the SnapshotSynced gate and the
// details of the last snapshot.
func SnapshotView(obj runtime.Object) runtime.Object {
	t := obj.(*configbutler.GitTarget)
	s := conditions.SummarizeGitTarget(t.Status.Conditions, t.CreationTimestamp)
	v := &configbutler.GitTargetSnapshot{
		ObjectMeta: *t.ObjectMeta.DeepCopy(),
		Branch:     t.Spec.Branch,
		Path:       t.Spec.Path,
	}
	v.ManagedFields = nil
	for _, c := range s.Gates {
		if c.Type == v1alpha1.ConditionSnapshotSynced {
			v.State, v.Reason, v.Message = c.Status, c.Reason, c.Message
		}
	}
	if snap := t.Status.Snapshot; snap != nil {
		v.StartTime = snap.StartTime
		v.LastCompletedTime = snap.LastCompletedTime
		v.Duration = snap.Duration
		v.Commit = snap.Commit
		v.Stats = snap.Stats
	}
	return v
}
