package lifecycle

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
	"github.com/configbutler/gitops-reverser/pkg/lifecycle/gates"
	"github.com/configbutler/gitops-reverser/pkg/lifecycle/mirror"
	"github.com/configbutler/gitops-reverser/pkg/tenancy"
)

// targetReconciler is the edge around gates.Evaluate for GitTargets: it
// assembles the View (fetching the inputs Evaluate asks for), runs the
// decision's effects, and writes the status.
type targetReconciler struct{ *shared }

// sync evaluates a target's gates, runs the effects and writes the status when
// it changed.
func (r *targetReconciler) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	t, err := r.listers.targets.GitTargets(ns).Get(name)
	if apierrors.IsNotFound(err) || (err == nil && t.DeletionTimestamp != nil) {
		r.release(key, true)
		return nil
	}
	if err != nil {
		return err
	}
	// Only the targets that can conflict with t: same branch, overlapping path.
	near := overlapping(r.listers.targetIndex, t, func() []*v1alpha1.GitTarget {
		all, _ := r.listers.targets.List(labels.Everything())
		return all
	})
	v := &gates.View{
		Target: t, Targets: near, Providers: r.listers.provider, Now: r.opts.Clock.Now(),
		Prefers: r.prefers(key), State: r.states.get(key),
		Source: gates.Source{Kube: r.source.kube != nil, Stream: r.router != nil && r.opts.Dynamic != nil, Connected: true},
	}
	if r.router != nil {
		v.Source.Connected, v.Source.Why = r.router.Connected()
		v.Source.Refused = r.router.Refused(key)
		v.Live = r.router.Live(key)
	}
	var d gates.Decision
	for i := 0; ; i++ {
		if d = gates.Evaluate(v); d.Need == gates.NeedNothing {
			break
		}
		if i > 8 {
			return fmt.Errorf("evaluating %s: input %d asked for again", key, d.Need)
		}
		r.fetch(ctx, v, d)
	}
	r.runEffects(key, v, d)
	if !d.SkipWrite {
		if err := r.write(ctx, t, &d, r.states.get(key)); err != nil {
			return err
		}
	}
	if d.Requeue > 0 {
		r.queues.targets.AddAfter(key, d.Requeue)
	}
	return nil
}

// fetch reads the input a decision asks for into the view.
func (r *targetReconciler) fetch(ctx context.Context, v *gates.View, d gates.Decision) {
	t, res := v.Target, d.Resolved
	key := t.Namespace + "/" + t.Name
	switch d.Need {
	case gates.NeedOwnership:
		o := &gates.Ownership{Owned: true, Preferred: true}
		if own := r.opts.Ownership; own != nil {
			o.Owned, o.Err = own.Acquire(ctx, res.Key.String())
			o.Preferred = r.prefers(res.Key.String())
		}
		v.Ownership = o
	case gates.NeedKeySecret:
		name := t.Spec.Encryption.SecretRef.Name
		v.KeySecret = r.source.keySecret(ctx, t.Namespace, name)
		if v.KeySecret.Found {
			// The server reads it for the target's author, who must be able to.
			if err := r.source.mayUse(ctx, t.Status.AuthorizedBy, "GitTarget "+key, tenancy.SecretGet(t.Namespace, name, "")); err != nil {
				v.KeySecret = &gates.KeySecret{Err: err}
			}
		}
	case gates.NeedCreateKeySecret:
		if err := r.source.mayUse(ctx, t.Status.AuthorizedBy, "GitTarget "+key, tenancy.SecretCreate(t.Namespace, "")); err != nil {
			v.KeySecret = &gates.KeySecret{CreateErr: err}
			return
		}
		v.KeySecret = r.source.createKeySecret(ctx, t)
	case gates.NeedCredentials:
		v.Credentials = r.source.credentials(ctx, res.Provider, t)
	case gates.NeedWorker:
		r.workers.ReleaseTarget(key, res.Key) // a target that moved branch leaves its old worker
		w := r.workers.EnsureWorker(res.Key, v.Credentials.Config, key)
		v.Worker = &gates.Worker{UID: w.UID}
		if own := r.opts.Ownership; own != nil {
			v.Worker.Replica, v.Worker.Lease = own.Name(), own.Lease()
		}
	case gates.NeedSelection:
		sel, err := r.targetSelection(ctx, t)
		v.Selection = &gates.Selected{Selection: sel, Err: err}
	}
}

// runEffects runs a decision's effects, in order.
func (r *targetReconciler) runEffects(key string, v *gates.View, d gates.Decision) {
	for _, e := range d.Effects {
		switch e := e.(type) {
		case gates.Release:
			r.release(key, false)
		case gates.ReportUnreachable:
			if r.router != nil {
				r.router.ReportUnreachable(e.Err)
			}
		case gates.ResetState:
			r.states.update(key, func(gates.State) gates.State { return gates.State{Worker: e.Worker} })
		case gates.StartBootstrap:
			r.states.update(key, func(s gates.State) gates.State { return s.StartBootstrap(e.Fingerprint, e.Target.Path) })
			if w := r.workers.Get(d.Resolved.Key); w != nil {
				w.RequestBootstrap(e.Target, e.Fingerprint)
			}
		case gates.Restrict:
			// What the target may no longer mirror stops now, not after the
			// snapshot of its new selection: the stream stops routing it and
			// the worker drops what it had not committed yet.
			if r.router != nil && r.router.Restrict(key, e.Selection) {
				// The stream was narrowed under the last snapshot: the next
				// widening must come with a snapshot, so this one no longer
				// counts as done.
				r.states.update(key, func(s gates.State) gates.State { s.Snapshot = gates.Op{}; return s })
			}
			if w := r.workers.Get(d.Resolved.Key); w != nil {
				w.Restrict(key, e.Selection)
			}
		case gates.StartSnapshot:
			r.states.update(key, func(s gates.State) gates.State { return s.StartSnapshot(e.Fingerprint, e.Target.Path) })
			if w := r.workers.Get(d.Resolved.Key); w != nil {
				w.RequestSnapshot(e.Target, e.Fingerprint)
			}
		default:
			klog.InfoS("Unknown lifecycle effect", "effect", fmt.Sprintf("%T", e))
		}
	}
}

// release stops a target's writing: its stream, its branch workers, and its
// state (forgotten when the target is gone).
func (r *targetReconciler) release(key string, gone bool) {
	if r.router != nil {
		r.router.Unregister(key)
	}
	r.workers.ReleaseTarget(key, mirror.BranchKey{})
	if gone {
		r.states.delete(key)
	} else {
		r.states.update(key, func(gates.State) gates.State { return gates.State{} })
	}
}

// write writes the gates and detail blocks when they changed, and records an
// Event for every gate transition.
func (r *targetReconciler) write(ctx context.Context, t *v1alpha1.GitTarget, d *gates.Decision, s gates.State) error {
	var transitions []gates.Transition
	ctx, cancel := r.writeContext(ctx)
	defer cancel()
	_, _, err := r.opts.Writers.GitTargets.Update(ctx, t.Namespace, t.Name, func(obj runtime.Object) (bool, error) {
		cur := obj.(*v1alpha1.GitTarget)
		changed, tr, err := gates.WriteStatus(&cur.Status, d, s, t.Spec.Path, t.Generation, r.opts.Clock.Now())
		transitions = tr
		return changed, err
	})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if r.recorder != nil {
		for _, tr := range transitions {
			r.recorder.Event(t, tr.EventType(), "GateTransition", tr.Message())
		}
	}
	return nil
}
