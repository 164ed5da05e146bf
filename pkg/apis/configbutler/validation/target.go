package validation

import (
	"errors"
	"fmt"
	"strings"

	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler"
	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
	"github.com/configbutler/gitops-reverser/pkg/render"
	"github.com/configbutler/gitops-reverser/pkg/repopath"
)

// maxPathLength bounds GitTarget.spec.path; git itself allows more, but a longer
// prefix leaves little room for the <group>/<version>/<resource>/<ns>/<name> layout.
const maxPathLength = 512

// ValidateGitTarget validates a GitTarget on create.
func ValidateGitTarget(t *configbutler.GitTarget) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMeta(&t.ObjectMeta, true, apimachineryvalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	return append(allErrs, ValidateGitTargetSpec(&t.Spec, field.NewPath("spec"))...)
}

// ValidateGitTargetUpdate validates a GitTarget on update.
func ValidateGitTargetUpdate(t, old *configbutler.GitTarget) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMetaUpdate(&t.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	return append(allErrs, ValidateGitTargetSpec(&t.Spec, field.NewPath("spec"))...)
}

// ValidateGitTargetSpec validates where a target writes.
func ValidateGitTargetSpec(s *configbutler.GitTargetSpec, fld *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	ref := fld.Child("providerRef")
	allErrs = append(allErrs, validateLocalRef(s.ProviderRef.Name, ref.Child("name"))...)
	// Ours, or a Flux GitRepository: each group with its kind.
	switch s.ProviderRef.Group {
	case v1alpha1.GroupName:
		if s.ProviderRef.Kind != "GitProvider" {
			allErrs = append(allErrs, field.NotSupported(ref.Child("kind"), s.ProviderRef.Kind, []string{"GitProvider"}))
		}
	case v1alpha1.FluxSourceGroup:
		if s.ProviderRef.Kind != v1alpha1.KindGitRepository {
			allErrs = append(allErrs, field.NotSupported(ref.Child("kind"), s.ProviderRef.Kind, []string{v1alpha1.KindGitRepository}))
		}
	default:
		allErrs = append(allErrs, field.NotSupported(ref.Child("group"), s.ProviderRef.Group, []string{v1alpha1.GroupName, v1alpha1.FluxSourceGroup}))
	}
	if len(s.Branch) > maxBranchLength {
		allErrs = append(allErrs, field.TooLong(fld.Child("branch"), "", maxBranchLength))
	} else {
		allErrs = append(allErrs, ValidateBranchName(s.Branch, fld.Child("branch"))...)
	}
	allErrs = append(allErrs, ValidateTargetPath(s.Path, fld.Child("path"))...)
	if e := s.Encryption; e != nil {
		allErrs = append(allErrs, validateEncryption(e, fld.Child("encryption"))...)
	}
	return append(allErrs, validateIgnoreFields(s.IgnoreFields, fld.Child("ignoreFields"))...)
}

// ValidateTargetPath accepts a repository directory by the rule the git engine
// applies to every path it writes (repopath.ValidateDir): relative, canonical
// (no empty, "." or ".." segment, so no leading, trailing or double '/'), no
// ".git" segment in any letter case, no backslash or control character, valid
// UTF-8, and at most maxPathLength bytes. The empty path is the repository root.
// Paths are refused rather than cleaned, so what is stored is what is written.
func ValidateTargetPath(p string, fld *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if len(p) > maxPathLength {
		allErrs = append(allErrs, field.TooLong(fld, "", maxPathLength))
	}
	if err := repopath.ValidateDir(p); err != nil {
		reason := err.Error()
		if pe, ok := errors.AsType[*repopath.Error](err); ok {
			reason = pe.Reason // the field path already says which value
		}
		allErrs = append(allErrs, field.Invalid(fld, p, reason))
	}
	return allErrs
}

// ValidateBranchName applies git check-ref-format rules to refs/heads/<name>.
func ValidateBranchName(b string, fld *field.Path) field.ErrorList {
	if b == "" {
		return field.ErrorList{field.Required(fld, "branch is required")}
	}
	if msg := checkRefFormat(b); msg != "" {
		return field.ErrorList{field.Invalid(fld, b, "not a valid git branch name: "+msg)}
	}
	return nil
}

// checkRefFormat returns why name is not a valid branch name, or "" (see
// git-check-ref-format(1); branch names additionally may not start with '-' or be "HEAD").
func checkRefFormat(name string) string {
	switch {
	case name == "@":
		return "must not be '@'"
	case name == "HEAD":
		return "must not be HEAD"
	case strings.HasPrefix(name, "-"):
		return "must not start with '-'"
	case strings.HasPrefix(name, "/") || strings.HasSuffix(name, "/"):
		return "must not start or end with '/'"
	case strings.HasSuffix(name, "."):
		return "must not end with '.'"
	case strings.Contains(name, "//"):
		return "must not contain '//'"
	case strings.Contains(name, ".."):
		return "must not contain '..'"
	case strings.Contains(name, "@{"):
		return "must not contain '@{'"
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return "must not contain control characters"
		}
		if strings.ContainsRune(" ~^:?*[\\", r) {
			return fmt.Sprintf("must not contain %q", r)
		}
	}
	for _, comp := range strings.Split(name, "/") {
		if strings.HasPrefix(comp, ".") {
			return "no path component may start with '.'"
		}
		if strings.HasSuffix(comp, ".lock") {
			return "no path component may end with '.lock'"
		}
	}
	return ""
}

// validateIgnoreFields: at most maxIgnoreFields entries, each with at most
// maxListEntries apiGroups, kinds and paths; each path parses, is at most
// maxFieldPathLength long and has at most maxPathWildcards [*].
func validateIgnoreFields(fs []configbutler.IgnoreFields, fld *field.Path) field.ErrorList {
	if errs := tooMany(fld, len(fs), maxIgnoreFields); errs != nil {
		return errs
	}
	var allErrs field.ErrorList
	for i, f := range fs {
		ff := fld.Index(i)
		if len(f.Paths) == 0 {
			allErrs = append(allErrs, field.Required(ff.Child("paths"), "at least one path is required"))
		}
		var over field.ErrorList
		for _, l := range []struct {
			name string
			n    int
		}{{"apiGroups", len(f.APIGroups)}, {"kinds", len(f.Kinds)}, {"paths", len(f.Paths)}} {
			over = append(over, tooMany(ff.Child(l.name), l.n, maxListEntries)...)
		}
		if over != nil {
			allErrs = append(allErrs, over...)
			continue
		}
		for j, p := range f.Paths {
			pf := ff.Child("paths").Index(j)
			if len(p) > maxFieldPathLength {
				allErrs = append(allErrs, field.TooLong(pf, "", maxFieldPathLength))
				continue
			}
			if _, err := render.ParseFieldPath(p); err != nil {
				allErrs = append(allErrs, field.Invalid(pf, p, err.Error()))
				continue
			}
			if n := strings.Count(p, "[*]"); n > maxPathWildcards {
				allErrs = append(allErrs, field.Invalid(pf, p, fmt.Sprintf("has %d [*]; at most %d are allowed", n, maxPathWildcards)))
			}
		}
		for j, k := range f.Kinds {
			if len(k) > maxKindLength {
				allErrs = append(allErrs, field.TooLong(ff.Child("kinds").Index(j), "", maxKindLength))
			}
		}
		for j, g := range f.APIGroups {
			if g == "" || g == "*" {
				continue
			}
			for _, msg := range validation.IsDNS1123Subdomain(g) {
				allErrs = append(allErrs, field.Invalid(ff.Child("apiGroups").Index(j), g, msg))
			}
		}
	}
	return allErrs
}
