package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/configbutler/gitops-reverser/pkg/render"
)

// Hostile tenants: a tenant may write our kinds and ConfigMaps in its own
// namespace and nothing else. Nothing it writes may cost another tenant
// anything, or cost the server more than a bounded amount.

// tenantNamespace makes a namespace whose user `user` may write our kinds
// and read and write ConfigMaps there (and nothing else), and waits until
// kube-apiserver's authorizer knows it.
func tenantNamespace(t *testing.T, prefix, user string) string {
	t.Helper()
	ns := newNamespace(t, prefix)
	cms := "- apiGroups: [\"\"]\n  resources: [configmaps]\n  verbs: [get, list, watch, create, update, patch, delete]\n"
	apply(t, tenantRole(ns, "tenant", cms)+"---\n"+binding(ns, "tenant", "tenant", "{kind: User, apiGroup: rbac.authorization.k8s.io, name: "+user+"}"))
	eventually(t, 20*time.Second, user+"'s RBAC in effect", func() error {
		_, err := as(user, "auth", "can-i", "create", "gitproviders.configbutler.ai", "-n", ns)
		return err
	})
	return ns
}

// procKB reads one kB figure of the server's /proc/<pid>/status.
func procKB(t *testing.T, field string) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", st.Server.Pid()))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no %s in /proc status", field)
	return 0
}

// TestTemplateBombRefused: the commit-message template that took a replica
// from 124 MiB to 1 GiB in 3 s (eight nested ranges around a 1,000,000-digit
// printf) is refused at create with its field path, and the server's peak
// memory grows less than 50 MiB while it is refused.
func TestTemplateBombRefused(t *testing.T) {
	ns := tenantNamespace(t, "bomb", "bomber")
	bomb := strings.Repeat("{{range $.Changes}}", 8) + `{{printf "%01000000d" 0}}` + strings.Repeat("{{end}}", 8)
	provider := fmt.Sprintf("apiVersion: configbutler.ai/v1alpha1\nkind: GitProvider\nmetadata: {name: bomb, namespace: %s}\nspec:\n  url: https://git.example.com/r.git\n  allowedBranches: [main]\n  commit: {message: %q}\n", ns, bomb)
	// Peak RSS from now on: writing 5 to clear_refs resets VmHWM.
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", st.Server.Pid()), []byte("5"), 0); err != nil {
		t.Fatalf("resetting the server's peak RSS: %v", err)
	}
	before := procKB(t, "VmRSS")
	start := time.Now()
	out, err := createAs("bomber", provider)
	took := time.Since(start)
	peak := procKB(t, "VmHWM")
	if err == nil || !strings.Contains(out, "spec.commit.message") || !strings.Contains(out, "Invalid value") {
		t.Fatalf("the template bomb was not refused at spec.commit.message (%v): %s", err, out)
	}
	t.Logf("refused in %s (kubectl create, through kube-apiserver); server RSS %d kB before, peak %d kB", took.Round(time.Millisecond), before, peak)
	if grew := peak - before; grew > 50<<10 {
		t.Errorf("the server's peak RSS grew %d kB while refusing the bomb, want < 50 MiB", grew)
	}
	if out, err := st.Kubectl("get", "gitprovider", "bomb", "-n", ns); err == nil || !strings.Contains(out, "NotFound") {
		t.Errorf("the refused provider exists: %v %s", err, out)
	}
}

