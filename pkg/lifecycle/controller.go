// Package lifecycle runs the GitTarget startup state machine inside the API
// server (../shared/seed/gittarget-startup-state-machine.md): per target, the
// gates Validated, EncryptionConfigured, Bootstrapped, SnapshotSynced and
// EventStreamLive are evaluated in order, stopping at the first one not True,
// and written through the internal status writer only when something changed.
//
// Informers on our own API (loopback) and on the source cluster (--kubeconfig)
// feed rate-limited workqueues, so gates flip on watch events, not on a timer.
// Git work runs on branch workers (one per repository and branch, see
// WorkerManager), asynchronously: a reconcile only starts work and reads results,
// so a slow branch never holds up another. The live event stream (Router)
// delivers changes to the workers, which commit them in batches.
package lifecycle

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing/transport"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
	"github.com/configbutler/gitops-reverser/pkg/generated/clientset/versioned"
	"github.com/configbutler/gitops-reverser/pkg/generated/informers/externalversions"
	listers "github.com/configbutler/gitops-reverser/pkg/generated/listers/configbutler/v1alpha1"
	"github.com/configbutler/gitops-reverser/pkg/git"
)

// StatusWriter writes an object's status (see registry.StatusWriter).
type StatusWriter interface {
	Update(ctx context.Context, namespace, name string, mutate func(obj runtime.Object) (bool, error)) (runtime.Object, bool, error)
}

// Ownership splits the work between replicas (see pkg/ownership). Without it,
// this server owns every branch.
type Ownership interface {
	Name() string
	Lease() string
	// Acquire reports whether this replica owns the branch worker key, taking it
	// when it is free and this replica should have it.
	Acquire(ctx context.Context, key string) (bool, error)
	Release(ctx context.Context, key string)
	// Preferred reports whether this replica should do key-less work for key
	// (status of targets that are not valid, providers, rules).
	Preferred(key string) bool
	// WriteContext bounds a write by the ownership lease.
	WriteContext(ctx context.Context) (context.Context, context.CancelFunc)
	OnChange(func())
	OnLost(func())
}

// Writers are the status writers the lifecycle uses.
type Writers struct {
	GitProviders, GitTargets, WatchRules, ClusterWatchRules StatusWriter
}

// Options configure the lifecycle.
type Options struct {
	// Client reaches our own API (the server's loopback client).
	Client versioned.Interface
	// Kube, Dynamic, Metadata and Discovery reach the source cluster.
	Kube      kubernetes.Interface
	Dynamic   dynamic.Interface
	Metadata  metadata.Interface
	Discovery discovery.DiscoveryInterface
	Writers   Writers
	// WorkDir holds the branch workers' clones.
	WorkDir string
	// Concurrency is the number of reconciles run at once (default 4).
	Concurrency int
	// Clock stamps status times (default: the real clock).
	Clock clock.PassiveClock
	// ProviderRecheck is how often a GitProvider's remote is probed again (default 5m).
	ProviderRecheck time.Duration
	// Ownership, when set, shares the work with other replicas.
	Ownership Ownership
}

// Controller is the lifecycle.
type Controller struct {
	opts    Options
	own     Ownership
	kube    kubernetes.Interface
	dyn     dynamic.Interface
	clock   clock.PassiveClock
	writers Writers

	factory   externalversions.SharedInformerFactory
	providers listers.GitProviderLister
	targets   listers.GitTargetLister
	rules     listers.WatchRuleLister
	crules    listers.ClusterWatchRuleLister
	synced    []cache.InformerSynced
	secrets   cache.SharedIndexInformer

	targetQueue   workqueue.TypedRateLimitingInterface[string]
	providerQueue workqueue.TypedRateLimitingInterface[string]
	ruleQueue     workqueue.TypedRateLimitingInterface[string]

	states   *stateStore
	workers  *WorkerManager
	router   *Router
	recorder record.EventRecorder

	discoveryMu   sync.Mutex
	resources     []APIResource
	resourcesAt   time.Time
	discoveryDisc discovery.DiscoveryInterface
}

