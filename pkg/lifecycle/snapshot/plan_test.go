package snapshot

import (
	"context"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/go-git/go-git/v5/plumbing"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
	"github.com/configbutler/gitops-reverser/pkg/gitmodel"
	"github.com/configbutler/gitops-reverser/pkg/lifecycle/mirror"
	"github.com/configbutler/gitops-reverser/pkg/render"
	"github.com/configbutler/gitops-reverser/pkg/selection"
	"github.com/configbutler/gitops-reverser/pkg/sops"
)

// memTree is a branch in memory: path -> content.
type memTree map[string]string

func (m memTree) ReadFile(p string) ([]byte, bool, error) {
	c, ok := m[p]
	return []byte(c), ok, nil
}

func (m memTree) FileHash(p string) (plumbing.Hash, bool, error) {
	c, ok := m[p]
	return gitmodel.BlobHash([]byte(c)), ok, nil
}

func (m memTree) ListFiles(dir string) (map[string]plumbing.Hash, error) {
	out := map[string]plumbing.Hash{}
	for p, c := range m {
		if strings.HasPrefix(p, dir+"/") {
			out[p] = gitmodel.BlobHash([]byte(c))
		}
	}
	return out, nil
}

// objects lists a fixed set of objects per type.
func objects(objs map[schema.GroupVersionResource][]*unstructured.Unstructured) Lister {
	return func(_ context.Context, gvr schema.GroupVersionResource, fn func(*unstructured.Unstructured) error) (string, error) {
		for _, o := range objs[gvr] {
			if err := fn(o); err != nil {
				return "", err
			}
		}
		return "100", nil
	}
}

// indexOf trusts exactly the listed path@resourceVersion pairs.
type indexOf map[string]string

func (x indexOf) Current(path string, obj *unstructured.Unstructured, _ string, _ plumbing.Hash) bool {
	return x[path] != "" && x[path] == obj.GetResourceVersion()
}

func cm(ns, name, v string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]interface{}{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]interface{}{"name": name, "namespace": ns, "resourceVersion": "5"}, "data": map[string]interface{}{"k": v},
	}}
}

var (
	cmGVR  = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	secGVR = schema.GroupVersionResource{Version: "v1", Resource: "secrets"}
)

func demoSelection(gvrs ...schema.GroupVersionResource) selection.Selection {
	sel := selection.Selection{}
	for _, g := range gvrs {
		sel[g] = &selection.TypeSelection{Resource: selection.APIResource{GVR: g, Namespaced: true}, Namespaces: sets.New("demo")}
	}
	return sel
}

