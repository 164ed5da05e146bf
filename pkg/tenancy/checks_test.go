package tenancy

import (
	"context"
	"errors"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler"
	"github.com/configbutler/gitops-reverser/pkg/git"
	"github.com/configbutler/gitops-reverser/pkg/selection"
)

func res(group, version, resource string, namespaced, preferred bool) selection.APIResource {
	return selection.APIResource{GVR: schema.GroupVersionResource{Group: group, Version: version, Resource: resource}, Namespaced: namespaced, Preferred: preferred}
}

var resources = []selection.APIResource{
	res("", "v1", "configmaps", true, true),
	res("", "v1", "secrets", true, true),
	res("", "v1", "events", true, true),
	res("", "v1", "namespaces", false, true),
	res("apps", "v1", "deployments", true, true),
	res("rbac.authorization.k8s.io", "v1", "clusterroles", false, true),
	res("configbutler.ai", "v1alpha1", "gittargets", true, true),
}

func strs(cs []Check) string {
	var out []string
	for _, c := range cs {
		out = append(out, c.String())
	}
	return strings.Join(out, "\n")
}

// TestRuleChecks: the mapping from rules to the permissions checked.
func TestRuleChecks(t *testing.T) {
	cases := []struct {
		name  string
		rules []selection.Rule
		want  string
	}{
		{name: "one type in the rule's namespace", rules: []selection.Rule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Namespace: "t1"}},
			want: "list configmaps in namespace t1 (spec.rules[0])\nwatch configmaps in namespace t1 (spec.rules[0])"},
		{name: "a wildcard: every type it selects now, not the excluded ones", rules: []selection.Rule{{APIGroups: []string{"*"}, Resources: []string{"*"}, Namespace: "t1"}},
			want: "list configmaps in namespace t1 (spec.rules[0])\nwatch configmaps in namespace t1 (spec.rules[0])\n" +
				"list secrets in namespace t1 (spec.rules[0])\nwatch secrets in namespace t1 (spec.rules[0])\n" +
				"list deployments.apps in namespace t1 (spec.rules[0])\nwatch deployments.apps in namespace t1 (spec.rules[0])"},
		{name: "a namespaced rule never selects cluster-scoped types", rules: []selection.Rule{{APIGroups: []string{""}, Resources: []string{"namespaces"}, Namespace: "t1"}}},
		{name: "unknown type: nothing selected now", rules: []selection.Rule{{APIGroups: []string{"x.io"}, Resources: []string{"widgets"}, Namespace: "t1"}}},
		{name: "cluster rule, namespaced scope: all namespaces", rules: []selection.Rule{{APIGroups: []string{""}, Resources: []string{"secrets"}, Cluster: true, Scope: "Namespaced"}},
			want: "list secrets in all namespaces (spec.rules[0])\nwatch secrets in all namespaces (spec.rules[0])"},
		{name: "cluster rule, cluster scope", rules: []selection.Rule{{APIGroups: []string{"rbac.authorization.k8s.io"}, Resources: []string{"*"}, Cluster: true, Scope: "Cluster"}},
			want: "list clusterroles.rbac.authorization.k8s.io (spec.rules[0])\nwatch clusterroles.rbac.authorization.k8s.io (spec.rules[0])"},
		{name: "several rules: each names its own field", rules: []selection.Rule{
			{APIGroups: []string{""}, Resources: []string{"configmaps"}, Namespace: "t1"},
			{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Namespace: "t1"}},
			want: "list configmaps in namespace t1 (spec.rules[0])\nwatch configmaps in namespace t1 (spec.rules[0])\n" +
				"list deployments.apps in namespace t1 (spec.rules[1])\nwatch deployments.apps in namespace t1 (spec.rules[1])"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got []Check
			for i, r := range tc.rules {
				got = append(got, RuleChecks(resources, r, "spec.rules["+string(rune('0'+i))+"]")...)
			}
			if strs(got) != tc.want {
				t.Errorf("got\n%s\nwant\n%s", strs(got), tc.want)
			}
		})
	}
	if s := SecretGet("t1", "db", "spec.secretRef.name").String(); s != "get secrets db in namespace t1 (spec.secretRef.name)" {
		t.Errorf("secret get: %s", s)
	}
	a := SecretCreate("t1", "").Attributes(&user.DefaultInfo{Name: "u"})
	if a.Verb != "create" || a.Resource != "secrets" || a.Namespace != "t1" || a.Name != "" || !a.ResourceRequest {
		t.Errorf("secret create attributes %+v", a)
	}
}

