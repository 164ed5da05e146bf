package e2e

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// as runs kubectl as another user (impersonated by the administrator, as
// `kubectl --as` does) and returns its output and error.
func as(user string, args ...string) (string, error) {
	return st.Kubectl(append([]string{"--as=" + user}, args...)...)
}

// createAs creates objects from YAML as another user (create, not apply:
// apply reads first, and these users may not read everything they create).
func createAs(user, yaml string) (string, error) {
	return st.KubectlStdin(st.AdminKubeconfig, []byte(yaml), "--as="+user, "create", "-f", "-")
}

// tenantRole grants our four kinds in a namespace, plus extra rules.
func tenantRole(ns, name, extra string) string {
	return fmt.Sprintf(`apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: %[2]s, namespace: %[1]s}
rules:
- apiGroups: [configbutler.ai]
  resources: [gitproviders, gittargets, watchrules]
  verbs: [get, list, watch, create, update, patch, delete]
%[3]s`, ns, name, extra)
}

func binding(ns, name, role, subject string) string {
	return fmt.Sprintf(`apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: %[2]s, namespace: %[1]s}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: %[3]s}
subjects: [%[4]s]
`, ns, name, role, subject)
}

// commitsOf counts the commits of a repository of the stack's Git server (0
// when it has none).
func commitsOf(repo string) int {
	out, err := exec.Command("git", "--git-dir", st.Git.RepoPath(repo), "rev-list", "--all", "--count").CombinedOutput()
	if err != nil {
		return 0
	}
	var n int
	fmt.Sscan(string(out), &n)
	return n
}

