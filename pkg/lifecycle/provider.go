package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing/transport"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
	"github.com/configbutler/gitops-reverser/pkg/conditions"
	"github.com/configbutler/gitops-reverser/pkg/git"
	"github.com/configbutler/gitops-reverser/pkg/lifecycle/gates"
	"github.com/configbutler/gitops-reverser/pkg/selection"
	"github.com/configbutler/gitops-reverser/pkg/tenancy"
)

// Reasons of the Ready condition of GitProviders, WatchRules and ClusterWatchRules.
const (
	ReasonSecretNotFound      = "SecretNotFound"
	ReasonInvalidCredentials  = "InvalidCredentials"
	ReasonRemoteUnreachable   = "RemoteUnreachable"
	ReasonTargetNotFound      = "TargetNotFound"
	ReasonNoMatchingResources = "NoMatchingResources"
	ReasonDiscoveryFailed     = "DiscoveryFailed"
)

// providerReconciler sets GitProviders' Ready.
type providerReconciler struct{ *shared }

// sync sets a GitProvider's Ready: its credentials Secret is present and well
// formed, and the remote answers ls-remote with them. The remote is probed
// again every ProviderRecheck (reachability has no watch to tell us).
func (r *providerReconciler) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	p, err := r.listers.providers.GitProviders(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	r.queues.providers.AddAfter(key, r.opts.ProviderRecheck)
	if !r.prefers("GitProvider/" + key) {
		return nil
	}
	ready, signing := r.ready(ctx, p), r.signing(ctx, p)
	if signing.err != nil && ready.Status == metav1.ConditionTrue {
		ready = gates.False(ReasonInvalidSigningKey, "Nothing is committed through this provider: "+signing.err.Error())
	}
	return writeReady(ctx, r.shared, r.opts.Writers.GitProviders, ns, name, p.Generation, ready, func(obj runtime.Object) bool {
		st := &obj.(*v1alpha1.GitProvider).Status
		if equality.Semantic.DeepEqual(st.Signing, signing.status) {
			return false
		}
		st.Signing = signing.status
		return true
	})
}

type providerSigning struct {
	status *v1alpha1.SigningStatus
	err    error
}

// signing shows the public half of the provider's signing key in status.
func (r *providerReconciler) signing(ctx context.Context, p *v1alpha1.GitProvider) providerSigning {
	key, _, err := r.source.signingKey(ctx, p, nil)
	if err != nil || key == nil {
		return providerSigning{err: err}
	}
	return providerSigning{status: &v1alpha1.SigningStatus{Fingerprint: key.Fingerprint, PublicKey: key.PublicKey}}
}

func (r *providerReconciler) ready(ctx context.Context, p *v1alpha1.GitProvider) gates.Outcome {
	var data map[string][]byte
	if ref := p.Spec.SecretRef; ref != nil {
		if err := r.source.mayUse(ctx, p.Status.AuthorizedBy, "GitProvider "+p.Namespace+"/"+p.Name,
			tenancy.SecretGet(p.Namespace, ref.Name, "spec.secretRef.name")); err != nil {
			return gates.False(ReasonForbidden, "The credentials are not used: "+err.Error())
		}
		if r.source.kube == nil {
			return gates.False(ReasonSecretNotFound, "Credentials Secret cannot be read: the server has no source cluster (--kubeconfig)")
		}
		s, err := r.source.kube.CoreV1().Secrets(p.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return gates.False(ReasonSecretNotFound, fmt.Sprintf("Credentials Secret %s/%s not found", p.Namespace, ref.Name))
		}
		if err != nil {
			return gates.False(ReasonSecretNotFound, fmt.Sprintf("Credentials Secret %s/%s cannot be read: %v", p.Namespace, ref.Name, err))
		}
		data = s.Data
	}
	auth, err := providerAuth(p, data)
	if err != nil {
		return gates.False(ReasonInvalidCredentials, "Credentials are not usable: "+err.Error())
	}
	lctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	n, err := git.LsRemote(lctx, p.Spec.URL, auth)
	if err != nil {
		// The status says what kind of failure, never what the remote answered
		// (see git.Describe); the log has the whole error.
		klog.InfoS("GitProvider remote check failed", "provider", p.Namespace+"/"+p.Name, "err", err)
	}
	if errors.Is(err, transport.ErrAuthenticationRequired) || errors.Is(err, transport.ErrAuthorizationFailed) {
		return gates.False(ReasonInvalidCredentials, fmt.Sprintf("Remote %s refused the credentials: %s", git.Redact(p.Spec.URL), git.Describe(err)))
	}
	if err != nil {
		return gates.False(ReasonRemoteUnreachable, fmt.Sprintf("Remote %s did not answer: %s", git.Redact(p.Spec.URL), git.Describe(err)))
	}
	return gates.True(v1alpha1.ReasonOK, fmt.Sprintf("Remote reachable with the given credentials (%d refs)", n))
}

// ruleReconciler sets WatchRules' and ClusterWatchRules' Ready.
type ruleReconciler struct{ *shared }

