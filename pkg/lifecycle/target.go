package lifecycle

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/cache"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
	"github.com/configbutler/gitops-reverser/pkg/conditions"
)

// evaluation is one pass over a target's gates: their results and the detail
// blocks observed along the way.
type evaluation struct {
	gates      map[string]gateResult
	encryption *v1alpha1.EncryptionStatus
	worker     *v1alpha1.WorkerReference
	state      targetState
	keys       *encryptionKeys
	requeue    time.Duration
	// skipWrite leaves the stored status alone (nothing could be learned).
	skipWrite bool
}

// block records a gate that is not True and what the gates after it show.
func (e *evaluation) block(gate string, r gateResult, present map[string]bool) {
	e.gates[gate] = r
	for g, d := range downstream(gate, present) {
		e.gates[g] = d
	}
}

// syncTarget evaluates a target's gates in order, stopping at the first one not
// True, starts the asynchronous work the next gate needs, and writes the status
// when it changed.
func (c *Controller) syncTarget(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	t, err := c.targets.GitTargets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.forget(key)
		return nil
	}
	if err != nil {
		return err
	}
	if t.DeletionTimestamp != nil {
		c.forget(key)
		return nil
	}
	present := map[string]bool{}
	for _, cond := range t.Status.Conditions {
		present[cond.Type] = true
	}
	ev := &evaluation{gates: map[string]gateResult{}}
	c.evaluate(ctx, t, key, present, ev)
	if !ev.skipWrite {
		if err := c.writeTargetStatus(ctx, t, ev); err != nil {
			return err
		}
	}
	if ev.requeue > 0 {
		c.targetQueue.AddAfter(key, ev.requeue)
	}
	return nil
}

