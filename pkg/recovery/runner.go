package recovery

import (
	"context"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
	"github.com/configbutler/gitops-reverser/pkg/generated/clientset/versioned"
	"github.com/configbutler/gitops-reverser/pkg/generated/informers/externalversions"
	listers "github.com/configbutler/gitops-reverser/pkg/generated/listers/configbutler/v1alpha1"
)

// StatusWriter writes an object's status (registry.StatusWriter).
type StatusWriter interface {
	Update(ctx context.Context, namespace, name string, mutate func(obj runtime.Object) (bool, error)) (runtime.Object, bool, error)
}

// Runner runs each GitRestore once: a restore without a Complete condition
// is run by the replica that prefers it (prefers; with one replica, always),
// and its status written. A replica that dies during a restore leaves it
// without Complete: the next preferred one runs it again, which writes the
// same objects (server-side apply is idempotent).
type Runner struct {
	Restores *Restores
	Client   versioned.Interface
	Writer   StatusWriter
	// Prefers reports whether this replica runs the restore keyed so.
	Prefers func(key string) bool

	lister listers.GitRestoreLister
	queue  workqueue.TypedRateLimitingInterface[string]
}

// Run runs restores until ctx is done.
func (r *Runner) Run(ctx context.Context) {
	defer utilruntime.HandleCrash()
	r.queue = workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "gitrestores"})
	defer r.queue.ShutDown()
	f := externalversions.NewSharedInformerFactory(r.Client, 0)
	inf := f.Configbutler().V1alpha1().GitRestores()
	r.lister = inf.Lister()
	enqueue := func(obj interface{}) {
		if k, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
			r.queue.Add(k)
		}
	}
	if _, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: enqueue, UpdateFunc: func(_, obj interface{}) { enqueue(obj) }}); err != nil {
		klog.ErrorS(err, "GitRestores are not run")
		return
	}
	f.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), inf.Informer().HasSynced) {
		return
	}
	// Two at a time: a restore writes many objects, one after another.
	for i := 0; i < 2; i++ {
		go wait.UntilWithContext(ctx, r.work, time.Second)
	}
	<-ctx.Done()
}

func (r *Runner) work(ctx context.Context) {
	for {
		key, quit := r.queue.Get()
		if quit {
			return
		}
		r.handle(ctx, key)
		r.queue.Done(key)
	}
}

// handle runs the restore keyed so, when it is due here.
func (r *Runner) handle(ctx context.Context, key string) {
	ns, name, _ := cache.SplitMetaNamespaceKey(key)
	gr, err := r.lister.GitRestores(ns).Get(name)
	if err != nil || gr.DeletionTimestamp != nil || complete(gr) {
		return
	}
	if r.Prefers != nil && !r.Prefers("GitRestore/"+key) {
		r.queue.AddAfter(key, 30*time.Second) // in case the preferred replica is gone
		return
	}
	rctx, cancel := context.WithTimeout(ctx, restoreTimeout)
	defer cancel()
	st := r.Restores.Run(rctx, gr.DeepCopy(), false)
	klog.InfoS("GitRestore finished", "restore", key, "created", st.Summary.Created, "updated", st.Summary.Updated,
		"unchanged", st.Summary.Unchanged, "deleted", st.Summary.Deleted, "failed", st.Summary.Failed)
	_, _, err = r.Writer.Update(ctx, ns, name, func(obj runtime.Object) (bool, error) {
		cur := obj.(*v1alpha1.GitRestore)
		st.AuthorizedBy = cur.Status.AuthorizedBy
		cur.Status = st
		return true, nil
	})
	if err != nil {
		klog.ErrorS(err, "Writing a GitRestore's status failed; it will run again", "restore", key)
		r.queue.AddRateLimited(key)
	}
}

// complete reports whether a restore has run.
func complete(gr *v1alpha1.GitRestore) bool {
	for _, c := range gr.Status.Conditions {
		if c.Type == ConditionComplete && c.Status != metav1.ConditionUnknown {
			return true
		}
	}
	return false
}
