package validation

import (
	"fmt"
	"strings"

	"filippo.io/age"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler"
	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
)

// The fields of gitops-reverser v0.16-v0.17's v1alpha1, accepted with their
// meaning beside our own spellings (docs/migration.md).

// maxPublicKeys bounds encryption.age.recipients.publicKeys.
const maxPublicKeys = 32

// validateTargetRef: a rule's targetRef may name its group and kind, which
// can only be ours ("" when not defaulted, as in a bare internal object).
func validateTargetRef(group, kind string, fld *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if group != "" && group != v1alpha1.GroupName {
		allErrs = append(allErrs, field.NotSupported(fld.Child("group"), group, []string{v1alpha1.GroupName}))
	}
	if kind != "" && kind != "GitTarget" {
		allErrs = append(allErrs, field.NotSupported(fld.Child("kind"), kind, []string{"GitTarget"}))
	}
	return allErrs
}

// validateSecretRef: a Secret reference is a name, with group "" and kind
// Secret if given.
func validateSecretRef(ref configbutler.LocalSecretReference, fld *field.Path) field.ErrorList {
	allErrs := validateLocalRef(ref.Name, fld.Child("name"))
	if ref.Group != "" {
		allErrs = append(allErrs, field.NotSupported(fld.Child("group"), ref.Group, []string{""}))
	}
	if ref.Kind != "" && ref.Kind != "Secret" {
		allErrs = append(allErrs, field.NotSupported(fld.Child("kind"), ref.Kind, []string{"Secret"}))
	}
	return allErrs
}

// validateOperations: CREATE, UPDATE, DELETE or "*", each once.
func validateOperations(ops []configbutler.OperationType, fld *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	valid := []configbutler.OperationType{configbutler.OperationCreate, configbutler.OperationUpdate, configbutler.OperationDelete, configbutler.OperationAll}
	seen := sets.New[configbutler.OperationType]()
	for i, op := range ops {
		switch {
		case !sets.New(valid...).Has(op):
			allErrs = append(allErrs, field.NotSupported(fld.Index(i), op, valid))
		case seen.Has(op):
			allErrs = append(allErrs, field.Duplicate(fld.Index(i), op))
		}
		seen.Insert(op)
	}
	return allErrs
}

// validateMaxCommits: between 1 and maxPushChanges when set.
func validateMaxCommits(n *int32, fld *field.Path) field.ErrorList {
	if n != nil && (*n < 1 || *n > maxPushChanges) {
		return field.ErrorList{field.Invalid(fld, *n, fmt.Sprintf("must be between 1 and %d", maxPushChanges))}
	}
	return nil
}

// validateEncryption: the provider is sops; while encryption is on (no age
// block, or age.enabled) the key Secret is named, since the server encrypts
// to its identities too (it reads what it wrote); the public keys are age
// X25519 recipients.
func validateEncryption(e *configbutler.EncryptionSpec, fld *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if e.Provider != v1alpha1.EncryptionProviderSOPS && e.Provider != "" {
		allErrs = append(allErrs, field.NotSupported(fld.Child("provider"), e.Provider, []string{v1alpha1.EncryptionProviderSOPS}))
	}
	on := e.Age == nil || e.Age.Enabled
	if on || e.SecretRef.Name != "" {
		ref := validateSecretRef(e.SecretRef, fld.Child("secretRef"))
		if on && e.SecretRef.Name == "" {
			ref = field.ErrorList{field.Required(fld.Child("secretRef", "name"),
				"the Secret of the server's age identity is required while encryption is on: every Secret is encrypted to it too, so the server can tell what changed and restore (generateWhenMissing creates it)")}
		}
		allErrs = append(allErrs, ref...)
	}
	if e.Age == nil {
		return allErrs
	}
	keys := e.Age.Recipients.PublicKeys
	kfld := fld.Child("age", "recipients", "publicKeys")
	if errs := tooMany(kfld, len(keys), maxPublicKeys); errs != nil {
		return append(allErrs, errs...)
	}
	seen := sets.New[string]()
	for i, k := range keys {
		switch {
		case seen.Has(k):
			allErrs = append(allErrs, field.Duplicate(kfld.Index(i), k))
		case len(k) > 256:
			allErrs = append(allErrs, field.TooLong(kfld.Index(i), "", 256))
		default:
			if _, err := age.ParseX25519Recipient(strings.TrimSpace(k)); err != nil || k != strings.TrimSpace(k) {
				allErrs = append(allErrs, field.Invalid(kfld.Index(i), k, "not an age X25519 recipient (age1...)"))
			}
		}
		seen.Insert(k)
	}
	return allErrs
}
