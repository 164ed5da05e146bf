package snapshot

import (
	"context"
	"strings"
	"testing"

	"filippo.io/age"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
	"github.com/configbutler/gitops-reverser/pkg/lifecycle/mirror"
	"github.com/configbutler/gitops-reverser/pkg/render"
	"github.com/configbutler/gitops-reverser/pkg/selection"
	"github.com/configbutler/gitops-reverser/pkg/sops"
)

// TestPlanKeepsToOperations: a snapshot mirrors only the operations its
// rules list (rules[].operations), as the stream does: without DELETE a gone
// object's file stays (an archive), without UPDATE a changed object's file
// keeps its first version, without CREATE no file is made. An object taken
// by two rules gets the union (the labels of the file decide which rules took
// a gone object). A file not shaped like one the server writes is foreign and
// never deleted.
func TestPlanKeepsToOperations(t *testing.T) {
	old := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n  namespace: demo\n%sdata:\n  k: old\n"
	file := func(name, labels string) string {
		return strings.ReplaceAll(strings.Replace(old, "%s", name, 1), "%s", labels)
	}
	tree := func() memTree {
		return memTree{
			"base/v1/configmaps/demo/changed.yaml":   file("changed", ""),
			"base/v1/configmaps/demo/gone.yaml":      file("gone", ""),
			"base/v1/configmaps/demo/gone-kept.yaml": file("gone-kept", "  labels:\n    keep: \"yes\"\n"),
			"base/v1/configmaps/demo/gone-flow.yaml": "{apiVersion: v1, kind: ConfigMap, metadata: {name: gone-flow, namespace: demo}}\n",
		}
	}
	live := []*unstructured.Unstructured{cm("demo", "changed", "new"), cm("demo", "created", "v")}
	keep, _ := labels.Parse("keep=yes")
	ops := func(o ...selection.Ops) []selection.Clause {
		var cs []selection.Clause
		for _, op := range o {
			cs = append(cs, selection.Clause{Namespace: "demo", Ops: op})
		}
		return cs
	}
	cases := []struct {
		name    string
		clauses []selection.Clause
		want    v1alpha1.SnapshotStats
		created []string
		updated []string
		deleted []string
	}{
		{name: "all", clauses: ops(selection.OpsAll), want: v1alpha1.SnapshotStats{Created: 1, Updated: 1, Deleted: 2},
			created: []string{"created"}, updated: []string{"changed"}, deleted: []string{"gone", "gone-kept"}},
		{name: "create and update: an archive", clauses: ops(selection.OpCreate | selection.OpUpdate), want: v1alpha1.SnapshotStats{Created: 1, Updated: 1},
			created: []string{"created"}, updated: []string{"changed"}},
		{name: "create only: first versions", clauses: ops(selection.OpCreate), want: v1alpha1.SnapshotStats{Created: 1, Unchanged: 1},
			created: []string{"created"}},
		{name: "update and delete", clauses: ops(selection.OpUpdate | selection.OpDelete), want: v1alpha1.SnapshotStats{Updated: 1, Unchanged: 1, Deleted: 2},
			updated: []string{"changed"}, deleted: []string{"gone", "gone-kept"}},
		{name: "a second rule with DELETE for labelled objects", want: v1alpha1.SnapshotStats{Created: 1, Updated: 1, Deleted: 1},
			clauses: []selection.Clause{{Namespace: "demo", Ops: selection.OpCreate | selection.OpUpdate}, {Namespace: "demo", Labels: keep, Ops: selection.OpDelete}},
			created: []string{"created"}, updated: []string{"changed"}, deleted: []string{"gone-kept"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sel := selection.Selection{cmGVR: &selection.TypeSelection{
				Resource: selection.APIResource{GVR: cmGVR, Namespaced: true}, Namespaces: sets.New("demo"), Clauses: tc.clauses,
			}}
			tgt := &mirror.Target{Key: "demo/t", Path: "base", Selection: sel}
			p, err := Compute(context.Background(), tgt, tree(), nil, objects(map[schema.GroupVersionResource][]*unstructured.Unstructured{cmGVR: live}), nil)
			if err != nil {
				t.Fatal(err)
			}
			if p.Stats != tc.want {
				t.Errorf("stats %+v, want %+v", p.Stats, tc.want)
			}
			for _, c := range []struct {
				got  []string
				want []string
			}{{p.Created, tc.created}, {p.Updated, tc.updated}, {p.Deleted, tc.deleted}} {
				var want []string
				for _, n := range c.want {
					want = append(want, render.Path("base", cmGVR, "demo", n))
				}
				if strings.Join(sortedCopy(c.got), ",") != strings.Join(sortedCopy(want), ",") {
					t.Errorf("paths %v, want %v", c.got, want)
				}
			}
		})
	}
}