// rbac is an in-memory authorizer: user -> allowed permission strings.
type rbac map[string]map[string]bool

func (r rbac) Authorize(_ context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
	c := Check{Verb: a.GetVerb(), Group: a.GetAPIGroup(), Resource: a.GetResource(), Name: a.GetName(), Namespace: a.GetNamespace()}
	if r[a.GetUser().GetName()][c.Permission()] || r[a.GetUser().GetName()]["*"] {
		return authorizer.DecisionAllow, "", nil
	}
	if a.GetUser().GetName() == "broken" {
		return authorizer.DecisionNoOpinion, "", errors.New("webhook down")
	}
	return authorizer.DecisionNoOpinion, "", nil
}

func allow(perms ...string) map[string]bool {
	m := map[string]bool{}
	for _, p := range perms {
		m[p] = true
	}
	return m
}

func asUser(name string) context.Context {
	return genericapirequest.WithUser(context.Background(), &user.DefaultInfo{Name: name, Groups: []string{"system:authenticated"}})
}

func admission(az authorizer.UnconditionalAuthorizer) *Admission {
	return &Admission{
		Authorizer: az,
		Resources:  func() ([]selection.APIResource, error) { return resources, nil },
		SecretExists: func(_ context.Context, _, name string) (bool, error) {
			return name != "missing", nil
		},
		RulesFor: func(_ context.Context, ns, target string) ([]Inherited, error) {
			if target != "shared" {
				return nil, nil
			}
			return []Inherited{{Ref: "WatchRule " + ns + "/admins", Rules: []selection.Rule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Namespace: ns}}}}, nil
		},
		ProviderSecrets: func(_ context.Context, _, provider string) (ProviderSecrets, error) {
			switch provider {
			case "colleague":
				return ProviderSecrets{Credentials: "team-creds"}, nil
			case "signed":
				return ProviderSecrets{Credentials: "own-creds", Signing: "team-signing"}, nil
			}
			return ProviderSecrets{}, nil
		},
		FluxSecret: func(_ context.Context, _, name string) (string, error) {
			if name == "flux-system" {
				return "flux-creds", nil
			}
			return "", nil
		},
		TargetsOf: func(_ context.Context, _, provider string) ([]string, error) {
			if provider == "shared" {
				return []string{"shared"}, nil
			}
			return nil, nil
		},
	}
}