func (c *Controller) evaluate(ctx context.Context, t *v1alpha1.GitTarget, key string, present map[string]bool, ev *evaluation) {
	// 1. Validated.
	all, _ := c.targets.List(labels.Everything())
	r, res := evaluateValidated(t, c.lookupProvider, all)
	if r.Status != metav1.ConditionTrue {
		c.release(key)
		ev.block(v1alpha1.ConditionValidated, r, present)
		// Any replica can tell a target is invalid; one of them says so.
		ev.skipWrite = !c.prefers(key)
		return
	}
	ev.gates[v1alpha1.ConditionValidated] = r

	// Ownership: the replica that owns the branch worker evaluates and writes the
	// rest; the others leave the target alone.
	if c.own != nil {
		owned, err := c.own.Acquire(ctx, res.Key.String())
		if err != nil || !owned {
			c.releaseLocal(key)
			ev.skipWrite = true
			if err != nil {
				ev.requeue = 2 * time.Second
			} else if !c.prefersOwner(res.Key) {
				ev.requeue = 6 * time.Second // a free branch is taken by others after a while
			}
			return
		}
	}

	// The source cluster is away: a target whose stream was live keeps what the
	// gates that read the cluster said, and its stream reports the disconnection.
	if c.router != nil {
		if connected, why := c.router.Connected(); !connected && c.states.get(key).Streaming {
			c.disconnected(t, key, why, ev)
			return
		}
	}

	// 2. EncryptionConfigured.
	enc := evaluateEncryption(ctx, c.kube, t)
	if enc.unreachable != nil {
		c.sourceUnreachable(t, key, enc.unreachable, ev)
		return
	}
	if enc.gate.Status != metav1.ConditionTrue {
		c.release(key)
		ev.block(v1alpha1.ConditionEncryptionConfigured, enc.gate, present)
		return
	}
	ev.gates[v1alpha1.ConditionEncryptionConfigured] = enc.gate
	ev.keys = enc.keys
	if e := t.Spec.Encryption; e != nil && enc.keys != nil {
		ev.encryption = &v1alpha1.EncryptionStatus{Provider: e.Provider, SecretRefName: e.SecretRef.Name, RecipientsHash: enc.keys.Hash}
	}

	// 3. Bootstrapped: the branch worker (short lock), then the bootstrap task,
	// run by that worker outside any manager lock.
	wcfg, err := c.workerConfigFor(ctx, res.Provider)
	if unreachable(err) {
		c.sourceUnreachable(t, key, err, ev)
		return
	}
	if err != nil {
		c.release(key)
		ev.block(v1alpha1.ConditionBootstrapped, falseGate(v1alpha1.ReasonWorkerNotFound,
			fmt.Sprintf("Branch worker for %s could not be started: %v", res.Key, err)), present)
		ev.requeue = 30 * time.Second
		return
	}
	c.workers.ReleaseTarget(key, res.Key) // a target that moved branch leaves its old worker
	w := c.workers.EnsureWorker(res.Key, wcfg, key)
	ev.worker = &v1alpha1.WorkerReference{Name: res.Key.String(), UID: w.UID}
	if c.own != nil {
		ev.worker.Replica, ev.worker.Lease = c.own.Name(), c.own.Lease()
	}
	tc := &targetConfig{Key: key, Namespace: t.Namespace, Name: t.Name, Path: t.Spec.Path, Keys: enc.keys}
	bootFP := fmt.Sprintf("%s|%s|%s|%s", res.Key, t.Spec.Path, keysHash(enc.keys), wcfg.AuthID)
	st := c.states.get(key)
	if st.Worker != res.Key {
		c.states.update(key, func(s *targetState) { *s = targetState{Worker: res.Key} })
		st = c.states.get(key)
	}
	boot, requeue := c.ensureBootstrap(w, tc, bootFP, st.Bootstrap)
	ev.requeue = requeue
	if boot.Status != metav1.ConditionTrue {
		ev.block(v1alpha1.ConditionBootstrapped, boot, present)
		ev.state = c.states.get(key)
		return
	}
	ev.gates[v1alpha1.ConditionBootstrapped] = boot

	// 4. SnapshotSynced.
	resources, err := c.apiResources()
	if err != nil || c.dyn == nil || c.router == nil {
		if err == nil {
			err = fmt.Errorf("the server has no source cluster (--kubeconfig)")
		}
		ev.block(v1alpha1.ConditionSnapshotSynced, falseGate(v1alpha1.ReasonSnapshotFailed, "Cannot list the selected resources: "+err.Error()), present)
		ev.requeue = 30 * time.Second
		ev.state = c.states.get(key)
		return
	}
	wrs, cwrs := c.rulesFor(t)
	tc.Selection = resolveSelection(resources, wrs, cwrs)
	snap, requeue := c.ensureSnapshot(w, tc, bootFP, c.states.get(key))
	if requeue > 0 && (ev.requeue == 0 || requeue < ev.requeue) {
		ev.requeue = requeue
	}
	ev.state = c.states.get(key)
	if snap.Status != metav1.ConditionTrue {
		ev.block(v1alpha1.ConditionSnapshotSynced, snap, present)
		return
	}
	ev.gates[v1alpha1.ConditionSnapshotSynced] = snap

	// 5. EventStreamLive.
	connected, why := c.router.Connected()
	switch {
	case !connected:
		ev.gates[v1alpha1.ConditionEventStreamLive] = falseGate(v1alpha1.ReasonDisconnected, "Source cluster is not answering: "+why)
	case c.router.Live(key):
		ev.gates[v1alpha1.ConditionEventStreamLive] = trueGate(v1alpha1.ReasonRegistered, msgStreamLive)
	default:
		ev.gates[v1alpha1.ConditionEventStreamLive] = falseGate(v1alpha1.ReasonRegistrationFailed,
			fmt.Sprintf("Failed to register GitTargetEventStream for %s", key))
	}
}

// releaseLocal drops what this replica held for a target another replica owns.
func (c *Controller) releaseLocal(key string) {
	c.release(key)
}

// prefersOwner reports whether this replica is the preferred owner of a branch.
func (c *Controller) prefersOwner(k BranchKey) bool { return c.prefers(k.String()) }

