// Package storage builds the GitRestore storage bundle, whose create answers a
// dry run with the restore's plan.
package storage

import (
	"context"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/registry/generic"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/apiserver/pkg/util/dryrun"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler"
	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
	"github.com/configbutler/gitops-reverser/pkg/registry"
	"github.com/configbutler/gitops-reverser/pkg/registry/configbutler/gitrestore"
)

// Planner computes what a restore would do, as the user in ctx, writing
// nothing (pkg/recovery).
type Planner interface {
	Plan(ctx context.Context, r *configbutler.GitRestore) (configbutler.GitRestoreStatus, error)
}

// Storage is the GitRestore storage bundle.
type Storage struct {
	Main         *REST
	Status       *registry.ViewREST
	StatusWriter *registry.StatusWriter
}

// REST is the gitrestores resource: a dry-run create returns the plan.
type REST struct {
	*registry.Store
	planner Planner
}

var _ rest.StandardStorage = &REST{}

// NewStorage returns the GitRestore storage bundle; planner (nil: dry runs
// return no plan) answers dry-run creates.
func NewStorage(scheme *runtime.Scheme, optsGetter generic.RESTOptionsGetter, writes registry.Writes, planner Planner) (*Storage, error) {
	s, err := registry.NewStorage(scheme, optsGetter, gitrestore.Kind, registry.StoreConfig{
		Resource:    configbutler.Resource("gitrestores"),
		Singular:    configbutler.Resource("gitrestore"),
		NewFunc:     func() runtime.Object { return &configbutler.GitRestore{} },
		NewListFunc: func() runtime.Object { return &configbutler.GitRestoreList{} },
		NewExternal: func() runtime.Object { return &v1alpha1.GitRestore{} },
		Attrs:       gitrestore.Attrs,
		Table:       gitrestore.Table,
		Writes:      writes,
	})
	if err != nil {
		return nil, err
	}
	return &Storage{Main: &REST{Store: s.Main, planner: planner}, Status: s.Status, StatusWriter: s.StatusWriter}, nil
}

// Create stores a GitRestore; a dry run stores nothing and returns the
// object with the plan in its status (what `kubectl create --dry-run=server
// -o yaml` prints).
func (r *REST) Create(ctx context.Context, obj runtime.Object, validate rest.ValidateObjectFunc, options *metav1.CreateOptions) (runtime.Object, error) {
	out, err := r.Store.Create(ctx, obj, validate, options)
	if err != nil || options == nil || !dryrun.IsDryRun(options.DryRun) || r.planner == nil {
		return out, err
	}
	gr := out.(*configbutler.GitRestore)
	st, err := r.planner.Plan(ctx, gr)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	st.AuthorizedBy = gr.Status.AuthorizedBy
	gr.Status = st
	return gr, nil
}
