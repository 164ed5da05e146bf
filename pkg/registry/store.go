package registry

import (
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"
)

// StoreConfig describes the storage of one kind.
type StoreConfig struct {
	Resource    schema.GroupResource
	Singular    schema.GroupResource
	NewFunc     func() runtime.Object
	NewListFunc func() runtime.Object
	// NewExternal returns an empty v1alpha1 object, for the status writer.
	NewExternal func() runtime.Object
	Attrs       AttrsFunc
	Table       rest.TableConvertor
	// Decorator computes read-time fields on Get, List and write responses (optional).
	Decorator func(runtime.Object)
	// Writes authorizes creates and spec changes, and says whether the user
	// is recorded.
	Writes Writes
}

// Storage is one kind's storage bundle: the main resource and its read-only
// status (both installed), and the status writer (never installed).
type Storage struct {
	Main         *Store
	Status       *ViewREST
	StatusWriter *StatusWriter
}

// NewStorage builds the bundle for a kind over the given RESTOptionsGetter.
func NewStorage[T Object, S, St any](scheme *runtime.Scheme, optsGetter generic.RESTOptionsGetter, kind Kind[T, S, St], c StoreConfig) (*Storage, error) {
	if err := kind.check(); err != nil {
		return nil, fmt.Errorf("storage for %s: %w", c.Resource, err)
	}
	strategy := NewStrategy(scheme, kind)
	strategy.noIdentity = c.Writes.NoIdentity
	store := &genericregistry.Store{
		NewFunc:                   c.NewFunc,
		NewListFunc:               c.NewListFunc,
		PredicateFunc:             Predicate(c.Attrs),
		DefaultQualifiedResource:  c.Resource,
		SingularQualifiedResource: c.Singular,
		CreateStrategy:            strategy,
		UpdateStrategy:            strategy,
		DeleteStrategy:            strategy,
		ResetFieldsStrategy:       strategy,
		TableConvertor:            c.Table,
		Decorator:                 c.Decorator,
	}
	if err := store.CompleteWithOptions(&generic.StoreOptions{RESTOptions: optsGetter, AttrFunc: c.Attrs}); err != nil {
		return nil, fmt.Errorf("storage for %s: %w", c.Resource, err)
	}
	return &Storage{
		Main:         &Store{Store: store, admit: c.Writes.Admit},
		Status:       NewViewREST(store, c.NewFunc, nil, c.Table),
		StatusWriter: NewStatusWriter(store, NewStatusStrategy(strategy), scheme, c.NewExternal),
	}, nil
}
