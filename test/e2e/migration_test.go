package e2e

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"sigs.k8s.io/yaml"
)

// seedManifests are a GitProvider, GitTarget, WatchRule and ClusterWatchRule
// written as gitops-reverser v0.16-v0.17's quickstart and end-to-end
// manifests write them: group and kind on every reference, a secretRef
// with its kind, push.maxCommits, the age block with its recipients, rules
// without apiGroups and with operations.
func seedManifests(ns, url, publicKey string) []string {
	return []string{fmt.Sprintf(`apiVersion: configbutler.ai/v1alpha1
kind: GitProvider
metadata: {name: origin, namespace: %[1]s}
spec:
  url: %[2]q
  allowedBranches: ["main"]
  secretRef: {name: git-credentials, kind: Secret}
  push: {interval: 1s, maxCommits: 20}
`, ns, url), fmt.Sprintf(`apiVersion: configbutler.ai/v1alpha1
kind: GitTarget
metadata: {name: seed, namespace: %[1]s}
spec:
  providerRef: {group: configbutler.ai, kind: GitProvider, name: origin}
  branch: main
  path: clusters/seed
  encryption:
    provider: sops
    secretRef: {name: sops-age-key}
    age:
      enabled: true
      recipients:
        publicKeys: [%[2]s]
        extractFromSecret: true
        generateWhenMissing: true
`, ns, publicKey), fmt.Sprintf(`apiVersion: configbutler.ai/v1alpha1
kind: WatchRule
metadata: {name: config, namespace: %[1]s}
spec:
  targetRef: {group: configbutler.ai, kind: GitTarget, name: seed}
  rules:
  - operations: [CREATE, UPDATE]
    resources: [configmaps, secrets]
`, ns), fmt.Sprintf(`apiVersion: configbutler.ai/v1alpha1
kind: ClusterWatchRule
metadata: {name: %[1]s}
spec:
  targetRef: {kind: GitTarget, name: seed, namespace: %[1]s}
  rules:
  - operations: ["*"]
    resources: [priorityclasses]
    scope: Cluster
`, ns)}
}