// disconnected fills the evaluation of a live target while the source cluster is
// away: the gates between Validated and the stream keep their stored values.
func (c *Controller) disconnected(t *v1alpha1.GitTarget, key, why string, ev *evaluation) {
	for _, g := range []string{v1alpha1.ConditionEncryptionConfigured, v1alpha1.ConditionBootstrapped, v1alpha1.ConditionSnapshotSynced} {
		if cond := conditions.Find(t.Status.Conditions, g); cond != nil {
			ev.gates[g] = gateResult{cond.Status, cond.Reason, cond.Message}
		}
	}
	ev.gates[v1alpha1.ConditionEventStreamLive] = falseGate(v1alpha1.ReasonDisconnected, "Source cluster is not answering: "+why)
	ev.state = c.states.get(key)
}

// sourceUnreachable handles a read of the source cluster that failed because it
// did not answer: that says nothing about the target's configuration, so no gate
// flips to False for it. The router learns of it (and probes for the recovery);
// a live target reports Disconnected; any other target is retried.
func (c *Controller) sourceUnreachable(t *v1alpha1.GitTarget, key string, err error, ev *evaluation) {
	why := err.Error()
	if c.router != nil {
		c.router.reportUnreachable(err)
	}
	if c.states.get(key).Streaming {
		c.disconnected(t, key, why, ev)
		return
	}
	ev.skipWrite = true
	ev.requeue = 5 * time.Second
}

func keysHash(k *encryptionKeys) string {
	if k == nil {
		return ""
	}
	return k.Hash
}

// ensureBootstrap starts the bootstrap when this configuration has not been
// bootstrapped (or a failure's backoff has passed) and returns the gate.
func (c *Controller) ensureBootstrap(w *BranchWorker, tc *targetConfig, fp string, op opState) (gateResult, time.Duration) {
	pending := gateResult{metav1.ConditionUnknown, v1alpha1.ReasonNotStarted,
		fmt.Sprintf("Bootstrap of path %s is queued on the branch worker for %s", displayPath(tc.Path), w.Key)}
	switch {
	case op.Fingerprint == fp && op.Phase == phaseDone:
		if op.Reason == v1alpha1.ReasonBootstrapApplied {
			return trueGate(op.Reason, msgBootstrapApplied(tc.Path)), 0
		}
		return trueGate(v1alpha1.ReasonBootstrapNotNeeded, msgBootstrapNotNeeded), 0
	case op.Fingerprint == fp && (op.Phase == phaseQueued || op.Phase == phaseRunning):
		return pending, 0
	case op.Fingerprint == fp && op.Phase == phaseFailed:
		wait := backoff(op.Failures) - time.Since(op.Finished)
		if wait > 0 {
			return falseGate(v1alpha1.ReasonBootstrapFailed, op.Message), wait
		}
	}
	c.states.update(tc.Key, func(s *targetState) {
		s.Bootstrap = opState{Phase: phaseQueued, Fingerprint: fp, Failures: s.Bootstrap.Failures}
		// A new bootstrap means a new configuration: the snapshot runs again too.
		s.Snapshot = opState{}
	})
	cfg := *tc
	w.RequestBootstrap(&cfg, func() {
		c.states.update(cfg.Key, func(s *targetState) { s.Bootstrap.Phase = phaseRunning; s.Bootstrap.Started = time.Now() })
	}, func(commit string, applied bool, err error) {
		now := time.Now()
		c.states.update(cfg.Key, func(s *targetState) {
			if s.Bootstrap.Fingerprint != fp {
				return // superseded
			}
			s.Bootstrap.Finished = now
			switch {
			case err != nil:
				s.Bootstrap.Phase, s.Bootstrap.Reason = phaseFailed, v1alpha1.ReasonBootstrapFailed
				s.Bootstrap.Message = fmt.Sprintf("Bootstrap of path %s failed: %v", displayPath(cfg.Path), err)
				s.Bootstrap.Failures++
			case applied:
				s.Bootstrap.Phase, s.Bootstrap.Reason, s.Bootstrap.Commit, s.Bootstrap.Failures = phaseDone, v1alpha1.ReasonBootstrapApplied, commit, 0
				s.LastCommit, s.LastPushTime = commit, now
			default:
				s.Bootstrap.Phase, s.Bootstrap.Reason, s.Bootstrap.Failures = phaseDone, v1alpha1.ReasonBootstrapNotNeeded, 0
			}
		})
		c.enqueue(cfg.Key)
	})
	if op.Phase == phaseFailed {
		return falseGate(v1alpha1.ReasonBootstrapFailed, op.Message), 0
	}
	return pending, 0
}

