package lifecycle

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
	cblisters "github.com/configbutler/gitops-reverser/pkg/generated/listers/configbutler/v1alpha1"
	"github.com/configbutler/gitops-reverser/pkg/lifecycle/gates"
	"github.com/configbutler/gitops-reverser/pkg/lifecycle/mirror"
	"github.com/configbutler/gitops-reverser/pkg/metrics"
)

// listers read our own kinds from the informers' caches.
type listers struct {
	providers cblisters.GitProviderLister
	targets   cblisters.GitTargetLister
	rules     cblisters.WatchRuleLister
	crules    cblisters.ClusterWatchRuleLister
	// targetIndex finds overlapping targets (overlapIndex; nil: none).
	targetIndex cache.Indexer
	// flux finds Flux GitRepositories (nil without a source cluster).
	flux *fluxRepos
}

// provider finds what a providerRef names (see gates.ProviderLookup).
func (l listers) provider(ns string, ref v1alpha1.GitProviderReference) (*v1alpha1.GitProvider, string) {
	if ref.IsFlux() {
		repo, why := l.flux.get(ns, ref.Name)
		if repo == nil {
			return nil, why
		}
		return providerFromFlux(repo), ""
	}
	p, err := l.providers.GitProviders(ns).Get(ref.Name)
	if err != nil {
		return nil, fmt.Sprintf("Referenced GitProvider '%s/%s' not found", ns, ref.Name)
	}
	return p, ""
}

// rulesFor returns the WatchRules and ClusterWatchRules that point at a target.
func (l listers) rulesFor(t *v1alpha1.GitTarget) ([]*v1alpha1.WatchRule, []*v1alpha1.ClusterWatchRule) {
	var wrs []*v1alpha1.WatchRule
	all, _ := l.rules.WatchRules(t.Namespace).List(labels.Everything())
	for _, r := range all {
		if r.Spec.TargetRef.Name == t.Name && r.DeletionTimestamp == nil {
			wrs = append(wrs, r)
		}
	}
	var cwrs []*v1alpha1.ClusterWatchRule
	allc, _ := l.crules.List(labels.Everything())
	for _, r := range allc {
		if r.Spec.TargetRef.Namespace == t.Namespace && r.Spec.TargetRef.Name == t.Name && r.DeletionTimestamp == nil {
			cwrs = append(cwrs, r)
		}
	}
	return wrs, cwrs
}

func watchRuleKey(ns, name string) string    { return "WatchRule/" + ns + "/" + name }
func clusterRuleKey(name string) string      { return "ClusterWatchRule/" + name }
func (s *shared) enqueue(targetKey string)   { s.queues.targets.Add(targetKey) }
func (s *shared) enqueueRule(ruleKey string) { s.queues.rules.Add(ruleKey) }

func (s *shared) enqueueAllTargets() {
	ts, _ := s.listers.targets.List(labels.Everything())
	for _, t := range ts {
		s.enqueue(t.Namespace + "/" + t.Name)
	}
}

// enqueueAll re-evaluates everything (ownership or membership changed).
func (s *shared) enqueueAll() {
	s.enqueueAllTargets()
	ps, _ := s.listers.providers.List(labels.Everything())
	for _, p := range ps {
		s.queues.providers.Add(p.Namespace + "/" + p.Name)
	}
	rs, _ := s.listers.rules.List(labels.Everything())
	for _, r := range rs {
		s.enqueueRule(watchRuleKey(r.Namespace, r.Name))
	}
	crs, _ := s.listers.crules.List(labels.Everything())
	for _, r := range crs {
		s.enqueueRule(clusterRuleKey(r.Name))
	}
}

// prefers reports whether this replica does the work (and writes the status) of
// something keyed by key that has no branch worker: the rest is spread over the
// replicas by preference. Without a lease a replica writes nothing.
func (s *shared) prefers(key string) bool {
	own := s.opts.Ownership
	return own == nil || (own.Lease() != "" && own.Preferred(key))
}

// writeContext bounds a status write by the ownership lease.
func (s *shared) writeContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if s.opts.Ownership == nil {
		return context.WithCancel(ctx)
	}
	return s.opts.Ownership.WriteContext(ctx)
}

// handlers turn informer events into work: each enqueues what the change can
// affect, and nothing else.
type handlers struct{ *shared }

func keyOf(obj interface{}) string {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		return d.Key
	}
	k, _ := cache.MetaNamespaceKeyFunc(obj)
	return k
}

func asTarget(obj interface{}) *v1alpha1.GitTarget {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	t, _ := obj.(*v1alpha1.GitTarget)
	return t
}