// New returns a lifecycle controller; Run starts it.
func New(opts Options) (*Controller, error) {
	if opts.Client == nil || opts.Writers.GitTargets == nil {
		return nil, fmt.Errorf("lifecycle: Client and Writers are required")
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 4
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.ProviderRecheck <= 0 {
		opts.ProviderRecheck = 5 * time.Minute
	}
	c := &Controller{
		opts: opts, own: opts.Ownership, kube: opts.Kube, dyn: opts.Dynamic, clock: opts.Clock, writers: opts.Writers,
		states:        newStateStore(),
		discoveryDisc: opts.Discovery,
		targetQueue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "gittargets"}),
		providerQueue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "gitproviders"}),
		ruleQueue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "watchrules"}),
	}
	c.workers = newWorkerManager(opts.WorkDir, c)
	if own := opts.Ownership; own != nil {
		c.workers.replica = own.Name()
		c.workers.fence = own.WriteContext
		c.workers.released = func(k BranchKey) { own.Release(context.Background(), k.String()) }
		own.OnChange(c.enqueueAll)
		own.OnLost(c.ownershipLost)
	}
	if opts.Dynamic != nil && opts.Discovery != nil {
		c.router = newRouter(opts.Dynamic, opts.Discovery, c.enqueueAllTargets)
	}

	c.factory = externalversions.NewSharedInformerFactory(opts.Client, 0)
	cb := c.factory.Configbutler().V1alpha1()
	pInf, tInf, rInf, crInf := cb.GitProviders(), cb.GitTargets(), cb.WatchRules(), cb.ClusterWatchRules()
	c.providers, c.targets, c.rules, c.crules = pInf.Lister(), tInf.Lister(), rInf.Lister(), crInf.Lister()
	c.synced = []cache.InformerSynced{pInf.Informer().HasSynced, tInf.Informer().HasSynced, rInf.Informer().HasSynced, crInf.Informer().HasSynced}

	must := func(_ cache.ResourceEventHandlerRegistration, err error) { utilruntime.Must(err) }
	must(tInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj interface{}) { c.targetChanged(nil, obj) },
		UpdateFunc: func(old, obj interface{}) { c.targetChanged(old, obj) },
		DeleteFunc: func(obj interface{}) { c.targetChanged(obj, nil) },
	}))
	must(pInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj interface{}) { c.providerChanged(obj) },
		UpdateFunc: func(_, obj interface{}) { c.providerChanged(obj) },
		DeleteFunc: func(obj interface{}) { c.providerChanged(obj) },
	}))
	ruleHandler := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj interface{}) { c.ruleChanged(nil, obj) },
		UpdateFunc: func(old, obj interface{}) { c.ruleChanged(old, obj) },
		DeleteFunc: func(obj interface{}) { c.ruleChanged(obj, nil) },
	}
	must(rInf.Informer().AddEventHandler(ruleHandler))
	must(crInf.Informer().AddEventHandler(ruleHandler))

	if opts.Metadata != nil {
		// Secrets by metadata only: we learn that an age key or credentials Secret
		// appeared without caching every Secret's data; gates read the one they need.
		mf := metadatainformer.NewSharedInformerFactory(opts.Metadata, 0)
		c.secrets = mf.ForResource(corev1.SchemeGroupVersion.WithResource("secrets")).Informer()
		must(c.secrets.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj interface{}) { c.secretChanged(obj) },
			UpdateFunc: func(_, obj interface{}) { c.secretChanged(obj) },
			DeleteFunc: func(obj interface{}) { c.secretChanged(obj) },
		}))
		c.synced = append(c.synced, c.secrets.HasSynced)
	}
	if opts.Kube != nil {
		broadcaster := record.NewBroadcaster()
		broadcaster.StartRecordingToSink(&typedEventSink{kube: opts.Kube})
		scheme := runtime.NewScheme()
		utilruntime.Must(v1alpha1.AddToScheme(scheme))
		c.recorder = broadcaster.NewRecorder(scheme, corev1.EventSource{Component: "gitops-reverser"})
	}
	return c, nil
}

// Run starts the informers and reconcilers and blocks until ctx is done.
func (c *Controller) Run(ctx context.Context) {
	defer utilruntime.HandleCrash()
	defer c.targetQueue.ShutDown()
	defer c.providerQueue.ShutDown()
	defer c.ruleQueue.ShutDown()

	c.factory.Start(ctx.Done())
	if c.secrets != nil {
		go c.secrets.Run(ctx.Done())
	}
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return
	}
	klog.InfoS("Lifecycle started", "workDir", c.opts.WorkDir)
	for i := 0; i < c.opts.Concurrency; i++ {
		go wait.UntilWithContext(ctx, func(ctx context.Context) { c.process(ctx, c.targetQueue, c.syncTarget) }, time.Second)
	}
	go wait.UntilWithContext(ctx, func(ctx context.Context) { c.process(ctx, c.providerQueue, c.syncProvider) }, time.Second)
	go wait.UntilWithContext(ctx, func(ctx context.Context) { c.process(ctx, c.ruleQueue, c.syncRule) }, time.Second)
	// New CRDs matched by wildcard rules show up in discovery without an event of ours.
	go wait.UntilWithContext(ctx, func(context.Context) {
		if c.refreshDiscovery(false) {
			c.enqueueAllTargets()
		}
	}, time.Minute)

	<-ctx.Done()
	c.workers.Stop()
	if c.router != nil {
		c.router.Stop()
	}
}

