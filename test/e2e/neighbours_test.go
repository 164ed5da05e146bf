package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/configbutler/gitops-reverser/test/stack"
)

// TestNeighboursStayOutOfGit: under a wildcard rule, a Helm release Secret
// (rewritten on every upgrade) never reaches Git while other Secrets do,
// and an object Argo CD and Flux manage is mirrored without their tracking
// annotation and owner labels (its own labels kept).
func TestNeighboursStayOutOfGit(t *testing.T) {
	m := newMirror(t, "neighbours", true, "")
	apply(t, fmt.Sprintf(`apiVersion: configbutler.ai/v1alpha1
kind: WatchRule
metadata: {name: everything, namespace: %[1]s}
spec:
  targetRef: {name: mirror}
  rules: [{apiGroups: ["*"], resources: ["*"]}]
---
apiVersion: v1
kind: Secret
metadata:
  name: sh.helm.release.v1.app.v1
  namespace: %[1]s
  labels: {owner: helm, name: app, status: deployed, version: "1"}
type: helm.sh/release.v1
stringData: {release: H4sIAAAAAAAA}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: managed
  namespace: %[1]s
  annotations: {argocd.argoproj.io/tracking-id: "app:/ConfigMap:%[1]s/managed"}
  labels: {app: web, kustomize.toolkit.fluxcd.io/name: apps, kustomize.toolkit.fluxcd.io/namespace: flux-system}
data: {k: v}
---
apiVersion: v1
kind: Secret
metadata: {name: plain, namespace: %[1]s}
stringData: {k: v}
`, m.ns))
	waitFile(t, m, m.file("configmaps", "managed"), "app: web")
	eventually(t, 30*time.Second, "the plain Secret in Git", func() error {
		if m.show(t, m.file("secrets", "plain")) == "" {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	cm := m.show(t, m.file("configmaps", "managed"))
	for _, gone := range []string{"argocd.argoproj.io", "kustomize.toolkit.fluxcd.io"} {
		if strings.Contains(cm, gone) {
			t.Errorf("%s reached Git:\n%s", gone, cm)
		}
	}
	for _, f := range filesOf(t, m.repo) {
		if strings.Contains(f, "sh.helm.release") {
			t.Errorf("a Helm release record reached Git: %s", f)
		}
	}
}

// TestIgnoreChangesBy: with ignoreChangesBy naming a ServiceAccount (as a
// GitOps tool's), the changes it makes are not committed, while a human's
// are; its change to an object a human made is not either.
func TestIgnoreChangesBy(t *testing.T) {
	m := newMirror(t, "ignore", false, "  ignoreChangesBy: {serviceAccounts: [{name: flux-bot}]}\n")
	bot := "system:serviceaccount:" + m.ns + ":flux-bot"
	kubectl(t, "create", "serviceaccount", "flux-bot", "-n", m.ns)
	kubectl(t, "create", "rolebinding", "flux-bot", "--clusterrole=edit", "--serviceaccount="+m.ns+":flux-bot", "-n", m.ns)
	before := m.commits(t)

	if out, err := as(bot, "create", "configmap", "bot-made", "-n", m.ns, "--from-literal=v=1"); err != nil {
		t.Fatalf("the bot's create: %v\n%s", err, out)
	}
	kubectl(t, "create", "configmap", "human-made", "-n", m.ns, "--from-literal=v=1")
	waitFile(t, m, m.file("configmaps", "human-made"), "v: \"1\"")
	if out, err := as(bot, "patch", "configmap", "human-made", "-n", m.ns, "-p", `{"data":{"v":"bot"}}`); err != nil {
		t.Fatalf("the bot's patch: %v\n%s", err, out)
	}
	// A human's change after the bot's: once it is in Git, the bot's were
	// handled (a worker flushes in order), and left out.
	kubectl(t, "create", "configmap", "barrier", "-n", m.ns, "--from-literal=v=1")
	waitFile(t, m, m.file("configmaps", "barrier"), "v: \"1\"")
	if f := m.show(t, m.file("configmaps", "bot-made")); f != "" {
		t.Errorf("the bot's ConfigMap was committed:\n%s", f)
	}
	if f := m.show(t, m.file("configmaps", "human-made")); !strings.Contains(f, "v: \"1\"") {
		t.Errorf("the bot's change to the human's ConfigMap was committed:\n%s", f)
	}
	for _, line := range commitLog(t, m.repo, "") {
		if strings.Contains(line, "flux-bot") {
			t.Errorf("a commit authored by the bot: %s", line)
		}
	}
	if after := m.commits(t); after < before+2 {
		t.Errorf("%d commits after %d: the human's changes are missing", after, before)
	}
}

// TestFluxGitRepositoryAsProvider: with Flux's real GitRepository CRD
// installed (no Flux controller), a GitTarget pushes through a GitRepository
// with that object's credentials; a user who may not get the GitRepository
// is refused at admission; a missing kind, then a missing object, is a
// Validated reason.
func TestFluxGitRepositoryAsProvider(t *testing.T) {
	ns := newNamespace(t, "flux")
	url := newRepo(t, ns)
	target := func(name, repo string) string {
		return fmt.Sprintf(`apiVersion: configbutler.ai/v1alpha1
kind: GitTarget
metadata: {name: %[2]s, namespace: %[1]s}
spec:
  providerRef: {group: source.toolkit.fluxcd.io, kind: GitRepository, name: %[3]s}
  branch: main
  path: clusters/%[2]s
`, ns, name, repo)
	}
	crd := filepath.Join(root, "bin", "flux", "gitrepositories.yaml")
	if _, err := st.Kubectl("get", "crd", "gitrepositories.source.toolkit.fluxcd.io"); err != nil {
		// A fresh stack serves no GitRepository yet.
		apply(t, target("early", "infra"))
		eventually(t, 30*time.Second, "Validated names the missing kind", conditionIs(t, ns, "early", "Validated", "False", "ProviderNotFound"))
		if tg, _ := targetConditions(t, ns, "early"); !strings.Contains(fmt.Sprint(tg.Status.Conditions), "serves no Flux GitRepository") {
			t.Errorf("Validated does not say the kind is missing: %+v", tg.Status.Conditions)
		}
		kubectl(t, "delete", "gittarget", "early", "-n", ns)
	}
	kubectl(t, "apply", "--server-side", "-f", crd)
	kubectl(t, "wait", "--for=condition=Established", "crd/gitrepositories.source.toolkit.fluxcd.io", "--timeout=60s")

	// A GitRepository as Flux users write them, with Flux's Secret keys.
	apply(t, fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata: {name: flux-auth, namespace: %[1]s}
stringData: {username: %[3]s, password: %[4]s}
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: infra, namespace: %[1]s}
spec:
  interval: 1m
  url: %[2]q
  ref: {branch: main}
  secretRef: {name: flux-auth}
`, ns, url, stack.GitUser, st.GitPassword))

	// A user with our kinds but not the GitRepository: refused, with why.
	apply(t, tenantRole(ns, "tenant", "")+"---\n"+binding(ns, "tenant", "tenant", "{kind: User, apiGroup: rbac.authorization.k8s.io, name: tenant}"))
	out, err := createAs("tenant", target("sneaky", "infra"))
	if err == nil || !strings.Contains(out, "may not get gitrepositories.source.toolkit.fluxcd.io infra") || !strings.Contains(out, "spec.providerRef.name") {
		t.Errorf("a user who may not get the GitRepository: %v\n%s", err, out)
	}
	if _, err := st.Kubectl("get", "gittarget", "sneaky", "-n", ns); err == nil {
		t.Error("the refused GitTarget was stored")
	}

	apply(t, target("missing", "nowhere"))
	eventually(t, 90*time.Second, "a missing GitRepository is named", func() error {
		tg, _, err := targetConditionsE(ns, "missing")
		if err != nil {
			return err
		}
		if s := fmt.Sprint(tg.Status.Conditions); !strings.Contains(s, "Flux GitRepository '"+ns+"/nowhere' not found") {
			return fmt.Errorf("conditions %s", s)
		}
		return nil
	})

	apply(t, target("mirror", "infra")+fmt.Sprintf(`---
apiVersion: configbutler.ai/v1alpha1
kind: WatchRule
metadata: {name: config, namespace: %s}
spec:
  targetRef: {name: mirror}
  rules: [{resources: [configmaps]}]
`, ns))
	if out, err := st.Kubectl("wait", "--for=condition=Ready", "gittarget/mirror", "-n", ns, "--timeout=120s"); err != nil {
		_, cs := targetConditions(t, ns, "mirror")
		t.Fatalf("a target on a GitRepository is not Ready: %v\n%s\n%+v", err, out, cs)
	}
	m := &mirror{ns: ns, repo: ns, path: "clusters/mirror"}
	kubectl(t, "create", "configmap", "through-flux", "-n", ns, "--from-literal=v=1")
	waitFile(t, m, m.file("configmaps", "through-flux"), "v: \"1\"")
}
