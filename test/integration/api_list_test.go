package integration

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
)

func TestFieldSelectors(t *testing.T) {
	c, ns := srv.Client.ConfigbutlerV1alpha1(), namespace()
	ctx := testContext(t)
	for _, tg := range []*v1alpha1.GitTarget{
		target(ns, "a", "p1", "main", "a"), target(ns, "b", "p1", "env/dev", "b"), target(ns, "c", "p2", "main", "c"),
	} {
		if _, err := c.GitTargets(ns).Create(ctx, tg, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for sel, want := range map[string]string{
		"spec.providerRef.name=p1":                  "a,b",
		"spec.branch=main":                          "a,c",
		"spec.branch=main,spec.providerRef.name=p2": "c",
		"spec.branch!=main":                         "b",
		"metadata.name=b":                           "b",
	} {
		l, err := c.GitTargets(ns).List(ctx, metav1.ListOptions{FieldSelector: sel})
		if err != nil {
			t.Fatalf("%s: %v", sel, err)
		}
		var names []string
		for _, i := range l.Items {
			names = append(names, i.Name)
		}
		if strings.Join(names, ",") != want {
			t.Errorf("%s: got %v, want %s", sel, names, want)
		}
	}
	if _, err := c.GitTargets(ns).List(ctx, metav1.ListOptions{FieldSelector: "spec.path=a"}); !apierrors.IsBadRequest(err) {
		t.Errorf("unsupported field selector: %v, want BadRequest", err)
	}
	// A field-selected watch sees only matching objects.
	w, err := c.GitTargets(ns).Watch(ctx, metav1.ListOptions{FieldSelector: "spec.branch=env/dev"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if _, err := c.GitTargets(ns).Create(ctx, target(ns, "d", "p1", "main", "d"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GitTargets(ns).Create(ctx, target(ns, "e", "p1", "env/dev", "e"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case ev := <-w.ResultChan():
			name := ev.Object.(*v1alpha1.GitTarget).Name
			if name == "d" {
				t.Fatal("watch with spec.branch=env/dev delivered target d on main")
			}
			if name == "e" {
				return
			}
		case <-time.After(20 * time.Second):
			t.Fatal("no event for target e")
		}
	}
}

// TestTables asks for the server-side Table of the main resource and both
// subresources, as kubectl does.
func TestTables(t *testing.T) {
	c, ns := srv.Client.ConfigbutlerV1alpha1(), namespace()
	ctx := testContext(t)
	if _, err := c.GitTargets(ns).Create(ctx, target(ns, "t", "p", "main", "apps"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	table := func(path string) *metav1.Table {
		t.Helper()
		raw, err := c.RESTClient().Get().AbsPath(path).SetHeader("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io").DoRaw(ctx)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		var tbl metav1.Table
		if err := json.Unmarshal(raw, &tbl); err != nil {
			t.Fatal(err)
		}
		return &tbl
	}
	base := "/apis/configbutler.ai/v1alpha1/namespaces/" + ns + "/gittargets"
	main := table(base)
	if len(main.Rows) != 1 || main.ColumnDefinitions[4].Name != "Ready" || main.Rows[0].Cells[4] != "False" || main.Rows[0].Cells[5] != "ValidationFailed" {
		t.Errorf("gittargets table: %+v", main)
	}
	gates := table(base + "/t/gates")
	if len(gates.Rows) != 6 || gates.Rows[0].Cells[0] != "Validated" || gates.Rows[5].Cells[0] != "Ready" {
		t.Errorf("gates table: %+v", gates.Rows)
	}
	snap := table(base + "/t/snapshot")
	if len(snap.Rows) != 1 || snap.ColumnDefinitions[3].Name != "Created" {
		t.Errorf("snapshot table: %+v", snap)
	}
	for _, r := range []string{"gitproviders", "watchrules"} {
		if tbl := table("/apis/configbutler.ai/v1alpha1/namespaces/" + ns + "/" + r); len(tbl.ColumnDefinitions) < 4 {
			t.Errorf("%s table has only %d columns", r, len(tbl.ColumnDefinitions))
		}
	}
	if tbl := table("/apis/configbutler.ai/v1alpha1/clusterwatchrules"); tbl.ColumnDefinitions[1].Name != "Target" {
		t.Errorf("clusterwatchrules columns %+v", tbl.ColumnDefinitions)
	}
}
