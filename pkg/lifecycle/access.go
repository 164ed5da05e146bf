package lifecycle

import (
	"context"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apiserver/pkg/authentication/serviceaccount"
	"k8s.io/client-go/tools/cache"
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
func chainOf(rule tenancy.Link, t *v1alpha1.GitTarget, p *v1alpha1.GitProvider) []tenancy.Link {
	links := []tenancy.Link{rule, {Ref: "GitTarget " + t.Namespace + "/" + t.Name, Identity: t.Status.AuthorizedBy}}
	// A Flux GitRepository records no user: it is used for the target's,
	// already on the chain.
	if p != nil && !isFluxProvider(p) {
		links = append(links, tenancy.Link{Ref: "GitProvider " + p.Namespace + "/" + p.Name, Identity: p.Status.AuthorizedBy})
	}
	return links
}

// watchRuleLink is a WatchRule on its way into Git.
func watchRuleLink(r *v1alpha1.WatchRule) tenancy.Link {
	return tenancy.Link{Ref: "WatchRule " + r.Namespace + "/" + r.Name, Identity: r.Status.AuthorizedBy}
}

// clusterWatchRuleLink is a ClusterWatchRule on its way into Git. Its user
// must still be allowed to update the GitTarget it points at, as at
// admission: it writes into another namespace's repository with that
// target's credentials, and losing that permission must stop it, not only
// losing the right to read what it selects.
func clusterWatchRuleLink(r *v1alpha1.ClusterWatchRule) tenancy.Link {
	ref := r.Spec.TargetRef
	return tenancy.Link{Ref: "ClusterWatchRule " + r.Name, Identity: r.Status.AuthorizedBy,
		Requires: []tenancy.Check{tenancy.TargetUpdate(ref.Namespace, ref.Name, "spec.targetRef")}}
}

// ruleSelection is what one rule object mirrors into target t: what its rules
// select, without the types its wildcards leave out (serverreads.go), and
// with tenancy, only what every identity on its way may list and watch.
func (s *shared) ruleSelection(ctx context.Context, resources []selection.APIResource, rules []selection.Rule,
	links []tenancy.Link) reviewedSelection {
	sel, left := s.leaveOutUnreadable(ctx, resources, rules, selectAll(resources, rules))
	if s.source.reviewer == nil {
		return reviewedSelection{sel: sel, leftOut: left}
	}
	sel, denied, err := tenancy.Filter(ctx, s.source.reviewer, sel, links)
	return reviewedSelection{sel: sel, denied: denied, leftOut: left, err: err}
}

// reviewedSelection is a rule object's selection once reviewed: what it
// mirrors (sel), what its users may not read (denied; err: a review that
// could not be made), and the types its wildcards left out because the
// server may not read them.
type reviewedSelection struct {
	sel     selection.Selection
	denied  []tenancy.Denial
	leftOut []string
	err     error
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
	p, _ := s.listers.provider(t.Namespace, t.Spec.ProviderRef)
	var sels []selection.Selection
	add := func(rule tenancy.Link, rules []selection.Rule) {
		rs := s.ruleSelection(ctx, resources, rules, chainOf(rule, t, p))
		if rs.err != nil {
			klog.InfoS("Reviewing a rule's users failed; what could not be reviewed is not mirrored", "rule", rule.Ref, "err", rs.err)
		}
		sels = append(sels, rs.sel)
	}
	for _, r := range wrs {
		add(watchRuleLink(r), selection.RulesOf(r))
	}
	for _, r := range cwrs {
		add(clusterWatchRuleLink(r), s.resolveNamespaces(selection.ClusterRulesOf(r)))
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

// rbacScope is what a change of an RBAC object or ServiceAccount (resource,
// from old to obj; old nil for a creation, obj nil for a deletion) may change
// of the recorded identities' verdicts; ok is false when nothing.
//
//   - A Role or RoleBinding grants only in its namespace: the verdicts of
//     permissions there.
//   - A ClusterRole (aggregated ones too) or ClusterRoleBinding may grant
//     anything anywhere: every verdict.
//   - A ServiceAccount's recorded user is allowed nothing once its account
//     is deleted or replaced (pkg/tenancy Reviewer.accountExists): the
//     verdicts of that one user, when one is deleted or created (a user
//     recorded without a UID may do again what a new account of its name
//     may). An update keeping the UID changes nothing.
//   - An update that is no change (the same resourceVersion, as after a
//     relist) changes nothing.
func rbacScope(resource string, old, obj metav1.Object) (tenancy.Scope, bool) {
	o := obj
	if o == nil {
		o = old
	}
	if o == nil {
		return tenancy.Scope{}, false
	}
	if old != nil && obj != nil && old.GetResourceVersion() != "" && old.GetResourceVersion() == obj.GetResourceVersion() {
		return tenancy.Scope{}, false // a relist's update of an unchanged object
	}
	switch resource {
	case "roles", "rolebindings":
		if o.GetNamespace() == "" { // never so; not worth a guess
			return tenancy.AllScope, true
		}
		return tenancy.Scope{Namespace: o.GetNamespace()}, true
	case "clusterroles", "clusterrolebindings":
		return tenancy.AllScope, true
	case "serviceaccounts":
		if old != nil && obj != nil && old.GetUID() == obj.GetUID() {
			return tenancy.Scope{}, false
		}
		return tenancy.Scope{User: serviceaccount.MakeUsername(o.GetNamespace(), o.GetName())}, true
	}
	return tenancy.AllScope, true
}

// rbacWatch turns changes of RBAC objects and ServiceAccounts into re-checks
// of what they may have changed: the verdicts in their scopes are forgotten
// and, when any was, everything re-evaluated (the verdicts not forgotten are
// cached, so only the forgotten ones are asked again). Twice: once the
// changes settled (kube-apiserver's authorizer learns of them through its
// own watch), and a few seconds later, in case the first review was answered
// before kube-apiserver's authorizer caught up. Each pass takes every change
// since the last one: a loop of N changes makes a pass or two, not N.
type rbacWatch struct {
	// invalidate forgets the verdicts in scopes and reports whether any was
	// (tenancy.Reviewer.Invalidate); recheck re-evaluates.
	invalidate func(scopes ...tenancy.Scope) bool
	recheck    func()
	// now and after are the clock (default: the real one).
	now   func() time.Time
	after func(time.Duration, func())

	mu     sync.Mutex
	passes [2]rbacPass
}

// rbacPass is one of the two re-check passes: the scopes of the changes it
// is to take, each with its latest change, and the first change's time.
type rbacPass struct {
	scopes map[tenancy.Scope]time.Time
	first  time.Time
	armed  bool
}

// rbacSettle: a pass runs when no change came for settle, or at the latest
// maxWait after the first change it takes (a steady stream of changes does
// not hold it back). The second pass comes at least settle after each
// change: one that came too recently for it is taken once more by the next.
var rbacSettle = [2]struct{ settle, maxWait time.Duration }{
	{settle: time.Second, maxWait: 5 * time.Second},
	{settle: 5 * time.Second, maxWait: 30 * time.Second},
}

func newRBACWatch(invalidate func(...tenancy.Scope) bool, recheck func()) *rbacWatch {
	return &rbacWatch{invalidate: invalidate, recheck: recheck, now: time.Now,
		after: func(d time.Duration, f func()) { time.AfterFunc(d, f) }}
}

// handler feeds the changes of resource to the watch.
func (w *rbacWatch) handler(resource string) cache.ResourceEventHandler {
	meta := func(obj interface{}) metav1.Object {
		if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = t.Obj
		}
		m, _ := obj.(metav1.Object)
		return m
	}
	changed := func(old, obj metav1.Object) {
		if s, ok := rbacScope(resource, old, obj); ok {
			w.changed(s)
		}
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj interface{}) { changed(nil, meta(obj)) },
		UpdateFunc: func(old, obj interface{}) { changed(meta(old), meta(obj)) },
		DeleteFunc: func(obj interface{}) { changed(meta(obj), nil) },
	}
}

// changed takes a change of scope s into both passes.
func (w *rbacWatch) changed(s tenancy.Scope) {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.now()
	for i := range w.passes {
		p := &w.passes[i]
		if len(p.scopes) == 0 {
			p.scopes, p.first = map[tenancy.Scope]time.Time{}, now
		}
		in := s
		if _, all := p.scopes[tenancy.AllScope]; all || s.All {
			clear(p.scopes) // everything is invalidated anyway
			in = tenancy.AllScope
		}
		p.scopes[in] = now
		if !p.armed {
			p.armed = true
			w.after(rbacSettle[i].settle, func() { w.fire(i) })
		}
	}
}

// fire runs pass i if its changes settled, or waits on.
func (w *rbacWatch) fire(i int) {
	w.mu.Lock()
	p := &w.passes[i]
	now := w.now()
	var last time.Time
	for _, t := range p.scopes {
		if t.After(last) {
			last = t
		}
	}
	due := last.Add(rbacSettle[i].settle)
	if latest := p.first.Add(rbacSettle[i].maxWait); latest.Before(due) {
		due = latest
	}
	if wait := due.Sub(now); wait > 0 {
		w.after(wait, func() { w.fire(i) })
		w.mu.Unlock()
		return
	}
	scopes := make([]tenancy.Scope, 0, len(p.scopes))
	again := map[tenancy.Scope]time.Time{}
	for s, t := range p.scopes {
		scopes = append(scopes, s)
		if i > 0 && now.Sub(t) < rbacSettle[i].settle {
			again[s] = t // too recent for a catch-up: once more
		}
	}
	p.scopes, p.first, p.armed = again, now, len(again) > 0
	if p.armed {
		w.after(rbacSettle[i].settle, func() { w.fire(i) })
	}
	w.mu.Unlock()
	if len(scopes) > 0 && w.invalidate(scopes...) {
		w.recheck()
	}
}