// ensureSnapshot starts a snapshot when the target's configuration or selection
// changed since the last one (or a failure's backoff passed) and returns the
// gate. A re-snapshot after a rule change keeps SnapshotSynced True: the initial
// sync for this configuration is done, the new types follow in the background.
func (c *Controller) ensureSnapshot(w *BranchWorker, tc *targetConfig, bootFP string, st targetState) (gateResult, time.Duration) {
	fp := bootFP + "|" + tc.Selection.Fingerprint()
	op := st.Snapshot
	completedBefore := op.Reason == v1alpha1.ReasonCompleted && op.Fingerprint != "" && hasPrefix(op.Fingerprint, bootFP+"|")
	running := gateResult{metav1.ConditionFalse, v1alpha1.ReasonRunning, msgSnapshotRunning}
	switch {
	case op.Fingerprint == fp && op.Phase == phaseDone:
		return trueGate(v1alpha1.ReasonCompleted, msgSnapshotCompleted), 0
	case op.Fingerprint == fp && (op.Phase == phaseQueued || op.Phase == phaseRunning):
		if completedBefore {
			return trueGate(v1alpha1.ReasonCompleted, msgSnapshotCompleted), 0
		}
		return running, 0
	case op.Fingerprint == fp && op.Phase == phaseFailed:
		wait := backoff(op.Failures) - time.Since(op.Finished)
		if wait > 0 {
			return falseGate(v1alpha1.ReasonSnapshotFailed, op.Message), wait
		}
	}
	c.states.update(tc.Key, func(s *targetState) {
		s.Snapshot.Phase, s.Snapshot.Fingerprint = phaseQueued, fp
	})
	cfg := *tc
	w.Submit("snapshot "+tc.Key, func(ctx context.Context) {
		if cur := c.states.get(cfg.Key); cur.Snapshot.Fingerprint != fp {
			return // superseded before it ran
		}
		w.runSnapshot(ctx, c, &cfg, fp)
	})
	if completedBefore {
		return trueGate(v1alpha1.ReasonCompleted, msgSnapshotCompleted), 0
	}
	if op.Phase == phaseFailed {
		return falseGate(v1alpha1.ReasonSnapshotFailed, op.Message), 0
	}
	return running, 0
}

func hasPrefix(s, p string) bool { return len(s) >= len(p) && s[:len(p)] == p }

