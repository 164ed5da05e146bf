package e2e

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestExampleBecomesReady: the example of `make run` (artifacts/example) is
// mirrored and becomes Ready: ConfigMaps and Secrets of namespace demo are in
// the repository under the target path.
func TestExampleBecomesReady(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := st.ApplyExample(ctx); err != nil {
		t.Fatal(err)
	}
	kubectl(t, "wait", "--for=condition=SnapshotSynced", "gittarget/demo", "-n", "demo", "--timeout=90s")
	kubectl(t, "wait", "--for=condition=Ready", "gittarget/demo", "-n", "demo", "--timeout=60s")
	dir := clone(t, "demo")
	for _, f := range []string{"clusters/local/README.md", "clusters/local/.sops.yaml",
		"clusters/local/v1/configmaps/demo/app-settings.yaml", "clusters/local/v1/secrets/demo/app-credentials.sops.yaml"} {
		if gitCLI(t, dir, "ls-files", f) == "" {
			t.Errorf("%s not in the repository", f)
		}
	}
	if strings.Contains(gitCLI(t, dir, "log", "-p"), "change-me") {
		t.Error("the example Secret's value is in Git in plaintext")
	}
	gates := kubectl(t, "get", "gittarget", "demo", "-n", "demo", "--subresource=gates", "--no-headers")
	if strings.Count(gates, "True") != 6 {
		t.Errorf("gates:\n%s", gates)
	}
	// Every gate's transition to True was recorded as an Event on the target.
	eventually(t, 20*time.Second, "gate transition events", func() error {
		out := kubectl(t, "get", "events", "-n", "demo", "--field-selector", "involvedObject.name=demo,involvedObject.kind=GitTarget,reason=GateTransition",
			"-o", "jsonpath={range .items[*]}{.message}{\"\\n\"}{end}")
		for _, want := range []string{"Validated: ", "EncryptionConfigured: ", "Bootstrapped: ", "SnapshotSynced: ", "EventStreamLive: "} {
			found := false
			for _, line := range strings.Split(out, "\n") {
				if strings.HasPrefix(line, want) && strings.Contains(line, "-> True/") {
					found = true
				}
			}
			if !found {
				return fmt.Errorf("no event of %s turning True in:\n%s", strings.TrimSuffix(want, ": "), out)
			}
		}
		return nil
	})
}

var crd = crdOf("example.com", "Widget", "widgets")

// crdOf is a namespaced CustomResourceDefinition of one served version, v1,
// that keeps any field.
func crdOf(group, kind, plural string) string {
	return fmt.Sprintf(`apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: %[3]s.%[1]s}
spec:
  group: %[1]s
  names: {kind: %[2]s, plural: %[3]s, singular: %[4]s}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
`, group, kind, plural, strings.ToLower(kind))
}