// TestHostileNamesReachGit: Roles named `a\b` and `.git` and a ConfigMap
// with a 253-character name, in a namespace a target mirrors: the snapshot
// completes with every object in Git under its encoded file name, the
// repository clones and checks out with the git CLI, and later changes (a
// hostile name among them) still arrive.
func TestHostileNamesReachGit(t *testing.T) {
	ns := newNamespace(t, "names")
	url := newRepo(t, ns)
	long := strings.Repeat("n", 253)
	role := func(name string) string {
		return fmt.Sprintf("apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: %q, namespace: %s}\nrules: [{apiGroups: [\"\"], resources: [configmaps], verbs: [get]}]\n", name, ns)
	}
	apply(t, role(`a\b`)+"---\n"+role(".git")+"---\n"+fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: %s, namespace: %s}\ndata: {v: long}\n", long, ns))
	apply(t, credentials(ns)+fmt.Sprintf(`---
apiVersion: configbutler.ai/v1alpha1
kind: GitProvider
metadata: {name: origin, namespace: %[1]s}
spec: {url: %[2]q, secretRef: {name: git-credentials}, allowedBranches: [main], push: {interval: 1s}}
---
apiVersion: configbutler.ai/v1alpha1
kind: GitTarget
metadata: {name: mirror, namespace: %[1]s}
spec: {providerRef: {name: origin}, branch: main, path: names}
---
apiVersion: configbutler.ai/v1alpha1
kind: WatchRule
metadata: {name: all, namespace: %[1]s}
spec:
  targetRef: {name: mirror}
  rules: [{apiGroups: ["", rbac.authorization.k8s.io], resources: [configmaps, roles]}]
`, ns, url))
	m := &mirror{ns: ns, repo: ns, path: "names"}
	m.waitReady(t)
	if failed := kubectl(t, "get", "gittarget", "mirror", "-n", ns, "-o", "jsonpath={.status.snapshot.stats.failed}"); failed != "" && failed != "0" {
		t.Errorf("snapshot stats.failed = %s", failed)
	}
	roles := schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "roles"}
	cms := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	want := map[string]string{
		"names/rbac.authorization.k8s.io/v1/roles/" + ns + "/a%5Cb.yaml":  `name: a\b`,
		"names/rbac.authorization.k8s.io/v1/roles/" + ns + "/%2Egit.yaml": "name: .git",
		render.Path("names", cms, ns, long):                               "name: " + long,
	}
	if got := render.Path("names", roles, ns, `a\b`); got != "names/rbac.authorization.k8s.io/v1/roles/"+ns+"/a%5Cb.yaml" {
		t.Fatalf("render.Path of a\\b = %s", got)
	}
	// The git CLI clones and checks out every file (a 258-byte file name left
	// the working tree empty on ext4).
	dir := filepath.Join(t.TempDir(), "clone")
	cmd := exec.Command("git", "clone", "-q", st.Git.URLWithCredentials(ns), dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git clone: %v\n%s", err, out)
	}
	if out := gitCLI(t, dir, "status", "--porcelain"); strings.TrimSpace(out) != "" {
		t.Errorf("git status after the clone:\n%s", out)
	}
	for path, content := range want {
		b, err := os.ReadFile(filepath.Join(dir, path))
		if err != nil || !strings.Contains(string(b), content) {
			t.Errorf("%s in the checkout: %v\n%s", path, err, b)
		}
		if base := filepath.Base(path); len(base) > 255 {
			t.Errorf("file name of %d bytes: %s", len(base), base)
		}
	}
	// Live: a change to a hostile name and a plain ConfigMap still arrive.
	apply(t, role(`c\d`))
	kubectl(t, "create", "configmap", "later", "-n", ns, "--from-literal=v=later")
	eventually(t, 30*time.Second, "later changes in Git", func() error {
		if !strings.Contains(m.show(t, m.file("configmaps", "later")), "v: later") {
			return fmt.Errorf("configmap later not yet")
		}
		if !strings.Contains(m.show(t, "names/rbac.authorization.k8s.io/v1/roles/"+ns+"/c%5Cd.yaml"), `name: c\d`) {
			return fmt.Errorf(`role c\d not yet`)
		}
		return nil
	})
	// And a delete removes the encoded file.
	kubectl(t, "delete", "role", `a\b`, "-n", ns)
	eventually(t, 30*time.Second, `role a\b removed from Git`, func() error {
		if m.show(t, "names/rbac.authorization.k8s.io/v1/roles/"+ns+"/a%5Cb.yaml") != "" {
			return fmt.Errorf("still there")
		}
		return nil
	})
}

