package lifecycle

import (
	"fmt"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
	"github.com/configbutler/gitops-reverser/pkg/selection"
)

// A GitTarget may push through a Flux GitRepository instead of a GitProvider
// (providerRef group source.toolkit.fluxcd.io, kind GitRepository): a
// cluster already running Flux lends its repository's URL and credentials.
// The GitRepository stands in for a provider with the defaults (any branch,
// the default batching, no commit templates or signing key); its Secret is
// read with Flux's keys (git.AuthFromFluxSecret), and everything the server
// does with it is done for the target's recorded user: admission checked
// that user may get the GitRepository and its Secret, and the reviews at
// use check it again.
//
// GitRepositories are watched (metadata and spec, through one dynamic
// informer) from the first lookup after the cluster serves the kind: a
// cluster without Flux costs nothing, and one that installs Flux later is
// seen within discovery's refresh.
type fluxRepos struct {
	dyn       dynamic.Interface
	resources func() ([]selection.APIResource, error)
	// refresh re-reads discovery (clusterapi.Resources.Refresh; nil: never).
	refresh func(force bool) bool
	// changed is told the namespace and name of a GitRepository that
	// changed (its targets are reconciled again); "", "" for all of them.
	changed func(ns, name string)
	// stop ends the informer: closed when the controller's Run ends.
	stop chan struct{}

	mu  sync.Mutex
	inf cache.SharedIndexInformer
	// retry is the delay of the next look at discovery while targets name
	// a GitRepository the cluster does not serve; one is pending at most.
	retry        time.Duration
	retryPending bool
}

// Looks at discovery while the kind is not served: from 2 s, doubling, up to
// a minute (then the targets' periodic re-check goes on).
const (
	fluxRetryFirst = 2 * time.Second
	fluxRetryMax   = time.Minute
)

// FluxGVR finds the version of gitrepositories the cluster prefers (false:
// the kind is not served: no Flux CRD). Admission reads GitRepositories
// through it too.
func FluxGVR(resources []selection.APIResource) (schema.GroupVersionResource, bool) {
	for _, r := range resources {
		if r.GVR.Group == v1alpha1.FluxSourceGroup && r.GVR.Resource == "gitrepositories" && r.Preferred {
			return r.GVR, true
		}
	}
	return schema.GroupVersionResource{}, false
}

// get returns a GitRepository, or why there is none (a reason for Validated).
func (f *fluxRepos) get(ns, name string) (*unstructured.Unstructured, string) {
	if f == nil || f.dyn == nil {
		return nil, fmt.Sprintf("Referenced Flux GitRepository '%s/%s' cannot be read: the server has no source cluster (--kubeconfig)", ns, name)
	}
	inf, why := f.informer()
	if inf == nil {
		return nil, why
	}
	if !inf.HasSynced() && !waitSynced(inf, fluxSyncWait) {
		return nil, fmt.Sprintf("Referenced Flux GitRepository '%s/%s' not read yet: the GitRepositories are being listed", ns, name)
	}
	obj, ok, err := inf.GetStore().GetByKey(ns + "/" + name)
	if err != nil || !ok {
		return nil, fmt.Sprintf("Referenced Flux GitRepository '%s/%s' not found", ns, name)
	}
	u, _ := obj.(*unstructured.Unstructured)
	return u, ""
}

