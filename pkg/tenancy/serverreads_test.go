package tenancy

import (
	"context"
	"errors"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/warning"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler"
	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
)

// warnings records a request's warnings.
type warnings []string

func (w *warnings) AddWarning(_, text string) { *w = append(*w, text) }

// TestServerReadsWarnings: a rule its user may write, selecting types the
// server itself may not list or watch in every namespace, is admitted with
// one warning per such type naming the field; a rule refused, or a server
// whose identity is unknown, gives none.
func TestServerReadsWarnings(t *testing.T) {
	az := rbac{
		"tenant": allow("list configmaps in namespace t1", "watch configmaps in namespace t1",
			"list deployments.apps in namespace t1", "watch deployments.apps in namespace t1",
			"list secrets in namespace t1", "watch secrets in namespace t1"),
		"server": allow("list configmaps", "watch configmaps", "list deployments.apps"),
	}
	server := func(ctx context.Context) (*v1alpha1.AuthorizedIdentity, error) {
		return &v1alpha1.AuthorizedIdentity{Username: "server"}, nil
	}
	rule := func(rules ...configbutler.ResourceRule) *configbutler.WatchRule {
		return &configbutler.WatchRule{ObjectMeta: metav1.ObjectMeta{Namespace: "t1", Name: "r"}, Spec: configbutler.WatchRuleSpec{Rules: rules}}
	}
	core := func(resources ...string) configbutler.ResourceRule {
		return configbutler.ResourceRule{APIGroups: []string{""}, Resources: resources}
	}
	apps := configbutler.ResourceRule{APIGroups: []string{"apps"}, Resources: []string{"deployments"}}
	for _, tc := range []struct {
		name     string
		user     string
		identity func(context.Context) (*v1alpha1.AuthorizedIdentity, error)
		rule     *configbutler.WatchRule
		refused  bool
		want     []string
	}{
		{name: "every type readable", user: "tenant", identity: server, rule: rule(core("configmaps"))},
		{name: "watch refused", user: "tenant", identity: server, rule: rule(core("configmaps"), apps),
			want: []string{"spec.rules[1]: the server may not watch deployments.apps in every namespace (its ClusterRole; the chart's rbac.readRules): nothing of that type is mirrored until it may"}},
		{name: "list and watch refused, named once", user: "tenant", identity: server, rule: rule(core("configmaps", "secrets"), core("secrets")),
			want: []string{"spec.rules[0]: the server may not list or watch secrets in every namespace"}},
		{name: "the rule refused: its 403, no warning", user: "nobody", identity: server, rule: rule(apps), refused: true},
		{name: "the server's identity unknown", user: "tenant", identity: func(context.Context) (*v1alpha1.AuthorizedIdentity, error) { return nil, errors.New("no review") },
			rule: rule(apps)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := admission(az)
			a.Server = &ServerReads{Reviewer: &Reviewer{Authorizer: az, TTL: ServerReadsTTL}, Identity: tc.identity}
			var got warnings
			err := a.WatchRule(warning.WithWarningRecorder(asUser(tc.user), &got), tc.rule, nil)
			if (err != nil) != tc.refused {
				t.Fatalf("admission: %v, want refused: %v", err, tc.refused)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("warnings %q, want %d like %q", got, len(tc.want), tc.want)
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tc.want[i]) {
					t.Errorf("warning %q, want it to start %q", got[i], tc.want[i])
				}
			}
		})
	}
}

// TestServerChecks: list and watch of each type once, in every namespace;
// what the user alone needs (a Secret, a target) is not the server's read.
func TestServerChecks(t *testing.T) {
	got := strs(serverChecks([]Check{
		{Verb: "list", Resource: "configmaps", Namespace: "t1", Namespaced: true, Field: "spec.rules[0]"},
		{Verb: "watch", Resource: "configmaps", Namespace: "t1", Namespaced: true, Field: "spec.rules[0]"},
		{Verb: "list", Resource: "configmaps", Namespace: "t2", Namespaced: true, Field: "spec.rules[1]"},
		{Verb: "update", Group: "configbutler.ai", Resource: "gittargets", Name: "t", Namespace: "t1", Namespaced: true, Field: "spec.targetRef"},
		{Verb: "list", Group: "rbac.authorization.k8s.io", Resource: "clusterroles", Field: "spec.rules[2]"},
	}))
	want := strings.Join([]string{
		"list configmaps in all namespaces (spec.rules[0])",
		"watch configmaps in all namespaces (spec.rules[0])",
		"list clusterroles.rbac.authorization.k8s.io (spec.rules[2])",
		"watch clusterroles.rbac.authorization.k8s.io (spec.rules[2])",
	}, "\n")
	if got != want {
		t.Errorf("serverChecks:\n%s\nwant:\n%s", got, want)
	}
}