// committers lists the distinct committers (name <email>) of a repository's
// main branch.
func committers(t *testing.T, repo string) []string {
	t.Helper()
	out, err := exec.Command("git", "--git-dir", st.Git.RepoPath(repo), "log", "main", "--format=%cn <%ce>").CombinedOutput()
	if err != nil {
		t.Fatalf("git log: %v %s", err, out)
	}
	seen := map[string]bool{}
	var list []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l != "" && !seen[l] {
			seen[l] = true
			list = append(list, l)
		}
	}
	return list
}

// filesOf lists the files at a repository's main branch.
func filesOf(t *testing.T, repo string) []string {
	t.Helper()
	out, err := exec.Command("git", "--git-dir", st.Git.RepoPath(repo), "ls-tree", "-r", "--name-only", "main").CombinedOutput()
	if err != nil {
		t.Fatalf("git ls-tree: %v %s", err, out)
	}
	return strings.Fields(string(out))
}

// TestForeignProviderGetsItsOwnWorker: a tenant's GitProvider naming another
// team's repository URL (with no credentials) and a target at a path of its
// own, created before or after the team's, while the tenant forces re-syncs
// for two minutes: the team's commits all arrive and keep the team's
// committer, nothing of the tenant's reaches the branch, and the tenant's
// target writes through its own worker (another workerRef) and is not Ready.
func TestForeignProviderGetsItsOwnWorker(t *testing.T) {
	for _, tenantFirst := range []bool{false, true} {
		t.Run(fmt.Sprintf("tenantFirst=%v", tenantFirst), func(t *testing.T) {
			t.Parallel() // both orders in the same two minutes
			team := newNamespace(t, "team")
			tenant := tenantNamespace(t, "intruder", "intruder")
			foreignProvider(t, team, tenant, tenantFirst, 2*time.Minute)
		})
	}
}