func (c *Controller) process(ctx context.Context, q workqueue.TypedRateLimitingInterface[string], sync func(context.Context, string) error) {
	for {
		key, quit := q.Get()
		if quit {
			return
		}
		func() {
			defer q.Done(key)
			if err := sync(ctx, key); err != nil {
				klog.ErrorS(err, "Reconcile failed; retrying", "key", key)
				q.AddRateLimited(key)
				return
			}
			q.Forget(key)
		}()
	}
}

// enqueue implements workerHooks.
func (c *Controller) enqueue(targetKey string) { c.targetQueue.Add(targetKey) }

// state implements workerHooks.
func (c *Controller) state() *stateStore { return c.states }

// enqueueAll re-evaluates everything (ownership or membership changed).
func (c *Controller) enqueueAll() {
	c.enqueueAllTargets()
	ps, _ := c.providers.List(labels.Everything())
	for _, p := range ps {
		c.providerQueue.Add(p.Namespace + "/" + p.Name)
	}
	rs, _ := c.rules.List(labels.Everything())
	for _, r := range rs {
		c.ruleQueue.Add("WatchRule/" + r.Namespace + "/" + r.Name)
	}
	crs, _ := c.crules.List(labels.Everything())
	for _, r := range crs {
		c.ruleQueue.Add("ClusterWatchRule/" + r.Name)
	}
}

// ownershipLost stops every write of this replica at once: workers abort
// without flushing, streams and in-memory state are dropped. The targets are
// re-evaluated when the replica holds a lease again.
func (c *Controller) ownershipLost() {
	c.workers.Abort()
	if c.router != nil {
		c.router.UnregisterAll()
	}
	c.states.reset()
}

// prefers reports whether this replica does the work (and writes the status) of
// something keyed by key that has no branch worker: the rest is spread over the
// replicas by preference. Without a lease a replica writes nothing.
func (c *Controller) prefers(key string) bool {
	return c.own == nil || (c.own.Lease() != "" && c.own.Preferred(key))
}

// writeContext bounds a status write by the ownership lease.
func (c *Controller) writeContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if c.own == nil {
		return context.WithCancel(ctx)
	}
	return c.own.WriteContext(ctx)
}

func (c *Controller) enqueueAllTargets() {
	ts, _ := c.targets.List(labels.Everything())
	for _, t := range ts {
		c.enqueue(t.Namespace + "/" + t.Name)
	}
}

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
func (c *Controller) targetChanged(old, obj interface{}) {
	oldT, newT := asTarget(old), asTarget(obj)
	for _, t := range []*v1alpha1.GitTarget{oldT, newT} {
		if t != nil {
			c.enqueue(t.Namespace + "/" + t.Name)
		}
	}
	if oldT != nil && newT != nil && sameConflictInputs(oldT, newT) {
		return
	}
	type spot struct {
		key  BranchKey
		path string
	}
	var spots []spot
	for _, t := range []*v1alpha1.GitTarget{oldT, newT} {
		if t == nil {
			continue
		}
		c.enqueueRulesOf(t)
		if _, k, ok := branchKeyFor(t, c.lookupProvider); ok {
			spots = append(spots, spot{k, t.Spec.Path})
		}
	}
	if len(spots) == 0 {
		return
	}
	all, _ := c.targets.List(labels.Everything())
	for _, t := range all {
		_, k, ok := branchKeyFor(t, c.lookupProvider)
		if !ok {
			continue
		}
		for _, s := range spots {
			if s.key == k && pathsOverlap(s.path, t.Spec.Path) {
				c.enqueue(t.Namespace + "/" + t.Name)
				break
			}
		}
	}
}

// sameConflictInputs reports whether two versions of a target agree on all
// that conflict resolution and rule selection read.
func sameConflictInputs(a, b *v1alpha1.GitTarget) bool {
	return a.UID == b.UID && a.Spec.ProviderRef == b.Spec.ProviderRef && a.Spec.Branch == b.Spec.Branch &&
		a.Spec.Path == b.Spec.Path && (a.DeletionTimestamp == nil) == (b.DeletionTimestamp == nil)
}