// TestTenantCannotMirrorWhatRBACDenies: the three attacks, by a user
// whose RBAC in the namespace allows our kinds and only create on Secrets
// (and by a ServiceAccount with the same RBAC), are refused at create with 403
// naming the missing permission and the field, nothing of them is stored, and
// nothing of the namespace reaches Git.
func TestTenantCannotMirrorWhatRBACDenies(t *testing.T) {
	ns := newNamespace(t, "tenant")
	repo := ns
	url := newRepo(t, repo)
	apply(t, tenantRole(ns, "tenant", "- apiGroups: [\"\"]\n  resources: [secrets]\n  verbs: [create]\n")+"---\n"+
		binding(ns, "tenant", "tenant", "{kind: User, apiGroup: rbac.authorization.k8s.io, name: tenant}")+"---\n"+
		binding(ns, "bot", "tenant", fmt.Sprintf("{kind: ServiceAccount, name: bot, namespace: %s}", ns))+
		fmt.Sprintf(`---
apiVersion: v1
kind: ServiceAccount
metadata: {name: bot, namespace: %[1]s}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: private, namespace: %[1]s}
data: {plan: "do not leak"}
---
apiVersion: v1
kind: Secret
metadata: {name: db-password, namespace: %[1]s}
stringData: {password: hunter2-not-for-tenants}
---
apiVersion: v1
kind: Secret
metadata: {name: other-team-git, namespace: %[1]s}
stringData: {username: %[2]s, password: %[3]q}
`, ns, "gitops", st.GitPassword))
	for _, check := range [][]string{{"get", "configmaps"}, {"get", "secret", "db-password"}} {
		eventually(t, 20*time.Second, "tenant's RBAC in effect", func() error {
			out, err := as("tenant", append(check, "-n", ns)...)
			if err == nil || !strings.Contains(out, "Forbidden") {
				return fmt.Errorf("kubectl --as=tenant %v: %v %s, want Forbidden", check, err, out)
			}
			if _, err := as("tenant", "auth", "can-i", "create", "watchrules.configbutler.ai", "-n", ns); err != nil {
				return fmt.Errorf("tenant may not create watchrules yet: %v", err)
			}
			return nil
		})
	}
	// The tenant's own Secrets (create is all they may do with Secrets).
	for _, y := range []string{
		fmt.Sprintf("apiVersion: v1\nkind: Secret\nmetadata: {name: own-creds, namespace: %s}\nstringData: {username: gitops, password: %q}\n", ns, st.GitPassword),
		fmt.Sprintf("apiVersion: v1\nkind: Secret\nmetadata: {name: own-age, namespace: %s}\nstringData: {identity.agekey: AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ}\n", ns),
	} {
		if out, err := createAs("tenant", y); err != nil {
			t.Fatalf("the tenant may create Secrets: %v %s", err, out)
		}
	}

	provider := func(name, secret string) string {
		ref := ""
		if secret != "" {
			ref = ", secretRef: {name: " + secret + "}"
		}
		return fmt.Sprintf("apiVersion: configbutler.ai/v1alpha1\nkind: GitProvider\nmetadata: {name: %s, namespace: %s}\nspec: {url: %q%s, allowedBranches: [main]}\n", name, ns, url, ref)
	}
	target := func(name, provider, enc string) string {
		return fmt.Sprintf("apiVersion: configbutler.ai/v1alpha1\nkind: GitTarget\nmetadata: {name: %s, namespace: %s}\nspec:\n  providerRef: {name: %s}\n  branch: main\n  path: leak\n%s", name, ns, provider, enc)
	}
	rule := func(name, target, resource string) string {
		return fmt.Sprintf("apiVersion: configbutler.ai/v1alpha1\nkind: WatchRule\nmetadata: {name: %s, namespace: %s}\nspec: {targetRef: {name: %s}, rules: [{apiGroups: [\"\"], resources: [%s]}]}\n", name, ns, target, resource)
	}
	// Objects the tenant may create: an anonymous provider and a plain target.
	for _, y := range []string{provider("anon", ""), target("plain", "anon", "")} {
		if out, err := createAs("tenant", y); err != nil {
			t.Fatalf("%v %s", err, out)
		}
	}
	for _, tc := range []struct {
		name, user, yaml string
		want             []string
	}{
		{"1: a rule for configmaps, through an anonymous remote", "tenant", rule("cms", "plain", "configmaps"),
			[]string{`watchrules.configbutler.ai "cms" is forbidden: user "tenant" may not list configmaps in namespace ` + ns + ` (spec.rules[0])`, "may not watch configmaps"}},
		{"1: the same as a ServiceAccount", "system:serviceaccount:" + ns + ":bot", rule("cms", "plain", "configmaps"),
			[]string{`user "system:serviceaccount:` + ns + `:bot" may not list configmaps in namespace ` + ns}},
		{"1: a provider with credentials the tenant cannot read", "tenant", provider("own", "own-creds"),
			[]string{"may not get secrets own-creds in namespace " + ns + " (spec.secretRef.name)"}},
		{"2: a target encrypting to an age key of the tenant's", "tenant", target("enc", "anon", "  encryption: {provider: sops, secretRef: {name: own-age}}\n"),
			[]string{"may not get secrets own-age in namespace " + ns + " (spec.encryption.secretRef.name)"}},
		{"2: a rule for secrets", "tenant", rule("secrets", "plain", "secrets"),
			[]string{"may not list secrets in namespace " + ns + " (spec.rules[0])"}},
		{"3: another team's Git credentials", "tenant", provider("borrowed", "other-team-git"),
			[]string{"may not get secrets other-team-git in namespace " + ns + " (spec.secretRef.name)"}},
		{"a wildcard is checked against every type it selects", "tenant", rule("all", "plain", `"*"`),
			[]string{"may not list configmaps in namespace " + ns, "may not list secrets in namespace " + ns}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := createAs(tc.user, tc.yaml)
			if err == nil || !strings.Contains(out, "Forbidden") {
				t.Fatalf("admitted (%v): %s", err, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("refusal %q lacks %q", out, w)
				}
			}
		})
	}
	// Nothing of the refused objects was stored.
	for _, obj := range []string{"watchrule/cms", "watchrule/secrets", "watchrule/all", "gitprovider/own", "gitprovider/borrowed", "gittarget/enc"} {
		if out, err := st.Kubectl("get", obj, "-n", ns); err == nil || !strings.Contains(out, "NotFound") {
			t.Errorf("%s exists after a refused create: %v %s", obj, err, out)
		}
	}
	// What was admitted records who authorized it.
	if got := kubectl(t, "get", "gittarget", "plain", "-n", ns, "-o", "jsonpath={.status.authorizedBy.username}"); got != "tenant" {
		t.Errorf("plain's authorizedBy %q, want tenant", got)
	}
	if out := kubectl(t, "get", "gitproviders", "-n", ns, "-o", "wide"); !strings.Contains(out, "AUTHORIZED BY") || !strings.Contains(out, "tenant") {
		t.Errorf("kubectl get -o wide:\n%s", out)
	}
	// The tenant cannot forge it either: a client-sent status is discarded.
	if out, err := createAs("tenant", provider("forged", "")+"status: {authorizedBy: {username: admin}}\n"); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	if got := kubectl(t, "get", "gitprovider", "forged", "-n", ns, "-o", "jsonpath={.status.authorizedBy.username}"); got != "tenant" {
		t.Errorf("forged authorizedBy %q, want tenant", got)
	}
	time.Sleep(3 * time.Second) // what would have mirrored would be pushed by now
	if n := commitsOf(repo); n != 0 {
		out, _ := exec.Command("git", "--git-dir", st.Git.RepoPath(repo), "log", "--all", "--stat").CombinedOutput()
		t.Errorf("the tenant's repository has %d commits:\n%s", n, out)
	}
}

