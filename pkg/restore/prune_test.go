package restore

import (
	"context"
	"strings"
	"testing"

	"filippo.io/age"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
)

// pruneCluster: namespaces a, b and c with ConfigMaps, a Secret, and what
// the cluster and controllers make.
func pruneCluster() *fakeCluster {
	owned := configMap("a", "owned", nil)
	yes := true
	owned.SetOwnerReferences([]metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "web", UID: "u", Controller: &yes}})
	return newFakeCluster(namespace("a"), namespace("b"), namespace("c"), namespace("d"),
		configMap("a", "keep", map[string]any{"k": "v"}),
		configMap("a", "extra", map[string]any{"k": "v"}),
		configMap("a", "kube-root-ca.crt", nil),
		owned,
		configMap("b", "extra2", nil),
		configMap("c", "elsewhere", nil),
		obj("v1", "Secret", "a", "not-restored-type", nil),
		obj("v1", "ServiceAccount", "a", "default", nil),
	)
}

// TestRunPrune: with prune, the objects of the restored types in the
// restored namespaces that the files do not hold are deleted after the
// writes, but what the cluster or a controller made; other types, other
// namespaces and namespaces themselves are left alone. A dry run plans the
// deletions with dry-run requests.
func TestRunPrune(t *testing.T) {
	id, _ := age.GenerateX25519Identity()
	fs := files(t, id, configMap("a", "keep", map[string]any{"k": "v"}), obj("v1", "ServiceAccount", "b", "app", nil))
	for _, dryRun := range []bool{false, true} {
		cluster := pruneCluster()
		r := newTestRestorer(t, cluster, newTestDiscovery())
		r.Workers = 1
		res, err := r.Run(context.Background(), fs, Options{DryRun: dryRun, Prune: true, Namespaces: []string{"b", "a", "d"}})
		if err != nil {
			t.Fatal(err)
		}
		if dryRun {
			expect(t, "plan", outcomes(res), []string{
				"ServiceAccount b/app Create", "ConfigMap a/keep Unchanged", "ConfigMap a/extra Delete", "ConfigMap b/extra2 Delete"})
			if len(cluster.writes()) != 0 {
				t.Errorf("a dry run wrote: %v", cluster.writes())
			}
			if d := res.Objects[2].Diff; !strings.Contains(d, "@@ -1,") || !strings.Contains(d, "-  name: extra\n") {
				t.Errorf("deletion diff:\n%s", d)
			}
			if res.Summary != (v1alpha1.RestoreSummary{Created: 1, Unchanged: 1, Deleted: 2}) {
				t.Errorf("summary %+v", res.Summary)
			}
			continue
		}
		expect(t, "results", outcomes(res), []string{
			"ServiceAccount b/app Created", "ConfigMap a/keep Unchanged", "ConfigMap a/extra Deleted", "ConfigMap b/extra2 Deleted"})
		// Dependents first: ConfigMaps (tier 4) before ServiceAccounts (tier 3).
		expect(t, "writes", cluster.writes(), []string{"apply serviceaccounts b/app", "delete configmaps a/extra", "delete configmaps b/extra2"})
	}
}

// TestRunPruneOrderAndFailures: deletions run dependents first; a List or
// a deletion refused fails alone; a file that could not be read stops every
// deletion (it may hold the object).
func TestRunPruneOrderAndFailures(t *testing.T) {
	id, _ := age.GenerateX25519Identity()
	fs := files(t, id, configMap("a", "keep", nil), deployment("a", "web", "web:1"))
	cluster := newFakeCluster(namespace("a"), namespace("b"), deployment("a", "old", "x"), configMap("a", "extra", nil),
		configMap("a", "protected", nil), deployment("b", "x", "x"))
	cluster.deny = func(verb string, gvr schema.GroupVersionResource, ns, name string) bool {
		return (verb == "delete" && name == "protected") || (verb == "list" && ns == "b" && gvr.Resource == "configmaps")
	}
	r := newTestRestorer(t, cluster, newTestDiscovery())
	r.Workers = 1
	res, err := r.Run(context.Background(), fs, Options{Prune: true, Namespaces: []string{"a", "b"}})
	if err != nil {
		t.Fatal(err)
	}
	expect(t, "results", outcomes(res), []string{
		"ConfigMap a/keep Created", "Deployment a/web Created",
		"Deployment a/old Deleted", "Deployment b/x Deleted",
		"ConfigMap a/extra Deleted", "ConfigMap a/protected Failed Forbidden", "ConfigMap b/ Failed Forbidden"})
	if m := res.Objects[6].Message; !strings.Contains(m, "cannot list configmaps in b to prune") {
		t.Errorf("list failure: %s", m)
	}

	fs = append(fs, File{Path: "clusters/prod/v1/configmaps/a/garbled.yaml", Content: []byte("data: [\n")})
	cluster = newFakeCluster(namespace("a"), configMap("a", "keep", nil), configMap("a", "garbled", nil))
	res, err = newTestRestorer(t, cluster, newTestDiscovery()).Run(context.Background(), fs, Options{Prune: true, Namespaces: []string{"a"}})
	if err != nil {
		t.Fatal(err)
	}
	last := res.Objects[len(res.Objects)-1]
	if outcome(last) != "ConfigMap a/garbled Failed Invalid" || !strings.Contains(last.Message, "not pruned: clusters/prod/v1/configmaps/a/garbled.yaml could not be read") {
		t.Errorf("%s: %s", outcome(last), last.Message)
	}
	if cluster.count("delete") != 0 {
		t.Errorf("deleted with an unreadable file: %v", cluster.calls)
	}
}

// TestRunPruneNeedsNamespaces: prune without namespaces is refused.
func TestRunPruneNeedsNamespaces(t *testing.T) {
	cluster := pruneCluster()
	_, err := newTestRestorer(t, cluster, newTestDiscovery()).Run(context.Background(), nil, Options{Prune: true})
	if err == nil || len(cluster.calls) != 0 {
		t.Fatalf("err %v, calls %v", err, cluster.calls)
	}
}

// TestRunPruneLeavesRecreatedObjects: a deletion requires the uid listed,
// so an object deleted and created again meanwhile is not deleted.
func TestRunPruneLeavesRecreatedObjects(t *testing.T) {
	id, _ := age.GenerateX25519Identity()
	cluster := newFakeCluster(namespace("a"), configMap("a", "extra", nil))
	recreated := &recreatingClient{fakeCluster: cluster}
	res, err := newTestRestorer(t, recreated, newTestDiscovery()).Run(context.Background(),
		files(t, id, configMap("a", "keep", nil)), Options{Prune: true, Namespaces: []string{"a"}})
	if err != nil {
		t.Fatal(err)
	}
	expect(t, "results", outcomes(res), []string{"ConfigMap a/keep Created", "ConfigMap a/extra Failed Conflict"})
}

// recreatingClient replaces every object it lists with a new one (new uid).
type recreatingClient struct{ *fakeCluster }

func (c *recreatingClient) List(ctx context.Context, gvr schema.GroupVersionResource, ns string) ([]unstructured.Unstructured, error) {
	l, err := c.fakeCluster.List(ctx, gvr, ns)
	c.mu.Lock()
	for _, o := range l {
		c.objs[c.key(gvr, ns, o.GetName())].SetUID("new-uid")
	}
	c.mu.Unlock()
	return l, err
}