// providerChanged re-checks the provider and every target: a changed URL can
// move targets between branches, and so create or resolve conflicts anywhere.
func (c *Controller) providerChanged(obj interface{}) {
	c.providerQueue.Add(keyOf(obj))
	c.enqueueAllTargets()
}

func (c *Controller) secretChanged(obj interface{}) {
	key := keyOf(obj)
	ns, name, _ := cache.SplitMetaNamespaceKey(key)
	ts, _ := c.targets.GitTargets(ns).List(labels.Everything())
	for _, t := range ts {
		if e := t.Spec.Encryption; e != nil && e.SecretRef.Name == name {
			c.enqueue(ns + "/" + t.Name)
		}
	}
	ps, _ := c.providers.GitProviders(ns).List(labels.Everything())
	for _, p := range ps {
		if p.Spec.SecretRef != nil && p.Spec.SecretRef.Name == name {
			c.providerQueue.Add(ns + "/" + p.Name)
			for _, t := range ts {
				if t.Spec.ProviderRef.Name == p.Name {
					c.enqueue(ns + "/" + t.Name)
				}
			}
		}
	}
}

func (c *Controller) ruleChanged(old, obj interface{}) {
	c.refreshDiscovery(true)
	for _, o := range []interface{}{old, obj} {
		if d, ok := o.(cache.DeletedFinalStateUnknown); ok {
			o = d.Obj
		}
		switch r := o.(type) {
		case *v1alpha1.WatchRule:
			c.ruleQueue.Add("WatchRule/" + r.Namespace + "/" + r.Name)
			c.enqueue(r.Namespace + "/" + r.Spec.TargetRef.Name)
		case *v1alpha1.ClusterWatchRule:
			c.ruleQueue.Add("ClusterWatchRule/" + r.Name)
			c.enqueue(r.Spec.TargetRef.Namespace + "/" + r.Spec.TargetRef.Name)
		}
	}
}

// enqueueRulesOf re-checks the rules pointing at a target (their Ready says
// whether the target exists).
func (c *Controller) enqueueRulesOf(t *v1alpha1.GitTarget) {
	wrs, cwrs := c.rulesFor(t)
	for _, r := range wrs {
		c.ruleQueue.Add("WatchRule/" + r.Namespace + "/" + r.Name)
	}
	for _, r := range cwrs {
		c.ruleQueue.Add("ClusterWatchRule/" + r.Name)
	}
}

func (c *Controller) lookupProvider(ns, name string) *v1alpha1.GitProvider {
	p, err := c.providers.GitProviders(ns).Get(name)
	if err != nil {
		return nil
	}
	return p
}

// refreshDiscovery re-reads the source cluster's resource types (at most every
// two seconds unless forced) and reports whether they changed.
func (c *Controller) refreshDiscovery(force bool) bool {
	if c.discoveryDisc == nil {
		return false
	}
	c.discoveryMu.Lock()
	defer c.discoveryMu.Unlock()
	if !force && time.Since(c.resourcesAt) < 2*time.Second {
		return false
	}
	groups, lists, err := c.discoveryDisc.ServerGroupsAndResources()
	if err != nil && len(lists) == 0 {
		klog.ErrorS(err, "Discovery of the source cluster failed")
		return false
	}
	res, err := apiResourcesFrom(groups, lists)
	if err != nil {
		return false
	}
	changed := len(res) != len(c.resources)
	if !changed {
		old := map[schema.GroupVersionResource]bool{}
		for _, r := range c.resources {
			old[r.GVR] = true
		}
		for _, r := range res {
			if !old[r.GVR] {
				changed = true
				break
			}
		}
	}
	c.resources, c.resourcesAt = res, time.Now()
	return changed
}

func (c *Controller) apiResources() ([]APIResource, error) {
	c.discoveryMu.Lock()
	empty := c.resources == nil
	c.discoveryMu.Unlock()
	if empty {
		c.refreshDiscovery(true)
	}
	c.discoveryMu.Lock()
	defer c.discoveryMu.Unlock()
	if c.resources == nil {
		return nil, fmt.Errorf("discovery of the source cluster failed")
	}
	return c.resources, nil
}

