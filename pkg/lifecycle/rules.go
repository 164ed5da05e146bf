package lifecycle

import (
	"context"
	"fmt"
	"strings"

	"k8s.io/client-go/tools/cache"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
	"github.com/configbutler/gitops-reverser/pkg/lifecycle/gates"
	"github.com/configbutler/gitops-reverser/pkg/selection"
	"github.com/configbutler/gitops-reverser/pkg/tenancy"
)

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
		link             tenancy.Link
	)
	switch kind {
	case "WatchRule":
		ns, name, _ = cache.SplitMetaNamespaceKey(rest)
		wr, err := r.listers.rules.WatchRules(ns).Get(name)
		if err != nil {
			return nil
		}
		gen, targetNS, target, rules, writer = wr.Generation, wr.Namespace, wr.Spec.TargetRef.Name, selection.RulesOf(wr), r.opts.Writers.WatchRules
		link = watchRuleLink(wr)
	case "ClusterWatchRule":
		name = rest
		cr, err := r.listers.crules.Get(name)
		if err != nil {
			return nil
		}
		gen, targetNS, target, rules, writer = cr.Generation, cr.Spec.TargetRef.Namespace, cr.Spec.TargetRef.Name, r.resolveNamespaces(selection.ClusterRulesOf(cr)), r.opts.Writers.ClusterWatchRules
		link = clusterWatchRuleLink(cr)
	default:
		return nil
	}
	if r.source.reviewer != nil {
		// Recorded users lose permissions without an event of ours: look again.
		r.queues.rules.AddAfter(key, r.opts.RecheckInterval)
	}
	return writeReady(ctx, r.shared, writer, ns, name, gen, r.ready(ctx, link, rules, targetNS, target), nil)
}

// ready is a rule's Ready: its target exists, its rules select at least one
// type, and every recorded user on its way into Git may read what it selects.
func (r *ruleReconciler) ready(ctx context.Context, rule tenancy.Link, rules []selection.Rule, targetNS, target string) gates.Outcome {
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
	p, _ := r.listers.provider(t.Namespace, t.Spec.ProviderRef)
	rs := r.ruleSelection(ctx, resources, rules, chainOf(rule, t, p))
	sel, left := rs.sel, leftOutMessage(rs.leftOut)
	if len(rs.denied) > 0 || rs.err != nil {
		msg := tenancy.Summary(rs.denied)
		if rs.err != nil {
			msg = strings.TrimPrefix(msg+"; review failed: "+rs.err.Error(), "; ")
		}
		if len(sel) == 0 {
			return gates.False(ReasonForbidden, msg+". Nothing the rules select is mirrored"+left)
		}
		return gates.False(ReasonForbidden, fmt.Sprintf("%s. Mirrored are only %s%s", msg, strings.Join(sel.Names(), ", "), left))
	}
	if len(sel) == 0 {
		return gates.False(ReasonServerMayNotRead, "Nothing the rules select is mirrored"+left)
	}
	return gates.True(v1alpha1.ReasonOK, fmt.Sprintf("Selects %d resource type(s): %s%s", len(sel), strings.Join(sel.Names(), ", "), left))
}
