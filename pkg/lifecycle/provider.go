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

// syncProvider sets a GitProvider's Ready: its credentials Secret is present and
// well formed, and the remote answers ls-remote with them. The remote is probed
// again every ProviderRecheck (reachability has no watch to tell us).
func (c *Controller) syncProvider(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	p, err := c.providers.GitProviders(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	c.providerQueue.AddAfter(key, c.opts.ProviderRecheck)
	if !c.prefers("GitProvider/" + key) {
		return nil
	}
	ready := c.providerReady(ctx, p)
	return c.writeReady(ctx, c.writers.GitProviders, ns, name, p.Generation, ready)
}

func (c *Controller) providerReady(ctx context.Context, p *v1alpha1.GitProvider) gateResult {
	var data map[string][]byte
	if ref := p.Spec.SecretRef; ref != nil {
		if c.kube == nil {
			return falseGate(ReasonSecretNotFound, "Credentials Secret cannot be read: the server has no source cluster (--kubeconfig)")
		}
		s, err := c.kube.CoreV1().Secrets(p.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return falseGate(ReasonSecretNotFound, fmt.Sprintf("Credentials Secret %s/%s not found", p.Namespace, ref.Name))
		}
		if err != nil {
			return falseGate(ReasonSecretNotFound, fmt.Sprintf("Credentials Secret %s/%s cannot be read: %v", p.Namespace, ref.Name, err))
		}
		data = s.Data
	}
	auth, err := providerAuth(p, data)
	if err != nil {
		return falseGate(ReasonInvalidCredentials, "Credentials are not usable: "+err.Error())
	}
	lctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	n, err := git.LsRemote(lctx, p.Spec.URL, auth)
	if errors.Is(err, transport.ErrAuthenticationRequired) || errors.Is(err, transport.ErrAuthorizationFailed) {
		return falseGate(ReasonInvalidCredentials, fmt.Sprintf("Remote %s refused the credentials: %v", git.Redact(p.Spec.URL), err))
	}
	if err != nil {
		return falseGate(ReasonRemoteUnreachable, fmt.Sprintf("Remote %s did not answer: %v", git.Redact(p.Spec.URL), err))
	}
	return trueGate(v1alpha1.ReasonOK, fmt.Sprintf("Remote reachable with the given credentials (%d refs)", n))
}

// syncRule sets a WatchRule's or ClusterWatchRule's Ready: its target exists and
// its rules select at least one resource type of the source cluster.
func (c *Controller) syncRule(ctx context.Context, key string) error {
	if !c.prefers(key) {
		return nil
	}
	kind, rest, _ := strings.Cut(key, "/")
	var (
		gen      int64
		targetNS string
		target   string
		wrs      []*v1alpha1.WatchRule
		cwrs     []*v1alpha1.ClusterWatchRule
		writer   StatusWriter
		ns, name string
	)
	switch kind {
	case "WatchRule":
		ns, name, _ = cache.SplitMetaNamespaceKey(rest)
		r, err := c.rules.WatchRules(ns).Get(name)
		if err != nil {
			return nil
		}
		gen, targetNS, target, wrs, writer = r.Generation, r.Namespace, r.Spec.TargetRef.Name, []*v1alpha1.WatchRule{r}, c.writers.WatchRules
	case "ClusterWatchRule":
		name = rest
		r, err := c.crules.Get(name)
		if err != nil {
			return nil
		}
		gen, targetNS, target, cwrs, writer = r.Generation, r.Spec.TargetRef.Namespace, r.Spec.TargetRef.Name, []*v1alpha1.ClusterWatchRule{r}, c.writers.ClusterWatchRules
	default:
		return nil
	}
	var ready gateResult
	if _, err := c.targets.GitTargets(targetNS).Get(target); err != nil {
		ready = falseGate(ReasonTargetNotFound, fmt.Sprintf("GitTarget '%s/%s' not found", targetNS, target))
	} else if resources, err := c.apiResources(); err != nil {
		ready = falseGate(ReasonDiscoveryFailed, err.Error())
	} else if sel := resolveSelection(resources, wrs, cwrs); len(sel) == 0 {
		ready = falseGate(ReasonNoMatchingResources, "The rules select no listable and watchable resource type of the cluster")
	} else {
		var names []string
		for _, gvr := range sel.GVRs() {
			names = append(names, gvr.Resource+"."+gvr.Version+"."+gvr.Group)
		}
		ready = trueGate(v1alpha1.ReasonOK, fmt.Sprintf("Selects %d resource type(s): %s", len(sel), strings.TrimSuffix(strings.Join(names, ", "), ".")))
	}
	return c.writeReady(ctx, writer, ns, name, gen, ready)
}

// writeReady sets the Ready condition of a provider or rule through its writer.
func (c *Controller) writeReady(ctx context.Context, w StatusWriter, ns, name string, gen int64, r gateResult) error {
	if w == nil {
		return nil
	}
	ctx, cancel := c.writeContext(ctx)
	defer cancel()
	_, _, err := w.Update(ctx, ns, name, func(obj runtime.Object) (bool, error) {
		conds, og := readyFields(obj)
		out, changed, err := conditions.Set(*conds, metav1.Condition{
			Type: v1alpha1.ConditionReady, Status: r.Status, Reason: r.Reason, Message: r.Message, ObservedGeneration: gen,
		}, c.clock.Now())
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
