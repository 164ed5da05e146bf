package configbutler

// The internal counterparts of v1alpha1's compat.go: what an object with two
// spellings of a setting means, for validation and admission.

// On reports whether Secrets are encrypted and written.
func (e *EncryptionSpec) On() bool {
	return e != nil && (e.Age == nil || e.Age.Enabled)
}

// Generates reports whether a missing key Secret is created, in either
// spelling.
func (e *EncryptionSpec) Generates() bool {
	return e != nil && (e.GenerateWhenMissing || e.Age != nil && e.Age.Recipients.GenerateWhenMissing)
}

// GroupsOf is a rule's API groups: every group when it lists none.
func GroupsOf(apiGroups []string) []string {
	if len(apiGroups) == 0 {
		return []string{"*"}
	}
	return apiGroups
}

// IsFlux reports whether the reference names a Flux GitRepository.
func (r GitProviderReference) IsFlux() bool {
	return r.Group == "source.toolkit.fluxcd.io" && r.Kind == "GitRepository"
}