// TestAdmission: each kind refuses, with 403 and each missing permission
// named with its field, what the user may not read, and admits what they may.
func TestAdmission(t *testing.T) {
	az := rbac{
		"tenant":    allow("create secrets in namespace t1", "get secrets own-key in namespace t1", "get secrets own-creds in namespace t1"),
		"repo-only": allow("get gitrepositories.source.toolkit.fluxcd.io flux-system in namespace t1"),
		"flux-user": allow("get gitrepositories.source.toolkit.fluxcd.io flux-system in namespace t1", "get secrets flux-creds in namespace t1",
			"get gitrepositories.source.toolkit.fluxcd.io public in namespace t1"),
		"reader": allow("list configmaps in namespace t1", "watch configmaps in namespace t1", "get secrets own-creds in namespace t1"),
		"admin":  allow("*"),
	}
	a := admission(az)
	wr := func(resources ...string) *configbutler.WatchRule {
		return &configbutler.WatchRule{ObjectMeta: metav1.ObjectMeta{Namespace: "t1", Name: "r"},
			Spec: configbutler.WatchRuleSpec{Rules: []configbutler.ResourceRule{{APIGroups: []string{"*"}, Resources: resources}}}}
	}
	target := func(name, secret string, generate bool) *configbutler.GitTarget {
		t := &configbutler.GitTarget{ObjectMeta: metav1.ObjectMeta{Namespace: "t1", Name: name}}
		if secret != "" {
			t.Spec.Encryption = &configbutler.EncryptionSpec{Provider: "sops", SecretRef: configbutler.LocalSecretReference{Name: secret}, GenerateWhenMissing: generate}
		}
		return t
	}
	fluxTarget := func(repo string) *configbutler.GitTarget {
		t := target("t", "", false)
		t.Spec.ProviderRef = configbutler.GitProviderReference{Group: "source.toolkit.fluxcd.io", Kind: "GitRepository", Name: repo}
		return t
	}
	provider := func(name, url, secret string) *configbutler.GitProvider {
		p := &configbutler.GitProvider{ObjectMeta: metav1.ObjectMeta{Namespace: "t1", Name: name}, Spec: configbutler.GitProviderSpec{URL: url}}
		if secret != "" {
			p.Spec.SecretRef = &configbutler.LocalSecretReference{Name: secret}
		}
		return p
	}
	cases := []struct {
		name string
		user string
		do   func(ctx context.Context) error
		// want: "" admitted, else substrings of the 403's message
		want []string
	}{
		{"tenant: a rule for configmaps", "tenant", func(ctx context.Context) error { return a.WatchRule(ctx, wr("configmaps"), nil) },
			[]string{`user "tenant" may not list configmaps in namespace t1 (spec.rules[0]); may not watch configmaps in namespace t1 (spec.rules[0])`}},
		{"reader: a rule for configmaps", "reader", func(ctx context.Context) error { return a.WatchRule(ctx, wr("configmaps"), nil) }, nil},
		{"reader: a wildcard is checked against every type it selects", "reader", func(ctx context.Context) error { return a.WatchRule(ctx, wr("*"), nil) },
			[]string{"list secrets in namespace t1", "watch deployments.apps in namespace t1"}},
		{"a ServiceAccount is a user like any other", "system:serviceaccount:t1:bot", func(ctx context.Context) error { return a.WatchRule(ctx, wr("configmaps"), nil) },
			[]string{`user "system:serviceaccount:t1:bot" may not list configmaps`}},
		{"reader: cluster-wide needs all namespaces", "reader", func(ctx context.Context) error {
			return a.ClusterWatchRule(ctx, &configbutler.ClusterWatchRule{ObjectMeta: metav1.ObjectMeta{Name: "c"}, Spec: configbutler.ClusterWatchRuleSpec{
				Rules: []configbutler.ClusterResourceRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Scope: "Namespaced"}}}}, nil)
		}, []string{"list configmaps in all namespaces (spec.rules[0])"}},
		{"tenant: another team's credentials", "tenant", func(ctx context.Context) error {
			return a.GitProvider(ctx, provider("p", "https://git.example.com/r.git", "team-creds"), nil)
		}, []string{"get secrets team-creds in namespace t1 (spec.secretRef.name)"}},
		{"tenant: own credentials", "tenant", func(ctx context.Context) error {
			return a.GitProvider(ctx, provider("p", "https://git.example.com/r.git", "own-creds"), nil)
		}, nil},
		{"tenant: redirecting a provider others' data flows through", "tenant", func(ctx context.Context) error {
			return a.GitProvider(ctx, provider("shared", "https://evil.example.com/r.git", "own-creds"), nil)
		}, []string{"list configmaps in namespace t1 (spec (GitTarget t1/shared uses this provider): WatchRule t1/admins spec.rules[0] writes through it)"}},
		{"tenant: another team's age key", "tenant", func(ctx context.Context) error { return a.GitTarget(ctx, target("t", "team-key", true), nil) },
			[]string{"get secrets team-key in namespace t1 (spec.encryption.secretRef.name)"}},
		{"tenant: a target pushing with a colleague's provider and token", "tenant", func(ctx context.Context) error {
			tg := target("t", "", false)
			tg.Spec.ProviderRef.Name = "colleague"
			return a.GitTarget(ctx, tg, nil)
		}, []string{"may not get secrets team-creds in namespace t1 (spec.providerRef.name (GitProvider t1/colleague pushes with it))"}},
		{"tenant: a target signing with a colleague's key", "tenant", func(ctx context.Context) error {
			tg := target("t", "", false)
			tg.Spec.ProviderRef.Name = "signed"
			return a.GitTarget(ctx, tg, nil)
		}, []string{"may not get secrets team-signing in namespace t1 (spec.providerRef.name (GitProvider t1/signed signs commits with it))"}},
		{"tenant: a provider signing with another team's key", "tenant", func(ctx context.Context) error {
			p := provider("p", "https://git.example.com/r.git", "own-creds")
			p.Spec.Commit = &configbutler.CommitSpec{SigningKeyRef: &configbutler.LocalObjectReference{Name: "team-signing"}}
			return a.GitProvider(ctx, p, nil)
		}, []string{"get secrets team-signing in namespace t1 (spec.commit.signingKeyRef.name)"}},
		{"tenant: own age key", "tenant", func(ctx context.Context) error { return a.GitTarget(ctx, target("t", "own-key", false), nil) }, nil},
		{"tenant: a key the server generates needs create", "tenant", func(ctx context.Context) error { return a.GitTarget(ctx, target("t", "missing", true), nil) }, nil},
		{"reader: a key the server generates needs create", "reader", func(ctx context.Context) error { return a.GitTarget(ctx, target("t", "missing", true), nil) },
			[]string{"create secrets in namespace t1 (spec.encryption.secretRef.name (missing; generateWhenMissing))"}},
		{"tenant: taking over the target an admin's rule writes to", "tenant", func(ctx context.Context) error { return a.GitTarget(ctx, target("shared", "", false), nil) },
			[]string{"list configmaps in namespace t1 (spec: WatchRule t1/admins spec.rules[0] writes through it)"}},
		{"tenant: a target pushing through a Flux GitRepository", "tenant", func(ctx context.Context) error {
			return a.GitTarget(ctx, fluxTarget("flux-system"), nil)
		}, []string{"may not get gitrepositories.source.toolkit.fluxcd.io flux-system in namespace t1 (spec.providerRef.name (Flux GitRepository t1/flux-system))"}},
		{"repo-only: the GitRepository but not its Secret", "repo-only", func(ctx context.Context) error { return a.GitTarget(ctx, fluxTarget("flux-system"), nil) },
			[]string{"may not get secrets flux-creds in namespace t1 (spec.providerRef.name (Flux GitRepository t1/flux-system pushes with it))"}},
		{"flux-user: a GitRepository and its Secret", "flux-user", func(ctx context.Context) error { return a.GitTarget(ctx, fluxTarget("flux-system"), nil) }, nil},
		{"flux-user: a GitRepository without a Secret", "flux-user", func(ctx context.Context) error { return a.GitTarget(ctx, fluxTarget("public"), nil) }, nil},
		{"admin: everything", "admin", func(ctx context.Context) error { return a.GitTarget(ctx, target("shared", "team-key", true), nil) }, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.do(asUser(tc.user))
			if tc.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !apierrors.IsForbidden(err) {
				t.Fatalf("got %v, want 403 Forbidden", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("message %q lacks %q", err.Error(), w)
				}
			}
		})
	}

	// Who may not read the GitRepository is not told the name of its Secret.
	if err := a.GitTarget(asUser("tenant"), fluxTarget("flux-system"), nil); err == nil || strings.Contains(err.Error(), "flux-creds") {
		t.Errorf("the denial names the GitRepository's Secret: %v", err)
	}
	// The authorizer cannot decide: refused (503), never admitted on a guess.
	if err := a.WatchRule(asUser("broken"), wr("configmaps"), nil); !apierrors.IsServiceUnavailable(err) {
		t.Errorf("failed review: %v, want 503", err)
	}
	// No user in the request: refused.
	if err := a.WatchRule(context.Background(), wr("configmaps"), nil); !apierrors.IsForbidden(err) {
		t.Errorf("no user: %v", err)
	}
	// Discovery failed: refused.
	broken := admission(az)
	broken.Resources = func() ([]selection.APIResource, error) { return nil, errors.New("down") }
	if err := broken.WatchRule(asUser("admin"), wr("configmaps"), nil); !apierrors.IsServiceUnavailable(err) {
		t.Errorf("discovery down: %v", err)
	}
	// Standalone (no authorizer): only the remote policy.
	standalone := &Admission{}
	if err := standalone.WatchRule(asUser("anyone"), wr("configmaps"), nil); err != nil {
		t.Errorf("standalone: %v", err)
	}
}

