package validation

import (
	"path"
	"strings"

	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler"
)

// ValidateWatchRule validates a WatchRule on create.
func ValidateWatchRule(r *configbutler.WatchRule) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMeta(&r.ObjectMeta, true, apimachineryvalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	return append(allErrs, ValidateWatchRuleSpec(&r.Spec, field.NewPath("spec"))...)
}

// ValidateWatchRuleUpdate validates a WatchRule on update.
func ValidateWatchRuleUpdate(r, old *configbutler.WatchRule) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMetaUpdate(&r.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	return append(allErrs, ValidateWatchRuleSpec(&r.Spec, field.NewPath("spec"))...)
}

// ValidateWatchRuleSpec validates a namespaced rule set.
func ValidateWatchRuleSpec(s *configbutler.WatchRuleSpec, fld *field.Path) field.ErrorList {
	allErrs := validateLocalRef(s.TargetRef.Name, fld.Child("targetRef", "name"))
	allErrs = append(allErrs, validateTargetRef(s.TargetRef.Group, s.TargetRef.Kind, fld.Child("targetRef"))...)
	if len(s.Rules) == 0 {
		allErrs = append(allErrs, field.Required(fld.Child("rules"), "at least one rule is required"))
	}
	if errs := tooMany(fld.Child("rules"), len(s.Rules), maxRules); errs != nil {
		allErrs = append(allErrs, errs...)
	} else {
		for i, r := range s.Rules {
			rf := fld.Child("rules").Index(i)
			allErrs = append(allErrs, validateRule(r.APIGroups, r.APIVersions, r.Resources, rf)...)
			allErrs = append(allErrs, validateOperations(r.Operations, rf.Child("operations"))...)
			allErrs = append(allErrs, validateSelector(r.LabelSelector, rf.Child("labelSelector"))...)
		}
	}
	allErrs = append(allErrs, validateIgnore(s.IgnoreChangesBy, true, fld.Child("ignoreChangesBy"))...)
	return append(allErrs, validateExclusions(s.Exclude, fld.Child("exclude"))...)
}

// validateSelector bounds a label selector (maxListEntries labels,
// expressions, and values per expression), then validates it.
func validateSelector(ls *metav1.LabelSelector, fld *field.Path) field.ErrorList {
	if ls == nil {
		return nil
	}
	allErrs := tooMany(fld.Child("matchLabels"), len(ls.MatchLabels), maxListEntries)
	allErrs = append(allErrs, tooMany(fld.Child("matchExpressions"), len(ls.MatchExpressions), maxListEntries)...)
	if allErrs == nil {
		for i, e := range ls.MatchExpressions {
			allErrs = append(allErrs, tooMany(fld.Child("matchExpressions").Index(i).Child("values"), len(e.Values), maxListEntries)...)
		}
	}
	if allErrs != nil {
		return allErrs
	}
	return metav1validation.ValidateLabelSelector(ls, metav1validation.LabelSelectorValidationOptions{}, fld)
}

// validateExclusions: at most maxExclusions, each with a field and at most
// maxListEntries entries per list; groups, resources and glob patterns must
// be well formed, globs at most maxGlobLength long.
func validateExclusions(ex []configbutler.Exclusion, fld *field.Path) field.ErrorList {
	if errs := tooMany(fld, len(ex), maxExclusions); errs != nil {
		return errs
	}
	var allErrs field.ErrorList
	for i, e := range ex {
		ef := fld.Index(i)
		if len(e.APIGroups)+len(e.Resources)+len(e.Namespaces)+len(e.Names) == 0 {
			allErrs = append(allErrs, field.Required(ef, "an exclusion needs apiGroups, resources, namespaces or names"))
		}
		var over field.ErrorList
		for _, l := range []struct {
			name string
			n    int
		}{{"apiGroups", len(e.APIGroups)}, {"resources", len(e.Resources)}, {"namespaces", len(e.Namespaces)}, {"names", len(e.Names)}} {
			over = append(over, tooMany(ef.Child(l.name), l.n, maxListEntries)...)
		}
		if over != nil {
			allErrs = append(allErrs, over...)
			continue
		}
		for j, g := range e.APIGroups {
			if g == "" {
				continue
			}
			for _, msg := range validation.IsDNS1123Subdomain(g) {
				allErrs = append(allErrs, field.Invalid(ef.Child("apiGroups").Index(j), g, msg))
			}
		}
		for j, r := range e.Resources {
			for _, msg := range validation.IsDNS1123Subdomain(r) {
				allErrs = append(allErrs, field.Invalid(ef.Child("resources").Index(j), r, msg))
			}
		}
		for _, l := range []struct {
			name  string
			globs []string
		}{{"namespaces", e.Namespaces}, {"names", e.Names}} {
			for j, g := range l.globs {
				if len(g) > maxGlobLength {
					allErrs = append(allErrs, field.TooLong(ef.Child(l.name).Index(j), "", maxGlobLength))
				} else if _, err := path.Match(g, ""); err != nil || g == "" {
					allErrs = append(allErrs, field.Invalid(ef.Child(l.name).Index(j), g, "must be a glob pattern (path.Match syntax)"))
				}
			}
		}
	}
	return allErrs
}

