// Package registry holds what the four kinds' registries share: the
// spec/status split of their strategies, generic table conversion, read-only
// subresources, and the internal status writer.
//
// Who writes what (DESIGN.md section 5): clients write spec and metadata through
// the HTTP API; the main strategy discards any status they send. Status is
// written only by the server's lifecycle through a StatusWriter, a store that is
// never installed in the API.
package registry

import (
	"context"
	"errors"
	"fmt"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/registry/generic"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/apiserver/pkg/storage"
	"k8s.io/apiserver/pkg/storage/names"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler"
	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/validation"
)

// Object is an internal object of one of our kinds (a pointer, e.g.
// *configbutler.GitTarget).
type Object interface {
	runtime.Object
	metav1.Object
}

// Kind is what the strategies need to know about one of our kinds: T is its
// internal pointer type, S its spec and St its status type. Spec and Status
// give typed access to the two halves the strategies move between the
// client's object and the stored one, so a kind without a status does not
// compile. Spec, Status, Conditions, Validate and ValidateUpdate are required;
// the rest are optional hooks.
type Kind[T Object, S, St any] struct {
	Namespaced bool
	Spec       func(obj T) *S
	Status     func(obj T) *St
	// Conditions returns the conditions of a status, which status writes validate.
	Conditions func(status *St) []metav1.Condition
	// AuthorizedBy is the status field recording the user a create or spec
	// change was authorized for: set by the server from the request, kept by
	// every other write (the lifecycle's status writes included).
	AuthorizedBy   func(status *St) **configbutler.AuthorizedIdentity
	Validate       func(obj T) field.ErrorList
	ValidateUpdate func(obj, old T) field.ErrorList
	// Canonicalize normalizes spec after validation.
	Canonicalize func(obj T)
	// PrepareForCreate runs on client creates after the client's status has been
	// dropped and the generation set to 1: the place to record server-set
	// status fields (ctx carries the requesting user).
	PrepareForCreate func(ctx context.Context, obj T)
	// PrepareForUpdate runs on client updates after the stored status has been
	// put back and the generation set: obj's generation differs from old's
	// exactly when the spec changed.
	PrepareForUpdate func(ctx context.Context, obj, old T)
	// PrepareStatus runs on status writes after the new status is in place and
	// spec and metadata are back from storage (GitTarget computes the stored
	// Ready there).
	PrepareStatus func(ctx context.Context, obj, old T)
}

// check reports a required field left nil, so a kind wired wrongly fails when
// the server builds its storage rather than on the first request.
func (k Kind[T, S, St]) check() error {
	var errs []error
	require := func(set bool, name string) {
		if !set {
			errs = append(errs, fmt.Errorf("kind without %s", name))
		}
	}
	require(k.Spec != nil, "Spec")
	require(k.Status != nil, "Status")
	require(k.Conditions != nil, "Conditions")
	require(k.AuthorizedBy != nil, "AuthorizedBy")
	require(k.Validate != nil, "Validate")
	require(k.ValidateUpdate != nil, "ValidateUpdate")
	return errors.Join(errs...)
}

// MainStrategy is what the main store of a kind needs of its strategy.
type MainStrategy interface {
	rest.RESTCreateStrategy
	rest.RESTUpdateStrategy
	rest.RESTDeleteStrategy
	rest.ResetFieldsStrategy
}

// UpdateStrategy is what a status writer needs of its strategy.
type UpdateStrategy interface {
	rest.RESTUpdateStrategy
	rest.ResetFieldsStrategy
}

// Strategy is the create/update/delete strategy of the main resource: spec and
// metadata from the client, status always kept from storage.
type Strategy[T Object, S, St any] struct {
	runtime.ObjectTyper
	names.NameGenerator
	kind Kind[T, S, St]
	// noIdentity records no status.authorizedBy (see Writes).
	noIdentity bool
}

var (
	_ MainStrategy   = Strategy[Object, struct{}, struct{}]{}
	_ UpdateStrategy = StatusStrategy[Object, struct{}, struct{}]{}
)

// NewStrategy returns the main-resource strategy for a kind.
func NewStrategy[T Object, S, St any](typer runtime.ObjectTyper, kind Kind[T, S, St]) Strategy[T, S, St] {
	return Strategy[T, S, St]{ObjectTyper: typer, NameGenerator: names.SimpleNameGenerator, kind: kind}
}

// NamespaceScoped implements rest.RESTCreateStrategy.
func (s Strategy[T, S, St]) NamespaceScoped() bool { return s.kind.Namespaced }

// PrepareForCreate drops client-sent status and starts the generation at 1.
func (s Strategy[T, S, St]) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	t := obj.(T)
	*s.kind.Status(t) = *new(St)
	*s.kind.AuthorizedBy(s.kind.Status(t)) = s.identity(ctx)
	t.SetGeneration(1)
	if s.kind.PrepareForCreate != nil {
		s.kind.PrepareForCreate(ctx, t)
	}
}

