package validation

import (
	"runtime"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler"
)

func validProvider() *configbutler.GitProvider {
	return &configbutler.GitProvider{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"},
		Spec: configbutler.GitProviderSpec{
			URL:             "https://github.com/org/repo.git",
			SecretRef:       &configbutler.LocalSecretReference{Name: "creds"},
			AllowedBranches: []string{"main", "env/*"},
			Push:            configbutler.PushPolicy{Interval: metav1.Duration{Duration: 5 * time.Second}, MaxChanges: 500},
		},
	}
}

func validTarget() *configbutler.GitTarget {
	return &configbutler.GitTarget{
		ObjectMeta: metav1.ObjectMeta{Name: "t", Namespace: "ns"},
		Spec: configbutler.GitTargetSpec{
			ProviderRef: configbutler.GitProviderReference{Group: "configbutler.ai", Kind: "GitProvider", Name: "p"},
			Branch:      "main",
			Path:        "clusters/prod",
			Encryption:  &configbutler.EncryptionSpec{Provider: "sops", SecretRef: configbutler.LocalSecretReference{Name: "sops-age-key"}},
		},
	}
}

// expectError asserts exactly one error, at the given field path.
func expectError(t *testing.T, errs field.ErrorList, path string) {
	t.Helper()
	if len(errs) == 0 {
		t.Fatalf("no error, want one at %s", path)
	}
	for _, e := range errs {
		if e.Field != path {
			t.Errorf("error at %s (%v), want only %s", e.Field, e, path)
		}
	}
}

func TestValidObjectsPass(t *testing.T) {
	if errs := ValidateGitProvider(validProvider()); len(errs) != 0 {
		t.Errorf("provider: %v", errs)
	}
	if errs := ValidateGitTarget(validTarget()); len(errs) != 0 {
		t.Errorf("target: %v", errs)
	}
}

func TestProviderURL(t *testing.T) {
	for _, ok := range []string{
		"https://github.com/org/repo.git", "http://127.0.0.1:8080/repo.git", "ssh://git@github.com/org/repo.git",
		"git@github.com:org/repo.git", "github.com:org/repo", "file:///srv/git/repo.git", "ssh://git@host:2222/r",
	} {
		p := validProvider()
		p.Spec.URL = ok
		if errs := ValidateGitProvider(p); len(errs) != 0 {
			t.Errorf("%q rejected: %v", ok, errs)
		}
	}
	for _, tc := range []struct{ url, path string }{
		{"", "spec.url"},
		{"not a url", "spec.url"},
		{"ftp://host/repo", "spec.url.scheme"},
		{"https://", "spec.url"},
		{"https://github.com", "spec.url"},
		{"https://user:tok3n@github.com/org/repo", "spec.url"},
		{"https://tok3n@github.com/org/repo", "spec.url"},
		{"ssh://git:pw@host/repo", "spec.url"},
		{"%zz://x", "spec.url"},
		{"/just/a/path", "spec.url"},
	} {
		p := validProvider()
		p.Spec.URL = tc.url
		errs := ValidateGitProvider(p)
		expectError(t, errs, tc.path)
		if strings.Contains(errs.ToAggregate().Error(), "tok3n") {
			t.Errorf("error for %q echoes the credential: %v", tc.url, errs)
		}
	}
}

func TestProviderBranchesAndPush(t *testing.T) {
	p := validProvider()
	p.Spec.AllowedBranches = nil
	expectError(t, ValidateGitProvider(p), "spec.allowedBranches")
	p = validProvider()
	p.Spec.AllowedBranches = []string{"main", "["}
	expectError(t, ValidateGitProvider(p), "spec.allowedBranches[1]")
	p = validProvider()
	p.Spec.AllowedBranches = []string{"main", "main"}
	expectError(t, ValidateGitProvider(p), "spec.allowedBranches[1]")
	p = validProvider()
	p.Spec.Push.Interval.Duration = 0
	expectError(t, ValidateGitProvider(p), "spec.push.interval")
	p = validProvider()
	p.Spec.Push.MaxChanges = 0
	expectError(t, ValidateGitProvider(p), "spec.push.maxChanges")
	p = validProvider()
	p.Spec.SecretRef.Name = "Bad_Name"
	expectError(t, ValidateGitProvider(p), "spec.secretRef.name")
}