// informer starts the GitRepository informer once the kind is served.
func (f *fluxRepos) informer() (cache.SharedIndexInformer, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.inf != nil {
		return f.inf, ""
	}
	resources, err := f.resources()
	if err != nil {
		return nil, fmt.Sprintf("Flux GitRepositories cannot be looked up: %v", err)
	}
	gvr, ok := FluxGVR(resources)
	if !ok && f.refresh != nil && f.refresh(false) {
		// Discovery may be up to its MaxAge old: Flux's CRDs may have been
		// installed since (read again at most every two seconds).
		if resources, err = f.resources(); err == nil {
			gvr, ok = FluxGVR(resources)
		}
	}
	if !ok {
		f.retryLocked()
		return nil, fmt.Sprintf("The cluster serves no Flux GitRepository (%s): install Flux's source-controller CRDs, or use a GitProvider", v1alpha1.FluxSourceGroup)
	}
	f.retry, f.retryPending = 0, false
	f.inf = dynamicinformer.NewFilteredDynamicInformer(f.dyn, gvr, metav1.NamespaceAll, 0, cache.Indexers{}, nil).Informer()
	must(f.inf.AddEventHandler(onEvents(func(old, obj interface{}) {
		if o, n := asObject(old), asObject(obj); o != nil && n != nil && o.GetGeneration() == n.GetGeneration() {
			return // status only (Flux writes it after each fetch): no spec change
		}
		if obj == nil {
			obj = old
		}
		if ns, name, err := cache.SplitMetaNamespaceKey(keyOf(obj)); err == nil {
			f.changed(ns, name)
		}
	})))
	klog.InfoS("Watching Flux GitRepositories: a GitTarget pushes through one", "resource", gvr.String())
	go f.inf.Run(f.stop)
	go func(inf cache.SharedIndexInformer) {
		// Targets that looked while the GitRepositories were being listed
		// (or named one that does not exist) look again.
		if cache.WaitForCacheSync(f.stop, inf.HasSynced) {
			f.changed("", "")
		}
	}(f.inf)
	return f.inf, ""
}

// retryLocked looks again later, once at a time (a CRD installed after the
// last discovery read is then seen without waiting for the periodic
// re-check), from fluxRetryFirst doubling; past fluxRetryMax it stops.
func (f *fluxRepos) retryLocked() {
	if f.retryPending {
		return
	}
	if f.retry == 0 {
		f.retry = fluxRetryFirst
	}
	if f.retry > fluxRetryMax {
		return
	}
	f.retryPending = true
	delay := f.retry
	time.AfterFunc(delay, func() {
		f.mu.Lock()
		f.retryPending, f.retry = false, 2*delay
		f.mu.Unlock()
		f.changed("", "")
	})
}

// fluxSyncWait is how long a first lookup waits for the GitRepositories to be
// listed: a target is not failed (and its worker released) at every start
// for a list that takes a moment.
const fluxSyncWait = 5 * time.Second

// waitSynced waits up to d for inf's first list.
func waitSynced(inf cache.SharedIndexInformer, d time.Duration) bool {
	stop := make(chan struct{})
	t := time.AfterFunc(d, func() { close(stop) })
	defer t.Stop()
	return cache.WaitForCacheSync(stop, inf.HasSynced)
}

// asObject is an informer's object as metadata (nil for none).
func asObject(obj interface{}) metav1.Object {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	o, _ := obj.(metav1.Object)
	return o
}

// providerFromFlux is the provider a GitRepository stands for: its URL and
// credentials Secret, with the defaults for everything else. Its kind says
// where it came from (isFluxProvider).
func providerFromFlux(repo *unstructured.Unstructured) *v1alpha1.GitProvider {
	url, _, _ := unstructured.NestedString(repo.Object, "spec", "url")
	secret := FluxSecretName(repo)
	p := &v1alpha1.GitProvider{
		TypeMeta: metav1.TypeMeta{APIVersion: repo.GetAPIVersion(), Kind: v1alpha1.KindGitRepository},
		ObjectMeta: metav1.ObjectMeta{Namespace: repo.GetNamespace(), Name: repo.GetName(), UID: repo.GetUID(),
			Generation: repo.GetGeneration(), ResourceVersion: repo.GetResourceVersion()},
		Spec: v1alpha1.GitProviderSpec{URL: url, AllowedBranches: []string{"*"},
			Push: v1alpha1.PushPolicy{Interval: metav1.Duration{Duration: v1alpha1.DefaultPushInterval}, MaxChanges: v1alpha1.DefaultPushMaxChanges}},
	}
	if secret != "" {
		p.Spec.SecretRef = &v1alpha1.LocalSecretReference{Name: secret, Kind: "Secret"}
	}
	return p
}

// FluxSecretName is the credentials Secret a GitRepository names ("" for
// none).
func FluxSecretName(repo *unstructured.Unstructured) string {
	name, _, _ := unstructured.NestedString(repo.Object, "spec", "secretRef", "name")
	return name
}

// isFluxProvider reports whether p stands for a Flux GitRepository.
func isFluxProvider(p *v1alpha1.GitProvider) bool {
	return p != nil && p.Kind == v1alpha1.KindGitRepository
}
