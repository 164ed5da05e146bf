package lifecycle

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
	"github.com/configbutler/gitops-reverser/pkg/attribution"
	"github.com/configbutler/gitops-reverser/pkg/clusterapi"
	"github.com/configbutler/gitops-reverser/pkg/generated/informers/externalversions"
	"github.com/configbutler/gitops-reverser/pkg/lifecycle/mirror"
	"github.com/configbutler/gitops-reverser/pkg/lifecycle/stream"
	"github.com/configbutler/gitops-reverser/pkg/lifecycle/worker"
	"github.com/configbutler/gitops-reverser/pkg/metrics"
)

// New returns a lifecycle controller; Run starts it. It reads top-down: the
// defaults, the shared state, the parts that do the work (stream, branch
// workers), the informers on our own kinds and on the source cluster with
// the handlers that turn their events into work, then the reconcilers.
func New(opts Options) (*Controller, error) {
	if opts.Client == nil || opts.Writers.GitTargets == nil {
		return nil, fmt.Errorf("lifecycle: Client and Writers are required")
	}
	opts = withDefaults(opts)
	s := &shared{
		opts:   opts,
		queues: queues{targets: newQueue("gittargets"), providers: newQueue("gitproviders"), rules: newQueue("watchrules")},
		states: newStateStore(),
		source: newSource(opts.Kube, opts.Resources, opts.Reviewer),
	}
	s.source.self, s.source.selfReviewer = opts.ServerIdentity, opts.ServerReviewer
	c := &Controller{shared: s, factory: externalversions.NewSharedInformerFactory(opts.Client, 0)}
	c.startParts()
	c.watchOwnKinds()
	if opts.Metadata != nil {
		c.watchSourceCluster()
	}
	s.recorder = newRecorder(opts)
	c.targets = &targetReconciler{s}
	c.providers = &providerReconciler{s}
	c.rules = &ruleReconciler{s}
	metrics.Observe(s.metricsState)
	return c, nil
}

func withDefaults(opts Options) Options {
	if opts.Concurrency <= 0 {
		opts.Concurrency = 4
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.ProviderRecheck <= 0 {
		opts.ProviderRecheck = 5 * time.Minute
	}
	if opts.RecheckInterval <= 0 {
		opts.RecheckInterval = time.Minute
	}
	if opts.Resources == nil {
		opts.Resources = clusterapi.New(opts.Discovery)
	}
	return opts
}

// startParts creates the event stream (with a source cluster) and the branch
// workers' manager; both report to onResult, never call back.
// streamScoped is an Attributor that can keep only the reports of writes
// the stream can still route (attribution.Store): reports are looked up for
// streamed changes only.
type streamScoped interface {
	SetWanted(attribution.Wanted)
}

func (c *Controller) startParts() {
	s, opts := c.shared, c.opts
	if opts.Dynamic != nil && opts.Discovery != nil {
		s.router = stream.New(opts.Dynamic, opts.RawSource, opts.Discovery, c.onResult).WithProtobuf(opts.ProtoSource)
	}
	wopts := worker.Options{WorkDir: opts.WorkDir, Report: c.onResult, Attribution: opts.Attribution, AttributionGrace: opts.AttributionGrace}
	if s.router != nil {
		wopts.Stream = s.router
		if scoped, ok := opts.Attribution.(streamScoped); ok {
			scoped.SetWanted(s.router.Streams)
		}
	}
	if own := opts.Ownership; own != nil {
		wopts.Replica, wopts.Fence = own.Name(), own.WriteContext
		wopts.Released = func(k mirror.BranchKey) { own.Release(context.Background(), k.String()) }
		// Membership decides which replica writes every status; a branch
		// lock only which replica may take a target's branch: a lock coming
		// or going re-evaluates the targets, not every GitProvider's remote.
		own.OnChange(s.enqueueAll)
		own.OnLockChange(s.enqueueAllTargets)
		own.OnLost(c.ownershipLost)
	}
	s.workers = worker.NewManager(wopts)
}

// must fails start-up when a handler cannot be added (a programming error).
func must(_ cache.ResourceEventHandlerRegistration, err error) { utilruntime.Must(err) }

// onEvents is the handler of an informer whose every event calls fn(old, new)
// (old nil on add, new nil on delete).
func onEvents(fn func(old, obj interface{})) cache.ResourceEventHandlerFuncs {
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj interface{}) { fn(nil, obj) },
		UpdateFunc: func(old, obj interface{}) { fn(old, obj) },
		DeleteFunc: func(obj interface{}) { fn(obj, nil) },
	}
}

