// Package lifecycle runs the GitTarget startup state machine inside the API
// server (the status contract of docs/status.md): per target, the
// gates Validated, EncryptionConfigured, Bootstrapped, SnapshotSynced and
// EventStreamLive are evaluated in order, stopping at the first one not True,
// and written through the internal status writer only when something changed.
//
// The parts, and the one way work flows between them:
//
//   - this package, the controller: informers on our own API (loopback) and on
//     the source cluster feed rate-limited workqueues, so gates flip on watch
//     events, not on a timer. It is the one owner of every target's in-memory
//     state (state.go). Per target it assembles a gates.View, lets
//     gates.Evaluate decide (pure), and runs the decision's effects at the
//     edge (target.go): the ownership lease, Secrets, the branch worker, tasks.
//   - gates: the decisions, as pure functions with table tests.
//   - worker: one branch worker per (repository, branch, provider), owning its
//     clone; it runs bootstraps, snapshots (planned by pkg/lifecycle/snapshot)
//     and batched live commits, and reports every outcome as a mirror.Result.
//   - stream: the live event stream (one resumable watch per resource type
//     shared by every target, the snapshot barrier, routing), reporting
//     connectivity as a mirror.Result.
//
// Workers and the stream never call back into the controller: they report,
// and the controller applies the report (gates.State.Apply) and re-evaluates.
package lifecycle

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
	"github.com/configbutler/gitops-reverser/pkg/clusterapi"
	"github.com/configbutler/gitops-reverser/pkg/generated/clientset/versioned"
	"github.com/configbutler/gitops-reverser/pkg/generated/informers/externalversions"
	"github.com/configbutler/gitops-reverser/pkg/lifecycle/gates"
	"github.com/configbutler/gitops-reverser/pkg/lifecycle/mirror"
	"github.com/configbutler/gitops-reverser/pkg/lifecycle/stream"
	"github.com/configbutler/gitops-reverser/pkg/lifecycle/worker"
	"github.com/configbutler/gitops-reverser/pkg/tenancy"
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
	// OnChange: the replica set changed (every status may move);
	// OnLockChange: only a branch lock came or went (targets may move).
	OnChange(func())
	OnLockChange(func())
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
	// RawSource (optional) reads the source cluster's LIST pages as bytes:
	// snapshots decode each page once instead of the dynamic client's three
	// times.
	RawSource rest.Interface
	// ProtoSource (optional) is a core/v1 client that reads ConfigMaps' and
	// Secrets' LIST pages as protobuf (cheaper for kube-apiserver to encode
	// and for us to decode); other types, and pages holding fields this
	// build does not know, are read through RawSource.
	ProtoSource rest.Interface
	Writers     Writers
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
	// Resources is the source cluster's discovery, shared with admission
	// (default: one over Discovery).
	Resources *clusterapi.Resources
	// Reviewer, when set, reviews the users recorded on our objects: a rule
	// mirrors only what every user on its way into Git may read (pkg/tenancy).
	Reviewer *tenancy.Reviewer
	// ServerIdentity and ServerReviewer (optional, both) are the server's own
	// user in the source cluster and the reviewer of its reads: a wildcard
	// leaves out the types it may not read (serverreads.go). An RBAC change
	// forgets the reviewer's verdicts, as Reviewer's.
	ServerIdentity func(ctx context.Context) (*v1alpha1.AuthorizedIdentity, error)
	ServerReviewer *tenancy.Reviewer
	// RecheckInterval is how often recorded users are reviewed again without
	// an RBAC change (default 1m; RBAC changes are reviewed within seconds).
	RecheckInterval time.Duration
	// Attribution, when set, names the user behind each live change (the
	// audit reports of kube-apiserver, pkg/attribution); a change waits for
	// its report up to AttributionGrace, then is authored by its field
	// manager.
	Attribution      worker.Attributor
	AttributionGrace time.Duration
}

// Controller is the lifecycle.
type Controller struct {
	*shared
	factory   externalversions.SharedInformerFactory
	secrets   cache.SharedIndexInformer
	metadata  []metadatainformer.SharedInformerFactory // namespaces; Secrets; RBAC with tenancy
	synced    []cache.InformerSynced
	targets   *targetReconciler
	providers *providerReconciler
	rules     *ruleReconciler
}

// shared is what the controller's reconcilers and event handlers share.
type shared struct {
	opts     Options
	listers  listers
	queues   queues
	states   *stateStore
	workers  *worker.Manager
	router   *stream.Router // nil without a source cluster
	source   *source
	recorder record.EventRecorder
	// namespaces lists the source cluster's namespaces (metadata), for
	// namespaceSelectors; nil without a source cluster.
	namespaces cache.GenericLister
}