func TestTargetPath(t *testing.T) {
	for _, ok := range []string{"", "clusters/prod", "a", "a/b/c.d", "a.b/c-d_e", ".github/x", "a/.gitignore", strings.Repeat("a", 512)} {
		tg := validTarget()
		tg.Spec.Path = ok
		if errs := ValidateGitTarget(tg); len(errs) != 0 {
			t.Errorf("path %q rejected: %v", ok, errs)
		}
	}
	// Every path the git engine would refuse is refused at admission, with why;
	// non-canonical spellings are refused, not cleaned.
	for _, tc := range []struct{ path, why string }{
		{"/abs", "no leading '/'"},
		{"/", "no leading '/'"},
		{"a/../b", "'..'"},
		{"..", "'..'"},
		{".", "'.'"},
		{"./a", "'.'"},
		{"a/./b", "'.'"},
		{"a//b", "empty segment"},
		{"a/", "empty segment"},
		{"clusters/prod/", "empty segment"},
		{`a\b`, `'\'`},
		{"a/.git/x", "'.git'"},
		{".GIT", "'.git'"},
		{"x/.Git/hooks", "'.git'"},
		{"a\tb", "control characters"},
		{"a\nb", "control characters"},
		{"a\x00b", "control characters"},
		{"a\x7fb", "control characters"},
		{"a/\xff", "UTF-8"},
	} {
		tg := validTarget()
		tg.Spec.Path = tc.path
		errs := ValidateGitTarget(tg)
		expectError(t, errs, "spec.path")
		if len(errs) != 1 || errs[0].Type != field.ErrorTypeInvalid || errs[0].BadValue != tc.path || !strings.Contains(errs[0].Detail, tc.why) {
			t.Errorf("path %q: errors %v, want one Invalid saying %q", tc.path, errs, tc.why)
		}
	}
	tg := validTarget()
	tg.Spec.Path = strings.Repeat("a", 600)
	expectError(t, ValidateGitTarget(tg), "spec.path")
}

func TestTargetBranch(t *testing.T) {
	for _, ok := range []string{"main", "env/prod", "release-1.2", "feature/x_y"} {
		tg := validTarget()
		tg.Spec.Branch = ok
		if errs := ValidateGitTarget(tg); len(errs) != 0 {
			t.Errorf("branch %q rejected: %v", ok, errs)
		}
	}
	for _, bad := range []string{"", "a..b", "a b", "a~1", "a^", "a:b", "a?", "a*", "a[", `a\b`, "/a", "a/", "a//b",
		"a.lock", "a/.hidden", "a.", "@", "a@{b", "-a", "HEAD", "a\x01"} {
		tg := validTarget()
		tg.Spec.Branch = bad
		expectError(t, ValidateGitTarget(tg), "spec.branch")
	}
}

func TestTargetRefsAndEncryption(t *testing.T) {
	tg := validTarget()
	tg.Spec.ProviderRef.Name = ""
	expectError(t, ValidateGitTarget(tg), "spec.providerRef.name")
	tg = validTarget()
	tg.Spec.ProviderRef.Kind = "Secret"
	expectError(t, ValidateGitTarget(tg), "spec.providerRef.kind")
	tg = validTarget()
	tg.Spec.ProviderRef.Group = "example.com"
	expectError(t, ValidateGitTarget(tg), "spec.providerRef.group")
	tg = validTarget()
	tg.Spec.Encryption.Provider = "vault"
	expectError(t, ValidateGitTarget(tg), "spec.encryption.provider")
	tg = validTarget()
	tg.Spec.Encryption.SecretRef.Name = ""
	expectError(t, ValidateGitTarget(tg), "spec.encryption.secretRef.name")
	tg = validTarget()
	tg.Spec.Encryption = nil
	if errs := ValidateGitTarget(tg); len(errs) != 0 {
		t.Errorf("no encryption: %v", errs)
	}
}

func TestWatchRules(t *testing.T) {
	wr := &configbutler.WatchRule{
		ObjectMeta: metav1.ObjectMeta{Name: "r", Namespace: "ns"},
		Spec: configbutler.WatchRuleSpec{
			TargetRef: configbutler.LocalTargetReference{Name: "t"},
			Rules:     []configbutler.ResourceRule{{APIGroups: []string{""}, Resources: []string{"configmaps", "secrets"}}, {APIGroups: []string{"*"}, APIVersions: []string{"*"}, Resources: []string{"*"}}},
		},
	}
	if errs := ValidateWatchRule(wr); len(errs) != 0 {
		t.Fatalf("valid rule rejected: %v", errs)
	}
	bad := wr.DeepCopy()
	bad.Spec.Rules = nil
	expectError(t, ValidateWatchRule(bad), "spec.rules")
	bad = wr.DeepCopy()
	bad.Spec.Rules[0].Resources = nil
	expectError(t, ValidateWatchRule(bad), "spec.rules[0].resources")
	bad = wr.DeepCopy()
	bad.Spec.Rules[1].APIGroups = nil // the seed system's rules: no apiGroups is every group
	if errs := ValidateWatchRule(bad); len(errs) != 0 {
		t.Fatalf("a rule without apiGroups rejected: %v", errs)
	}
	bad = wr.DeepCopy()
	bad.Spec.Rules[0].Resources = []string{"pods/log"}
	expectError(t, ValidateWatchRule(bad), "spec.rules[0].resources[0]")
	bad = wr.DeepCopy()
	bad.Spec.TargetRef.Name = ""
	expectError(t, ValidateWatchRule(bad), "spec.targetRef.name")

	cwr := &configbutler.ClusterWatchRule{
		ObjectMeta: metav1.ObjectMeta{Name: "c"},
		Spec: configbutler.ClusterWatchRuleSpec{
			TargetRef: configbutler.NamespacedTargetReference{Name: "t", Namespace: "ns"},
			Rules:     []configbutler.ClusterResourceRule{{APIGroups: []string{"rbac.authorization.k8s.io"}, Resources: []string{"clusterroles"}, Scope: configbutler.ClusterScope}},
		},
	}
	if errs := ValidateClusterWatchRule(cwr); len(errs) != 0 {
		t.Fatalf("valid cluster rule rejected: %v", errs)
	}
	badc := cwr.DeepCopy()
	badc.Spec.Rules[0].Scope = "Galaxy"
	expectError(t, ValidateClusterWatchRule(badc), "spec.rules[0].scope")
	badc = cwr.DeepCopy()
	badc.Spec.Rules[0].Scope = ""
	expectError(t, ValidateClusterWatchRule(badc), "spec.rules[0].scope")
	badc = cwr.DeepCopy()
	badc.Spec.TargetRef.Namespace = ""
	expectError(t, ValidateClusterWatchRule(badc), "spec.targetRef.namespace")
	badc = cwr.DeepCopy()
	badc.Spec.Rules = []configbutler.ClusterResourceRule{}
	expectError(t, ValidateClusterWatchRule(badc), "spec.rules")
}