// TestPlan: creates, updates, unchanged files and stale deletions; foreign
// files, READMEs, unselected namespaces and types left alone; Secrets
// encrypted (and skipped without keys); the index spares renders; a second
// plan over the result changes nothing.
func TestPlan(t *testing.T) {
	same, _ := render.Render(cm("demo", "same", "v"))
	tree := memTree{
		"base/v1/configmaps/demo/same.yaml":    string(same),
		"base/v1/configmaps/demo/changed.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: changed\n  namespace: demo\ndata:\n  k: old\n",
		"base/v1/configmaps/demo/indexed.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: indexed\n  namespace: demo\ndata:\n  k: stale-but-trusted\n",
		"base/v1/configmaps/demo/stale.yaml":   "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: stale\n  namespace: demo\n",
		"base/v1/configmaps/demo/foreign.yaml": "just: some yaml\n",
		"base/v1/configmaps/demo/README.md":    "notes\n",
		"base/v1/configmaps/other/kept.yaml":   "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: kept\n  namespace: other\n",
		"base/apps/v1/deployments/demo/d.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\n  namespace: demo\n",
		"elsewhere/v1/configmaps/demo/x.yaml":  "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  namespace: demo\n",
	}
	secret := &unstructured.Unstructured{Object: map[string]interface{}{
		"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
		"metadata": map[string]interface{}{"name": "db", "namespace": "demo"},
		"data":     map[string]interface{}{"password": "c2VjcmV0LXZhbHVl"}, // secret-value
	}}
	objs := objects(map[schema.GroupVersionResource][]*unstructured.Unstructured{
		cmGVR:  {cm("demo", "same", "v"), cm("demo", "changed", "new"), cm("demo", "created", "v"), cm("demo", "indexed", "new"), cm("other", "not-selected", "v")},
		secGVR: {secret},
	})
	id, _ := age.GenerateX25519Identity()
	keys := &mirror.Keys{Recipients: []string{id.Recipient().String()}, Identities: []age.Identity{id}}
	tgt := &mirror.Target{Key: "demo/t", Path: "base", Keys: keys, Selection: demoSelection(cmGVR, secGVR)}

	var progress []v1alpha1.SnapshotStats
	p, err := Compute(context.Background(), tgt, tree, indexOf{"base/v1/configmaps/demo/indexed.yaml": "5"}, objs,
		func(s v1alpha1.SnapshotStats) { progress = append(progress, s) })
	if err != nil {
		t.Fatal(err)
	}
	if want := (v1alpha1.SnapshotStats{Created: 2, Updated: 1, Deleted: 1, Unchanged: 2}); p.Stats != want {
		t.Fatalf("stats %+v, want %+v", p.Stats, want)
	}
	if len(progress) != 2 || progress[0] != (v1alpha1.SnapshotStats{Created: 1, Updated: 1, Deleted: 1, Unchanged: 2}) || progress[1] != p.Stats {
		t.Errorf("progress %+v, want configmaps' stats, then the final ones", progress)
	}
	if p.ListRVs[cmGVR] != "100" || p.ListRVs[secGVR] != "100" {
		t.Errorf("list versions %v", p.ListRVs)
	}
	got := map[string]string{}
	for _, c := range p.Changes {
		if c.Delete {
			got[c.Path] = "delete"
		} else {
			got[c.Path] = string(must(c.Data()))
		}
	}
	if len(got) != 4 || got["base/v1/configmaps/demo/stale.yaml"] != "delete" ||
		!strings.Contains(got["base/v1/configmaps/demo/changed.yaml"], "k: new") ||
		!strings.Contains(got["base/v1/configmaps/demo/created.yaml"], "name: created") {
		t.Fatalf("changes %v", got)
	}
	enc := got["base/v1/secrets/demo/db.sops.yaml"]
	if strings.Contains(enc, "c2VjcmV0LXZhbHVl") || strings.Contains(enc, "secret-value") {
		t.Error("secret in plaintext")
	}
	if plain, err := sops.Decrypt([]byte(enc), keys.Identities); err != nil || !strings.Contains(string(plain), "c2VjcmV0LXZhbHVl") {
		t.Errorf("decrypt: %v\n%s", err, plain)
	}
	msg := p.Message("demo/t")
	if !strings.HasPrefix(msg, "gitops-reverser: snapshot of GitTarget demo/t (2 created, 1 updated, 1 deleted)\n\n") ||
		!strings.Contains(msg, "delete base/v1/configmaps/demo/stale.yaml\n") {
		t.Errorf("message:\n%s", msg)
	}

	// Apply the plan; a second one finds nothing to do (the Secret decrypts to
	// the same plaintext, so it is unchanged although encryption is randomized).
	for path, c := range got {
		if c == "delete" {
			delete(tree, path)
		} else {
			tree[path] = c
		}
	}
	again, err := Compute(context.Background(), tgt, tree, nil, objs, nil)
	if err != nil {
		t.Fatal(err)
	}
	// indexed.yaml is rendered now (no index) and is an update.
	if again.Stats.Unchanged != 4 || again.Stats.Updated != 1 || len(again.Changes) != 1 || again.Changes[0].Path != "base/v1/configmaps/demo/indexed.yaml" {
		t.Errorf("second plan: %+v %v", again.Stats, again.Changes)
	}

	// Without keys a Secret is skipped and counted, and its file is never deleted.
	tgt.Keys = nil
	plain, err := Compute(context.Background(), tgt, tree, nil, objs, nil)
	if err != nil {
		t.Fatal(err)
	}
	if plain.Stats.SkippedSecrets != 1 {
		t.Errorf("without keys: %+v", plain.Stats)
	}
	for _, c := range plain.Changes {
		if strings.Contains(c.Path, "secrets") {
			t.Errorf("without keys the plan touches %s", c.Path)
		}
	}
}

// TestPlanMessageIsBounded: at most 200 files are listed.
func TestPlanMessageIsBounded(t *testing.T) {
	p := &Plan{}
	for i := range 250 {
		p.Created = append(p.Created, strings.Repeat("x", i%7)+"f")
	}
	p.Stats.Created = 250
	msg := p.Message("ns/t")
	if n := strings.Count(msg, "\ncreate "); n != 200 || !strings.HasSuffix(msg, "... and 50 more\n") {
		t.Errorf("%d lines listed; message ends %q", n, msg[len(msg)-40:])
	}
}

