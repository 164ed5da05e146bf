// Package validation validates configbutler.ai objects (internal version). Every
// error carries the field path of the offending value, so kubectl shows users
// exactly what to fix.
//
// The checks are filed by kind: provider.go (GitProvider), target.go
// (GitTarget), rules.go (WatchRule and ClusterWatchRule); bounds.go holds the
// bounds on what a tenant writes, and this file the checks they share.
package validation

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func validateLocalRef(name string, fld *field.Path) field.ErrorList {
	if name == "" {
		return field.ErrorList{field.Required(fld, "name is required")}
	}
	var allErrs field.ErrorList
	for _, msg := range validation.IsDNS1123Subdomain(name) {
		allErrs = append(allErrs, field.Invalid(fld, name, msg))
	}
	return allErrs
}

// ValidateConditions checks conditions written by the server's own status writer
// (a bug there must not persist malformed conditions).
func ValidateConditions(conds []metav1.Condition, fld *field.Path) field.ErrorList {
	return metav1validation.ValidateConditions(conds, fld)
}
