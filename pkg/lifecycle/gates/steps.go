package gates

import (
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
	"github.com/configbutler/gitops-reverser/pkg/gitmodel"
	"github.com/configbutler/gitops-reverser/pkg/lifecycle/mirror"
)

// evaluation is one run of the gates over a view: each step decides one gate
// (or asks for an input) and says whether the pipeline stops there.
type evaluation struct {
	v       *View
	d       Decision
	present map[string]bool // condition types the target already has
	// Filled in by the steps, for the steps after them.
	keys   *mirror.Keys
	st     State
	target *mirror.Target
	bootFP string
}

// evaluate is Evaluate without the stream narrowing of a blocked target.
func evaluate(v *View) Decision {
	e := &evaluation{v: v, d: Decision{Gates: map[string]Outcome{}}, present: map[string]bool{}}
	if _, k, ok := BranchKeyFor(v.Target, v.Providers); ok {
		e.d.Place = &k
	}
	for _, c := range v.Target.Status.Conditions {
		e.present[c.Type] = true
	}
	for _, step := range []func() bool{e.validated, e.owned, e.encryption, e.bootstrapped, e.snapshotSynced} {
		if step() {
			return e.d
		}
	}
	e.streamLive()
	return e.d
}

// need stops the pipeline to ask for an input.
func (e *evaluation) need(n Need) bool {
	e.d = Decision{Need: n, Resolved: e.d.Resolved}
	return true
}

// fail blocks the pipeline at gate with o.
func (e *evaluation) fail(gate string, o Outcome) bool {
	e.d.block(gate, o, e.present)
	return true
}

// validated is gate 1.
func (e *evaluation) validated() bool {
	r, res := Validated(e.v.Target, e.v.Providers, e.v.Targets)
	if r.Status != metav1.ConditionTrue {
		e.d.Effects = append(e.d.Effects, Release{})
		e.d.SkipWrite = !e.v.Prefers
		return e.fail(v1alpha1.ConditionValidated, r)
	}
	e.d.Gates[v1alpha1.ConditionValidated] = r
	e.d.Resolved = res
	return false
}

// owned: the replica that owns the branch worker evaluates and writes the
// rest; the others leave the target alone. A target whose stream was live
// while the source cluster is away keeps what the gates that read the
// cluster said, and its stream reports the disconnection.
func (e *evaluation) owned() bool {
	v := e.v
	if v.Ownership == nil {
		return e.need(NeedOwnership)
	}
	if o := v.Ownership; o.Err != nil || !o.Owned {
		e.d.Effects, e.d.SkipWrite = []Effect{Release{}}, true
		if o.Err != nil {
			e.d.Requeue = 2 * time.Second
		} else if !o.Preferred {
			e.d.Requeue = 6 * time.Second // a free branch is taken by others after a while
		}
		return true
	}
	if v.Source.Stream && !v.Source.Connected && v.State.Streaming {
		e.d = disconnected(v, e.d, v.Source.Why)
		return true
	}
	return false
}

// encryption is gate 2.
func (e *evaluation) encryption() bool {
	v, t := e.v, e.v.Target
	switch enc := t.Spec.Encryption; {
	case !enc.On():
		e.d.Gates[v1alpha1.ConditionEncryptionConfigured] = True(v1alpha1.ReasonNotRequired, MsgEncryptionNotNeeded)
	case !v.Source.Kube:
		e.d.Effects = append(e.d.Effects, Release{})
		return e.fail(v1alpha1.ConditionEncryptionConfigured, False(v1alpha1.ReasonMissingSecret,
			fmt.Sprintf("Cannot read encryption secret %s/%s: the server has no source cluster (--kubeconfig)", t.Namespace, enc.SecretRef.Name)))
	case v.KeySecret == nil:
		return e.need(NeedKeySecret)
	case Unreachable(v.KeySecret.Err) || Unreachable(v.KeySecret.CreateErr):
		err := v.KeySecret.Err
		if err == nil {
			err = v.KeySecret.CreateErr
		}
		e.d = sourceUnreachable(v, e.d, err)
		return true
	default:
		o, k, create := encryption(t, v.KeySecret)
		if create {
			return e.need(NeedCreateKeySecret)
		}
		if o.Status != metav1.ConditionTrue {
			e.d.Effects = append(e.d.Effects, Release{})
			return e.fail(v1alpha1.ConditionEncryptionConfigured, o)
		}
		e.d.Gates[v1alpha1.ConditionEncryptionConfigured] = o
		e.keys = k
		e.d.Encryption = &v1alpha1.EncryptionStatus{Provider: enc.Provider, SecretRefName: enc.SecretRef.Name, RecipientsHash: k.Hash}
	}
	return false
}

