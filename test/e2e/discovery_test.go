package e2e

import (
	"fmt"
	"testing"
	"time"
)

// TestWildcardSeesATypeAnotherReadFoundFirst: a CRD installed while a
// wildcard target streams is seen first by another read of discovery (here
// admission's, or the stale cache's, for a rule of another target naming
// it). The wildcard target must still pick the new type up at once, not at
// its next periodic re-check (a minute): its object reaches Git within
// seconds.
func TestWildcardSeesATypeAnotherReadFoundFirst(t *testing.T) {
	m := newMirror(t, "seen", false, "")
	apply(t, fmt.Sprintf(`apiVersion: configbutler.ai/v1alpha1
kind: WatchRule
metadata: {name: everything, namespace: %[1]s}
spec: {targetRef: {name: mirror}, rules: [{apiGroups: ["*"], resources: ["*"]}]}
---
apiVersion: configbutler.ai/v1alpha1
kind: GitTarget
metadata: {name: other, namespace: %[1]s}
spec: {providerRef: {name: origin}, branch: main, path: other}
`, m.ns))
	if out, err := st.Kubectl("wait", "--for=condition=Ready", "gittarget/other", "-n", m.ns, "--timeout=90s"); err != nil {
		t.Fatalf("the other target: %v\n%s", err, out)
	}
	// Once a Service (only the wildcard selects it) is in Git, and the
	// wildcard rule's second look (2.5 s after its event) is behind us,
	// only a read of discovery can bring a new type to the mirror.
	kubectl(t, "create", "service", "clusterip", "web", "--tcp=80", "-n", m.ns)
	svc := fmt.Sprintf("%s/v1/services/%s/web.yaml", m.path, m.ns)
	eventually(t, 30*time.Second, "the wildcard rule mirrors a Service", func() error {
		if m.show(t, svc) == "" {
			return fmt.Errorf("%s not in Git", svc)
		}
		return nil
	})
	time.Sleep(3 * time.Second)

	const group = "seen.example.com"
	apply(t, crdOf(group, "Sprocket", "sprockets"))
	t.Cleanup(func() { st.Kubectl("delete", "crd", "sprockets."+group, "--ignore-not-found") })
	kubectl(t, "wait", "--for=condition=Established", "crd/sprockets."+group, "--timeout=60s")
	// A rule of the other target names the type: admitting it reads
	// discovery (the type is unknown to the cache), and that read finds
	// the change first.
	apply(t, fmt.Sprintf(`apiVersion: configbutler.ai/v1alpha1
kind: WatchRule
metadata: {name: sprockets, namespace: %[1]s}
spec: {targetRef: {name: other}, rules: [{apiGroups: [%[2]q], resources: ["sprockets"]}]}
`, m.ns, group))
	apply(t, fmt.Sprintf("apiVersion: %s/v1\nkind: Sprocket\nmetadata: {name: s1, namespace: %s}\nspec: {teeth: 12}\n", group, m.ns))

	file := fmt.Sprintf("%s/%s/v1/sprockets/%s/s1.yaml", m.path, group, m.ns)
	eventually(t, 20*time.Second, "the new type's object in the wildcard target's Git", func() error {
		if m.show(t, file) == "" {
			return fmt.Errorf("%s not in Git (tree: %v)", file, files(t, m.repo, m.path))
		}
		return nil
	})
}