type queues struct {
	targets, providers, rules workqueue.TypedRateLimitingInterface[string]
}

func newQueue(name string) workqueue.TypedRateLimitingInterface[string] {
	return workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: name})
}

// Run starts the informers and reconcilers and blocks until ctx is done.
func (c *Controller) Run(ctx context.Context) {
	defer utilruntime.HandleCrash()
	defer c.queues.targets.ShutDown()
	defer c.queues.providers.ShutDown()
	defer c.queues.rules.ShutDown()

	if f := c.listers.flux; f != nil {
		defer close(f.stop)
	}
	c.factory.Start(ctx.Done())
	for _, f := range c.metadata {
		f.Start(ctx.Done())
	}
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return
	}
	klog.InfoS("Lifecycle started", "workDir", c.opts.WorkDir)
	for i := 0; i < c.opts.Concurrency; i++ {
		go wait.UntilWithContext(ctx, func(ctx context.Context) { process(ctx, c.queues.targets, c.targets.sync) }, time.Second)
	}
	go wait.UntilWithContext(ctx, func(ctx context.Context) { process(ctx, c.queues.providers, c.providers.sync) }, time.Second)
	go wait.UntilWithContext(ctx, func(ctx context.Context) { process(ctx, c.queues.rules, c.rules.sync) }, time.Second)
	// New CRDs matched by wildcard rules show up in discovery without an
	// event of ours: read it every minute, and look at every target again
	// whenever any read finds the types changed (admission's, a stale Get's:
	// a change they found first would be lost to a check of this tick's own
	// result).
	go wait.UntilWithContext(ctx, func(context.Context) { c.source.resources.Refresh(false) }, time.Minute)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-c.source.resources.Changes():
				c.enqueueAllTargets()
			}
			// A change found meanwhile stays pending for the next look:
			// discovery that flaps cannot have every target looked at
			// more often than this.
			select {
			case <-ctx.Done():
				return
			case <-time.After(discoveryChangePause):
			}
		}
	}()
	if c.source.reviewer != nil {
		// Recorded users lose permissions without an event of ours (a webhook
		// authorizer, a group membership): review every target's chain again.
		go wait.UntilWithContext(ctx, func(context.Context) { c.enqueueAllTargets() }, c.opts.RecheckInterval)
	}

	<-ctx.Done()
	c.workers.Stop()
	if c.router != nil {
		c.router.Stop()
	}
}

// discoveryChangePause is the least time between two looks at every target
// for discovery changes (a Helm chart's CRDs, established one after another,
// cost two looks rather than one each).
const discoveryChangePause = 5 * time.Second

func process(ctx context.Context, q workqueue.TypedRateLimitingInterface[string], sync func(context.Context, string) error) {
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

// onResult applies a worker's or the stream's report to the target's state and
// re-evaluates the target (every target when the source cluster's
// connectivity changed).
func (c *Controller) onResult(r mirror.Result) {
	if r.Op == mirror.OpSource {
		c.enqueueAllTargets()
		return
	}
	if len(r.Failed) > 0 {
		c.recordNotWritten(r)
	}
	if r.Op == mirror.OpNotWritten {
		return // no gate changes: the rest of the batch was committed
	}
	if r.Op == mirror.OpResync {
		// The stream missed events of the target: its snapshot no longer
		// stands, and the reconcile starts a new one.
		klog.InfoS("Target missed events of the source cluster; taking a new snapshot", "target", r.Target, "err", r.Err)
		c.states.update(r.Target, func(s gates.State) gates.State { s.Snapshot = gates.Op{}; return s })
		c.queues.targets.Add(r.Target)
		return
	}
	c.states.update(r.Target, func(s gates.State) gates.State { return s.Apply(r) })
	c.queues.targets.Add(r.Target)
}

// recordNotWritten names, in a Warning Event of the target, the objects a
// snapshot or a batch left out because they could not be written.
func (c *Controller) recordNotWritten(r mirror.Result) {
	if c.recorder == nil {
		return
	}
	ns, name, err := cache.SplitMetaNamespaceKey(r.Target)
	if err != nil {
		return
	}
	t, err := c.listers.targets.GitTargets(ns).Get(name)
	if err != nil {
		return
	}
	what := "A change"
	if r.Op == mirror.OpSnapshot {
		what = fmt.Sprintf("The snapshot (%d object(s) not written)", r.Stats.Failed)
	}
	c.recorder.Eventf(t, corev1.EventTypeWarning, "ObjectNotWritten", "%s left out what could not be written; everything else was committed: %s",
		what, strings.Join(r.Failed, "; "))
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
