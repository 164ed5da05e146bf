package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing/transport"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/cache"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
	"github.com/configbutler/gitops-reverser/pkg/conditions"
	"github.com/configbutler/gitops-reverser/pkg/git"
	"github.com/configbutler/gitops-reverser/pkg/lifecycle/gates"
	"github.com/configbutler/gitops-reverser/pkg/selection"
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
	return writeReady(ctx, r.shared, r.opts.Writers.GitProviders, ns, name, p.Generation, r.ready(ctx, p))
}

func (r *providerReconciler) ready(ctx context.Context, p *v1alpha1.GitProvider) gates.Outcome {
	var data map[string][]byte
	if ref := p.Spec.SecretRef; ref != nil {
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
	if errors.Is(err, transport.ErrAuthenticationRequired) || errors.Is(err, transport.ErrAuthorizationFailed) {
		return gates.False(ReasonInvalidCredentials, fmt.Sprintf("Remote %s refused the credentials: %v", git.Redact(p.Spec.URL), err))
	}
	if err != nil {
		return gates.False(ReasonRemoteUnreachable, fmt.Sprintf("Remote %s did not answer: %v", git.Redact(p.Spec.URL), err))
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
		ns, name         string
	)
	switch kind {
	case "WatchRule":
		ns, name, _ = cache.SplitMetaNamespaceKey(rest)
		wr, err := r.listers.rules.WatchRules(ns).Get(name)
		if err != nil {
			return nil
		}
		gen, targetNS, target, rules, writer = wr.Generation, wr.Namespace, wr.Spec.TargetRef.Name, selection.RulesOf(wr), r.opts.Writers.WatchRules
	case "ClusterWatchRule":
		name = rest
		cr, err := r.listers.crules.Get(name)
		if err != nil {
			return nil
		}
		gen, targetNS, target, rules, writer = cr.Generation, cr.Spec.TargetRef.Namespace, cr.Spec.TargetRef.Name, selection.ClusterRulesOf(cr), r.opts.Writers.ClusterWatchRules
	default:
		return nil
	}
	var ready gates.Outcome
	if _, err := r.listers.targets.GitTargets(targetNS).Get(target); err != nil {
		ready = gates.False(ReasonTargetNotFound, fmt.Sprintf("GitTarget '%s/%s' not found", targetNS, target))
	} else if resources, err := r.source.apiResources(); err != nil {
		ready = gates.False(ReasonDiscoveryFailed, err.Error())
	} else {
		var sels []selection.Selection
		for _, rule := range rules {
			sels = append(sels, rule.Select(resources))
		}
		if sel := selection.Merge(sels...); len(sel) == 0 {
			ready = gates.False(ReasonNoMatchingResources, "The rules select no listable and watchable resource type of the cluster")
		} else {
			ready = gates.True(v1alpha1.ReasonOK, fmt.Sprintf("Selects %d resource type(s): %s", len(sel), strings.Join(sel.Names(), ", ")))
		}
	}
	return writeReady(ctx, r.shared, writer, ns, name, gen, ready)
}

// writeReady sets the Ready condition of a provider or rule through its writer.
func writeReady(ctx context.Context, s *shared, w StatusWriter, ns, name string, gen int64, o gates.Outcome) error {
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
