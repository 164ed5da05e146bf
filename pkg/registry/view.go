package registry

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/registry/rest"
)

// ViewREST is a read-only subresource (status, gates, snapshot): GET only, so
// discovery lists the verb "get" alone and PUT/PATCH have no route. The view is
// computed from the main object as served (with Ready already computed).
type ViewREST struct {
	main    rest.Getter
	newFunc func() runtime.Object
	view    func(obj runtime.Object) runtime.Object
	rest.TableConvertor
}

var (
	_ rest.Getter         = &ViewREST{}
	_ rest.TableConvertor = &ViewREST{}
	_ rest.Storage        = &ViewREST{}
)

// NewViewREST returns a GET-only subresource. A nil view serves the main object
// itself (the status subresource).
func NewViewREST(main rest.Getter, newFunc func() runtime.Object, view func(runtime.Object) runtime.Object, table rest.TableConvertor) *ViewREST {
	if view == nil {
		view = func(o runtime.Object) runtime.Object { return o }
	}
	return &ViewREST{main: main, newFunc: newFunc, view: view, TableConvertor: table}
}

// New implements rest.Storage.
func (r *ViewREST) New() runtime.Object { return r.newFunc() }

// Destroy implements rest.Storage; the underlying store is owned by the main resource.
func (r *ViewREST) Destroy() {}

// Get returns the view of the named object.
func (r *ViewREST) Get(ctx context.Context, name string, options *metav1.GetOptions) (runtime.Object, error) {
	obj, err := r.main.Get(ctx, name, options)
	if err != nil {
		return nil, err
	}
	return r.view(obj), nil
}