// sync sets a rule's Ready: its target exists and its rules select at least
// one resource type of the source cluster.
func (r *ruleReconciler) sync(ctx context.Context, key string) error {
	if !r.prefers(key) {
		return nil
	}
	kind, rest, _ := strings.Cut(key, "/")
	var (
		gen              int64
		targetNS, target string
		rules            []selection.Rule
		writer           StatusWriter
		ns, name, ref    string
		id               *v1alpha1.AuthorizedIdentity
	)
	switch kind {
	case "WatchRule":
		ns, name, _ = cache.SplitMetaNamespaceKey(rest)
		wr, err := r.listers.rules.WatchRules(ns).Get(name)
		if err != nil {
			return nil
		}
		gen, targetNS, target, rules, writer = wr.Generation, wr.Namespace, wr.Spec.TargetRef.Name, selection.RulesOf(wr), r.opts.Writers.WatchRules
		ref, id = "WatchRule "+ns+"/"+name, wr.Status.AuthorizedBy
	case "ClusterWatchRule":
		name = rest
		cr, err := r.listers.crules.Get(name)
		if err != nil {
			return nil
		}
		gen, targetNS, target, rules, writer = cr.Generation, cr.Spec.TargetRef.Namespace, cr.Spec.TargetRef.Name, r.resolveNamespaces(selection.ClusterRulesOf(cr)), r.opts.Writers.ClusterWatchRules
		ref, id = "ClusterWatchRule "+name, cr.Status.AuthorizedBy
	default:
		return nil
	}
	if r.source.reviewer != nil {
		// Recorded users lose permissions without an event of ours: look again.
		r.queues.rules.AddAfter(key, r.opts.RecheckInterval)
	}
	return writeReady(ctx, r.shared, writer, ns, name, gen, r.ready(ctx, ref, id, rules, targetNS, target), nil)
}

// ready is a rule's Ready: its target exists, its rules select at least one
// type, and every recorded user on its way into Git may read what it selects.
func (r *ruleReconciler) ready(ctx context.Context, ref string, id *v1alpha1.AuthorizedIdentity, rules []selection.Rule, targetNS, target string) gates.Outcome {
	t, err := r.listers.targets.GitTargets(targetNS).Get(target)
	if err != nil {
		return gates.False(ReasonTargetNotFound, fmt.Sprintf("GitTarget '%s/%s' not found", targetNS, target))
	}
	resources, err := r.source.resources.Get()
	if err != nil {
		return gates.False(ReasonDiscoveryFailed, err.Error())
	}
	if len(selectAll(resources, rules)) == 0 {
		return gates.False(ReasonNoMatchingResources, "The rules select no listable and watchable resource type of the cluster")
	}
	p := r.listers.provider(t.Namespace, t.Spec.ProviderRef.Name)
	sel, denied, err := r.ruleSelection(ctx, resources, rules, chainOf(ref, id, t, p))
	if len(denied) > 0 || err != nil {
		msg := tenancy.Summary(denied)
		if err != nil {
			msg = strings.TrimPrefix(msg+"; review failed: "+err.Error(), "; ")
		}
		if len(sel) == 0 {
			return gates.False(ReasonForbidden, msg+". Nothing the rules select is mirrored")
		}
		return gates.False(ReasonForbidden, fmt.Sprintf("%s. Mirrored are only %s", msg, strings.Join(sel.Names(), ", ")))
	}
	return gates.True(v1alpha1.ReasonOK, fmt.Sprintf("Selects %d resource type(s): %s", len(sel), strings.Join(sel.Names(), ", ")))
}

// writeReady sets the Ready condition of a provider or rule through its
// writer, and whatever more (when set) changes.
func writeReady(ctx context.Context, s *shared, w StatusWriter, ns, name string, gen int64, o gates.Outcome, more func(runtime.Object) bool) error {
	if w == nil {
		return nil
	}
	ctx, cancel := s.writeContext(ctx)
	defer cancel()
	_, _, err := w.Update(ctx, ns, name, func(obj runtime.Object) (bool, error) {
		conds, og := readyFields(obj)
		out, changed, err := conditions.Set(*conds, metav1.Condition{
			Type: v1alpha1.ConditionReady, Status: o.Status, Reason: o.Reason, Message: o.Message, ObservedGeneration: gen,
		}, s.opts.Clock.Now())
		if err != nil {
			return false, err
		}
		*conds = out
		if *og != gen {
			*og, changed = gen, true
		}
		if more != nil && more(obj) {
			changed = true
		}
		return changed, nil
	})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

func readyFields(obj runtime.Object) (*[]metav1.Condition, *int64) {
	switch o := obj.(type) {
	case *v1alpha1.GitProvider:
		return &o.Status.Conditions, &o.Status.ObservedGeneration
	case *v1alpha1.WatchRule:
		return &o.Status.Conditions, &o.Status.ObservedGeneration
	case *v1alpha1.ClusterWatchRule:
		return &o.Status.Conditions, &o.Status.ObservedGeneration
	}
	panic(fmt.Sprintf("no Ready condition on %T", obj))
}
