package validation

import (
	"testing"

	"filippo.io/age"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler"
)

func ageKey(t *testing.T) string {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return id.Recipient().String()
}

// TestSeedSpellings: the fields of gitops-reverser v0.16-v0.17's v1alpha1
// are accepted with valid values, and refused with their field paths
// otherwise.
func TestSeedSpellings(t *testing.T) {
	key := ageKey(t)
	many := make([]string, maxPublicKeys+1)
	for i := range many {
		many[i] = ageKey(t)
	}
	int32p := func(n int32) *int32 { return &n }
	target := func(mut func(*configbutler.GitTargetSpec)) field.ErrorList {
		tg := validTarget()
		mut(&tg.Spec)
		return ValidateGitTarget(tg)
	}
	provider := func(mut func(*configbutler.GitProviderSpec)) field.ErrorList {
		p := validProvider()
		mut(&p.Spec)
		return ValidateGitProvider(p)
	}
	rule := func(mut func(*configbutler.WatchRuleSpec)) field.ErrorList {
		r := &configbutler.WatchRule{}
		r.Name, r.Namespace = "r", "ns"
		r.Spec = configbutler.WatchRuleSpec{TargetRef: configbutler.LocalTargetReference{Name: "t"},
			Rules: []configbutler.ResourceRule{{Resources: []string{"configmaps"}}}}
		mut(&r.Spec)
		return ValidateWatchRule(r)
	}
	clusterRule := func(mut func(*configbutler.ClusterWatchRuleSpec)) field.ErrorList {
		r := &configbutler.ClusterWatchRule{}
		r.Name = "c"
		r.Spec = configbutler.ClusterWatchRuleSpec{TargetRef: configbutler.NamespacedTargetReference{Name: "t", Namespace: "ns"},
			Rules: []configbutler.ClusterResourceRule{{APIGroups: []string{""}, Resources: []string{"namespaces"}, Scope: configbutler.ClusterScope}}}
		mut(&r.Spec)
		return ValidateClusterWatchRule(r)
	}
	seedAge := func(s *configbutler.GitTargetSpec) *configbutler.AgeEncryption {
		s.Encryption.Age = &configbutler.AgeEncryption{Enabled: true, Recipients: configbutler.AgeRecipients{ExtractFromSecret: true, GenerateWhenMissing: true}}
		return s.Encryption.Age
	}
	valid := map[string]field.ErrorList{
		"maxCommits":            provider(func(s *configbutler.GitProviderSpec) { s.Push.MaxCommits = int32p(10) }),
		"secretRef kind Secret": provider(func(s *configbutler.GitProviderSpec) { s.SecretRef.Kind = "Secret" }),
		"the seed's age block":  target(func(s *configbutler.GitTargetSpec) { seedAge(s) }),
		"public keys":           target(func(s *configbutler.GitTargetSpec) { seedAge(s).Recipients.PublicKeys = []string{key} }),
		"provider defaulted":    target(func(s *configbutler.GitTargetSpec) { s.Encryption.Provider = "" }),
		"age off, no secretRef": target(func(s *configbutler.GitTargetSpec) {
			s.Encryption = &configbutler.EncryptionSpec{Age: &configbutler.AgeEncryption{}}
		}),
		"no apiGroups: all": rule(func(*configbutler.WatchRuleSpec) {}),
		"targetRef kind": rule(func(s *configbutler.WatchRuleSpec) {
			s.TargetRef.Kind, s.TargetRef.Group = "GitTarget", "configbutler.ai"
		}),
		"operations": rule(func(s *configbutler.WatchRuleSpec) {
			s.Rules[0].Operations = []configbutler.OperationType{"CREATE", "UPDATE"}
		}),
		"cluster rule operation": clusterRule(func(s *configbutler.ClusterWatchRuleSpec) { s.Rules[0].Operations = []configbutler.OperationType{"*"} }),
		"ignoreChangesBy": rule(func(s *configbutler.WatchRuleSpec) {
			s.IgnoreChangesBy = &configbutler.ChangeAuthors{Users: []string{"u"}, Groups: []string{"g"}, FieldManagers: []string{"helm"},
				ServiceAccounts: []configbutler.ServiceAccountReference{{Name: "sa"}, {Namespace: "flux-system", Name: "kustomize-controller"}}}
		}),
		"cluster ignoreChangesBy": clusterRule(func(s *configbutler.ClusterWatchRuleSpec) {
			s.IgnoreChangesBy = &configbutler.ChangeAuthors{ServiceAccounts: []configbutler.ServiceAccountReference{{Namespace: "argocd", Name: "argocd-application-controller"}}}
		}),
	}
	for name, errs := range valid {
		if len(errs) != 0 {
			t.Errorf("%s: %v", name, errs)
		}
	}
	for _, c := range []struct {
		name string
		errs field.ErrorList
		path string
	}{
		{"maxCommits 0", provider(func(s *configbutler.GitProviderSpec) { s.Push.MaxCommits = int32p(0) }), "spec.push.maxCommits"},
		{"maxCommits too many", provider(func(s *configbutler.GitProviderSpec) { s.Push.MaxCommits = int32p(10001) }), "spec.push.maxCommits"},
		{"secretRef kind", provider(func(s *configbutler.GitProviderSpec) { s.SecretRef.Kind = "ConfigMap" }), "spec.secretRef.kind"},
		{"secretRef group", provider(func(s *configbutler.GitProviderSpec) { s.SecretRef.Group = "apps" }), "spec.secretRef.group"},
		{"encryption secretRef kind", target(func(s *configbutler.GitTargetSpec) { s.Encryption.SecretRef.Kind = "Vault" }), "spec.encryption.secretRef.kind"},
		{"on without a key Secret", target(func(s *configbutler.GitTargetSpec) { seedAge(s); s.Encryption.SecretRef.Name = "" }), "spec.encryption.secretRef.name"},
		{"not a public key", target(func(s *configbutler.GitTargetSpec) { seedAge(s).Recipients.PublicKeys = []string{"age1notakey"} }), "spec.encryption.age.recipients.publicKeys[0]"},
		{"a private key as public", target(func(s *configbutler.GitTargetSpec) {
			seedAge(s).Recipients.PublicKeys = []string{"AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ"}
		}), "spec.encryption.age.recipients.publicKeys[0]"},
		{"a public key twice", target(func(s *configbutler.GitTargetSpec) { seedAge(s).Recipients.PublicKeys = []string{key, key} }), "spec.encryption.age.recipients.publicKeys[1]"},
		{"too many public keys", target(func(s *configbutler.GitTargetSpec) { seedAge(s).Recipients.PublicKeys = many }), "spec.encryption.age.recipients.publicKeys"},
		{"targetRef kind", rule(func(s *configbutler.WatchRuleSpec) { s.TargetRef.Kind = "GitProvider" }), "spec.targetRef.kind"},
		{"targetRef group", rule(func(s *configbutler.WatchRuleSpec) { s.TargetRef.Group = "example.com" }), "spec.targetRef.group"},
		{"an operation", rule(func(s *configbutler.WatchRuleSpec) { s.Rules[0].Operations = []configbutler.OperationType{"PATCH"} }), "spec.rules[0].operations[0]"},
		{"an operation twice", rule(func(s *configbutler.WatchRuleSpec) {
			s.Rules[0].Operations = []configbutler.OperationType{"DELETE", "DELETE"}
		}), "spec.rules[0].operations[1]"},
		{"ignoreChangesBy empty", rule(func(s *configbutler.WatchRuleSpec) { s.IgnoreChangesBy = &configbutler.ChangeAuthors{} }), "spec.ignoreChangesBy"},
		{"ignoreChangesBy empty user", rule(func(s *configbutler.WatchRuleSpec) {
			s.IgnoreChangesBy = &configbutler.ChangeAuthors{Users: []string{""}}
		}), "spec.ignoreChangesBy.users[0]"},
		{"ignoreChangesBy too many groups", rule(func(s *configbutler.WatchRuleSpec) {
			s.IgnoreChangesBy = &configbutler.ChangeAuthors{Groups: make([]string, 33)}
		}), "spec.ignoreChangesBy.groups"},
		{"ignoreChangesBy a ServiceAccount name", rule(func(s *configbutler.WatchRuleSpec) {
			s.IgnoreChangesBy = &configbutler.ChangeAuthors{ServiceAccounts: []configbutler.ServiceAccountReference{{Name: "Bad Name"}}}
		}), "spec.ignoreChangesBy.serviceAccounts[0].name"},
		{"cluster ignoreChangesBy without a namespace", clusterRule(func(s *configbutler.ClusterWatchRuleSpec) {
			s.IgnoreChangesBy = &configbutler.ChangeAuthors{ServiceAccounts: []configbutler.ServiceAccountReference{{Name: "sa"}}}
		}), "spec.ignoreChangesBy.serviceAccounts[0].namespace"},
		{"cluster targetRef kind", clusterRule(func(s *configbutler.ClusterWatchRuleSpec) { s.TargetRef.Kind = "Secret" }), "spec.targetRef.kind"},
		{"cluster operation", clusterRule(func(s *configbutler.ClusterWatchRuleSpec) {
			s.Rules[0].Operations = []configbutler.OperationType{"create"}
		}), "spec.rules[0].operations[0]"},
	} {
		t.Run(c.name, func(t *testing.T) { expectError(t, c.errs, c.path) })
	}
}
