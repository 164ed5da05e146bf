// Package gittarget is the registry of GitTargets: strategy, the read-time Ready
// computation, the gates and snapshot views, and tables.
package gittarget

import (
	"path"
	"strings"

	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler"
	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/validation"
	"github.com/configbutler/gitops-reverser/pkg/conditions"
	"github.com/configbutler/gitops-reverser/pkg/registry"
)

// Kind describes GitTargets to the shared strategies.
var Kind = registry.Kind{
	Namespaced: true,
	Validate: func(obj runtime.Object) field.ErrorList {
		return validation.ValidateGitTarget(obj.(*configbutler.GitTarget))
	},
	ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
		return validation.ValidateGitTargetUpdate(obj.(*configbutler.GitTarget), old.(*configbutler.GitTarget))
	},
	Canonicalize: func(obj runtime.Object) {
		t := obj.(*configbutler.GitTarget)
		t.Spec.Path = CleanPath(t.Spec.Path)
	},
	// The stored Ready anchors Ready's LastTransitionTime for reads (see
	// conditions.SummarizeGitTarget); it is recomputed on every read anyway.
	PrepareStatus: func(obj, _ runtime.Object) {
		Decorate(obj.(*configbutler.GitTarget))
	},
}

// CleanPath normalizes a validated target path: "a//b/" and "./a/b" are "a/b", and
// "." or "/" alone is "" (the repository root).
func CleanPath(p string) string {
	if p == "" {
		return ""
	}
	c := strings.Trim(path.Clean(p), "/")
	if c == "." {
		return ""
	}
	return c
}

// Attrs returns the selectable fields of a GitTarget: metadata.name,
// metadata.namespace, spec.providerRef.name and spec.branch.
var Attrs = registry.MetaAttrs(true, func(obj runtime.Object) fields.Set {
	t := obj.(*configbutler.GitTarget)
	return fields.Set{"spec.providerRef.name": t.Spec.ProviderRef.Name, "spec.branch": t.Spec.Branch}
})

// Decorate computes the served view of a GitTarget's status in place: Ready from
// the stored gates, and status.observedGeneration as Ready's (the lowest of the
// gates'). It replaces slices rather than writing into them, so it is safe on a
// shallow copy of an object held by the watch cache.
func Decorate(t *configbutler.GitTarget) {
	conds, s := conditions.WithReady(t.Status.Conditions, t.CreationTimestamp)
	t.Status.Conditions = conds
	t.Status.ObservedGeneration = s.Ready.ObservedGeneration
}
