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
	"reflect"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/registry/generic"
	"k8s.io/apiserver/pkg/storage"
	"k8s.io/apiserver/pkg/storage/names"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/validation"
)

// Our kinds all have exported Spec and Status fields; the strategies move them
// by reflection so the four kinds share one implementation of the split.
func fieldOf(obj runtime.Object, name string) reflect.Value {
	return reflect.ValueOf(obj).Elem().FieldByName(name)
}

// Kind is what a strategy needs to know about one of our kinds.
type Kind struct {
	Namespaced     bool
	Validate       func(obj runtime.Object) field.ErrorList
	ValidateUpdate func(obj, old runtime.Object) field.ErrorList
	// PrepareStatus runs on status writes after the new status is in place
	// (optional; GitTarget computes the stored Ready there).
	PrepareStatus func(obj, old runtime.Object)
}

// Strategy is the create/update/delete strategy of the main resource: spec and
// metadata from the client, status always kept from storage.
type Strategy struct {
	runtime.ObjectTyper
	names.NameGenerator
	kind Kind
}

// NewStrategy returns the main-resource strategy for a kind.
func NewStrategy(typer runtime.ObjectTyper, kind Kind) Strategy {
	return Strategy{ObjectTyper: typer, NameGenerator: names.SimpleNameGenerator, kind: kind}
}

// NamespaceScoped implements rest.RESTCreateStrategy.
func (s Strategy) NamespaceScoped() bool { return s.kind.Namespaced }

// PrepareForCreate drops client-sent status and starts the generation at 1.
func (s Strategy) PrepareForCreate(_ context.Context, obj runtime.Object) {
	st := fieldOf(obj, "Status")
	st.Set(reflect.Zero(st.Type()))
	obj.(metav1.Object).SetGeneration(1)
}

// PrepareForUpdate keeps the stored status and bumps the generation when spec changed.
func (s Strategy) PrepareForUpdate(_ context.Context, obj, old runtime.Object) {
	fieldOf(obj, "Status").Set(fieldOf(old, "Status"))
	newMeta, oldMeta := obj.(metav1.Object), old.(metav1.Object)
	gen := oldMeta.GetGeneration()
	if !apiequality.Semantic.DeepEqual(fieldOf(obj, "Spec").Interface(), fieldOf(old, "Spec").Interface()) {
		gen++
	}
	newMeta.SetGeneration(gen)
}

// Validate implements rest.RESTCreateStrategy.
func (s Strategy) Validate(_ context.Context, obj runtime.Object) field.ErrorList {
	return s.kind.Validate(obj)
}

// ValidateUpdate implements rest.RESTUpdateStrategy.
func (s Strategy) ValidateUpdate(_ context.Context, obj, old runtime.Object) field.ErrorList {
	return s.kind.ValidateUpdate(obj, old)
}

// WarningsOnCreate implements rest.RESTCreateStrategy.
func (Strategy) WarningsOnCreate(context.Context, runtime.Object) []string { return nil }

// WarningsOnUpdate implements rest.RESTUpdateStrategy.
func (Strategy) WarningsOnUpdate(context.Context, runtime.Object, runtime.Object) []string {
	return nil
}

// AllowCreateOnUpdate implements rest.RESTUpdateStrategy.
func (Strategy) AllowCreateOnUpdate(context.Context) bool { return false }

// AllowUnconditionalUpdate implements rest.RESTUpdateStrategy.
func (Strategy) AllowUnconditionalUpdate(context.Context) bool { return true }

// Canonicalize implements rest.RESTCreateStrategy. Our kinds have no
// alternative spellings to normalize: validation refuses non-canonical values
// (a GitTarget's spec.path, for one) rather than rewriting them.
func (Strategy) Canonicalize(runtime.Object) {}

// GetResetFields tells server-side apply that clients do not own status.
func (Strategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return map[fieldpath.APIVersion]*fieldpath.Set{
		fieldpath.APIVersion(v1alpha1.SchemeGroupVersion.String()): fieldpath.NewSet(fieldpath.MakePathOrDie("status")),
	}
}

// StatusStrategy is the update strategy of the internal status writer: status
// from the writer, spec and metadata always kept from storage.
type StatusStrategy struct {
	Strategy
}

// NewStatusStrategy returns the status-writer strategy for a kind.
func NewStatusStrategy(s Strategy) StatusStrategy { return StatusStrategy{s} }

// PrepareForUpdate keeps spec and metadata from storage.
func (s StatusStrategy) PrepareForUpdate(_ context.Context, obj, old runtime.Object) {
	fieldOf(obj, "Spec").Set(fieldOf(old, "Spec"))
	metav1.ResetObjectMetaForStatus(obj.(metav1.Object), old.(metav1.Object))
	if s.kind.PrepareStatus != nil {
		s.kind.PrepareStatus(obj, old)
	}
}

// ValidateUpdate checks the conditions the lifecycle wrote.
func (s StatusStrategy) ValidateUpdate(_ context.Context, obj, _ runtime.Object) field.ErrorList {
	conds, _ := fieldOf(obj, "Status").FieldByName("Conditions").Interface().([]metav1.Condition)
	return validation.ValidateConditions(conds, field.NewPath("status", "conditions"))
}

// GetResetFields: the status writer never changes spec.
func (StatusStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
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