func sortedCopy(s []string) []string {
	return sets.List(sets.New(s...))
}

// TestReplayKeepsToOperations: after a restart, a replayed object with no
// file is written under a rule that mirrors updates but not creates (the
// event does not say whether it was created or changed while the server was
// down; live, its first change writes it), and not under one that mirrors
// neither; a replayed delete keeps the file of a rule without DELETE.
func TestReplayKeepsToOperations(t *testing.T) {
	old, _ := render.Render(cm("demo", "gone", "v"))
	for _, tc := range []struct {
		ops     selection.Ops
		written bool
		deleted bool
	}{
		{selection.OpUpdate, true, false},
		{selection.OpDelete, false, true},
		{selection.OpsAll, true, true},
	} {
		sel := selection.Selection{cmGVR: &selection.TypeSelection{
			Resource: selection.APIResource{GVR: cmGVR, Namespaced: true}, Namespaces: sets.New("demo"), Clauses: []selection.Clause{{Namespace: "demo", Ops: tc.ops}},
		}}
		tgt := &mirror.Target{Key: "demo/t", Path: "base", Selection: sel}
		tree := memTree{"base/v1/configmaps/demo/gone.yaml": string(old)}
		events := []Event{{Object: cm("demo", "born", "v")}, {Object: cm("demo", "gone", "v"), Delete: true}}
		replay := func(context.Context, schema.GroupVersionResource) ([]Event, string, error) { return events, "200", nil }
		p, err := ComputeFrom(context.Background(), tgt, tree, nil, Source{Replay: replay, Resumed: map[schema.GroupVersionResource]bool{cmGVR: true}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if written, deleted := len(p.Created) == 1, len(p.Deleted) == 1; written != tc.written || deleted != tc.deleted {
			t.Errorf("ops %b: written %v deleted %v, want %v %v", tc.ops, written, deleted, tc.written, tc.deleted)
		}
	}
}

// TestKeptSecretReencrypted: a Secret under a rule that leaves updates out
// keeps its content when the object changes, but is encrypted again when
// the target's recipients change: a key added opens the file, and the
// content is still the one mirrored.
func TestKeptSecretReencrypted(t *testing.T) {
	server, _ := age.GenerateX25519Identity()
	reader, _ := age.GenerateX25519Identity()
	secret := func(v string) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]interface{}{
			"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
			"metadata": map[string]interface{}{"name": "db", "namespace": "demo"},
			"data":     map[string]interface{}{"k": v},
		}}
	}
	plain, _ := render.Render(secret("b2xk")) // "old"
	first, err := sops.Encrypt(plain, []string{server.Recipient().String()})
	if err != nil {
		t.Fatal(err)
	}
	path := render.Path("base", secGVR, "demo", "db")
	sel := selection.Selection{secGVR: &selection.TypeSelection{
		Resource: selection.APIResource{GVR: secGVR, Namespaced: true}, Namespaces: sets.New("demo"),
		Clauses: []selection.Clause{{Namespace: "demo", Ops: selection.OpCreate}},
	}}
	plan := func(recipients ...string) *Plan {
		keys := &mirror.Keys{Recipients: recipients, Identities: []age.Identity{server}}
		tgt := &mirror.Target{Key: "demo/t", Path: "base", Keys: keys, Selection: sel}
		p, err := Compute(context.Background(), tgt, memTree{path: string(first)}, nil,
			objects(map[schema.GroupVersionResource][]*unstructured.Unstructured{secGVR: {secret("bmV3")}}), nil) // "new"
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	if p := plan(server.Recipient().String()); len(p.Changes) != 0 {
		t.Fatalf("same recipients, an update the rules leave out: %d changes", len(p.Changes))
	}
	p := plan(server.Recipient().String(), reader.Recipient().String())
	if len(p.Changes) != 1 || p.Stats.Updated != 1 {
		t.Fatalf("a recipient added: %+v", p.Stats)
	}
	got, err := sops.Decrypt(must(p.Changes[0].Data()), []age.Identity{reader})
	if err != nil || !strings.Contains(string(got), "k: b2xk") {
		t.Errorf("the added reader decrypts %q (%v), want the content as mirrored", got, err)
	}
}
