package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/configbutler/gitops-reverser/test/stack"
)

// A watch the source cluster refuses for one type is one tenant's problem:
// the server's own ServiceAccount may not read it (its ClusterRole's
// readRules, the chart's rbac.readRules, which a platform team may narrow),
// or the type's conversion webhook is down. It must not take the event
// stream of every other target down.

// narrowServerReads replaces the server's "read everything" rule with one for
// every API group the cluster serves now except denied. The returned function
// restores the ClusterRole; it runs at the test's end too.
func narrowServerReads(t *testing.T, denied string) (restore func()) {
	t.Helper()
	ctx := context.Background()
	roles := kube.RbacV1().ClusterRoles()
	orig, err := roles.Get(ctx, stack.ServerName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var groups []string
	for _, gv := range strings.Fields(kubectl(t, "api-versions")) {
		g, _, ok := strings.Cut(gv, "/")
		if !ok {
			g = "" // the core group's "v1"
		}
		if g != denied && !slices.Contains(groups, g) {
			groups = append(groups, g)
		}
	}
	narrowed := orig.DeepCopy()
	found := false
	for i, r := range narrowed.Rules {
		if slices.Equal(r.APIGroups, []string{"*"}) && slices.Equal(r.Resources, []string{"*"}) && slices.Contains(r.Verbs, "watch") {
			narrowed.Rules[i] = rbacv1.PolicyRule{APIGroups: groups, Resources: []string{"*"}, Verbs: r.Verbs}
			found = true
		}
	}
	if !found {
		t.Fatalf("ClusterRole %s has no rule reading every type: %+v", stack.ServerName, orig.Rules)
	}
	if _, err := roles.Update(ctx, narrowed, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	restore = func() { once.Do(func() { restoreServerReads(t, orig) }) }
	t.Cleanup(restore)
	return restore
}

// restoreServerReads puts the server's ClusterRole back as it was.
func restoreServerReads(t *testing.T, orig *rbacv1.ClusterRole) {
	t.Helper()
	ctx := context.Background()
	cur, err := kube.RbacV1().ClusterRoles().Get(ctx, orig.Name, metav1.GetOptions{})
	if err != nil {
		t.Error(err)
		return
	}
	cur.Rules = orig.Rules
	if _, err := kube.RbacV1().ClusterRoles().Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
		t.Error(err)
	}
}

// serverMay reports whether the server's ServiceAccount may do verb on what.
func serverMay(verb, what string) bool {
	out, _ := st.Kubectl("auth", "can-i", verb, what, "--as=system:serviceaccount:"+stack.ServerNamespace+":"+stack.ServerName)
	return strings.TrimSpace(out) == "yes"
}

// TestTypeTheServerMayNotReadStopsOnlyItsTarget: a tenant's rule selects
// gizmos, a type the server's ClusterRole does not let it read. The rule is
// admitted with a warning; that target says why it cannot mirror them;
// another tenant's live target keeps its event stream (no flap of
// EventStreamLive, its changes still reach Git); a third tenant's wildcard
// rule mirrors the rest of its namespace; once the server may read gizmos,
// the first target mirrors them, and the wildcard's target too.
func TestTypeTheServerMayNotReadStopsOnlyItsTarget(t *testing.T) {
	const group = "forbidden.example.com"
	apply(t, crdOf(group, "Gizmo", "gizmos"))
	t.Cleanup(func() { st.Kubectl("delete", "crd", "gizmos."+group, "--ignore-not-found", "--wait=false") })
	eventually(t, 30*time.Second, "CRD established", func() error {
		_, err := st.Kubectl("get", "gizmos."+group, "-A")
		return err
	})
	bystander := newMirror(t, "bystander", false, "")
	liveSince := bystander.liveSince(t)

	restore := narrowServerReads(t, group)
	eventually(t, 20*time.Second, "the server may no longer list gizmos", func() error {
		if serverMay("list", "gizmos."+group) || !serverMay("list", "configmaps") {
			return fmt.Errorf("RBAC not in effect yet")
		}
		return nil
	})

	ns := targetAtLive(t, "gizmos")
	apply(t, fmt.Sprintf("apiVersion: %s/v1\nkind: Gizmo\nmetadata: {name: one, namespace: %s}\nspec: {size: 1}\n", group, ns))
	// The rule is admitted (the ClusterRole may grant gizmos later), with a
	// warning naming its field.
	out, err := st.KubectlStdin(st.AdminKubeconfig, []byte(fmt.Sprintf(`apiVersion: configbutler.ai/v1alpha1
kind: WatchRule
metadata: {name: gizmos, namespace: %s}
spec:
  targetRef: {name: mirror}
  rules: [{apiGroups: [%s], resources: [gizmos]}]
`, ns, group)), "create", "-f", "-")
	if err != nil {
		t.Fatalf("creating the rule: %v: %s", err, out)
	}
	if want := "Warning: spec.rules[0]: the server may not list or watch gizmos." + group + " in every namespace"; !strings.Contains(out, want) {
		t.Errorf("kubectl create said %q, want a warning %q", out, want)
	}
	// The gizmos target's watch is refused meanwhile (and its snapshot
	// retried); the bystander's stream must not notice.
	bystander.keepsStreaming(t, liveSince)
	eventually(t, 60*time.Second, "the gizmos target says the server may not watch them", func() error {
		if err := conditionIs(t, ns, "mirror", "SnapshotSynced", "False", "SnapshotFailed")(); err != nil {
			return err
		}
		_, cs, err := targetConditionsE(ns, "mirror")
		if err != nil {
			return err
		}
		for _, c := range cs {
			if c.Type == "SnapshotSynced" && !strings.Contains(c.Message, "the server may not watch gizmos."+group) {
				return fmt.Errorf("SnapshotSynced says %q, not that the server may not watch gizmos", c.Message)
			}
		}
		return nil
	})

	bystander.streamedSince(t, liveSince)
	wild := wildcardLeavesOut(t, group)
	restore()
	m := &mirror{ns: ns, repo: ns, path: "live"}
	m.waitReady(t)
	if m.show(t, fmt.Sprintf("live/%s/v1/gizmos/%s/one.yaml", group, ns)) == "" {
		t.Errorf("the gizmo is not in Git once the server may read gizmos")
	}
	eventually(t, 60*time.Second, "the wildcard's gizmo in Git once the server may read gizmos", func() error {
		if wild.show(t, fmt.Sprintf("live/%s/v1/gizmos/%s/wild.yaml", group, wild.ns)) == "" {
			return fmt.Errorf("not yet")
		}
		return nil
	})
}

// wildcardLeavesOut: while the server may not read gizmos, a tenant's
// wildcard rule mirrors everything else of its namespace (its target is
// Ready, its ConfigMap in Git) and says in its Ready that it leaves gizmos
// out; it returns the tenant's mirror, whose gizmo the caller expects in Git
// once the server may read them.
func wildcardLeavesOut(t *testing.T, group string) *mirror {
	t.Helper()
	ns := targetAtLive(t, "wild")
	apply(t, fmt.Sprintf(`apiVersion: %[1]s/v1
kind: Gizmo
metadata: {name: wild, namespace: %[2]s}
spec: {size: 1}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: wild, namespace: %[2]s}
data: {v: "1"}
---
apiVersion: configbutler.ai/v1alpha1
kind: WatchRule
metadata: {name: everything, namespace: %[2]s}
spec:
  targetRef: {name: mirror}
  rules: [{apiGroups: ["*"], resources: ["*"]}]
`, group, ns))
	m := &mirror{ns: ns, repo: ns, path: "live"}
	m.waitReady(t)
	eventually(t, 30*time.Second, "the wildcard's ConfigMap in Git", func() error {
		if m.show(t, m.file("configmaps", "wild")) == "" {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	if m.show(t, fmt.Sprintf("live/%s/v1/gizmos/%s/wild.yaml", group, ns)) != "" {
		t.Errorf("a gizmo is in Git while the server may not read gizmos")
	}
	out, _ := st.Kubectl("get", "watchrule", "everything", "-n", ns, "-o",
		`jsonpath={.status.conditions[?(@.type=="Ready")].status}: {.status.conditions[?(@.type=="Ready")].message}`)
	if want := "its wildcard leaves out gizmos.v1." + group + ": the server may not list and watch them"; !strings.HasPrefix(out, "True: ") || !strings.Contains(out, want) {
		t.Errorf("the wildcard rule's Ready is %q, want True and %q", out, want)
	}
	return m
}

// streamCondition is the EventStreamLive condition of a target's status.
func streamCondition(cs []metav1.Condition) metav1.Condition {
	for _, c := range cs {
		if c.Type == "EventStreamLive" {
			return c
		}
	}
	return metav1.Condition{}
}

// targetAtLive makes a namespace with its repository, credentials, the
// GitProvider "origin" and the GitTarget "mirror" writing to path "live",
// without a rule yet; it returns the namespace.
func targetAtLive(t *testing.T, prefix string) string {
	t.Helper()
	ns := newNamespace(t, prefix)
	apply(t, credentials(ns)+"---\n"+originProvider(ns, newRepo(t, ns))+fmt.Sprintf(`---
apiVersion: configbutler.ai/v1alpha1
kind: GitTarget
metadata: {name: mirror, namespace: %s}
spec: {providerRef: {name: origin}, branch: main, path: live}
`, ns))
	return ns
}

// liveSince is when the mirror's EventStreamLive last changed.
func (m *mirror) liveSince(t *testing.T) metav1.Time {
	t.Helper()
	tg, _ := targetConditions(t, m.ns, "mirror")
	return streamCondition(tg.Status.Conditions).LastTransitionTime
}

// keepsStreaming: for 15 s, while another target's type is refused, the
// mirror's EventStreamLive stays True; a ConfigMap it creates meanwhile
// is checked by streamedSince.
func (m *mirror) keepsStreaming(t *testing.T, since metav1.Time) {
	t.Helper()
	kubectl(t, "create", "configmap", "during", "-n", m.ns, "--from-literal=v=1")
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if err := conditionIs(t, m.ns, "mirror", "EventStreamLive", "True", "")(); err != nil {
			t.Fatalf("another tenant's target lost its stream: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// streamedSince: the mirror's EventStreamLive has not changed since (no
// flap a poll could miss), and the ConfigMap keepsStreaming created is in
// Git.
func (m *mirror) streamedSince(t *testing.T, since metav1.Time) {
	t.Helper()
	if got := m.liveSince(t); !got.Equal(&since) {
		t.Errorf("the bystander's EventStreamLive changed at %v (live since %v): it flapped", got, since)
	}
	if m.show(t, m.file("configmaps", "during")) == "" {
		t.Errorf("the bystander's ConfigMap created meanwhile is not in Git")
	}
}

// TestConversionWebhookDownStopsOnlyItsTarget: a tenant mirrors sprockets,
// whose CRD converts v1 (stored) to v2 (served first, so mirrored) through
// a webhook that does not exist. Once a sprocket exists, kube-apiserver
// cannot read the type back (its watch cache fails to initialize) and every
// watch of it fails. That target says so in EventStreamLive; another
// tenant's live target keeps its stream.
func TestConversionWebhookDownStopsOnlyItsTarget(t *testing.T) {
	const group = "convert.example.com"
	apply(t, fmt.Sprintf(`apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: sprockets.%[1]s}
spec:
  group: %[1]s
  names: {kind: Sprocket, plural: sprockets, singular: sprocket}
  scope: Namespaced
  conversion:
    strategy: Webhook
    webhook:
      conversionReviewVersions: [v1]
      clientConfig: {service: {namespace: default, name: no-such-converter, path: /convert}}
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
  - name: v2
    served: true
    storage: false
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
`, group))
	t.Cleanup(func() {
		// Without its webhook the type cannot be read back, nor its CRD's
		// objects deleted: converting by apiVersion alone lets the CRD go,
		// so no later test finds a type that fails.
		st.Kubectl("patch", "crd", "sprockets."+group, "--type=merge", "-p", `{"spec":{"conversion":{"strategy":"None","webhook":null}}}`)
		if out, err := st.Kubectl("delete", "crd", "sprockets."+group, "--ignore-not-found", "--timeout=60s"); err != nil {
			t.Errorf("deleting the sprockets CRD: %v: %s", err, out)
		}
	})
	eventually(t, 30*time.Second, "CRD established", func() error {
		_, err := st.Kubectl("get", "sprockets."+group, "-A")
		return err
	})
	bystander := newMirror(t, "bystander", false, "")
	liveSince := bystander.liveSince(t)

	ns := targetAtLive(t, "sprockets")
	apply(t, fmt.Sprintf(`apiVersion: configbutler.ai/v1alpha1
kind: WatchRule
metadata: {name: sprockets, namespace: %[1]s}
spec:
  targetRef: {name: mirror}
  rules: [{apiGroups: [%[2]s], resources: [sprockets]}]
`, ns, group))
	m := &mirror{ns: ns, repo: ns, path: "live"}
	m.waitReady(t) // no sprocket yet: nothing to convert
	apply(t, fmt.Sprintf("apiVersion: %s/v1\nkind: Sprocket\nmetadata: {name: one, namespace: %s}\nspec: {teeth: 12}\n", group, ns))

	eventually(t, 60*time.Second, "the sprockets target not streaming", conditionIs(t, ns, "mirror", "EventStreamLive", "False", "Disconnected"))
	bystander.keepsStreaming(t, liveSince)
	_, cs := targetConditions(t, ns, "mirror")
	for _, c := range cs {
		if c.Type == "EventStreamLive" && !strings.Contains(c.Message, "the watch of sprockets."+group+" fails") {
			t.Errorf("EventStreamLive says %q, not that the watch of sprockets fails", c.Message)
		}
	}
	bystander.streamedSince(t, liveSince)
}