// bootstrapped is gate 3: the branch worker, then the bootstrap task, run by
// that worker outside any manager lock.
func (e *evaluation) bootstrapped() bool {
	v, t, res := e.v, e.v.Target, e.d.Resolved
	if v.Credentials == nil {
		return e.need(NeedCredentials)
	}
	if err := v.Credentials.Err; err != nil {
		if Unreachable(err) {
			e.d = sourceUnreachable(v, e.d, err)
			return true
		}
		e.d.Effects = append(e.d.Effects, Release{})
		e.d.Requeue = 30 * time.Second
		return e.fail(v1alpha1.ConditionBootstrapped, False(v1alpha1.ReasonWorkerNotFound,
			fmt.Sprintf("Branch worker for %s could not be started: %v", res.Key, err)))
	}
	if v.Worker == nil {
		return e.need(NeedWorker)
	}
	e.d.WorkerRef = &v1alpha1.WorkerReference{Name: res.Key.String(), UID: v.Worker.UID, Replica: v.Worker.Replica, Lease: v.Worker.Lease}
	e.st = v.State
	if e.st.Worker != res.Key {
		e.st = State{Worker: res.Key}
		e.d.Effects = append(e.d.Effects, ResetState{Worker: res.Key})
	}
	e.target = &mirror.Target{Key: t.Namespace + "/" + t.Name, Namespace: t.Namespace, Name: t.Name, Path: t.Spec.Path, Keys: e.keys,
		Clean: CleanerOf(t.Spec.IgnoreFields)}
	e.bootFP = fmt.Sprintf("%s|%s|%s|%s", res.Key, t.Spec.Path, mirror.HashOf(e.keys), v.Credentials.Config.AuthID)
	boot, start, requeue := bootstrapGate(e.st.Bootstrap, e.bootFP, t.Spec.Path, res.Key, v.Now)
	e.d.requeueWithin(requeue)
	if start {
		e.d.Effects = append(e.d.Effects, StartBootstrap{Target: e.target, Fingerprint: e.bootFP})
	}
	if boot.Status != metav1.ConditionTrue {
		return e.fail(v1alpha1.ConditionBootstrapped, boot)
	}
	e.d.Gates[v1alpha1.ConditionBootstrapped] = boot
	return false
}

// snapshotSynced is gate 4.
func (e *evaluation) snapshotSynced() bool {
	v := e.v
	e.d.selectionGate = true
	if !v.Source.Stream {
		e.d.requeueWithin(30 * time.Second)
		return e.fail(v1alpha1.ConditionSnapshotSynced, False(v1alpha1.ReasonSnapshotFailed,
			"Cannot list the selected resources: the server has no source cluster (--kubeconfig)"))
	}
	if v.Selection == nil {
		return e.need(NeedSelection)
	}
	if err := v.Selection.Err; err != nil {
		e.d.requeueWithin(30 * time.Second)
		return e.fail(v1alpha1.ConditionSnapshotSynced, False(v1alpha1.ReasonSnapshotFailed, "Cannot list the selected resources: "+err.Error()))
	}
	e.target.Selection = v.Selection.Selection
	// What the files hold changes with the selection and the fields dropped.
	snapFP := e.bootFP + "|" + e.target.Selection.Fingerprint() + "|" + e.target.Clean.Hash()
	snap, start, requeue := snapshotGate(e.st.Snapshot, snapFP, v.Now)
	e.d.requeueWithin(requeue)
	if start {
		e.d.Effects = append(e.d.Effects, Restrict{Selection: e.target.Selection}, StartSnapshot{Target: e.target, Fingerprint: snapFP})
	}
	if snap.Status != metav1.ConditionTrue {
		return e.fail(v1alpha1.ConditionSnapshotSynced, snap)
	}
	e.d.Gates[v1alpha1.ConditionSnapshotSynced] = snap
	return false
}

// streamLive is gate 5. Live also means reaching Git: pushes failing for
// longer than the grace are a disconnection too.
func (e *evaluation) streamLive() {
	v, st := e.v, e.st
	grace := PushGrace(v.Credentials.Config.Interval)
	failing := !st.PushFailingSince.IsZero()
	var o Outcome
	switch {
	case !v.Source.Connected:
		o = False(v1alpha1.ReasonDisconnected, "Not streaming from the source cluster: "+v.Source.Why)
	case v.Source.Refused != "":
		o = False(v1alpha1.ReasonDisconnected, "Not streaming from the source cluster: "+v.Source.Refused)
	case v.Live && failing && v.Now.Sub(st.PushFailingSince) >= grace:
		o = False(v1alpha1.ReasonDisconnected,
			fmt.Sprintf("Pushes to %s have failed for %s: %s; %d change(s) waiting", gitmodel.Redact(v.Credentials.Config.URL),
				v.Now.Sub(st.PushFailingSince).Round(time.Second), st.LastPushError, st.Pending))
	case v.Live:
		if failing {
			e.d.requeueWithin(grace - v.Now.Sub(st.PushFailingSince))
		}
		o = True(v1alpha1.ReasonRegistered, MsgStreamLive)
	default:
		o = False(v1alpha1.ReasonRegistrationFailed, fmt.Sprintf("Failed to register GitTargetEventStream for %s", e.target.Key))
	}
	e.d.Gates[v1alpha1.ConditionEventStreamLive] = o
}