func foreignProvider(t *testing.T, team, tenant string, tenantFirst bool, forFor time.Duration) {
	url := newRepo(t, team)
	const committer = "Team Bot <team-bot@example.com>"
	teamObjs := credentials(team) + fmt.Sprintf(`---
apiVersion: configbutler.ai/v1alpha1
kind: GitProvider
metadata: {name: origin, namespace: %[1]s}
spec:
  url: %[2]q
  secretRef: {name: git-credentials}
  allowedBranches: [main]
  push: {interval: 1s}
  commit: {committerName: Team Bot, committerEmail: team-bot@example.com}
---
apiVersion: configbutler.ai/v1alpha1
kind: GitTarget
metadata: {name: apps, namespace: %[1]s}
spec: {providerRef: {name: origin}, branch: main, path: team}
---
apiVersion: configbutler.ai/v1alpha1
kind: WatchRule
metadata: {name: cms, namespace: %[1]s}
spec: {targetRef: {name: apps}, rules: [{apiGroups: [""], resources: [configmaps]}]}
`, team, url)
	tenantObjs := fmt.Sprintf(`apiVersion: configbutler.ai/v1alpha1
kind: GitProvider
metadata: {name: borrowed, namespace: %[1]s}
spec: {url: %[2]q, allowedBranches: [main], push: {interval: 1s}}
---
apiVersion: configbutler.ai/v1alpha1
kind: GitTarget
metadata: {name: mine, namespace: %[1]s}
spec: {providerRef: {name: borrowed}, branch: main, path: tenant}
---
apiVersion: configbutler.ai/v1alpha1
kind: WatchRule
metadata: {name: cms, namespace: %[1]s}
spec: {targetRef: {name: mine}, rules: [{apiGroups: [""], resources: [configmaps]}]}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: tenant-data, namespace: %[1]s}
data: {v: from-the-tenant}
`, tenant, url)
	createTenant := func() {
		if out, err := createAs("intruder", tenantObjs); err != nil {
			t.Errorf("the tenant's objects: %v %s", err, out)
		}
	}
	if tenantFirst {
		createTenant()
		time.Sleep(2 * time.Second)
		apply(t, teamObjs)
	} else {
		apply(t, teamObjs)
		createTenant()
	}
	out, err := st.Kubectl("wait", "--for=condition=Ready", "gittarget/apps", "-n", team, "--timeout=90s")
	if err != nil {
		t.Errorf("tenantFirst=%v: the team's target is not Ready: %v %s", tenantFirst, err, out)
		return
	}
	// Two minutes of forced re-syncs by the tenant (a provider spec change
	// re-evaluates its targets, an annotation the target) while the team's
	// changes flow.
	deadline := time.Now().Add(forFor)
	n := 0
	for i := 0; time.Now().Before(deadline); i++ {
		interval := []string{"1s", "2s"}[i%2]
		if out, err := as("intruder", "patch", "gitprovider", "borrowed", "-n", tenant, "--type=merge", "-p", `{"spec":{"push":{"interval":"`+interval+`"}}}`); err != nil {
			t.Errorf("tenant patch: %v %s", err, out)
		}
		if out, err := as("intruder", "annotate", "--overwrite", "gittarget", "mine", "-n", tenant, "resync="+strconv.Itoa(i)); err != nil {
			t.Errorf("tenant annotate: %v %s", err, out)
		}
		if i%2 == 0 {
			kubectl(t, "create", "configmap", fmt.Sprintf("cm-%03d", n), "-n", team, "--from-literal=v="+strconv.Itoa(n))
			n++
		}
		time.Sleep(time.Second)
	}
	eventually(t, 60*time.Second, fmt.Sprintf("tenantFirst=%v: all %d team changes in Git", tenantFirst, n), func() error {
		files := strings.Join(filesOf(t, team), "\n")
		for i := 0; i < n; i++ {
			if !strings.Contains(files, fmt.Sprintf("team/v1/configmaps/%s/cm-%03d.yaml", team, i)) {
				return fmt.Errorf("cm-%03d missing", i)
			}
		}
		return nil
	})
	if cs := committers(t, team); len(cs) != 1 || cs[0] != committer {
		t.Errorf("tenantFirst=%v: committers of the team's branch %v, want only %q", tenantFirst, cs, committer)
	}
	for _, f := range filesOf(t, team) {
		if strings.HasPrefix(f, "tenant/") || strings.Contains(f, tenant) {
			t.Errorf("tenantFirst=%v: the tenant's file %s reached the team's branch", tenantFirst, f)
		}
	}
	teamWorker := kubectl(t, "get", "gittarget", "apps", "-n", team, "-o", "jsonpath={.status.workerRef.name}")
	tg, cs := targetConditions(t, tenant, "mine")
	if tg.Status.WorkerRef != nil && tg.Status.WorkerRef.Name == teamWorker {
		t.Errorf("tenantFirst=%v: the tenant's target shares the team's worker %q", tenantFirst, teamWorker)
	}
	for _, c := range cs {
		if c.Type == "Ready" && c.Status == "True" {
			t.Errorf("tenantFirst=%v: the tenant's target is Ready without credentials: %+v", tenantFirst, cs)
		}
	}
	t.Logf("tenantFirst=%v: %d team changes, team worker %q, tenant conditions %+v", tenantFirst, n, teamWorker, cs)
}