// PrepareForUpdate keeps the stored status and bumps the generation when spec changed.
func (s Strategy[T, S, St]) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	t, o := obj.(T), old.(T)
	*s.kind.Status(t) = *s.kind.Status(o)
	gen := o.GetGeneration()
	if !apiequality.Semantic.DeepEqual(*s.kind.Spec(t), *s.kind.Spec(o)) {
		gen++
		// A spec change is authorized for the user making it (pkg/tenancy).
		*s.kind.AuthorizedBy(s.kind.Status(t)) = s.identity(ctx)
	}
	t.SetGeneration(gen)
	if s.kind.PrepareForUpdate != nil {
		s.kind.PrepareForUpdate(ctx, t, o)
	}
}

func (s Strategy[T, S, St]) identity(ctx context.Context) *configbutler.AuthorizedIdentity {
	if s.noIdentity {
		return nil
	}
	return identityFrom(ctx)
}

// Validate implements rest.RESTCreateStrategy.
func (s Strategy[T, S, St]) Validate(_ context.Context, obj runtime.Object) field.ErrorList {
	return s.kind.Validate(obj.(T))
}

// ValidateUpdate implements rest.RESTUpdateStrategy.
func (s Strategy[T, S, St]) ValidateUpdate(_ context.Context, obj, old runtime.Object) field.ErrorList {
	return s.kind.ValidateUpdate(obj.(T), old.(T))
}

// WarningsOnCreate implements rest.RESTCreateStrategy.
func (Strategy[T, S, St]) WarningsOnCreate(context.Context, runtime.Object) []string { return nil }

// WarningsOnUpdate implements rest.RESTUpdateStrategy.
func (Strategy[T, S, St]) WarningsOnUpdate(context.Context, runtime.Object, runtime.Object) []string {
	return nil
}

// AllowCreateOnUpdate implements rest.RESTUpdateStrategy.
func (Strategy[T, S, St]) AllowCreateOnUpdate(context.Context) bool { return false }

// AllowUnconditionalUpdate implements rest.RESTUpdateStrategy.
func (Strategy[T, S, St]) AllowUnconditionalUpdate(context.Context) bool { return true }

// Canonicalize implements rest.RESTCreateStrategy.
func (s Strategy[T, S, St]) Canonicalize(obj runtime.Object) {
	if s.kind.Canonicalize != nil {
		s.kind.Canonicalize(obj.(T))
	}
}

// GetResetFields tells server-side apply that clients do not own status.
func (Strategy[T, S, St]) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return map[fieldpath.APIVersion]*fieldpath.Set{
		fieldpath.APIVersion(v1alpha1.SchemeGroupVersion.String()): fieldpath.NewSet(fieldpath.MakePathOrDie("status")),
	}
}

// StatusStrategy is the update strategy of the internal status writer: status
// from the writer, spec and metadata always kept from storage.
type StatusStrategy[T Object, S, St any] struct {
	Strategy[T, S, St]
}

// NewStatusStrategy returns the status-writer strategy for a kind.
func NewStatusStrategy[T Object, S, St any](s Strategy[T, S, St]) StatusStrategy[T, S, St] {
	return StatusStrategy[T, S, St]{s}
}

// PrepareForUpdate keeps spec and metadata from storage.
func (s StatusStrategy[T, S, St]) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	t, o := obj.(T), old.(T)
	*s.kind.Spec(t) = *s.kind.Spec(o)
	*s.kind.AuthorizedBy(s.kind.Status(t)) = *s.kind.AuthorizedBy(s.kind.Status(o))
	metav1.ResetObjectMetaForStatus(t, o)
	if s.kind.PrepareStatus != nil {
		s.kind.PrepareStatus(ctx, t, o)
	}
}

// ValidateUpdate checks the conditions the lifecycle wrote.
func (s StatusStrategy[T, S, St]) ValidateUpdate(_ context.Context, obj, _ runtime.Object) field.ErrorList {
	conds := s.kind.Conditions(s.kind.Status(obj.(T)))
	return validation.ValidateConditions(conds, field.NewPath("status", "conditions"))
}

// GetResetFields: the status writer never changes spec.
func (StatusStrategy[T, S, St]) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return map[fieldpath.APIVersion]*fieldpath.Set{
		fieldpath.APIVersion(v1alpha1.SchemeGroupVersion.String()): fieldpath.NewSet(fieldpath.MakePathOrDie("spec")),
	}
}

// AttrsFunc returns the labels and selectable fields of an object.
type AttrsFunc = storage.AttrFunc

// MetaAttrs returns metadata.name (and metadata.namespace) as selectable fields,
// plus whatever extra returns.
func MetaAttrs(namespaced bool, extra func(obj runtime.Object) fields.Set) AttrsFunc {
	return func(obj runtime.Object) (labels.Set, fields.Set, error) {
		m := obj.(metav1.Object)
		om := metav1.ObjectMeta{Name: m.GetName(), Namespace: m.GetNamespace()}
		fs := generic.ObjectMetaFieldsSet(&om, namespaced)
		if extra != nil {
			fs = generic.MergeFieldsSets(fs, extra(obj))
		}
		return labels.Set(m.GetLabels()), fs, nil
	}
}

// Predicate returns the selection predicate for list and watch.
func Predicate(attrs AttrsFunc) func(labels.Selector, fields.Selector) storage.SelectionPredicate {
	return func(l labels.Selector, f fields.Selector) storage.SelectionPredicate {
		return storage.SelectionPredicate{Label: l, Field: f, GetAttrs: attrs}
	}
}
