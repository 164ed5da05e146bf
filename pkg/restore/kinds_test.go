package restore

import (
	"context"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// TestRunCreatesMissingNamespace: a namespace restored into that does not
// exist, and whose Namespace the files do not hold, is created bare, first;
// a dry run plans it and plans its objects without asking the API (which
// would refuse them for the namespace's absence).
func TestRunCreatesMissingNamespace(t *testing.T) {
	id, _ := age.GenerateX25519Identity()
	fs := files(t, id, configMap("b", "cfg", map[string]any{"k": "v"}))
	for _, dryRun := range []bool{true, false} {
		cluster := newFakeCluster()
		r := newTestRestorer(t, cluster, newTestDiscovery())
		r.Workers = 1
		res, err := r.Run(context.Background(), fs, Options{DryRun: dryRun, Namespaces: []string{"b", "c"}})
		if err != nil {
			t.Fatal(err)
		}
		if dryRun {
			expect(t, "plan", outcomes(res), []string{"Namespace b Create", "Namespace c Create", "ConfigMap b/cfg Create"})
			if m := res.Objects[2].Message; m != "namespace b is created first" || !strings.Contains(res.Objects[2].Diff, "+  k: v\n") {
				t.Errorf("planned ConfigMap: %q\n%s", m, res.Objects[2].Diff)
			}
			if cluster.count("apply") != 2 {
				t.Errorf("requests: %v", cluster.calls)
			}
			continue
		}
		expect(t, "results", outcomes(res), []string{"Namespace b Created", "Namespace c Created", "ConfigMap b/cfg Created"})
		expect(t, "writes", cluster.writes(), []string{"apply namespaces b", "apply namespaces c", "apply configmaps b/cfg"})
		if !strings.Contains(res.Objects[0].Message, "the files hold no Namespace b") {
			t.Errorf("message: %q", res.Objects[0].Message)
		}
	}
}

// TestRunNamespaceNotReadable: a namespace the user may not read is not
// created; the writes into it say what is wrong.
func TestRunNamespaceNotReadable(t *testing.T) {
	id, _ := age.GenerateX25519Identity()
	cluster := newFakeCluster()
	cluster.deny = func(verb string, gvr schema.GroupVersionResource, _, _ string) bool {
		return gvr.Resource == "namespaces"
	}
	res, err := newTestRestorer(t, cluster, newTestDiscovery()).Run(context.Background(),
		files(t, id, configMap("b", "cfg", nil)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	expect(t, "results", outcomes(res), []string{"ConfigMap b/cfg Failed NotFound"})
	if m := res.Objects[0].Message; !strings.Contains(m, `namespaces "b" not found`) {
		t.Errorf("message %q", m)
	}
}

func widgetCRD() *unstructured.Unstructured {
	return obj("apiextensions.k8s.io/v1", "CustomResourceDefinition", "", "widgets.example.com", map[string]any{"spec": map[string]any{
		"group": "example.com", "scope": "Namespaced",
		"names":    map[string]any{"kind": "Widget", "plural": "widgets"},
		"versions": []any{map[string]any{"name": "v1", "served": true, "storage": true}},
	}})
}

// TestRunCustomResourcesAfterTheirCRD: a custom resource whose
// CustomResourceDefinition the restore writes is written once the cluster
// serves its kind; a dry run plans it as created; when the definition
// fails, or the kind is not served in time, the object fails NoKindMatch.
func TestRunCustomResourcesAfterTheirCRD(t *testing.T) {
	id, _ := age.GenerateX25519Identity()
	fs := files(t, id, obj("example.com/v1", "Widget", "a", "w", map[string]any{"spec": map[string]any{"size": int64(3)}}), widgetCRD())
	for _, tc := range []struct {
		name   string
		dryRun bool
		serve  bool
		deny   bool
		want   []string
		msg    string
	}{
		{name: "restore", serve: true, want: []string{"CustomResourceDefinition widgets.example.com Created", "Widget a/w Created"}},
		{name: "dry run", dryRun: true, want: []string{"CustomResourceDefinition widgets.example.com Create", "Widget a/w Create"},
			msg: "its kind is served once its CustomResourceDefinition widgets.example.com is restored"},
		{name: "never served", want: []string{"CustomResourceDefinition widgets.example.com Created", "Widget a/w Failed NoKindMatch"},
			msg: "did not serve the kind Widget.example.com (example.com/v1) within 50ms"},
		{name: "definition refused", deny: true, want: []string{"CustomResourceDefinition widgets.example.com Failed Forbidden", "Widget a/w Failed NoKindMatch"},
			msg: "its CustomResourceDefinition widgets.example.com failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cluster, disc := newFakeCluster(namespace("a")), newTestDiscovery()
			cluster.onApply = func(o *unstructured.Unstructured) {
				if o.GetKind() == "CustomResourceDefinition" && tc.serve {
					disc.add("example.com/v1", "Widget", "widgets", true)
				}
			}
			cluster.deny = func(verb string, gvr schema.GroupVersionResource, _, _ string) bool {
				return tc.deny && gvr.Resource == "customresourcedefinitions"
			}
			r := newTestRestorer(t, cluster, disc)
			r.CRDWait = 50 * time.Millisecond
			res, err := r.Run(context.Background(), fs, Options{DryRun: tc.dryRun})
			if err != nil {
				t.Fatal(err)
			}
			expect(t, "results", outcomes(res), tc.want)
			if !strings.Contains(res.Objects[1].Message, tc.msg) {
				t.Errorf("message %q lacks %q", res.Objects[1].Message, tc.msg)
			}
		})
	}
}

// TestRunRefusesBrokenFiles: a file twice, a namespaced object without a
// namespace, a file that is not YAML: each fails alone.
func TestRunRefusesBrokenFiles(t *testing.T) {
	id, _ := age.GenerateX25519Identity()
	fs := files(t, id, configMap("a", "cfg", nil), configMap("", "nons", nil))
	dup := fs[0]
	dup.Path = "elsewhere/cfg.yaml"
	fs = append(fs, dup, File{Path: "x/broken.yaml", Content: []byte("a: [\n")},
		// A file holding what the server owns: it is not written back.
		File{Path: "x/owned.yaml", Content: []byte(`apiVersion: v1
kind: ConfigMap
metadata:
  name: owned
  namespace: a
  uid: 0000-old
  resourceVersion: "42"
  ownerReferences: [{apiVersion: v1, kind: ConfigMap, name: cfg, uid: 0000-gone}]
data: {k: v}
status: {phase: old}
`)})
	cluster := newFakeCluster(namespace("a"))
	res, err := newTestRestorer(t, cluster, newTestDiscovery()).Run(context.Background(), fs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	expect(t, "results", outcomes(res), []string{
		"ConfigMap nons Failed Invalid",
		"ConfigMap a/cfg Created",
		"ConfigMap a/cfg Failed Invalid",
		"ConfigMap a/owned Created",
		" x/broken.yaml Failed Invalid",
	})
	if m := res.Objects[2].Message; !strings.Contains(m, "holds the same object as clusters/prod/v1/configmaps/a/cfg.yaml") {
		t.Errorf("duplicate: %s", m)
	}
	if m := res.Objects[0].Message; !strings.Contains(m, "a namespaced ConfigMap without metadata.namespace") {
		t.Errorf("no namespace: %s", m)
	}
	if refs := cluster.object(cmGVR, "a", "owned").GetOwnerReferences(); refs != nil {
		t.Errorf("owner references written: %v", refs)
	}
}

// TestRunCanceled: when the context ends, the objects not written are
// reported, and the error returned with the result.
func TestRunCanceled(t *testing.T) {
	cluster, disc, id, fs := scenario(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err := newTestRestorer(t, cluster, disc).Run(ctx, fs, Options{Identities: []age.Identity{id}})
	if err != context.Canceled || len(res.Objects) != 8 || res.Summary.Failed != 8 || res.Objects[0].Reason != "Canceled" {
		t.Fatalf("%v: %v", err, outcomes(res))
	}
	if len(cluster.writes()) != 0 {
		t.Fatalf("writes after cancel: %v", cluster.writes())
	}
}