// rulesFor returns the WatchRules and ClusterWatchRules that point at a target.
func (c *Controller) rulesFor(t *v1alpha1.GitTarget) ([]*v1alpha1.WatchRule, []*v1alpha1.ClusterWatchRule) {
	var wrs []*v1alpha1.WatchRule
	all, _ := c.rules.WatchRules(t.Namespace).List(labels.Everything())
	for _, r := range all {
		if r.Spec.TargetRef.Name == t.Name && r.DeletionTimestamp == nil {
			wrs = append(wrs, r)
		}
	}
	var cwrs []*v1alpha1.ClusterWatchRule
	allc, _ := c.crules.List(labels.Everything())
	for _, r := range allc {
		if r.Spec.TargetRef.Namespace == t.Namespace && r.Spec.TargetRef.Name == t.Name && r.DeletionTimestamp == nil {
			cwrs = append(cwrs, r)
		}
	}
	return wrs, cwrs
}

// forget releases everything held for a target that no longer exists.
func (c *Controller) forget(key string) {
	if c.router != nil {
		c.router.Unregister(key)
	}
	c.workers.ReleaseTarget(key, BranchKey{})
	c.states.delete(key)
}

// release stops a target's writing while a gate before Bootstrapped blocks it.
func (c *Controller) release(key string) {
	if c.router != nil {
		c.router.Unregister(key)
	}
	c.workers.ReleaseTarget(key, BranchKey{})
	c.states.update(key, func(s *targetState) { *s = targetState{} })
}

// workerConfigFor builds a worker's configuration from the provider and its
// credentials Secret (read from the source cluster).
func (c *Controller) workerConfigFor(ctx context.Context, p *v1alpha1.GitProvider) (workerConfig, error) {
	cfg := workerConfig{URL: p.Spec.URL, Interval: p.Spec.Push.Interval.Duration, MaxChanges: int(p.Spec.Push.MaxChanges)}
	if cfg.Interval <= 0 {
		cfg.Interval = v1alpha1.DefaultPushInterval
	}
	if cfg.MaxChanges <= 0 {
		cfg.MaxChanges = v1alpha1.DefaultPushMaxChanges
	}
	var data map[string][]byte
	if p.Spec.SecretRef != nil {
		if c.kube == nil {
			return cfg, fmt.Errorf("credentials Secret %s/%s cannot be read: the server has no source cluster (--kubeconfig)", p.Namespace, p.Spec.SecretRef.Name)
		}
		s, err := c.kube.CoreV1().Secrets(p.Namespace).Get(ctx, p.Spec.SecretRef.Name, metav1.GetOptions{})
		if err != nil {
			return cfg, fmt.Errorf("credentials Secret %s/%s: %w", p.Namespace, p.Spec.SecretRef.Name, err)
		}
		data = s.Data
		cfg.AuthID = string(s.UID) + "/" + s.ResourceVersion
	}
	auth, err := providerAuth(p, data)
	if err != nil {
		return cfg, err
	}
	cfg.Auth = auth
	return cfg, nil
}

// providerAuth builds the auth of a provider: from its Secret, or anonymous
// when it names none (a public HTTP(S) remote; SSH always needs a key).
func providerAuth(p *v1alpha1.GitProvider, data map[string][]byte) (transport.AuthMethod, error) {
	if p.Spec.SecretRef == nil && !strings.HasPrefix(p.Spec.URL, "ssh://") && strings.Contains(p.Spec.URL, "://") {
		return nil, nil
	}
	return git.AuthFromSecret(p.Spec.URL, data)
}

// backoff is how long to wait before retrying a failed operation.
func backoff(failures int) time.Duration {
	return min(time.Duration(1<<min(failures, 7))*time.Second, 2*time.Minute)
}

// typedEventSink writes events through the typed core/v1 client.
type typedEventSink struct{ kube kubernetes.Interface }

func (s *typedEventSink) Create(e *corev1.Event) (*corev1.Event, error) {
	return s.kube.CoreV1().Events(e.Namespace).Create(context.Background(), e, metav1.CreateOptions{})
}
func (s *typedEventSink) Update(e *corev1.Event) (*corev1.Event, error) {
	return s.kube.CoreV1().Events(e.Namespace).Update(context.Background(), e, metav1.UpdateOptions{})
}
func (s *typedEventSink) Patch(e *corev1.Event, data []byte) (*corev1.Event, error) {
	return s.kube.CoreV1().Events(e.Namespace).Patch(context.Background(), e.Name, "application/strategic-merge-patch+json", data, metav1.PatchOptions{})
}
