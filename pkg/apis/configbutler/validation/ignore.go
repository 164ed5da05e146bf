package validation

import (
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler"
)

// maxAuthorName bounds a user, group or field manager name in
// ignoreChangesBy (kube-apiserver's own bound for field managers is 128).
const maxAuthorName = 256

// validateIgnore: ignoreChangesBy names at least one author, at most
// maxListEntries per list, each a non-empty bounded string; ServiceAccounts
// are valid names, with a namespace unless the rule gives one (namespaced:
// a WatchRule's own namespace is the default).
func validateIgnore(a *configbutler.ChangeAuthors, namespaced bool, fld *field.Path) field.ErrorList {
	if a == nil {
		return nil
	}
	if len(a.Users)+len(a.Groups)+len(a.ServiceAccounts)+len(a.FieldManagers) == 0 {
		return field.ErrorList{field.Required(fld, "name users, groups, serviceAccounts or fieldManagers (or leave ignoreChangesBy out)")}
	}
	var allErrs field.ErrorList
	for _, l := range []struct {
		name   string
		values []string
	}{{"users", a.Users}, {"groups", a.Groups}, {"fieldManagers", a.FieldManagers}} {
		lf := fld.Child(l.name)
		if errs := tooMany(lf, len(l.values), maxListEntries); errs != nil {
			allErrs = append(allErrs, errs...)
			continue
		}
		for i, v := range l.values {
			switch {
			case v == "":
				allErrs = append(allErrs, field.Required(lf.Index(i), "must not be empty"))
			case len(v) > maxAuthorName:
				allErrs = append(allErrs, field.TooLong(lf.Index(i), "", maxAuthorName))
			}
		}
	}
	sf := fld.Child("serviceAccounts")
	if errs := tooMany(sf, len(a.ServiceAccounts), maxListEntries); errs != nil {
		return append(allErrs, errs...)
	}
	for i, sa := range a.ServiceAccounts {
		allErrs = append(allErrs, validateLocalRef(sa.Name, sf.Index(i).Child("name"))...)
		switch {
		case sa.Namespace == "" && !namespaced:
			allErrs = append(allErrs, field.Required(sf.Index(i).Child("namespace"), "a ClusterWatchRule names the ServiceAccount's namespace"))
		case sa.Namespace != "":
			for _, msg := range validation.IsDNS1123Label(sa.Namespace) {
				allErrs = append(allErrs, field.Invalid(sf.Index(i).Child("namespace"), sa.Namespace, msg))
			}
		}
	}
	return allErrs
}
