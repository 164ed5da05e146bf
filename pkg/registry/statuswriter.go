package registry

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"
)

// StatusWriter writes status straight into storage, bypassing the HTTP API. It is
// the only way status is ever written; it is handed to the lifecycle and never
// installed as a REST endpoint. It shares the main store's storage (and watch
// cache), so watchers see its writes as ordinary MODIFIED events.
type StatusWriter struct {
	store       *genericregistry.Store
	scheme      *runtime.Scheme
	newExternal func() runtime.Object
}

// NewStatusWriter returns a writer over a copy of main with the status strategy
// (a StatusStrategy).
// newExternal returns an empty versioned object, the type mutate functions get.
func NewStatusWriter(main *genericregistry.Store, strategy UpdateStrategy, scheme *runtime.Scheme, newExternal func() runtime.Object) *StatusWriter {
	s := *main
	s.UpdateStrategy = strategy
	s.ResetFieldsStrategy = strategy
	// The decorator computes read-time views; what we store must be the raw status.
	s.Decorator = nil
	return &StatusWriter{store: &s, scheme: scheme, newExternal: newExternal}
}

// Update applies mutate to the stored object and writes the result when mutate
// reports a change. It returns the stored object (versioned) and whether a write
// happened. Conflicts are retried by the store's GuaranteedUpdate.
//
// mutate changes the status of obj (a versioned object, e.g. *v1alpha1.GitTarget)
// in place and reports whether it changed anything. It may be called more than
// once when the write conflicts, each time with the latest stored object, so it
// must derive its result from obj alone.
func (w *StatusWriter) Update(ctx context.Context, namespace, name string, mutate func(obj runtime.Object) (bool, error)) (runtime.Object, bool, error) {
	ctx = genericapirequest.WithNamespace(ctx, namespace)
	changed := false
	transform := func(_ context.Context, _, oldObj runtime.Object) (runtime.Object, error) {
		ext := w.newExternal()
		if err := w.scheme.Convert(oldObj, ext, nil); err != nil {
			return nil, fmt.Errorf("converting %s/%s for a status write: %w", namespace, name, err)
		}
		ch, err := mutate(ext)
		if err != nil {
			return nil, err
		}
		changed = ch
		if !ch {
			return oldObj, nil
		}
		in := w.store.New()
		if err := w.scheme.Convert(ext, in, nil); err != nil {
			return nil, fmt.Errorf("converting %s/%s back after a status write: %w", namespace, name, err)
		}
		return in, nil
	}
	out, _, err := w.store.Update(ctx, name, rest.DefaultUpdatedObjectInfo(nil, transform),
		rest.ValidateAllObjectFunc, rest.ValidateAllObjectUpdateFunc, false, &metav1.UpdateOptions{})
	if err != nil {
		return nil, false, err
	}
	ext := w.newExternal()
	if err := w.scheme.Convert(out, ext, nil); err != nil {
		return nil, false, err
	}
	return ext, changed, nil
}