// targetChanged enqueues the target, and every target whose Validated gate it
// can change: those on the same branch at an overlapping path, before and after
// the change (a conflict resolves when its winner goes away or moves). A status
// write (the lifecycle's own, many per target) changes nothing another target
// depends on, so it fans out to no one: with a thousand targets on a branch,
// fanning out every status write made the lifecycle quadratic.
func (h handlers) targetChanged(old, obj interface{}) {
	oldT, newT := asTarget(old), asTarget(obj)
	for _, t := range []*v1alpha1.GitTarget{oldT, newT} {
		if t != nil {
			h.enqueue(t.Namespace + "/" + t.Name)
		}
	}
	if oldT != nil && newT != nil && gates.SameValidationInputs(oldT, newT) {
		return
	}
	type spot struct {
		key  mirror.BranchKey
		path string
	}
	var spots []spot
	for _, t := range []*v1alpha1.GitTarget{oldT, newT} {
		if t == nil {
			continue
		}
		h.enqueueRulesOf(t)
		if _, k, ok := gates.BranchKeyFor(t, h.listers.provider); ok {
			spots = append(spots, spot{k, t.Spec.Path})
		}
	}
	if len(spots) == 0 {
		return
	}
	all, _ := h.listers.targets.List(labels.Everything())
	for _, t := range all {
		_, k, ok := gates.BranchKeyFor(t, h.listers.provider)
		if !ok {
			continue
		}
		for _, s := range spots {
			if s.key.SameBranch(k) && gates.PathsOverlap(s.path, t.Spec.Path) {
				h.enqueue(t.Namespace + "/" + t.Name)
				break
			}
		}
	}
}

// providerChanged re-checks the provider and, when what targets read of it
// changed (its spec or its recorded user: not the status the lifecycle writes
// to it, or a tenant relabelling it in a loop would make the server re-check
// every target of every tenant), the targets: its own, and with a new URL
// every target (a changed URL can move targets between branches, and so
// create or resolve conflicts anywhere).
func (h handlers) providerChanged(old, obj interface{}) {
	if obj == nil {
		h.queues.providers.Add(keyOf(old))
	} else {
		h.queues.providers.Add(keyOf(obj))
	}
	op, np := asProvider(old), asProvider(obj)
	if op != nil && np != nil && op.Generation == np.Generation && equality.Semantic.DeepEqual(op.Status.AuthorizedBy, np.Status.AuthorizedBy) &&
		(op.DeletionTimestamp == nil) == (np.DeletionTimestamp == nil) {
		return
	}
	if op == nil || np == nil || op.Spec.URL != np.Spec.URL {
		h.enqueueAllTargets()
		return
	}
	ts, _ := h.listers.targets.GitTargets(np.Namespace).List(labels.Everything())
	for _, t := range ts {
		if t.Spec.ProviderRef.Name == np.Name && !t.Spec.ProviderRef.IsFlux() {
			h.enqueue(t.Namespace + "/" + t.Name)
		}
	}
}

func asProvider(obj interface{}) *v1alpha1.GitProvider {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	p, _ := obj.(*v1alpha1.GitProvider)
	return p
}

func (h handlers) secretChanged(obj interface{}) {
	key := keyOf(obj)
	ns, name, _ := cache.SplitMetaNamespaceKey(key)
	ts, _ := h.listers.targets.GitTargets(ns).List(labels.Everything())
	for _, t := range ts {
		if e := t.Spec.Encryption; e.On() && e.SecretRef.Name == name {
			h.enqueue(ns + "/" + t.Name)
		}
	}
	ps, _ := h.listers.providers.GitProviders(ns).List(labels.Everything())
	for _, p := range ps {
		signing := p.Spec.Commit != nil && p.Spec.Commit.SigningKeyRef != nil && p.Spec.Commit.SigningKeyRef.Name == name
		if signing || p.Spec.SecretRef != nil && p.Spec.SecretRef.Name == name {
			h.queues.providers.Add(ns + "/" + p.Name)
			for _, t := range ts {
				if t.Spec.ProviderRef.Name == p.Name && !t.Spec.ProviderRef.IsFlux() {
					h.enqueue(ns + "/" + t.Name)
				}
			}
		}
	}
	for _, t := range ts {
		if !t.Spec.ProviderRef.IsFlux() {
			continue
		}
		if p, _ := h.listers.provider(ns, t.Spec.ProviderRef); p != nil && p.Spec.SecretRef != nil && p.Spec.SecretRef.Name == name {
			h.enqueue(ns + "/" + t.Name)
		}
	}
}

// fluxChanged reconciles the targets pushing through a Flux GitRepository
// (all of them for name "").
func (s *shared) fluxChanged(ns, name string) {
	ts, _ := s.listers.targets.GitTargets(ns).List(labels.Everything())
	for _, t := range ts {
		if t.Spec.ProviderRef.IsFlux() && (name == "" || t.Spec.ProviderRef.Name == name) {
			s.enqueue(t.Namespace + "/" + t.Name)
		}
	}
}