// TestAdmissionRemotePolicy: file URLs, local paths, loopback and link-local
// hosts are refused with the field path unless allowed.
func TestAdmissionRemotePolicy(t *testing.T) {
	for _, tc := range []struct {
		url    string
		policy git.RemotePolicy
		ok     bool
	}{
		{"https://git.example.com/r.git", git.RemotePolicy{}, true},
		{"http://10.0.0.5/r.git", git.RemotePolicy{}, true},
		{"git@github.com:org/r.git", git.RemotePolicy{}, true},
		{"file:///var/lib/gitops-reverser/work/other", git.RemotePolicy{}, false},
		{"/var/lib/x", git.RemotePolicy{}, false},
		{"file:///srv/r.git", git.RemotePolicy{AllowFile: true}, true},
		{"http://169.254.169.254/latest/meta-data", git.RemotePolicy{}, false},
		{"http://[fe80::1]/r.git", git.RemotePolicy{AllowLoopback: true}, false},
		{"http://169.254.169.254/r.git", git.RemotePolicy{AllowLinkLocal: true}, true},
		{"http://127.0.0.1:18080/demo.git", git.RemotePolicy{}, false},
		{"http://localhost/r.git", git.RemotePolicy{}, false},
		{"ssh://git@app.localhost/r.git", git.RemotePolicy{}, false},
		{"http://[::1]/r.git", git.RemotePolicy{}, false},
		{"http://[::ffff:127.0.0.1]/r.git", git.RemotePolicy{}, false},
		{"http://0.0.0.0/r.git", git.RemotePolicy{}, false},
		{"http://127.0.0.1:18080/demo.git", git.RemotePolicy{AllowLoopback: true}, true},
		{"git@127.0.0.2:r.git", git.RemotePolicy{}, false},
		{"http://[fd00:ec2::254]/latest", git.RemotePolicy{}, false},
		{"http://100.100.100.200/r.git", git.RemotePolicy{}, false},
	} {
		a := &Admission{Remotes: tc.policy}
		err := a.GitProvider(asUser("admin"), &configbutler.GitProvider{ObjectMeta: metav1.ObjectMeta{Namespace: "t1", Name: "p"},
			Spec: configbutler.GitProviderSpec{URL: tc.url}}, nil)
		if tc.ok != (err == nil) {
			t.Errorf("%s with %+v: %v", tc.url, tc.policy, err)
			continue
		}
		if err != nil && (!apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec.url: Forbidden")) {
			t.Errorf("%s: %v, want 422 at spec.url", tc.url, err)
		}
	}
}