// serverReads reviews the server's reads ("server") with az, answers kept.
func serverReads(az authorizer.UnconditionalAuthorizer) *ServerReads {
	return &ServerReads{Reviewer: &Reviewer{Authorizer: az, TTL: ServerReadsTTL},
		Identity: func(context.Context) (*v1alpha1.AuthorizedIdentity, error) {
			return &v1alpha1.AuthorizedIdentity{Username: "server"}, nil
		}}
}

// counting counts the reviews asked of the server's authorizer.
type counting struct {
	rbac
	n int
}

func (c *counting) Authorize(ctx context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
	c.n++
	return c.rbac.Authorize(ctx, a)
}

// TestServerReadsAskedOncePerType: the server's reads are reviewed once per
// type within serverVerdictTTL, however many rules are written: a tenant
// writing rules in a loop costs kube-apiserver no more reviews.
func TestServerReadsAskedOncePerType(t *testing.T) {
	users := rbac{"tenant": allow("list configmaps in namespace t1", "watch configmaps in namespace t1")}
	server := &counting{rbac: rbac{"server": allow("list configmaps")}}
	a := admission(users)
	a.Server = serverReads(server)
	rule := &configbutler.WatchRule{ObjectMeta: metav1.ObjectMeta{Namespace: "t1", Name: "r"},
		Spec: configbutler.WatchRuleSpec{Rules: []configbutler.ResourceRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}}}}}
	for i := 0; i < 5; i++ {
		var got warnings
		if err := a.WatchRule(warning.WithWarningRecorder(asUser("tenant"), &got), rule, nil); err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || !strings.Contains(got[0], "may not watch configmaps") {
			t.Fatalf("write %d: warnings %q, want the one for watch of configmaps", i, got)
		}
	}
	if server.n != 2 {
		t.Errorf("%d reviews of the server's reads for 5 writes, want 2 (list and watch, once)", server.n)
	}
}

// TestServerReadsNamedTypesOnly: a wildcard rule asks nothing of the
// server's reads (it would review every type of the cluster on each write);
// a named type beside it is still reviewed, its warning naming its own
// field.
func TestServerReadsNamedTypesOnly(t *testing.T) {
	users := rbac{"admin": allow("*")}
	server := &counting{rbac: rbac{"server": allow("list configmaps", "watch configmaps")}}
	a := admission(users)
	a.Server = serverReads(server)
	wildcard := configbutler.ResourceRule{APIGroups: []string{"*"}, Resources: []string{"*"}}
	inApps := configbutler.ResourceRule{APIGroups: []string{"apps"}, Resources: []string{"*"}}
	deployments := configbutler.ResourceRule{APIGroups: []string{"apps"}, Resources: []string{"deployments"}}
	for _, tc := range []struct {
		name    string
		rules   []configbutler.ResourceRule
		reviews int
		want    []string
	}{
		{name: "every type", rules: []configbutler.ResourceRule{wildcard}},
		{name: "every type of a group", rules: []configbutler.ResourceRule{inApps}},
		{name: "a wildcard and a named type", rules: []configbutler.ResourceRule{wildcard, deployments}, reviews: 2,
			want: []string{"spec.rules[1]: the server may not list or watch deployments.apps"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			server.n = 0
			a.Server = serverReads(server)
			var got warnings
			rule := &configbutler.WatchRule{ObjectMeta: metav1.ObjectMeta{Namespace: "t1", Name: "r"}, Spec: configbutler.WatchRuleSpec{Rules: tc.rules}}
			if err := a.WatchRule(warning.WithWarningRecorder(asUser("admin"), &got), rule, nil); err != nil {
				t.Fatal(err)
			}
			if server.n != tc.reviews {
				t.Errorf("%d reviews of the server's reads, want %d", server.n, tc.reviews)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("warnings %q, want %q", got, tc.want)
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tc.want[i]) {
					t.Errorf("warning %q, want it to start %q", got[i], tc.want[i])
				}
			}
		})
	}
}