func TestProviderCommit(t *testing.T) {
	p := validProvider()
	p.Spec.Commit = &configbutler.CommitSpec{
		CommitterName: "Mirror Bot", CommitterEmail: "bot@example.com",
		AuthorName: "{{.User}}", AuthorEmail: "{{.SafeUser}}@corp.example",
		Message:       "{{.Verbs}} by {{.User}}{{range .Changes}}\n{{.Verb}} {{.Path}} ({{.Target}}){{end}}",
		SigningKeyRef: &configbutler.LocalObjectReference{Name: "signing"},
	}
	if errs := ValidateGitProvider(p); len(errs) != 0 {
		t.Fatalf("valid commit spec refused: %v", errs)
	}
	for _, tc := range []struct {
		mutate func(c *configbutler.CommitSpec)
		path   string
	}{
		{func(c *configbutler.CommitSpec) { c.Message = "{{.User" }, "spec.commit.message"},
		{func(c *configbutler.CommitSpec) { c.Message = "{{.Password}}" }, "spec.commit.message"},
		{func(c *configbutler.CommitSpec) { c.AuthorName = "{{.Groups}}" }, "spec.commit.authorName"},
		{func(c *configbutler.CommitSpec) { c.AuthorEmail = "{{range .Changes}}{{.Uid}}{{end}}" }, "spec.commit.authorEmail"},
		{func(c *configbutler.CommitSpec) { c.Message = strings.Repeat("x", maxTemplate+1) }, "spec.commit.message"},
		{func(c *configbutler.CommitSpec) { c.CommitterName = "bot\nSigned-off-by: someone" }, "spec.commit.committerName"},
		{func(c *configbutler.CommitSpec) { c.CommitterEmail = "bot>" }, "spec.commit.committerEmail"},
		{func(c *configbutler.CommitSpec) { c.CommitterEmail = "not-an-address" }, "spec.commit.committerEmail"},
		{func(c *configbutler.CommitSpec) { c.SigningKeyRef.Name = "" }, "spec.commit.signingKeyRef.name"},
		{func(c *configbutler.CommitSpec) { c.SigningKeyRef.Name = "../x" }, "spec.commit.signingKeyRef.name"},
		{func(c *configbutler.CommitSpec) { c.AuthorName = `{{printf "%0*d" 100000000 0}}` }, "spec.commit.authorName"},
		{func(c *configbutler.CommitSpec) {
			c.AuthorEmail = `{{define "a"}}{{template "a" .}}{{end}}{{template "a" .}}`
		}, "spec.commit.authorEmail"},
		{func(c *configbutler.CommitSpec) { c.Message = "{{range 1000000000}}{{end}}" }, "spec.commit.message"},
	} {
		q := p.DeepCopy()
		tc.mutate(q.Spec.Commit)
		expectError(t, ValidateGitProvider(q), tc.path)
	}
}

// TestProviderCommitBomb: the template of the report (eight nested ranges
// around a megabyte of zeros; it took the server to 1 GiB at admission) is
// refused under its field path, saying which bound, and cheaply.
func TestProviderCommitBomb(t *testing.T) {
	p := validProvider()
	p.Spec.Commit = &configbutler.CommitSpec{
		Message: strings.Repeat("{{range $.Changes}}", 8) + `{{printf "%01000000d" 0}}` + strings.Repeat("{{end}}", 8),
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	errs := ValidateGitProvider(p)
	runtime.ReadMemStats(&after)
	if len(errs) != 1 || errs[0].Field != "spec.commit.message" || !strings.Contains(errs[0].Detail, "range may not be nested") {
		t.Fatalf("got %v, want spec.commit.message refused: range may not be nested", errs)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 10<<20 {
		t.Errorf("validating the bomb allocated %d bytes", n)
	}
}