// TestLiveChangesReachGit: create, update and delete of a ConfigMap, a Secret
// (encrypted) and a custom resource reach the repository within the batch
// window; a rule added live is snapshotted and streamed, a removed one stops.
func TestLiveChangesReachGit(t *testing.T) {
	apply(t, crd)
	eventually(t, 30*time.Second, "CRD established", func() error {
		_, err := st.Kubectl("get", "widgets", "-A")
		return err
	})
	m := newMirror(t, "live", true, "")
	kubectl(t, "create", "configmap", "before-rule", "-n", m.ns, "--from-literal=x=1")
	apply(t, fmt.Sprintf(`apiVersion: example.com/v1
kind: Widget
metadata: {name: gizmo, namespace: %s}
spec: {size: 3}
`, m.ns))
	widget := fmt.Sprintf("%s/example.com/v1/widgets/%s/gizmo.yaml", m.path, m.ns)

	// A rule for widgets, added live: the existing widget is snapshotted.
	apply(t, fmt.Sprintf(`apiVersion: configbutler.ai/v1alpha1
kind: WatchRule
metadata: {name: widgets, namespace: %s}
spec:
  targetRef: {name: mirror}
  rules: [{apiGroups: ["example.com"], resources: ["widgets"]}]
`, m.ns))
	within := func(what string, cond func(content string) bool, path string) time.Duration {
		t.Helper()
		start := time.Now()
		eventually(t, 20*time.Second, what, func() error {
			if !cond(m.show(t, path)) {
				return fmt.Errorf("not yet")
			}
			return nil
		})
		return time.Since(start)
	}
	within("existing widget snapshotted after the rule appeared", func(c string) bool { return strings.Contains(c, "size: 3") }, widget)

	// Create, update, delete: each within the 1s batch window (plus polling).
	timings := map[string]time.Duration{}
	kubectl(t, "create", "configmap", "cm", "-n", m.ns, "--from-literal=v=1")
	timings["configmap create"] = within("configmap created", func(c string) bool { return strings.Contains(c, "v: \"1\"") }, m.file("configmaps", "cm"))
	kubectl(t, "patch", "configmap", "cm", "-n", m.ns, "--type=merge", "-p", `{"data":{"v":"2"}}`)
	timings["configmap update"] = within("configmap updated", func(c string) bool { return strings.Contains(c, "v: \"2\"") }, m.file("configmaps", "cm"))
	kubectl(t, "create", "secret", "generic", "sec", "-n", m.ns, "--from-literal=token=live-secret-value")
	timings["secret create"] = within("secret created", func(c string) bool { return strings.Contains(c, "ENC[AES256_GCM") }, m.file("secrets", "sec"))
	first := m.show(t, m.file("secrets", "sec"))
	kubectl(t, "patch", "secret", "sec", "-n", m.ns, "--type=merge", "-p", `{"stringData":{"token":"rotated-secret-value"}}`)
	timings["secret update"] = within("secret updated", func(c string) bool { return c != "" && c != first }, m.file("secrets", "sec"))
	if plain := sopsDecrypt(t, m.identity(t), m.show(t, m.file("secrets", "sec"))); !strings.Contains(plain, base64.StdEncoding.EncodeToString([]byte("rotated-secret-value"))) {
		t.Errorf("the updated Secret does not decrypt to its new value:\n%s", plain)
	}
	kubectl(t, "patch", "widget", "gizmo", "-n", m.ns, "--type=merge", "-p", `{"spec":{"size":5}}`)
	timings["widget update"] = within("widget updated", func(c string) bool { return strings.Contains(c, "size: 5") }, widget)
	// A custom resource created while its rule is live is streamed.
	apply(t, fmt.Sprintf(`apiVersion: example.com/v1
kind: Widget
metadata: {name: sprocket, namespace: %s}
spec: {size: 8}
`, m.ns))
	sprocket := fmt.Sprintf("%s/example.com/v1/widgets/%s/sprocket.yaml", m.path, m.ns)
	timings["widget create"] = within("widget created", func(c string) bool { return strings.Contains(c, "size: 8") }, sprocket)
	kubectl(t, "delete", "configmap", "cm", "-n", m.ns)
	kubectl(t, "delete", "secret", "sec", "-n", m.ns)
	kubectl(t, "delete", "widget", "gizmo", "sprocket", "-n", m.ns)
	timings["deletes"] = within("deletes remove files", func(c string) bool { return c == "" }, widget)
	if m.show(t, m.file("configmaps", "cm")) != "" || m.show(t, m.file("secrets", "sec")) != "" || m.show(t, sprocket) != "" {
		t.Error("deleted objects still have files")
	}
	t.Logf("change -> visible in the remote (batch window 1s): %v", timings)
	if history := gitCLI(t, clone(t, m.repo), "log", "-p"); strings.Contains(history, "live-secret-value") || strings.Contains(history, "rotated-secret-value") ||
		strings.Contains(history, base64.StdEncoding.EncodeToString([]byte("rotated-secret-value"))) {
		t.Error("plaintext secret in history")
	}
	tg, _ := targetConditions(t, m.ns, "mirror")
	if tg.Status.Stream == nil || !tg.Status.Stream.Registered || tg.Status.Stream.LastEventTime == nil {
		t.Errorf("status.stream %+v", tg.Status.Stream)
	}

	// The widget rule removed: widgets stop streaming.
	kubectl(t, "delete", "watchrule", "widgets", "-n", m.ns)
	time.Sleep(2 * time.Second)
	apply(t, fmt.Sprintf(`apiVersion: example.com/v1
kind: Widget
metadata: {name: ignored, namespace: %s}
spec: {size: 1}
`, m.ns))
	kubectl(t, "create", "configmap", "marker", "-n", m.ns, "--from-literal=m=1")
	within("marker streamed", func(c string) bool { return c != "" }, m.file("configmaps", "marker"))
	if m.show(t, fmt.Sprintf("%s/example.com/v1/widgets/%s/ignored.yaml", m.path, m.ns)) != "" {
		t.Error("a widget was written after its rule was removed")
	}
}

// TestRapidUpdatesAreCoalesced: 1,000 rapid updates of one ConfigMap end in its
// final state in Git, in a handful of commits.
func TestRapidUpdatesAreCoalesced(t *testing.T) {
	m := newMirror(t, "rapid", false, "")
	kubectl(t, "create", "configmap", "hot", "-n", m.ns, "--from-literal=count=0")
	path := m.file("configmaps", "hot")
	eventually(t, 20*time.Second, "hot configmap mirrored", func() error {
		if m.show(t, path) == "" {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	before := m.commits(t)
	ctx := context.Background()
	start := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	// Sequential updates per worker keep each write's resourceVersion conflict-free.
	const updates, writers = 1000, 4
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < updates; i += writers {
				patch := fmt.Sprintf(`{"data":{"count":"%d","w%d":"%d"}}`, i+1, w, i+1)
				if _, err := kube.CoreV1().ConfigMaps(m.ns).Patch(ctx, "hot", "application/merge-patch+json", []byte(patch), metav1.PatchOptions{}); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		}(w)
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d update errors, first: %v", len(errs), errs[0])
	}
	final, _ := kube.CoreV1().ConfigMaps(m.ns).Get(ctx, "hot", metav1.GetOptions{})
	elapsed := time.Since(start)
	eventually(t, 30*time.Second, "final state in git", func() error {
		c := m.show(t, path)
		for k, v := range final.Data {
			if !strings.Contains(c, fmt.Sprintf("%s: %q", k, v)) {
				return fmt.Errorf("%s=%s not in\n%s", k, v, c)
			}
		}
		return nil
	})
	commits := m.commits(t) - before
	t.Logf("1000 updates in %s -> %d commit(s)", elapsed.Round(time.Millisecond), commits)
	if commits < 1 || commits > 15 {
		t.Errorf("%d commits for 1000 updates, want a handful", commits)
	}
}
