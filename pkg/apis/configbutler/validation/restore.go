package validation

import (
	"regexp"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler"
)

// maxRestoreNamespaces bounds the namespaces one GitRestore restores.
const maxRestoreNamespaces = 32

// commitRef is a full or abbreviated commit hash (at least 7 hex digits).
var commitRef = regexp.MustCompile(`^[0-9a-f]{7,40}$`)

// ValidateGitRestore checks a GitRestore: exactly one of objectRevision and
// target; with target, 1 to 32 namespaces; a commit is a hex hash.
func ValidateGitRestore(r *configbutler.GitRestore) field.ErrorList {
	allErrs := apivalidation.ValidateObjectMeta(&r.ObjectMeta, true, apivalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	return append(allErrs, ValidateGitRestoreSpec(&r.Spec, field.NewPath("spec"))...)
}

// ValidateGitRestoreUpdate refuses any change of the spec: a restore runs
// once, for what it was created with.
func ValidateGitRestoreUpdate(r, old *configbutler.GitRestore) field.ErrorList {
	allErrs := apivalidation.ValidateObjectMetaUpdate(&r.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	if !apiequality.Semantic.DeepEqual(r.Spec, old.Spec) {
		allErrs = append(allErrs, field.Forbidden(field.NewPath("spec"), "a GitRestore's spec cannot change: create another"))
	}
	return allErrs
}

// ValidateGitRestoreSpec checks what to restore.
func ValidateGitRestoreSpec(s *configbutler.GitRestoreSpec, fld *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	switch {
	case s.ObjectRevision != "" && s.Target != nil:
		allErrs = append(allErrs, field.Invalid(fld.Child("target"), s.Target.Name, "set objectRevision or target, not both"))
	case s.ObjectRevision == "" && s.Target == nil:
		allErrs = append(allErrs, field.Required(fld, "set objectRevision (one object) or target with namespaces (everything it mirrored from them)"))
	case s.ObjectRevision != "":
		allErrs = append(allErrs, validateLocalRef(s.ObjectRevision, fld.Child("objectRevision"))...)
		for _, f := range []struct {
			set  bool
			name string
		}{{s.Commit != "", "commit"}, {len(s.Namespaces) > 0, "namespaces"}, {s.Prune, "prune"}} {
			if f.set {
				allErrs = append(allErrs, field.Forbidden(fld.Child(f.name), "only with target: a revision names its own commit and object"))
			}
		}
	default:
		allErrs = append(allErrs, validateLocalRef(s.Target.Name, fld.Child("target", "name"))...)
		if s.Target.Namespace != "" {
			allErrs = append(allErrs, validateLocalRef(s.Target.Namespace, fld.Child("target", "namespace"))...)
		}
		if s.Commit != "" && !commitRef.MatchString(s.Commit) {
			allErrs = append(allErrs, field.Invalid(fld.Child("commit"), s.Commit, "must be a commit hash: 7 to 40 lower-case hex digits"))
		}
		switch n := len(s.Namespaces); {
		case n == 0:
			allErrs = append(allErrs, field.Required(fld.Child("namespaces"), "name the namespaces to restore"))
		case n > maxRestoreNamespaces:
			allErrs = append(allErrs, tooMany(fld.Child("namespaces"), n, maxRestoreNamespaces)...)
		default:
			seen := map[string]bool{}
			for i, ns := range s.Namespaces {
				allErrs = append(allErrs, validateLocalRef(ns, fld.Child("namespaces").Index(i))...)
				if seen[ns] {
					allErrs = append(allErrs, field.Duplicate(fld.Child("namespaces").Index(i), ns))
				}
				seen[ns] = true
			}
		}
	}
	return allErrs
}
