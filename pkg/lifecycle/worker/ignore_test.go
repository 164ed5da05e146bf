package worker

import (
	"slices"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
	"github.com/configbutler/gitops-reverser/pkg/attribution"
	"github.com/configbutler/gitops-reverser/pkg/lifecycle/mirror"
	"github.com/configbutler/gitops-reverser/pkg/selection"
)

// TestIgnoreChangesBy: a change is left out when every write coalesced into
// it is by an author ignoreChangesBy names (user, ServiceAccount, group or
// field manager), as the audit reports tell; a write by anyone else, or one
// whose author cannot be told, is committed.
func TestIgnoreChangesBy(t *testing.T) {
	flux := selection.IgnoreOf(&v1alpha1.ChangeAuthors{
		ServiceAccounts: []v1alpha1.ServiceAccountReference{{Name: "kustomize-controller"}},
		Groups:          []string{"system:serviceaccounts:argocd"},
		FieldManagers:   []string{"helm"},
	}, "flux-system")
	const fluxUser = "system:serviceaccount:flux-system:kustomize-controller"
	human := attribution.Author{User: "alice", Groups: []string{"system:authenticated"}, Verb: "update"}
	bot := attribution.Author{User: fluxUser, Verb: "apply", Manager: "kustomize-controller"}
	argo := attribution.Author{User: "system:serviceaccount:argocd:argocd-application-controller", Groups: []string{"system:serviceaccounts:argocd"}, Verb: "apply"}
	helm := attribution.Author{User: "bob", Verb: "update", Manager: "helm"}

	secGVR := schema.GroupVersionResource{Version: "v1", Resource: "secrets"}
	type write struct {
		rv     string
		author *attribution.Author // nil: no report
	}
	cases := []struct {
		name     string
		gvr      schema.GroupVersionResource
		ignore   selection.Ignores
		mirrored bool
		manager  string // of the object's last write
		writes   []write
		ignored  bool
	}{
		{name: "the ServiceAccount", writes: []write{{"10", &bot}}, ignored: true},
		{name: "a human", writes: []write{{"10", &human}}},
		{name: "a group", writes: []write{{"10", &argo}}, ignored: true},
		{name: "a field manager", writes: []write{{"10", &helm}}, ignored: true},
		{name: "a human, then the tool", writes: []write{{"10", &human}, {"11", &bot}}},
		{name: "the tool, then a human", writes: []write{{"10", &bot}, {"11", &human}}},
		{name: "the tool twice", writes: []write{{"10", &bot}, {"11", &argo}}, ignored: true},
		{name: "an earlier write without a report", writes: []write{{"10", nil}, {"11", &bot}}},
		{name: "no report: by its field manager", writes: []write{{"10", nil}}, manager: "helm", ignored: true},
		{name: "no report: another field manager", writes: []write{{"10", nil}}, manager: "kubectl-edit"},
		{name: "no rule ignores", ignore: selection.Ignores{}, writes: []write{{"10", &bot}}},
		{name: "two rules, one ignores no one of them", ignore: selection.Ignores{flux, selection.IgnoreOf(&v1alpha1.ChangeAuthors{Users: []string{"carol"}}, "")}, writes: []write{{"10", &bot}}},
		{name: "already known to be mirrored", mirrored: true, writes: []write{{"10", &bot}}},
		{name: "a Secret by the tool", gvr: secGVR, writes: []write{{"10", &bot}}, ignored: true},
		// A Secret's reports are kept by name: its earlier writes cannot be told.
		{name: "a Secret written twice", gvr: secGVR, writes: []write{{"10", &human}, {"11", &bot}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			gvr := tc.gvr
			if gvr.Resource == "" {
				gvr = cmGVR
			}
			ign := tc.ignore
			if ign == nil {
				ign = selection.Ignores{flux}
			}
			store := attribution.NewStore(time.Minute)
			a := &authors{attribution: store, grace: time.Hour}
			q := testQueue(100, time.Hour, "demo/t")
			for _, w := range tc.writes {
				o := cm("demo", "x", map[string]interface{}{"rv": w.rv})
				o.SetUID("u")
				o.SetResourceVersion(w.rv)
				if tc.manager != "" {
					_ = unstructured.SetNestedSlice(o.Object, []interface{}{map[string]interface{}{"manager": tc.manager, "operation": "Update", "time": "2026-01-01T00:00:00Z"}}, "metadata", "managedFields")
				}
				if w.author != nil {
					store.Add(attribution.Report{Resource: gvr.GroupResource(), Namespace: "demo", Name: "x", UID: types.UID("u"), ResourceVersion: w.rv, Author: *w.author, Received: time.Now()})
				}
				c := &mirror.Change{TargetKey: "demo/t", GVR: gvr, Namespace: "demo", Name: "x", Path: "demo/x", Object: o, UID: "u", ResourceVersion: w.rv, Ignore: ign}
				if len(ign) == 0 {
					c.Ignore = nil
				}
				c.Mirrored = tc.mirrored
				q.enqueue([]*mirror.Change{c})
			}
			batch, _ := q.take(true)
			chunks, held, ignored := a.byAuthor(batch, 100, time.Now(), true) // final: no change waits for a report
			if len(held) != 0 {
				t.Fatalf("held %d", len(held))
			}
			if got := len(ignored) == 1; got != tc.ignored {
				t.Errorf("ignored %v, want %v (chunks %d)", got, tc.ignored, len(chunks))
			}
			if len(chunks)+len(ignored) != 1 {
				t.Errorf("%d chunks and %d ignored for one change", len(chunks), len(ignored))
			}
		})
	}
}

// TestAbsorbRemembersEarlierWrites: coalescing keeps the earlier writes'
// versions for ignoreChangesBy, at most MaxEarlier, then commits.
func TestAbsorbRemembersEarlierWrites(t *testing.T) {
	ign := selection.Ignores{selection.IgnoreOf(&v1alpha1.ChangeAuthors{Users: []string{"flux"}}, "")}
	var c *mirror.Change
	for i := range mirror.MaxEarlier + 1 {
		next := &mirror.Change{Path: "p", ResourceVersion: string(rune('a' + i)), Ignore: ign}
		if c != nil {
			next.Absorb(c)
		}
		c = next
	}
	if c.Mirrored || len(c.Earlier) != mirror.MaxEarlier || !slices.Contains(c.Earlier, "a") {
		t.Fatalf("after %d writes: mirrored %v, earlier %v", mirror.MaxEarlier+1, c.Mirrored, c.Earlier)
	}
	next := &mirror.Change{Path: "p", ResourceVersion: "z", Ignore: ign}
	next.Absorb(c)
	if !next.Mirrored || next.Earlier != nil {
		t.Errorf("past MaxEarlier: mirrored %v, earlier %v", next.Mirrored, next.Earlier)
	}
	plain := &mirror.Change{Path: "p", ResourceVersion: "y"}
	next = &mirror.Change{Path: "p", ResourceVersion: "z", Ignore: ign}
	next.Absorb(plain)
	if !next.Mirrored {
		t.Error("a write a rule without ignoreChangesBy took is not committed")
	}
}
