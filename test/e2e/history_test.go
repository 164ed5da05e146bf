package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
)

// History and restore through kubectl: ObjectRevisions served from Git,
// GitRestores written as the user who creates them.

// revisionsOf lists the revisions of one object as user ("" for the
// administrator), newest first.
func revisionsOf(t *testing.T, user, ns, kind, name string) ([]v1alpha1.ObjectRevision, error) {
	t.Helper()
	args := []string{"get", "objectrevisions", "-n", ns, "--field-selector", "object.kind=" + kind + ",object.name=" + name, "-o", "json"}
	if user != "" {
		args = append([]string{"--as=" + user}, args...)
	}
	out, err := st.Kubectl(args...)
	if err != nil {
		return nil, fmt.Errorf("%v: %s", err, out)
	}
	var l v1alpha1.ObjectRevisionList
	if err := json.Unmarshal([]byte(out), &l); err != nil {
		return nil, err
	}
	return l.Items, nil
}

// revision gets one revision (with content and diff) as the administrator.
func revision(t *testing.T, ns, name string) v1alpha1.ObjectRevision {
	t.Helper()
	var r v1alpha1.ObjectRevision
	if err := json.Unmarshal([]byte(kubectl(t, "get", "objectrevision", name, "-n", ns, "-o", "json")), &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// clusterAdmin binds user to cluster-admin: restores impersonate their
// author, and kube-apiserver refuses to impersonate system:masters (the
// stack's administrator), so administrators restore as such a user.
func clusterAdmin(t *testing.T, user string) {
	t.Helper()
	if out, err := st.Kubectl("create", "clusterrolebinding", user+"-cluster-admin", "--clusterrole=cluster-admin", "--user="+user); err != nil && !strings.Contains(out, "already exists") {
		t.Fatalf("%v %s", err, out)
	}
	eventually(t, 20*time.Second, user+" is cluster-admin", func() error {
		_, err := as(user, "auth", "can-i", "create", "namespaces")
		return err
	})
}

// editor binds the built-in edit role to user in ns (our kinds, ConfigMaps,
// Secrets and ObjectRevisions through the aggregated roles).
func editor(t *testing.T, ns, user string) {
	t.Helper()
	kubectl(t, "create", "rolebinding", user+"-edit", "-n", ns, "--clusterrole=edit", "--user="+user)
}

// TestObjectRevisions: a ConfigMap created by alice, updated by bob and
// deleted by the administrator has three revisions, newest first, with those
// authors and the content and diff of each; a user who may not get
// ConfigMaps there sees none of them; a Secret's revisions hold no plaintext.
func TestObjectRevisions(t *testing.T) {
	m := newMirror(t, "history", true, "")
	editor(t, m.ns, "alice")
	editor(t, m.ns, "bob")
	kubectl(t, "create", "rolebinding", "carol-view", "-n", m.ns, "--clusterrole=gitops-reverser:view", "--user=carol")
	eventually(t, 20*time.Second, "RBAC in effect", func() error {
		_, err := as("bob", "auth", "can-i", "patch", "configmaps", "-n", m.ns)
		return err
	})
	mustAs := func(user string, args ...string) {
		t.Helper()
		if out, err := as(user, args...); err != nil {
			t.Fatalf("%s: %v %s", user, err, out)
		}
	}
	mustAs("alice", "create", "configmap", "hello", "-n", m.ns, "--from-literal=greeting=hi")
	waitFile(t, m, m.file("configmaps", "hello"), "greeting: hi")
	mustAs("bob", "patch", "configmap", "hello", "-n", m.ns, "--type=merge", "-p", `{"data":{"greeting":"hello"}}`)
	waitFile(t, m, m.file("configmaps", "hello"), "greeting: hello")
	kubectl(t, "delete", "configmap", "hello", "-n", m.ns)
	kubectl(t, "create", "secret", "generic", "db", "-n", m.ns, "--from-literal=password=hunter2-in-history")
	eventually(t, 30*time.Second, "the delete and the Secret in Git", func() error {
		if m.show(t, m.file("configmaps", "hello")) != "" || m.show(t, m.file("secrets", "db")) == "" {
			return fmt.Errorf("not yet")
		}
		return nil
	})

	var revs []v1alpha1.ObjectRevision
	eventually(t, 30*time.Second, "three revisions of hello", func() error {
		var err error
		if revs, err = revisionsOf(t, "", m.ns, "ConfigMap", "hello"); err != nil {
			return err
		}
		if len(revs) != 3 {
			return fmt.Errorf("%d revisions", len(revs))
		}
		return nil
	})
	want := []struct{ op, user, content, diff string }{
		{"Delete", "admin", "greeting: hello", "-  greeting: hello"},
		{"Update", "bob", "greeting: hello", "+  greeting: hello"},
		{"Create", "alice", "greeting: hi", "+  greeting: hi"},
	}
	for i, w := range want {
		r := revs[i]
		if r.Operation != w.op || r.Author.User != w.user || r.Object.Kind != "ConfigMap" || r.Object.Name != "hello" || r.Object.Namespace != m.ns ||
			r.Target.Name != "mirror" || r.Content != "" {
			t.Errorf("revision %d: %+v, want %s by %s (no content in a list)", i, r, w.op, w.user)
		}
		full := revision(t, m.ns, r.Name)
		if !strings.Contains(full.Content, w.content) || !strings.Contains(full.Diff, w.diff) || full.Commit != r.Commit {
			t.Errorf("revision %d (%s): content\n%s\ndiff\n%s\nwant %q and %q", i, r.Name, full.Content, full.Diff, w.content, w.diff)
		}
	}
	if !revs[0].Time.After(revs[2].Time.Time) && !revs[0].Time.Equal(&revs[2].Time) {
		t.Errorf("not newest first: %v then %v", revs[0].Time, revs[2].Time)
	}
	table := kubectl(t, "get", "objectrevisions", "-n", m.ns, "--field-selector", "object.kind=ConfigMap,object.name=hello")
	for _, col := range []string{"OBJECT", "OPERATION", "AUTHOR", "COMMIT", "TARGET", "AGE", "ConfigMap/hello", "Delete", "bob", "alice", m.ns + "/mirror"} {
		if !strings.Contains(table, col) {
			t.Errorf("kubectl get objectrevisions lacks %q:\n%s", col, table)
		}
	}
	// carol may list revisions (the view role) but not get ConfigMaps: she
	// sees none of them, not even by name.
	if got, err := revisionsOf(t, "carol", m.ns, "ConfigMap", "hello"); err != nil || len(got) != 0 {
		t.Errorf("carol sees %d revisions (%v)", len(got), err)
	}
	if out, err := as("carol", "get", "objectrevision", revs[1].Name, "-n", m.ns); err == nil || !strings.Contains(out, "NotFound") {
		t.Errorf("carol got bob's revision by name: %v %s", err, out)
	}
	// An object whose name is too long for a file name: its revisions are
	// found by that name, and carry it.
	long := strings.Repeat("n", 253) // 253+".yaml" > 255: a shortened file name
	kubectl(t, "create", "configmap", long, "-n", m.ns, "--from-literal=k=v")
	eventually(t, 30*time.Second, "the long-named ConfigMap's revision", func() error {
		got, err := revisionsOf(t, "", m.ns, "ConfigMap", long)
		if err != nil || len(got) != 1 {
			return fmt.Errorf("%d revisions (%v)", len(got), err)
		}
		if got[0].Object.Name != long || revision(t, m.ns, got[0].Name).Object.Name != long {
			t.Fatalf("the long-named revision lost its name: listed %+v, got %+v", got[0].Object, revision(t, m.ns, got[0].Name).Object)
		}
		return nil
	})
	// A Secret's revision holds what Git holds: encrypted.
	secrets, err := revisionsOf(t, "", m.ns, "Secret", "db")
	if err != nil || len(secrets) != 1 {
		t.Fatalf("secret revisions: %v %v", secrets, err)
	}
	full := revision(t, m.ns, secrets[0].Name)
	if strings.Contains(full.Content+full.Diff, "hunter2") || strings.Contains(full.Content+full.Diff, "aHVudGVyMi1pbi1oaXN0b3J5") || !strings.Contains(full.Content, "ENC[") {
		t.Errorf("the Secret's revision is not as Git holds it (encrypted):\n%s\n%s", full.Content, full.Diff)
	}
}

// waitFile waits until a mirrored file holds want.
func waitFile(t *testing.T, m *mirror, path, want string) {
	t.Helper()
	eventually(t, 30*time.Second, path+" holds "+want, func() error {
		if !strings.Contains(m.show(t, path), want) {
			return fmt.Errorf("not yet")
		}
		return nil
	})
}

// restoreStatus waits for a GitRestore to finish and returns it.
func restoreStatus(t *testing.T, ns, name string) v1alpha1.GitRestore {
	t.Helper()
	var gr v1alpha1.GitRestore
	eventually(t, 90*time.Second, "GitRestore "+name+" complete", func() error {
		out, err := st.Kubectl("get", "gitrestore", name, "-n", ns, "-o", "json")
		if err != nil {
			return fmt.Errorf("%v %s", err, out)
		}
		if err := json.Unmarshal([]byte(out), &gr); err != nil {
			return err
		}
		for _, c := range gr.Status.Conditions {
			if c.Type == "Complete" && c.Status != "Unknown" {
				return nil
			}
		}
		return fmt.Errorf("not complete: %+v", gr.Status.Conditions)
	})
	return gr
}

// TestRestoreARevision: bob's revision of a deleted ConfigMap, restored by a
// user who may not create ConfigMaps there, fails per object (Forbidden) and
// writes nothing; restored by erin, a cluster-admin, it brings the ConfigMap
// back with bob's content, committed authored by erin.
func TestRestoreARevision(t *testing.T) {
	m := newMirror(t, "restore1", false, "")
	editor(t, m.ns, "bob")
	kubectl(t, "create", "rolebinding", "dave", "-n", m.ns, "--clusterrole=gitops-reverser:edit", "--user=dave")
	eventually(t, 20*time.Second, "RBAC in effect", func() error {
		_, err := as("dave", "auth", "can-i", "create", "gitrestores.configbutler.ai", "-n", m.ns)
		return err
	})
	kubectl(t, "create", "configmap", "settings", "-n", m.ns, "--from-literal=mode=first")
	waitFile(t, m, m.file("configmaps", "settings"), "mode: first")
	if out, err := as("bob", "patch", "configmap", "settings", "-n", m.ns, "--type=merge", "-p", `{"data":{"mode":"bobs"}}`); err != nil {
		t.Fatal(err, out)
	}
	waitFile(t, m, m.file("configmaps", "settings"), "mode: bobs")
	kubectl(t, "patch", "configmap", "settings", "-n", m.ns, "--type=merge", "-p", `{"data":{"mode":"later"}}`)
	waitFile(t, m, m.file("configmaps", "settings"), "mode: later")
	kubectl(t, "delete", "configmap", "settings", "-n", m.ns)
	var bobs string
	eventually(t, 30*time.Second, "bob's revision", func() error {
		revs, err := revisionsOf(t, "", m.ns, "ConfigMap", "settings")
		if err != nil {
			return err
		}
		for _, r := range revs {
			if r.Author.User == "bob" && r.Operation == "Update" {
				bobs = r.Name
			}
		}
		if bobs == "" || revs[0].Operation != "Delete" {
			return fmt.Errorf("revisions %d", len(revs))
		}
		return nil
	})
	restoreYAML := func(name string) string {
		return fmt.Sprintf("apiVersion: configbutler.ai/v1alpha1\nkind: GitRestore\nmetadata: {name: %s, namespace: %s}\nspec: {objectRevision: %s}\n", name, m.ns, bobs)
	}
	// dave may create GitRestores but not ConfigMaps: Forbidden, per object.
	if out, err := createAs("dave", restoreYAML("by-dave")); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	gr := restoreStatus(t, m.ns, "by-dave")
	if len(gr.Status.Objects) != 1 || gr.Status.Objects[0].Result != "Failed" || gr.Status.Objects[0].Reason != "Forbidden" || gr.Status.AuthorizedBy.Username != "dave" {
		t.Errorf("dave's restore: %+v", gr.Status)
	}
	if out, err := st.Kubectl("get", "configmap", "settings", "-n", m.ns); err == nil {
		t.Fatalf("dave's restore wrote the ConfigMap: %s", out)
	}
	// erin's restore.
	clusterAdmin(t, "erin")
	before := tip(t, m.repo)
	if out, err := createAs("erin", restoreYAML("by-erin")); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	gr = restoreStatus(t, m.ns, "by-erin")
	if len(gr.Status.Objects) != 1 || gr.Status.Objects[0].Result != "Created" || gr.Status.Summary.Created != 1 {
		t.Fatalf("erin's restore: %+v", gr.Status)
	}
	if got := kubectl(t, "get", "configmap", "settings", "-n", m.ns, "-o", "jsonpath={.data.mode}"); got != "bobs" {
		t.Fatalf("restored mode %q, want bobs", got)
	}
	eventually(t, 30*time.Second, "the restore committed, authored erin", func() error {
		for _, c := range commitLog(t, m.repo, before) {
			if strings.Contains(c, "erin") && strings.Contains(c, "settings.yaml") {
				return nil
			}
		}
		return fmt.Errorf("commits %v", commitLog(t, m.repo, before))
	})
}

// TestRestoreADeletedNamespace: a namespace holding a Deployment, a Service,
// ConfigMaps, a ServiceAccount and a Secret, mirrored by a platform team's
// target, is deleted; a dry run of its restore writes nothing and lists every
// object; the restore from the commit before the deletion brings everything
// back, the Secret's data equal to the original plaintext.
func TestRestoreADeletedNamespace(t *testing.T) {
	platform := newNamespace(t, "platform")
	app := fmt.Sprintf("app-%d", seq.Add(1))
	repo := platform
	url := newRepo(t, repo)
	apply(t, credentials(platform)+fmt.Sprintf(`---
apiVersion: configbutler.ai/v1alpha1
kind: GitProvider
metadata: {name: origin, namespace: %[1]s}
spec: {url: %[2]q, secretRef: {name: git-credentials}, allowedBranches: [main], push: {interval: 1s}}
---
apiVersion: configbutler.ai/v1alpha1
kind: GitTarget
metadata: {name: mirror, namespace: %[1]s}
spec:
  providerRef: {name: origin}
  branch: main
  path: cluster
  encryption: {provider: sops, secretRef: {name: sops-age-key}, generateWhenMissing: true}
---
apiVersion: configbutler.ai/v1alpha1
kind: ClusterWatchRule
metadata: {name: %[3]s}
spec:
  targetRef: {name: mirror, namespace: %[1]s}
  rules:
  - {apiGroups: [""], resources: [configmaps, secrets, serviceaccounts, services], scope: Namespaced, namespaceSelector: {matchLabels: {restore-e2e: %[3]s}}}
  - {apiGroups: [apps], resources: [deployments], scope: Namespaced, namespaceSelector: {matchLabels: {restore-e2e: %[3]s}}}
  - {apiGroups: [""], resources: [namespaces], scope: Cluster, labelSelector: {matchLabels: {restore-e2e: %[3]s}}}
`, platform, url, app))
	t.Cleanup(func() { st.Kubectl("delete", "clusterwatchrule", app, "--ignore-not-found") })
	apply(t, fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata: {name: %[1]s, labels: {restore-e2e: %[1]s}}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: worker, namespace: %[1]s}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: %[1]s}
data: {mode: production}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: features, namespace: %[1]s}
data: {flags: "a,b"}
---
apiVersion: v1
kind: Secret
metadata: {name: db, namespace: %[1]s}
stringData: {password: hunter2-restored}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: %[1]s}
spec: {selector: {app: web}, ports: [{port: 80, targetPort: 8080}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: %[1]s}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      serviceAccountName: worker
      containers: [{name: web, image: registry.example/web:1, envFrom: [{configMapRef: {name: settings}}]}]
`, app))
	files := []string{
		"cluster/v1/namespaces/" + app + ".yaml",
		"cluster/v1/serviceaccounts/" + app + "/worker.yaml",
		"cluster/v1/configmaps/" + app + "/settings.yaml",
		"cluster/v1/configmaps/" + app + "/features.yaml",
		"cluster/v1/secrets/" + app + "/db.sops.yaml",
		"cluster/v1/services/" + app + "/web.yaml",
		"cluster/apps/v1/deployments/" + app + "/web.yaml",
	}
	eventually(t, 90*time.Second, "the namespace mirrored", func() error {
		have := strings.Join(filesOf(t, repo), "\n")
		for _, f := range files {
			if !strings.Contains(have, f) {
				return fmt.Errorf("%s missing", f)
			}
		}
		return nil
	})
	before := tip(t, repo)
	kubectl(t, "delete", "namespace", app, "--wait=true", "--timeout=120s")
	eventually(t, 60*time.Second, "the deletion committed", func() error {
		if strings.Contains(strings.Join(filesOf(t, repo), "\n"), "/"+app+"/") {
			return fmt.Errorf("files of %s still in Git", app)
		}
		return nil
	})
	restoreYAML := func(name string) string {
		return fmt.Sprintf("apiVersion: configbutler.ai/v1alpha1\nkind: GitRestore\nmetadata: {name: %s, namespace: %s}\nspec: {target: {name: mirror}, commit: %q, namespaces: [%s]}\n",
			name, platform, before, app)
	}
	// The dry run: every object listed, nothing written.
	clusterAdmin(t, "erin")
	out, err := st.KubectlStdin(st.AdminKubeconfig, []byte(restoreYAML("plan")), "--as=erin", "create", "--dry-run=server", "-o", "json", "-f", "-")
	if err != nil {
		t.Fatalf("dry run: %v %s", err, out)
	}
	var plan v1alpha1.GitRestore
	if err := json.Unmarshal([]byte(out), &plan); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	planned := map[string]string{}
	for _, o := range plan.Status.Objects {
		planned[o.Kind+"/"+o.Name] = o.Result
	}
	for _, k := range []string{"Namespace/" + app, "ServiceAccount/worker", "ConfigMap/settings", "ConfigMap/features", "Secret/db", "Service/web", "Deployment/web"} {
		if planned[k] != "Create" {
			t.Errorf("the plan does not create %s: %v", k, planned)
		}
	}
	if strings.Contains(out, "hunter2") {
		t.Errorf("the plan shows the Secret's value:\n%s", out)
	}
	if out, err := st.Kubectl("get", "namespace", app); err == nil {
		t.Fatalf("the dry run wrote the namespace: %s", out)
	}
	// The restore.
	if out, err := createAs("erin", restoreYAML("back")); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	gr := restoreStatus(t, platform, "back")
	if gr.Status.Summary.Failed != 0 || gr.Status.Summary.Created != 7 || gr.Status.Commit != before {
		t.Fatalf("restore: %+v", gr.Status)
	}
	if got := kubectl(t, "get", "secret", "db", "-n", app, "-o", "jsonpath={.data.password}"); got != "aHVudGVyMi1yZXN0b3JlZA==" {
		t.Errorf("restored Secret data %q, want base64 of hunter2-restored", got)
	}
	for _, obj := range []string{"serviceaccount/worker", "configmap/settings", "configmap/features", "service/web", "deployment/web"} {
		kubectl(t, "get", obj, "-n", app)
	}
	if got := kubectl(t, "get", "configmap", "settings", "-n", app, "-o", "jsonpath={.data.mode}"); got != "production" {
		t.Errorf("restored settings mode %q", got)
	}
	kubectl(t, "delete", "namespace", app, "--wait=false")
}