// watchOwnKinds starts the informers on our own API (loopback) and the
// listers every reconcile reads.
func (c *Controller) watchOwnKinds() {
	s := c.shared
	cb := c.factory.Configbutler().V1alpha1()
	pInf, tInf, rInf, crInf := cb.GitProviders(), cb.GitTargets(), cb.WatchRules(), cb.ClusterWatchRules()
	utilruntime.Must(tInf.Informer().AddIndexers(cache.Indexers{overlapIndex: overlapKeys}))
	s.listers = listers{providers: pInf.Lister(), targets: tInf.Lister(), rules: rInf.Lister(), crules: crInf.Lister(),
		targetIndex: tInf.Informer().GetIndexer()}
	c.synced = []cache.InformerSynced{pInf.Informer().HasSynced, tInf.Informer().HasSynced, rInf.Informer().HasSynced, crInf.Informer().HasSynced}
	h := handlers{s}
	must(tInf.Informer().AddEventHandler(onEvents(h.targetChanged)))
	must(pInf.Informer().AddEventHandler(onEvents(h.providerChanged)))
	must(rInf.Informer().AddEventHandler(onEvents(h.ruleChanged)))
	must(crInf.Informer().AddEventHandler(onEvents(h.ruleChanged)))
}

// watchSourceCluster starts the metadata informers on the source cluster:
// Secrets (an age key or credentials Secret appeared: by key only, never
// caching every Secret's data; gates read the one they need), namespaces
// (their labels: namespaceSelectors are live) and, with tenancy, RBAC and
// ServiceAccounts (which object changed is all a re-review needs to know).
func (c *Controller) watchSourceCluster() {
	s, opts := c.shared, c.opts
	h := handlers{s}
	// Namespaces keep their labels; the others only which object it is.
	mf := metadatainformer.NewSharedInformerFactoryWithOptions(opts.Metadata, 0, metadatainformer.WithTransform(slimMetadata))
	kf := metadatainformer.NewSharedInformerFactoryWithOptions(opts.Metadata, 0, metadatainformer.WithTransform(keysOnly))
	c.secrets = kf.ForResource(corev1.SchemeGroupVersion.WithResource("secrets")).Informer()
	must(c.secrets.AddEventHandler(onEvents(func(old, obj interface{}) {
		if obj == nil {
			obj = old
		}
		h.secretChanged(obj)
	})))
	nsInf := mf.ForResource(corev1.SchemeGroupVersion.WithResource("namespaces"))
	s.namespaces = nsInf.Lister()
	must(nsInf.Informer().AddEventHandler(onEvents(func(_, _ interface{}) { h.namespaceChanged() })))
	c.synced = append(c.synced, c.secrets.HasSynced, nsInf.Informer().HasSynced)
	if opts.Reviewer != nil {
		w := newRBACWatch(invalidateBoth(opts.Reviewer, opts.ServerReviewer), s.enqueueAll)
		for _, res := range []string{"roles", "rolebindings", "clusterroles", "clusterrolebindings"} {
			must(kf.ForResource(rbacv1.SchemeGroupVersion.WithResource(res)).Informer().AddEventHandler(w.handler(res)))
		}
		// A deleted ServiceAccount's recorded user may do nothing any more.
		must(kf.ForResource(corev1.SchemeGroupVersion.WithResource("serviceaccounts")).Informer().AddEventHandler(w.handler("serviceaccounts")))
	}
	c.metadata = []metadatainformer.SharedInformerFactory{mf, kf}
	if opts.Dynamic != nil {
		s.listers.flux = &fluxRepos{dyn: opts.Dynamic, resources: s.source.resources.Get, refresh: s.source.resources.Refresh, changed: s.fluxChanged, stop: make(chan struct{})}
	}
}

// newRecorder records Events on our objects through the source cluster's
// core API (nil without one).
func newRecorder(opts Options) record.EventRecorder {
	if opts.Kube == nil {
		return nil
	}
	broadcaster := record.NewBroadcaster()
	broadcaster.StartRecordingToSink(&typedEventSink{kube: opts.Kube})
	scheme := runtime.NewScheme()
	utilruntime.Must(v1alpha1.AddToScheme(scheme))
	return broadcaster.NewRecorder(scheme, corev1.EventSource{Component: "gitops-reverser"})
}