// ruleChanged re-checks a rule and, when its spec or recorded user changed,
// its target (not for the status the lifecycle writes to it). Discovery is
// read again (now, within its rate limit, and for the second look in any
// case): a rule created right after its CRD finds the type.
func (h handlers) ruleChanged(old, obj interface{}) {
	if sameRuleInputs(old, obj) {
		switch r := obj.(type) {
		case *v1alpha1.WatchRule:
			h.enqueueRule(watchRuleKey(r.Namespace, r.Name))
		case *v1alpha1.ClusterWatchRule:
			h.enqueueRule(clusterRuleKey(r.Name))
		}
		return
	}
	since := time.Now()
	h.source.resources.Refresh(false)
	for _, o := range []interface{}{old, obj} {
		if d, ok := o.(cache.DeletedFinalStateUnknown); ok {
			o = d.Obj
		}
		// A rule the informer lists at start-up is not new: no second look.
		again := old != nil || recent(o)
		switch r := o.(type) {
		case *v1alpha1.WatchRule:
			h.recheck(watchRuleKey(r.Namespace, r.Name), r.Namespace+"/"+r.Spec.TargetRef.Name, again, since)
		case *v1alpha1.ClusterWatchRule:
			h.recheck(clusterRuleKey(r.Name), r.Spec.TargetRef.Namespace+"/"+r.Spec.TargetRef.Name, again, since)
		}
	}
}

// recent reports whether a rule was created in the last minute (a rule the
// informer lists at start-up is older, and its CRD long established).
func recent(o interface{}) bool {
	m, ok := o.(metav1.Object)
	return ok && time.Since(m.GetCreationTimestamp().Time) < time.Minute
}

// recheckWait bounds a changed rule's second look's wait for its read of
// discovery (RefreshSince waits half a second and one read).
const recheckWait = 10 * time.Second

// recheck reconciles a changed rule and its target now, and once more after
// a read of discovery begun after the rule's event (since): a rule created
// within the rate limit of another read (its CRD established a moment
// before) would otherwise miss the type until the periodic re-check, a
// minute on.
func (h handlers) recheck(ruleKey, targetKey string, again bool, since time.Time) {
	h.enqueueRule(ruleKey)
	h.enqueue(targetKey)
	if !again {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), recheckWait)
		defer cancel()
		// Whether or not this read finds a change: another reader may have
		// found it first (it tells every target, through Changes; this
		// rule's own look is then the surer one).
		h.source.resources.RefreshSince(ctx, since)
		h.enqueueRule(ruleKey)
		h.enqueue(targetKey)
	}()
}

// sameRuleInputs reports whether an update of a rule kept everything its
// target reads: generation (the spec), recorded user and deletion.
func sameRuleInputs(old, obj interface{}) bool {
	switch o := old.(type) {
	case *v1alpha1.WatchRule:
		n, ok := obj.(*v1alpha1.WatchRule)
		return ok && o.Generation == n.Generation && equality.Semantic.DeepEqual(o.Status.AuthorizedBy, n.Status.AuthorizedBy) &&
			(o.DeletionTimestamp == nil) == (n.DeletionTimestamp == nil)
	case *v1alpha1.ClusterWatchRule:
		n, ok := obj.(*v1alpha1.ClusterWatchRule)
		return ok && o.Generation == n.Generation && equality.Semantic.DeepEqual(o.Status.AuthorizedBy, n.Status.AuthorizedBy) &&
			(o.DeletionTimestamp == nil) == (n.DeletionTimestamp == nil)
	}
	return false
}

// enqueueRulesOf re-checks the rules pointing at a target (their Ready says
// whether the target exists).
func (h handlers) enqueueRulesOf(t *v1alpha1.GitTarget) {
	wrs, cwrs := h.listers.rulesFor(t)
	for _, r := range wrs {
		h.enqueueRule(watchRuleKey(r.Namespace, r.Name))
	}
	for _, r := range cwrs {
		h.enqueueRule(clusterRuleKey(r.Name))
	}
}

// namespaceChanged re-evaluates the targets of ClusterWatchRules that select
// namespaces by label: a namespace labelled, unlabelled, created or deleted
// changes what they mirror.
func (h handlers) namespaceChanged() {
	crs, _ := h.listers.crules.List(labels.Everything())
	for _, r := range crs {
		for _, rule := range r.Spec.Rules {
			if rule.NamespaceSelector != nil {
				h.enqueue(r.Spec.TargetRef.Namespace + "/" + r.Spec.TargetRef.Name)
				h.enqueueRule(clusterRuleKey(r.Name))
				break
			}
		}
	}
}

// metricsState is what /metrics shows of the lifecycle at scrape time.
func (s *shared) metricsState() metrics.State {
	st := metrics.State{Targets: map[[3]string]int{}}
	ts, _ := s.listers.targets.List(labels.Everything())
	for _, t := range ts {
		for _, c := range t.Status.Conditions {
			st.Targets[[3]string{c.Type, string(c.Status), c.Reason}]++
		}
	}
	n, oldest := s.workers.Pending()
	st.Pending = n
	if !oldest.IsZero() {
		st.Oldest = time.Since(oldest)
	}
	st.Workers = s.workers.Workers()
	if own := s.opts.Ownership; own != nil {
		st.Replica = own.Name()
		if h, ok := own.(interface{ Held() int }); ok {
			st.Leases = h.Held()
		}
	}
	return st
}