// ageIdentity makes an age key pair, as a team would with age-keygen.
func ageIdentity(t *testing.T) *age.X25519Identity {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestSeedManifestsApplyAsTheyAre: the seed system's manifests apply
// unchanged (server-side apply) and mirror with their meaning: kubectl get
// returns what was applied, kubectl explain shows the fields, rules without
// apiGroups select every group, [CREATE, UPDATE] keeps a deleted
// ConfigMap's file, and the real sops decrypts every Secret with only the
// team's own key (no cluster, no server key), and with a second key added
// later, the files already written too.
func TestSeedManifestsApplyAsTheyAre(t *testing.T) {
	ns := newNamespace(t, "seed")
	url := newRepo(t, ns)
	team := ageIdentity(t)
	apply(t, credentials(ns))
	manifests := seedManifests(ns, url, team.Recipient().String())
	apply(t, strings.Join(manifests, "---\n"))
	t.Cleanup(func() { _, _ = st.Kubectl("delete", "clusterwatchrule", ns, "--ignore-not-found") })
	m := &mirror{ns: ns, repo: ns, path: "clusters/seed"}
	if out, err := st.Kubectl("wait", "--for=condition=Ready", "gittarget/seed", "-n", ns, "--timeout=90s"); err != nil {
		_, cs := targetConditions(t, ns, "seed")
		t.Fatalf("the seed's target is not Ready: %v\n%s\n%+v", err, out, cs)
	}

	// What was applied is what kubectl get returns (defaults besides).
	for i, kind := range []string{"gitprovider/origin", "gittarget/seed", "watchrule/config", "clusterwatchrule/" + ns} {
		var applied map[string]interface{}
		if err := yaml.Unmarshal([]byte(manifests[i]), &applied); err != nil {
			t.Fatal(err)
		}
		args := []string{"get", kind, "-o", "json"}
		if !strings.HasPrefix(kind, "clusterwatchrule") {
			args = append(args, "-n", ns)
		}
		var got map[string]interface{}
		if err := json.Unmarshal([]byte(kubectl(t, args...)), &got); err != nil {
			t.Fatal(err)
		}
		if path, ok := holds(got["spec"], applied["spec"], "spec"); !ok {
			t.Errorf("%s: kubectl get lost %s of what was applied:\n%s", kind, path, kubectl(t, append(args[:2], "-o", "yaml", "-n", ns)...))
		}
	}
	for _, field := range []string{"gitprovider.spec.push.maxCommits", "gittarget.spec.encryption.age.recipients.publicKeys",
		"watchrule.spec.rules.operations", "clusterwatchrule.spec.targetRef.kind", "gittarget.spec.providerRef.group"} {
		if out, err := st.Kubectl("explain", field); err != nil || !strings.Contains(out, "FIELD:") {
			t.Errorf("kubectl explain %s: %v\n%s", field, err, out)
		}
	}

	// A rule without apiGroups: a PriorityClass (scheduling.k8s.io).
	pc := "seed-" + ns
	apply(t, fmt.Sprintf("apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata: {name: %s}\nvalue: 1000\n", pc))
	t.Cleanup(func() { _, _ = st.Kubectl("delete", "priorityclass", pc, "--ignore-not-found") })
	waitFile(t, m, fmt.Sprintf("clusters/seed/scheduling.k8s.io/v1/priorityclasses/%s.yaml", pc), "value: 1000")

	// [CREATE, UPDATE]: created and updated, and kept when deleted.
	kubectl(t, "create", "configmap", "archived", "-n", ns, "--from-literal=v=1")
	waitFile(t, m, m.file("configmaps", "archived"), "v: \"1\"")
	kubectl(t, "patch", "configmap", "archived", "-n", ns, "-p", `{"data":{"v":"2"}}`)
	waitFile(t, m, m.file("configmaps", "archived"), "v: \"2\"")
	kubectl(t, "delete", "configmap", "archived", "-n", ns)
	kubectl(t, "create", "configmap", "after-delete", "-n", ns, "--from-literal=v=1")
	waitFile(t, m, m.file("configmaps", "after-delete"), "v: \"1\"")
	if !strings.Contains(m.show(t, m.file("configmaps", "archived")), "v: \"2\"") {
		t.Errorf("a deleted ConfigMap's file left Git under [CREATE, UPDATE]")
	}

	// Secrets: the team's key alone decrypts them with the real sops.
	kubectl(t, "create", "secret", "generic", "db", "-n", ns, "--from-literal=password=hunter2")
	secret := m.file("secrets", "db")
	eventually(t, 30*time.Second, "the Secret in Git", func() error {
		if m.show(t, secret) == "" {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	enc := m.show(t, secret)
	if strings.Contains(enc, "hunter2") || strings.Contains(enc, "aHVudGVyMg==") {
		t.Fatalf("the Secret is in Git in plaintext:\n%s", enc)
	}
	if out := sopsDecrypt(t, team.String(), enc); !strings.Contains(out, "aHVudGVyMg==") {
		t.Fatalf("sops -d with the team's key:\n%s", out)
	}
	// Every Secret the target wrote (the credentials too), with that key alone.
	secrets := 0
	for _, f := range filesOf(t, m.repo) {
		if strings.HasPrefix(f, "clusters/seed/v1/secrets/") {
			secrets++
			if out := sopsDecrypt(t, team.String(), m.show(t, f)); !strings.Contains(out, "kind: Secret") {
				t.Errorf("sops -d of %s with the team's key:\n%s", f, out)
			}
		}
	}
	if secrets < 2 {
		t.Errorf("%d Secrets in Git, want the credentials and db", secrets)
	}

	// A second key later: the files already there are encrypted to it too.
	second := ageIdentity(t)
	kubectl(t, "patch", "gittarget", "seed", "-n", ns, "--type=json", "-p",
		fmt.Sprintf(`[{"op":"add","path":"/spec/encryption/age/recipients/publicKeys/-","value":%q}]`, second.Recipient().String()))
	eventually(t, 60*time.Second, "the Secret re-encrypted to the second key", func() error {
		if !strings.Contains(m.show(t, secret), second.Recipient().String()) {
			return fmt.Errorf("not yet encrypted to %s", second.Recipient())
		}
		return nil
	})
	if out := sopsDecrypt(t, second.String(), m.show(t, secret)); !strings.Contains(out, "aHVudGVyMg==") {
		t.Errorf("sops -d with the second key:\n%s", out)
	}
	if out := sopsDecrypt(t, team.String(), m.show(t, secret)); !strings.Contains(out, "aHVudGVyMg==") {
		t.Errorf("sops -d with the first key after the second was added:\n%s", out)
	}
}

// TestBothSpellingsApply: server-side apply of a GitTarget in our spelling,
// then in the seed's, then in ours again (one field manager: what it leaves
// out is removed): each is stored as written and means the same
// (encryption on, a key generated).
func TestBothSpellingsApply(t *testing.T) {
	ns := newNamespace(t, "spell")
	url := newRepo(t, ns)
	apply(t, credentials(ns)+"---\n"+originProvider(ns, url))
	ours := fmt.Sprintf(`apiVersion: configbutler.ai/v1alpha1
kind: GitTarget
metadata: {name: t, namespace: %s}
spec:
  providerRef: {name: origin}
  branch: main
  path: ours
  encryption: {secretRef: {name: key}, generateWhenMissing: true}
`, ns)
	seed := fmt.Sprintf(`apiVersion: configbutler.ai/v1alpha1
kind: GitTarget
metadata: {name: t, namespace: %s}
spec:
  providerRef: {group: configbutler.ai, kind: GitProvider, name: origin}
  branch: main
  path: ours
  encryption:
    provider: sops
    secretRef: {name: key, kind: Secret}
    age: {enabled: true, recipients: {extractFromSecret: true, generateWhenMissing: true}}
`, ns)
	for i, doc := range []string{ours, seed, ours} {
		out, err := st.KubectlStdin(st.AdminKubeconfig, []byte(doc), "apply", "--server-side", "--field-manager=spelling", "-f", "-")
		if err != nil {
			t.Fatalf("server-side apply %d: %v\n%s", i, err, out)
		}
		age := kubectl(t, "get", "gittarget", "t", "-n", ns, "-o", "jsonpath={.spec.encryption.age}")
		if (i == 1) != (age != "") {
			t.Errorf("apply %d: the age block is %q", i, age)
		}
	}
	if out, err := st.Kubectl("wait", "--for=condition=Ready", "gittarget/t", "-n", ns, "--timeout=90s"); err != nil {
		t.Fatalf("not Ready: %v\n%s", err, out)
	}
	if out := kubectl(t, "get", "secret", "key", "-n", ns, "-o", "name"); !strings.Contains(out, "secret/key") {
		t.Errorf("no key generated: %s", out)
	}
}

// holds reports whether got holds every field of want (maps by key, lists
// and values as they are), and the first path where it does not.
func holds(got, want interface{}, path string) (string, bool) {
	wm, ok := want.(map[string]interface{})
	if !ok {
		return path, reflect.DeepEqual(got, want)
	}
	gm, ok := got.(map[string]interface{})
	if !ok {
		return path, false
	}
	for k, v := range wm {
		if p, ok := holds(gm[k], v, path+"."+k); !ok {
			return p, false
		}
	}
	return "", true
}