// TestPatchOntoAnotherTeamsPath: a target created first, at its own path,
// then patched onto the path another team's newer target writes, conflicts
// itself (without learning the other team's namespace or target); the other
// team stays Ready and keeps mirroring.
func TestPatchOntoAnotherTeamsPath(t *testing.T) {
	attacker := newNamespace(t, "early")
	victim := newNamespace(t, "victim")
	repo := "shared-by-" + attacker // named after neither team's namespace: the message must not name the victim's
	url := newRepo(t, repo)
	objs := func(ns, path string) string {
		return credentials(ns) + fmt.Sprintf(`---
apiVersion: configbutler.ai/v1alpha1
kind: GitProvider
metadata: {name: origin, namespace: %[1]s}
spec: {url: %[2]q, secretRef: {name: git-credentials}, allowedBranches: [main], push: {interval: 1s}}
---
apiVersion: configbutler.ai/v1alpha1
kind: GitTarget
metadata: {name: mirror, namespace: %[1]s}
spec: {providerRef: {name: origin}, branch: main, path: %[3]s}
---
apiVersion: configbutler.ai/v1alpha1
kind: WatchRule
metadata: {name: cms, namespace: %[1]s}
spec: {targetRef: {name: mirror}, rules: [{apiGroups: [""], resources: [configmaps]}]}
`, ns, url, path)
	}
	apply(t, objs(attacker, "early"))
	(&mirror{ns: attacker, repo: repo, path: "early"}).waitReady(t)
	time.Sleep(1100 * time.Millisecond) // a later creation (and claim) second
	apply(t, objs(victim, "shared"))
	v := &mirror{ns: victim, repo: repo, path: "shared"}
	v.waitReady(t)

	kubectl(t, "patch", "gittarget", "mirror", "-n", attacker, "--type=merge", "-p", `{"spec":{"path":"shared/inside"}}`)
	eventually(t, 30*time.Second, "the patched target conflicts", conditionIs(t, attacker, "mirror", "Validated", "False", "TargetConflict"))
	_, cs := targetConditions(t, attacker, "mirror")
	for _, c := range cs {
		if c.Type == "Validated" && (strings.Contains(c.Message, victim) || !strings.Contains(c.Message, "Another GitTarget already writes")) {
			t.Errorf("the conflict message names the other team or says nothing: %q", c.Message)
		}
	}
	kubectl(t, "create", "configmap", "after", "-n", victim, "--from-literal=v=after")
	eventually(t, 30*time.Second, "the victim keeps mirroring", func() error {
		if !strings.Contains(v.show(t, v.file("configmaps", "after")), "v: after") {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	if err := conditionIs(t, victim, "mirror", "Ready", "True", "OK")(); err != nil {
		t.Errorf("the victim is not Ready: %v", err)
	}
}

// TestSquatterHoldsNoPlace: a target created first at the root of another
// team's repository, through a provider without credentials that work there,
// does not keep the team's newer target out: the team's target becomes Ready
// and mirrors, and the squatter then conflicts.
func TestSquatterHoldsNoPlace(t *testing.T) {
	squatter := tenantNamespace(t, "squat", "squatter")
	team := newNamespace(t, "owner")
	url := newRepo(t, team)
	if out, err := createAs("squatter", fmt.Sprintf(`apiVersion: configbutler.ai/v1alpha1
kind: GitProvider
metadata: {name: borrowed, namespace: %[1]s}
spec: {url: %[2]q, allowedBranches: [main]}
---
apiVersion: configbutler.ai/v1alpha1
kind: GitTarget
metadata: {name: root, namespace: %[1]s}
spec: {providerRef: {name: borrowed}, branch: main, path: ""}
`, squatter, url)); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	eventually(t, 30*time.Second, "the squatter's bootstrap fails", conditionIs(t, squatter, "root", "Bootstrapped", "False", "BootstrapFailed"))
	m := &mirror{ns: team, repo: team, path: "apps"}
	apply(t, credentials(team)+fmt.Sprintf(`---
apiVersion: configbutler.ai/v1alpha1
kind: GitProvider
metadata: {name: origin, namespace: %[1]s}
spec: {url: %[2]q, secretRef: {name: git-credentials}, allowedBranches: [main], push: {interval: 1s}}
---
apiVersion: configbutler.ai/v1alpha1
kind: GitTarget
metadata: {name: mirror, namespace: %[1]s}
spec: {providerRef: {name: origin}, branch: main, path: apps}
---
apiVersion: configbutler.ai/v1alpha1
kind: WatchRule
metadata: {name: cms, namespace: %[1]s}
spec: {targetRef: {name: mirror}, rules: [{apiGroups: [""], resources: [configmaps]}]}
`, team, url))
	m.waitReady(t)
	eventually(t, 30*time.Second, "the squatter conflicts once the team claimed its place", conditionIs(t, squatter, "root", "Validated", "False", "TargetConflict"))
	if got := kubectl(t, "get", "gittarget", "mirror", "-n", team, "-o", "jsonpath={.status.claim.path}"); got != "apps" {
		t.Errorf("the team's claim path %q", got)
	}
}
