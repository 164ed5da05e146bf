// Package storage builds the GitTarget storage bundle: the main resource (with
// Ready computed on Get, List, Watch and write responses), the read-only status,
// gates and snapshot subresources, and the internal status writer.
package storage

import (
	"context"

	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/apiserver/pkg/registry/generic"
	"k8s.io/apiserver/pkg/registry/rest"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler"
	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
	"github.com/configbutler/gitops-reverser/pkg/registry"
	"github.com/configbutler/gitops-reverser/pkg/registry/configbutler/gittarget"
)

// Storage is the GitTarget storage bundle.
type Storage struct {
	GitTarget    *REST
	Status       *registry.ViewREST
	Gates        *registry.ViewREST
	Snapshot     *registry.ViewREST
	StatusWriter *registry.StatusWriter
}

// REST is the main gittargets resource.
type REST struct {
	*registry.Store
	decorate func(runtime.Object)
}

var (
	_ rest.StandardStorage = &REST{}
	_ rest.Watcher         = &REST{}
)

// NewStorage returns the GitTarget storage bundle. liveness (optional) tells the
// read path which replica leases are alive; writes says how writes are authorized and recorded.
func NewStorage(scheme *runtime.Scheme, optsGetter generic.RESTOptionsGetter, liveness gittarget.Liveness, writes registry.Writes) (*Storage, error) {
	decorate := func(obj runtime.Object) {
		switch o := obj.(type) {
		case *configbutler.GitTarget:
			gittarget.Decorate(o, liveness)
		case *configbutler.GitTargetList:
			for i := range o.Items {
				gittarget.Decorate(&o.Items[i], liveness)
			}
		}
	}
	s, err := registry.NewStorage(scheme, optsGetter, gittarget.Kind, registry.StoreConfig{
		Resource:    configbutler.Resource("gittargets"),
		Singular:    configbutler.Resource("gittarget"),
		NewFunc:     func() runtime.Object { return &configbutler.GitTarget{} },
		NewListFunc: func() runtime.Object { return &configbutler.GitTargetList{} },
		NewExternal: func() runtime.Object { return &v1alpha1.GitTarget{} },
		Attrs:       gittarget.Attrs,
		Table:       gittarget.Table,
		Decorator:   decorate,
		Writes:      writes,
	})
	if err != nil {
		return nil, err
	}
	main := &REST{Store: s.Main, decorate: decorate}
	return &Storage{
		GitTarget:    main,
		Status:       s.Status,
		Gates:        registry.NewViewREST(main, func() runtime.Object { return &configbutler.GitTargetGates{} }, gittarget.GatesView, gittarget.GatesTable),
		Snapshot:     registry.NewViewREST(main, func() runtime.Object { return &configbutler.GitTargetSnapshot{} }, gittarget.SnapshotView, gittarget.SnapshotTable),
		StatusWriter: s.StatusWriter,
	}, nil
}

// Watch serves watch events with Ready computed. With the watch cache on, events
// carry runtime.CacheableObject wrappers shared by every watcher (the store's
// Decorator cannot see through them): unwrap with GetObject, which returns a
// copy, and decorate the copy.
func (r *REST) Watch(ctx context.Context, options *metainternalversion.ListOptions) (watch.Interface, error) {
	w, err := r.Store.Watch(ctx, options)
	if err != nil {
		return nil, err
	}
	return watch.Filter(w, func(ev watch.Event) (watch.Event, bool) {
		switch ev.Type {
		case watch.Added, watch.Modified, watch.Deleted:
		default:
			return ev, true
		}
		obj := ev.Object
		if c, ok := obj.(runtime.CacheableObject); ok {
			obj = c.GetObject()
		}
		if t, ok := obj.(*configbutler.GitTarget); ok {
			r.decorate(t)
			ev.Object = t
		}
		return ev, true
	}), nil
}
