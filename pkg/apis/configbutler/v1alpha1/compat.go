package v1alpha1

// Where the API has two spellings of one setting (ours, and gitops-reverser
// v0.16-v0.17's, kept so its manifests apply as they are), these say what
// the object means. Everything that acts on a setting reads it through them.

// On reports whether Secrets are encrypted and written: an encryption block
// without age, or with age.enabled.
func (e *EncryptionSpec) On() bool {
	return e != nil && (e.Age == nil || e.Age.Enabled)
}

// Generates reports whether a missing key Secret is created, in either
// spelling.
func (e *EncryptionSpec) Generates() bool {
	return e != nil && (e.GenerateWhenMissing || e.Age != nil && e.Age.Recipients.GenerateWhenMissing)
}

// PublicKeys are the recipients every Secret is encrypted to besides the
// identities of secretRef.
func (e *EncryptionSpec) PublicKeys() []string {
	if e == nil || e.Age == nil {
		return nil
	}
	return e.Age.Recipients.PublicKeys
}

// PushAt is how many waiting changes make a push due before the interval
// ends: maxCommits when set and smaller, else maxChanges (at least 1).
func (p PushPolicy) PushAt() int {
	n := int(p.MaxChanges)
	if p.MaxCommits != nil && (n <= 0 || int(*p.MaxCommits) < n) {
		n = int(*p.MaxCommits)
	}
	return max(n, 1)
}

// GroupsOf is a rule's API groups: every group when it lists none.
func GroupsOf(apiGroups []string) []string {
	if len(apiGroups) == 0 {
		return []string{"*"}
	}
	return apiGroups
}
