package registry

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"
)

// AdmitFunc authorizes a write for the requesting user (pkg/tenancy): an
// error refuses it and nothing is stored. old is nil on a create. It is
// called on every create and on every update that changes the spec, after
// the strategy's validation and before the API server's admission chain.
type AdmitFunc func(ctx context.Context, obj, old runtime.Object) error

// Writes configures the writes of a kind's main store.
type Writes struct {
	// Admit authorizes creates and spec changes (nil: all are admitted).
	Admit AdmitFunc
	// NoIdentity records no status.authorizedBy: in standalone mode no user is
	// a cluster user, and a recorded one would be trusted by a server that
	// later serves the same data behind kube-apiserver.
	NoIdentity bool
}

// Store is a kind's main store with its AdmitFunc wrapped around creates and
// updates (server-side apply and patches go through Update). The status
// writer bypasses it: status is the server's own.
type Store struct {
	*genericregistry.Store
	admit AdmitFunc
}

var _ rest.StandardStorage = &Store{}

// Create implements rest.Creater.
func (s *Store) Create(ctx context.Context, obj runtime.Object, createValidation rest.ValidateObjectFunc, options *metav1.CreateOptions) (runtime.Object, error) {
	return s.Store.Create(ctx, obj, s.onCreate(createValidation), options)
}

// Update implements rest.Updater.
func (s *Store) Update(ctx context.Context, name string, objInfo rest.UpdatedObjectInfo, createValidation rest.ValidateObjectFunc,
	updateValidation rest.ValidateObjectUpdateFunc, forceAllowCreate bool, options *metav1.UpdateOptions) (runtime.Object, bool, error) {
	return s.Store.Update(ctx, name, objInfo, s.onCreate(createValidation), s.onUpdate(updateValidation), forceAllowCreate, options)
}

func (s *Store) onCreate(next rest.ValidateObjectFunc) rest.ValidateObjectFunc {
	if s.admit == nil {
		return next
	}
	return func(ctx context.Context, obj runtime.Object) error {
		if err := s.admit(ctx, obj, nil); err != nil {
			return err
		}
		if next != nil {
			return next(ctx, obj)
		}
		return nil
	}
}

func (s *Store) onUpdate(next rest.ValidateObjectUpdateFunc) rest.ValidateObjectUpdateFunc {
	if s.admit == nil {
		return next
	}
	return func(ctx context.Context, obj, old runtime.Object) error {
		// The strategy bumped the generation exactly when the spec changed.
		if obj.(metav1.Object).GetGeneration() != old.(metav1.Object).GetGeneration() {
			if err := s.admit(ctx, obj, old); err != nil {
				return err
			}
		}
		if next != nil {
			return next(ctx, obj, old)
		}
		return nil
	}
}