// writeTargetStatus writes the gates and detail blocks when they changed, and
// records an Event for every gate transition.
func (c *Controller) writeTargetStatus(ctx context.Context, t *v1alpha1.GitTarget, ev *evaluation) error {
	var transitions []string
	var warn bool
	ctx, cancel := c.writeContext(ctx)
	defer cancel()
	_, _, err := c.writers.GitTargets.Update(ctx, t.Namespace, t.Name, func(obj runtime.Object) (bool, error) {
		cur := obj.(*v1alpha1.GitTarget)
		transitions, warn = nil, false
		now := c.clock.Now()
		st := &cur.Status
		changed := false
		for _, gate := range v1alpha1.Gates {
			r, ok := ev.gates[gate]
			if !ok {
				continue
			}
			old := conditions.Find(st.Conditions, gate)
			conds, ch, err := conditions.Set(st.Conditions, metav1.Condition{
				Type: gate, Status: r.Status, Reason: r.Reason, Message: r.Message, ObservedGeneration: t.Generation,
			}, now)
			if err != nil {
				return false, err
			}
			if ch {
				changed = true
				st.Conditions = conds
				if old == nil || old.Status != r.Status || old.Reason != r.Reason {
					from := "None"
					if old != nil {
						from = string(old.Status) + "/" + old.Reason
					}
					transitions = append(transitions, fmt.Sprintf("%s: %s -> %s/%s: %s", gate, from, r.Status, r.Reason, r.Message))
					warn = warn || r.Status == metav1.ConditionFalse
				}
			}
		}
		st.Conditions = conditions.Order(st.Conditions, append(append([]string{}, v1alpha1.Gates...), v1alpha1.ConditionReady)...)
		changed = setDetails(st, ev, t.Spec.Path, now) || changed
		if changed {
			ts := metav1.NewTime(now)
			st.LastReconcileTime = &ts
		}
		return changed, nil
	})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if c.recorder != nil {
		for _, tr := range transitions {
			typ := corev1.EventTypeNormal
			if warn {
				typ = corev1.EventTypeWarning
			}
			c.recorder.Event(t, typ, "GateTransition", tr)
		}
	}
	return nil
}

// setDetails updates the observational detail blocks; times move only when what
// they time changed, so a re-evaluation with nothing new writes nothing.
func setDetails(st *v1alpha1.GitTargetStatus, ev *evaluation, path string, now time.Time) bool {
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
	case ev.encryption == nil && st.Encryption != nil && ev.gates[v1alpha1.ConditionEncryptionConfigured].Reason == v1alpha1.ReasonNotRequired:
		st.Encryption, changed = nil, true
	case ev.encryption != nil && (st.Encryption == nil || st.Encryption.RecipientsHash != ev.encryption.RecipientsHash ||
		st.Encryption.SecretRefName != ev.encryption.SecretRefName || st.Encryption.Provider != ev.encryption.Provider):
		e := *ev.encryption
		e.LastValidatedTime = ts(now)
		st.Encryption, changed = &e, true
	}
	if ev.worker != nil && (st.WorkerRef == nil || *st.WorkerRef != *ev.worker) {
		w := *ev.worker
		st.WorkerRef, changed = &w, true
	}
	s := ev.state
	if b := s.Bootstrap; b.Phase == phaseDone {
		want := v1alpha1.BootstrapStatus{TargetPath: displayPath(path), Commit: b.Commit, LastAppliedTime: ts(b.Finished)}
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
	if sn := s.Snapshot; sn.Phase == phaseRunning || sn.Phase == phaseDone {
		want := v1alpha1.SnapshotStatus{StartTime: ts(sn.Started), Stats: sn.Stats}
		if st.Snapshot != nil {
			want.LastCompletedTime, want.Duration, want.Commit = st.Snapshot.LastCompletedTime, st.Snapshot.Duration, st.Snapshot.Commit
		}
		if sn.Phase == phaseDone {
			want.LastCompletedTime = ts(sn.Finished)
			want.Duration = &metav1.Duration{Duration: sn.Finished.Sub(sn.Started).Round(time.Millisecond)}
			want.Commit = sn.Commit
		}
		if st.Snapshot == nil || !snapshotEq(st.Snapshot, &want) {
			st.Snapshot, changed = &want, true
		}
	}
	live := ev.gates[v1alpha1.ConditionEventStreamLive].Reason == v1alpha1.ReasonRegistered ||
		ev.gates[v1alpha1.ConditionEventStreamLive].Reason == v1alpha1.ReasonDisconnected
	if s.Streaming && live {
		want := v1alpha1.StreamStatus{Registered: true, RegisteredTime: ts(s.RegisteredTime), LastEventTime: ts(s.LastEventTime)}
		if st.Stream == nil || st.Stream.Registered != want.Registered || !timeEq(st.Stream.RegisteredTime, want.RegisteredTime) ||
			!timeEq(st.Stream.LastEventTime, want.LastEventTime) {
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