// TestRevokedAuthorStopsMirroring: a user who may read ConfigMaps mirrors them
// (a ServiceAccount with the same RBAC creating all four kinds too); revoking
// the RoleBinding of a rule's author turns the rule Ready=False/Forbidden
// within seconds, after which a changed or new ConfigMap does not reach Git
// (and nothing is deleted); restoring it re-snapshots.
func TestRevokedAuthorStopsMirroring(t *testing.T) {
	ns := newNamespace(t, "revoke")
	url := newRepo(t, ns)
	reader := "- apiGroups: [\"\"]\n  resources: [configmaps]\n  verbs: [get, list, watch]\n" +
		"- apiGroups: [\"\"]\n  resources: [secrets]\n  resourceNames: [git-credentials]\n  verbs: [get]\n"
	apply(t, credentials(ns)+"---\n"+tenantRole(ns, "reader", reader)+"---\n"+
		binding(ns, "alice", "reader", "{kind: User, apiGroup: rbac.authorization.k8s.io, name: alice}")+"---\n"+
		binding(ns, "bot", "reader", fmt.Sprintf("{kind: ServiceAccount, name: bot, namespace: %s}", ns))+
		fmt.Sprintf("---\napiVersion: v1\nkind: ServiceAccount\nmetadata: {name: bot, namespace: %[1]s}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm1, namespace: %[1]s}\ndata: {v: one}\n", ns))
	eventually(t, 20*time.Second, "alice's RBAC in effect", func() error {
		_, err := as("alice", "get", "configmaps", "-n", ns)
		return err
	})
	bot := "system:serviceaccount:" + ns + ":bot"
	// The ServiceAccount creates all four kinds (a provider with credentials it
	// may get, a target, a rule): admitted, and mirrored.
	objs := fmt.Sprintf(`apiVersion: configbutler.ai/v1alpha1
kind: GitProvider
metadata: {name: origin, namespace: %[1]s}
spec: {url: %[2]q, secretRef: {name: git-credentials}, allowedBranches: [main], push: {interval: 1s}}
---
apiVersion: configbutler.ai/v1alpha1
kind: GitTarget
metadata: {name: mirror, namespace: %[1]s}
spec: {providerRef: {name: origin}, branch: main, path: live}
`, ns, url)
	if out, err := createAs(bot, objs); err != nil {
		t.Fatalf("the bot's provider and target: %v %s", err, out)
	}
	// alice writes the rule.
	if out, err := createAs("alice", fmt.Sprintf("apiVersion: configbutler.ai/v1alpha1\nkind: WatchRule\nmetadata: {name: config, namespace: %s}\nspec: {targetRef: {name: mirror}, rules: [{apiGroups: [\"\"], resources: [configmaps]}]}\n", ns)); err != nil {
		t.Fatalf("alice's rule: %v %s", err, out)
	}
	m := &mirror{ns: ns, repo: ns, path: "live"}
	m.waitReady(t)
	if got := kubectl(t, "get", "watchrule", "config", "-n", ns, "-o", "jsonpath={.status.authorizedBy.username}"); got != "alice" {
		t.Errorf("the rule's authorizedBy %q", got)
	}
	if got := kubectl(t, "get", "gittarget", "mirror", "-n", ns, "-o", "jsonpath={.status.authorizedBy.username}"); got != bot {
		t.Errorf("the target's authorizedBy %q", got)
	}
	eventually(t, 30*time.Second, "cm1 mirrored", func() error {
		if !strings.Contains(m.show(t, m.file("configmaps", "cm1")), "v: one") {
			return fmt.Errorf("not yet")
		}
		return nil
	})

	// Revoke alice.
	kubectl(t, "delete", "rolebinding", "alice", "-n", ns)
	revoked := time.Now()
	eventually(t, 30*time.Second, "rule Ready=False/Forbidden", func() error {
		out := kubectl(t, "get", "watchrule", "config", "-n", ns, "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}/{.status.conditions[?(@.type=="Ready")].reason}: {.status.conditions[?(@.type=="Ready")].message}`)
		if !strings.HasPrefix(out, "False/Forbidden: ") || !strings.Contains(out, `user "alice" (WatchRule `+ns+`/config) may not list configmaps in namespace `+ns) {
			return fmt.Errorf("%s", out)
		}
		return nil
	})
	t.Logf("Forbidden %.1fs after the RoleBinding was deleted", time.Since(revoked).Seconds())
	kubectl(t, "create", "configmap", "cm2", "-n", ns, "--from-literal=v=two")
	kubectl(t, "patch", "configmap", "cm1", "-n", ns, "-p", `{"data":{"v":"changed"}}`)
	time.Sleep(6 * time.Second) // push.interval is 1s: anything routed would be in Git by now
	if got := m.show(t, m.file("configmaps", "cm1")); !strings.Contains(got, "v: one") {
		t.Errorf("after the revocation cm1 in Git is:\n%s\nwant the old content, kept", got)
	}
	if got := m.show(t, m.file("configmaps", "cm2")); got != "" {
		t.Errorf("cm2, created after the revocation, reached Git:\n%s", got)
	}

	// Restore: the rule is Ready again and the target re-snapshots.
	apply(t, binding(ns, "alice", "reader", "{kind: User, apiGroup: rbac.authorization.k8s.io, name: alice}"))
	eventually(t, 60*time.Second, "cm1 and cm2 mirrored after the restore", func() error {
		if !strings.Contains(m.show(t, m.file("configmaps", "cm1")), "v: changed") || !strings.Contains(m.show(t, m.file("configmaps", "cm2")), "v: two") {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	if out := kubectl(t, "get", "watchrule", "config", "-n", ns, "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].reason}`); out != "OK" {
		t.Errorf("rule Ready reason %q after the restore", out)
	}

	// The ServiceAccount that wrote the provider and the target is deleted (its
	// RoleBinding stays, as RoleBindings do): its credentials are no longer
	// used, and nothing more reaches Git.
	kubectl(t, "delete", "serviceaccount", "bot", "-n", ns)
	eventually(t, 30*time.Second, "target not Ready once its author's ServiceAccount is gone", func() error {
		_, cs := targetConditions(t, ns, "mirror")
		for _, c := range cs {
			if c.Type == "Bootstrapped" && c.Status == "False" && strings.Contains(c.Message, `user "`+bot+`" (GitProvider `+ns+`/origin) may not get secrets git-credentials`) {
				return nil
			}
		}
		return fmt.Errorf("%+v", cs)
	})
	kubectl(t, "create", "configmap", "cm3", "-n", ns, "--from-literal=v=three")
	time.Sleep(4 * time.Second)
	if got := m.show(t, m.file("configmaps", "cm3")); got != "" {
		t.Errorf("cm3 reached Git after the author's ServiceAccount was deleted:\n%s", got)
	}
}

// TestRemotePolicyOnMakeRun: on the make run stack (loopback allowed for its
// Git server) file:// URLs, local paths and link-local hosts are refused at
// admission with the field path, even for a cluster administrator.
func TestRemotePolicyOnMakeRun(t *testing.T) {
	ns := newNamespace(t, "remotes")
	for _, url := range []string{"file:///var/lib/gitops-reverser/work", "/tmp/x.git", "http://169.254.169.254/latest/meta-data/", "http://[fe80::1]/r.git"} {
		b, err := st.KubectlStdin(st.AdminKubeconfig, []byte(fmt.Sprintf("apiVersion: configbutler.ai/v1alpha1\nkind: GitProvider\nmetadata: {name: p, namespace: %s}\nspec: {url: %q, allowedBranches: [main]}\n", ns, url)), "apply", "-f", "-")
		// A local path is not even a URL (validation refuses it); the others
		// are refused by the remote policy.
		if err == nil || !strings.Contains(b, "spec.url: ") || (url != "/tmp/x.git" && !strings.Contains(b, "spec.url: Forbidden: remote refused by the server's policy")) {
			t.Errorf("%s: admitted or not refused at spec.url (%v): %s", url, err, b)
		}
	}
}

// TestClusterWatchRuleLosesTargetUpdate: a ClusterWatchRule writes into
// another namespace's repository with that GitTarget's credentials, so its
// user must be allowed to update the target, at admission and from then on:
// once that permission is revoked (while the user may still read what the
// rule selects) the rule turns Ready=False/Forbidden, naming it, and a new
// ConfigMap does not reach Git.
func TestClusterWatchRuleLosesTargetUpdate(t *testing.T) {
	home, src := newNamespace(t, "cwrhome"), newNamespace(t, "cwrsrc")
	kubectl(t, "label", "namespace", src, "mirror-"+home+"=yes")
	url := newRepo(t, home)
	carol := "carol-" + home
	apply(t, credentials(home)+"---\n"+gitProvider(home, "origin", url)+fmt.Sprintf(`---
apiVersion: configbutler.ai/v1alpha1
kind: GitTarget
metadata: {name: mirror, namespace: %[1]s}
spec: {providerRef: {name: origin}, branch: main, path: live}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: %[2]s}
rules:
- apiGroups: [configbutler.ai]
  resources: [clusterwatchrules]
  verbs: [get, list, watch, create, update, patch, delete]
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: %[2]s}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: %[2]s}
subjects: [{kind: User, apiGroup: rbac.authorization.k8s.io, name: %[2]s}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: update-mirror, namespace: %[1]s}
rules:
- apiGroups: [configbutler.ai]
  resources: [gittargets]
  resourceNames: [mirror]
  verbs: [update]
`, home, carol)+"---\n"+binding(home, "carol", "update-mirror", "{kind: User, apiGroup: rbac.authorization.k8s.io, name: "+carol+"}"))
	t.Cleanup(func() {
		st.Kubectl("delete", "clusterwatchrule", home+"-src", "--ignore-not-found")
		st.Kubectl("delete", "clusterrolebinding,clusterrole", carol, "--ignore-not-found")
	})
	rule := fmt.Sprintf(`apiVersion: configbutler.ai/v1alpha1
kind: ClusterWatchRule
metadata: {name: %[1]s-src}
spec:
  targetRef: {name: mirror, namespace: %[1]s}
  rules: [{apiGroups: [""], resources: [configmaps], scope: Namespaced, namespaceSelector: {matchLabels: {mirror-%[1]s: "yes"}}}]
`, home)
	eventually(t, 20*time.Second, "carol's rule admitted", func() error {
		out, err := createAs(carol, rule)
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	})
	m := &mirror{ns: home, repo: home, path: "live"}
	file := func(name string) string { return "live/v1/configmaps/" + src + "/" + name + ".yaml" }
	kubectl(t, "create", "configmap", "one", "-n", src, "--from-literal=v=1")
	eventually(t, 60*time.Second, "one mirrored through carol's rule", func() error {
		if m.show(t, file("one")) == "" {
			return fmt.Errorf("not yet")
		}
		return nil
	})

	kubectl(t, "delete", "rolebinding", "carol", "-n", home)
	want := fmt.Sprintf(`user %q (ClusterWatchRule %s-src) may not update gittargets.configbutler.ai mirror in namespace %s`, carol, home, home)
	eventually(t, 30*time.Second, "rule Ready=False/Forbidden", func() error {
		out := kubectl(t, "get", "clusterwatchrule", home+"-src", "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}/{.status.conditions[?(@.type=="Ready")].reason}: {.status.conditions[?(@.type=="Ready")].message}`)
		if !strings.HasPrefix(out, "False/Forbidden: ") || !strings.Contains(out, want) {
			return fmt.Errorf("%s", out)
		}
		return nil
	})
	kubectl(t, "create", "configmap", "two", "-n", src, "--from-literal=v=2")
	time.Sleep(6 * time.Second) // push.interval is 1s: anything routed would be in Git by now
	if got := m.show(t, file("two")); got != "" {
		t.Errorf("two, created after carol lost update of the target, reached Git:\n%s", got)
	}
	if got := m.show(t, file("one")); got == "" {
		t.Errorf("one was deleted from Git: a lost permission keeps what Git has")
	}
}