// ValidateClusterWatchRule validates a ClusterWatchRule on create.
func ValidateClusterWatchRule(r *configbutler.ClusterWatchRule) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMeta(&r.ObjectMeta, false, apimachineryvalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	return append(allErrs, ValidateClusterWatchRuleSpec(&r.Spec, field.NewPath("spec"))...)
}

// ValidateClusterWatchRuleUpdate validates a ClusterWatchRule on update.
func ValidateClusterWatchRuleUpdate(r, old *configbutler.ClusterWatchRule) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMetaUpdate(&r.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	return append(allErrs, ValidateClusterWatchRuleSpec(&r.Spec, field.NewPath("spec"))...)
}

// ValidateClusterWatchRuleSpec validates a cluster rule set.
func ValidateClusterWatchRuleSpec(s *configbutler.ClusterWatchRuleSpec, fld *field.Path) field.ErrorList {
	allErrs := validateLocalRef(s.TargetRef.Name, fld.Child("targetRef", "name"))
	allErrs = append(allErrs, validateTargetRef(s.TargetRef.Group, s.TargetRef.Kind, fld.Child("targetRef"))...)
	nsFld := fld.Child("targetRef", "namespace")
	if s.TargetRef.Namespace == "" {
		allErrs = append(allErrs, field.Required(nsFld, "namespace of the GitTarget is required"))
	} else {
		for _, msg := range validation.IsDNS1123Label(s.TargetRef.Namespace) {
			allErrs = append(allErrs, field.Invalid(nsFld, s.TargetRef.Namespace, msg))
		}
	}
	allErrs = append(allErrs, validateIgnore(s.IgnoreChangesBy, false, fld.Child("ignoreChangesBy"))...)
	if len(s.Rules) == 0 {
		allErrs = append(allErrs, field.Required(fld.Child("rules"), "at least one rule is required"))
	}
	if errs := tooMany(fld.Child("rules"), len(s.Rules), maxRules); errs != nil {
		return append(append(allErrs, errs...), validateExclusions(s.Exclude, fld.Child("exclude"))...)
	}
	for i, r := range s.Rules {
		rf := fld.Child("rules").Index(i)
		allErrs = append(allErrs, validateRule(r.APIGroups, r.APIVersions, r.Resources, rf)...)
		allErrs = append(allErrs, validateOperations(r.Operations, rf.Child("operations"))...)
		allErrs = append(allErrs, validateSelector(r.LabelSelector, rf.Child("labelSelector"))...)
		allErrs = append(allErrs, validateSelector(r.NamespaceSelector, rf.Child("namespaceSelector"))...)
		if r.NamespaceSelector != nil && r.Scope == configbutler.ClusterScope {
			allErrs = append(allErrs, field.Forbidden(rf.Child("namespaceSelector"), "only with scope Namespaced: cluster-scoped objects are in no namespace"))
		}
		switch r.Scope {
		case configbutler.ClusterScope, configbutler.NamespacedScope:
		case "":
			allErrs = append(allErrs, field.Required(rf.Child("scope"), "scope is required: Cluster or Namespaced"))
		default:
			allErrs = append(allErrs, field.NotSupported(rf.Child("scope"), r.Scope, []configbutler.ResourceScope{configbutler.ClusterScope, configbutler.NamespacedScope}))
		}
	}
	return append(allErrs, validateExclusions(s.Exclude, fld.Child("exclude"))...)
}

// validateRule: resources are required (no groups means all groups); at
// most maxListEntries groups, versions and resources, each well formed.
func validateRule(groups, versions, resources []string, fld *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	allErrs = append(allErrs, tooMany(fld.Child("apiGroups"), len(groups), maxListEntries)...)
	allErrs = append(allErrs, tooMany(fld.Child("apiVersions"), len(versions), maxListEntries)...)
	allErrs = append(allErrs, tooMany(fld.Child("resources"), len(resources), maxListEntries)...)
	if allErrs != nil {
		return allErrs
	}
	for i, g := range groups {
		if g == "" || g == "*" {
			continue
		}
		for _, msg := range validation.IsDNS1123Subdomain(g) {
			allErrs = append(allErrs, field.Invalid(fld.Child("apiGroups").Index(i), g, msg))
		}
	}
	for i, v := range versions {
		if v == "*" {
			continue
		}
		for _, msg := range validation.IsDNS1035Label(v) {
			allErrs = append(allErrs, field.Invalid(fld.Child("apiVersions").Index(i), v, msg))
		}
	}
	if len(resources) == 0 {
		allErrs = append(allErrs, field.Required(fld.Child("resources"), `at least one resource is required ("*" for all)`))
	}
	for i, r := range resources {
		if r == "*" {
			continue
		}
		if r == "" || strings.Contains(r, "/") {
			allErrs = append(allErrs, field.Invalid(fld.Child("resources").Index(i), r, "must be a plural resource name without subresource, or '*'"))
			continue
		}
		for _, msg := range validation.IsDNS1123Subdomain(r) {
			allErrs = append(allErrs, field.Invalid(fld.Child("resources").Index(i), r, msg))
		}
	}
	return allErrs
}