// TestReplayPlansOnlyWhatChanged: a resumed type is planned from the events
// since its resume point, with the same result a full plan over the same
// cluster gives: a deleted object's file goes (a foreign file of the same
// name stays), a changed one is rewritten, a new one is created, an object
// that left the selection loses its file, events of unselected namespaces
// are ignored, and every other file counts as unchanged without being read.
// A replay that cannot be used (ErrNotResumable) makes the type listed.
func TestReplayPlansOnlyWhatChanged(t *testing.T) {
	keep, _ := render.Render(cm("demo", "keep", "v"))
	gone, _ := render.Render(cm("demo", "gone", "v"))
	edit, _ := render.Render(cm("demo", "edit", "old"))
	tree := memTree{
		"base/v1/configmaps/demo/keep.yaml":    string(keep),
		"base/v1/configmaps/demo/gone.yaml":    string(gone),
		"base/v1/configmaps/demo/edit.yaml":    string(edit),
		"base/v1/configmaps/demo/foreign.yaml": "just: some yaml\n",
		"base/v1/configmaps/other/kept.yaml":   "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: kept\n  namespace: other\n",
	}
	sel := demoSelection(cmGVR)
	tgt := &mirror.Target{Key: "demo/t", Path: "base", Selection: sel}
	deleted := cm("demo", "gone", "v")
	events := []Event{
		{Object: deleted, Delete: true},
		{Object: cm("demo", "edit", "new")},
		{Object: cm("demo", "born", "v")},
		{Object: cm("other", "elsewhere", "v")},
		{Object: cm("demo", "foreign", "v"), Delete: true}, // its file is not ours: stays
	}
	replay := func(context.Context, schema.GroupVersionResource) ([]Event, string, error) { return events, "200", nil }
	p, err := ComputeFrom(context.Background(), tgt, tree, nil, Source{Replay: replay, Resumed: map[schema.GroupVersionResource]bool{cmGVR: true}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := (v1alpha1.SnapshotStats{Created: 1, Updated: 1, Deleted: 1, Unchanged: 1}); p.Stats != want {
		t.Errorf("stats %+v, want %+v (keep unchanged)", p.Stats, want)
	}
	if p.ListRVs[cmGVR] != "200" || len(p.Replayed) != 1 {
		t.Errorf("cut %v, replayed %v", p.ListRVs, p.Replayed)
	}
	// The same cluster, listed: the same changes.
	full, err := Compute(context.Background(), tgt, tree, nil, objects(map[schema.GroupVersionResource][]*unstructured.Unstructured{
		cmGVR: {cm("demo", "keep", "v"), cm("demo", "edit", "new"), cm("demo", "born", "v"), cm("other", "elsewhere", "v")},
	}), nil)
	if err != nil {
		t.Fatal(err)
	}
	changes := func(p *Plan) map[string]string {
		out := map[string]string{}
		for _, c := range p.Changes {
			out[c.Path] = string(must(c.Data()))
			if c.Delete {
				out[c.Path] = "<delete>"
			}
		}
		return out
	}
	if a, b := changes(p), changes(full); len(a) != 3 || !equalMaps(a, b) {
		t.Errorf("replayed changes %v\nlisted changes %v", a, b)
	}
	if p.Stats != full.Stats {
		t.Errorf("replayed stats %+v, listed %+v", p.Stats, full.Stats)
	}
	// Not resumable after all: listed.
	p, err = ComputeFrom(context.Background(), tgt, tree, nil, Source{
		Replay: func(context.Context, schema.GroupVersionResource) ([]Event, string, error) {
			return nil, "", ErrNotResumable
		},
		Resumed: map[schema.GroupVersionResource]bool{cmGVR: true},
		List:    objects(map[schema.GroupVersionResource][]*unstructured.Unstructured{cmGVR: {cm("demo", "keep", "v")}}),
	}, nil)
	if err != nil || len(p.Replayed) != 0 || p.ListRVs[cmGVR] != "100" || p.Stats.Deleted != 2 {
		t.Errorf("fallback to a LIST: err %v, replayed %v, versions %v, stats %+v", err, p.Replayed, p.ListRVs, p.Stats)
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestPlanListsOnlySelectedNamespaces: a namespaced type selected in some
// namespaces is listed in those (ListIn), and its result is the same as
// listing the whole type.
func TestPlanListsOnlySelectedNamespaces(t *testing.T) {
	tgt := &mirror.Target{Key: "demo/t", Path: "base", Selection: demoSelection(cmGVR)}
	all := objects(map[schema.GroupVersionResource][]*unstructured.Unstructured{cmGVR: {cm("demo", "a", "v"), cm("other", "b", "v")}})
	var asked []string
	in := func(_ context.Context, gvr schema.GroupVersionResource, namespaces []string, fn func(*unstructured.Unstructured) error) (string, error) {
		asked = append(asked, namespaces...)
		return "90", fn(cm("demo", "a", "v"))
	}
	p, err := ComputeFrom(context.Background(), tgt, memTree{}, nil, Source{List: all, ListIn: in}, nil)
	if err != nil {
		t.Fatal(err)
	}
	full, err := Compute(context.Background(), tgt, memTree{}, nil, all, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(asked) != 1 || asked[0] != "demo" || p.ListRVs[cmGVR] != "90" {
		t.Errorf("listed namespaces %v at %v, want [demo] at 90", asked, p.ListRVs)
	}
	if p.Stats != full.Stats || len(p.Changes) != 1 || p.Changes[0].Path != full.Changes[0].Path {
		t.Errorf("ListIn plan %+v %v, full %+v %v", p.Stats, p.Changes, full.Stats, full.Changes)
	}
}

// must is b, failing the test binary on err (a planned change that cannot
// be inflated is a broken plan).
func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}
