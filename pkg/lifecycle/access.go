package lifecycle

import (
	"context"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/klog/v2"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
	"github.com/configbutler/gitops-reverser/pkg/selection"
	"github.com/configbutler/gitops-reverser/pkg/tenancy"
)

// ReasonForbidden is the Ready reason of a rule whose recorded users (the
// rule's, its target's or the target's provider's) may not read some of what
// it selects: that part is not mirrored.
const ReasonForbidden = "Forbidden"

// chainOf is the way of a rule's data into Git: the rule, its target and the
// target's provider, with the identity recorded on each (pkg/tenancy).
func chainOf(ruleRef string, ruleID *v1alpha1.AuthorizedIdentity, t *v1alpha1.GitTarget, p *v1alpha1.GitProvider) []tenancy.Link {
	links := []tenancy.Link{{Ref: ruleRef, Identity: ruleID}, {Ref: "GitTarget " + t.Namespace + "/" + t.Name, Identity: t.Status.AuthorizedBy}}
	if p != nil {
		links = append(links, tenancy.Link{Ref: "GitProvider " + p.Namespace + "/" + p.Name, Identity: p.Status.AuthorizedBy})
	}
	return links
}

// ruleSelection is what one rule object mirrors into target t: what its rules
// select, and with tenancy, only what every identity on its way may list and
// watch (the denials say what not).
func (s *shared) ruleSelection(ctx context.Context, resources []selection.APIResource, rules []selection.Rule,
	links []tenancy.Link) (selection.Selection, []tenancy.Denial, error) {
	sel := selectAll(resources, rules)
	if s.source.reviewer == nil {
		return sel, nil, nil
	}
	return tenancy.Filter(ctx, s.source.reviewer, sel, links)
}

// selectAll is what rules select, before any review.
func selectAll(resources []selection.APIResource, rules []selection.Rule) selection.Selection {
	var sels []selection.Selection
	for _, r := range rules {
		sels = append(sels, r.Select(resources))
	}
	return selection.Merge(sels...)
}

// targetSelection is what a target mirrors: the union of its rules'
// selections, each filtered by its chain of recorded identities. A review that
// could not be done denies (nothing is mirrored on a guess); the rule's Ready
// says so and the next re-check tries again.
func (s *shared) targetSelection(ctx context.Context, t *v1alpha1.GitTarget) (selection.Selection, error) {
	resources, err := s.source.resources.Get()
	if err != nil {
		return nil, err
	}
	wrs, cwrs := s.listers.rulesFor(t)
	p := s.listers.provider(t.Namespace, t.Spec.ProviderRef.Name)
	var sels []selection.Selection
	add := func(ref string, rules []selection.Rule, id *v1alpha1.AuthorizedIdentity) {
		sel, _, err := s.ruleSelection(ctx, resources, rules, chainOf(ref, id, t, p))
		if err != nil {
			klog.InfoS("Reviewing a rule's users failed; what could not be reviewed is not mirrored", "rule", ref, "err", err)
		}
		sels = append(sels, sel)
	}
	for _, r := range wrs {
		add("WatchRule "+r.Namespace+"/"+r.Name, selection.RulesOf(r), r.Status.AuthorizedBy)
	}
	for _, r := range cwrs {
		add("ClusterWatchRule "+r.Name, s.resolveNamespaces(selection.ClusterRulesOf(r)), r.Status.AuthorizedBy)
	}
	return selection.Merge(sels...), nil
}

// resolveNamespaces fills in the namespaces each rule's namespaceSelector
// matches now.
func (s *shared) resolveNamespaces(rules []selection.Rule) []selection.Rule {
	for i, r := range rules {
		if r.NamespaceSelector == nil {
			continue
		}
		matched := sets.New[string]()
		if s.namespaces != nil {
			all, _ := s.namespaces.List(labels.Everything())
			for _, o := range all {
				if m, ok := o.(metav1.Object); ok && r.NamespaceSelector.Matches(labels.Set(m.GetLabels())) {
					matched.Insert(m.GetName())
				}
			}
		}
		rules[i].SelectedNamespaces = matched
	}
	return rules
}

// rbacWatch turns changes of RBAC objects into a re-check of every recorded
// identity: the verdicts are forgotten and everything re-evaluated, once soon
// after the change (kube-apiserver's authorizer learns of it through its own
// watch) and once a few seconds later, in case the first review was answered
// before kube-apiserver's authorizer caught up.
type rbacWatch struct {
	mu      sync.Mutex
	pending bool
	recheck func()
}

// rbacSettle are the delays of the two re-checks after an RBAC change.
var rbacSettle = []time.Duration{time.Second, 5 * time.Second}

func (w *rbacWatch) changed() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.pending {
		return
	}
	w.pending = true
	time.AfterFunc(rbacSettle[0], func() {
		w.mu.Lock()
		w.pending = false
		w.mu.Unlock()
		w.recheck()
	})
	time.AfterFunc(rbacSettle[1], w.recheck)
}
