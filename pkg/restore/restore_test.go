package restore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"filippo.io/age"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
)

var (
	cmGVR     = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	secretGVR = schema.GroupVersionResource{Version: "v1", Resource: "secrets"}
	deployGVR = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
)

// outcome is an object's line in a result: "Kind ns/name Result[ Reason]".
func outcome(o v1alpha1.RestoredObject) string {
	s := o.Kind + " " + strings.TrimPrefix(o.Namespace+"/"+o.Name, "/") + " " + o.Result
	if o.Reason != "" {
		s += " " + o.Reason
	}
	return s
}

func outcomes(res Result) []string {
	var out []string
	for _, o := range res.Objects {
		out = append(out, outcome(o))
	}
	return out
}

func expect(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s:\n  %s\nwant:\n  %s", what, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

func deployment(ns, name, image string) *unstructured.Unstructured {
	return obj("apps/v1", "Deployment", ns, name, map[string]any{"spec": map[string]any{
		"selector": map[string]any{"matchLabels": map[string]any{"app": name}},
		"template": map[string]any{
			"metadata": map[string]any{"labels": map[string]any{"app": name}},
			"spec":     map[string]any{"containers": []any{map[string]any{"name": "app", "image": image}}}},
	}})
}

// scenario is the cluster most tests start from, and files restoring it.
func scenario(t *testing.T) (*fakeCluster, testDiscovery, *age.X25519Identity, []File) {
	id, _ := age.GenerateX25519Identity()
	cluster := newFakeCluster(
		namespace("a"),
		configMap("a", "same", map[string]any{"k": "v"}),
		configMap("a", "changed", map[string]any{"k": "old"}),
		deployment("a", "web", "web:1"),
	)
	fs := files(t, id,
		deployment("a", "web", "web:2"),
		obj("v1", "Service", "a", "web", map[string]any{"spec": map[string]any{"ports": []any{map[string]any{"port": int64(80)}}}}),
		configMap("a", "new", map[string]any{"k": "v"}),
		configMap("a", "changed", map[string]any{"k": "new"}),
		configMap("a", "same", map[string]any{"k": "v"}),
		obj("v1", "Secret", "a", "db", map[string]any{"data": map[string]any{"password": "aHVudGVyMg=="}}),
		obj("v1", "ServiceAccount", "a", "app", nil),
		namespace("a"),
	)
	return cluster, newTestDiscovery(), id, fs
}

// TestRunRestores: objects are written in order, as the user's client,
// with server-side apply; what already holds is not written; results and
// summary say what happened.
func TestRunRestores(t *testing.T) {
	cluster, disc, id, fs := scenario(t)
	r := newTestRestorer(t, cluster, disc)
	r.Workers = 1
	res, err := r.Run(context.Background(), fs, Options{Identities: []age.Identity{id}, Namespaces: []string{"a"}})
	if err != nil {
		t.Fatal(err)
	}
	expect(t, "results", outcomes(res), []string{
		"Namespace a Unchanged",
		"ServiceAccount a/app Created",
		"ConfigMap a/changed Updated",
		"ConfigMap a/new Created",
		"ConfigMap a/same Unchanged",
		"Secret a/db Created",
		"Service a/web Created",
		"Deployment a/web Updated",
	})
	expect(t, "writes", cluster.writes(), []string{
		"apply serviceaccounts a/app",
		"apply configmaps a/changed",
		"apply configmaps a/new",
		"apply secrets a/db",
		"apply services a/web",
		"apply deployments a/web",
	})
	if res.Summary != (v1alpha1.RestoreSummary{Created: 4, Updated: 2, Unchanged: 2}) {
		t.Errorf("summary %+v", res.Summary)
	}
	if pw, _, _ := unstructured.NestedString(cluster.object(secretGVR, "a", "db").Object, "data", "password"); pw != "aHVudGVyMg==" {
		t.Errorf("the Secret was written with password %q", pw)
	}
	for _, o := range res.Objects {
		if o.Diff != "" {
			t.Errorf("%s: a restore has no diffs", outcome(o))
		}
	}
	// Again: everything holds, nothing is written.
	before := len(cluster.writes())
	res, err = r.Run(context.Background(), fs, Options{Identities: []age.Identity{id}})
	if err != nil || res.Summary != (v1alpha1.RestoreSummary{Unchanged: 8}) || len(cluster.writes()) != before {
		t.Errorf("second restore: %+v, %v, writes %v", res.Summary, err, cluster.writes()[before:])
	}
}

// TestRunDryRun: a dry run plans with dry-run requests, shows diffs (a
// Secret's masked), and writes nothing.
func TestRunDryRun(t *testing.T) {
	cluster, disc, id, fs := scenario(t)
	cluster = newFakeCluster(append(cluster.all(), obj("v1", "Secret", "a", "db", map[string]any{"data": map[string]any{"password": "b2xkLXB3"}}))...)
	r := newTestRestorer(t, cluster, disc)
	res, err := r.Run(context.Background(), fs, Options{DryRun: true, Identities: []age.Identity{id}})
	if err != nil {
		t.Fatal(err)
	}
	expect(t, "plan", outcomes(res), []string{
		"Namespace a Unchanged",
		"ServiceAccount a/app Create",
		"ConfigMap a/changed Update",
		"ConfigMap a/new Create",
		"ConfigMap a/same Unchanged",
		"Secret a/db Update",
		"Service a/web Create",
		"Deployment a/web Update",
	})
	if w := cluster.writes(); len(w) != 0 {
		t.Fatalf("a dry run wrote: %v", w)
	}
	if res.Summary != (v1alpha1.RestoreSummary{Created: 3, Updated: 3, Unchanged: 2}) {
		t.Errorf("summary %+v", res.Summary)
	}
	diffs := map[string]string{}
	for _, o := range res.Objects {
		diffs[o.Kind+" "+o.Name] = o.Diff
		if (o.Result == Unchanged) != (o.Diff == "") {
			t.Errorf("%s: diff %q", outcome(o), o.Diff)
		}
	}
	for name, want := range map[string]string{
		"ConfigMap changed": "-  k: old\n+  k: new\n",
		"Deployment web":    "-      - image: web:1\n+      - image: web:2\n",
		"Secret db":         "-  password: '***'\n+  password: '*** (changed)'\n",
		"ConfigMap new":     "+++ restored\n@@ -0,0 +1,7 @@\n+apiVersion: v1\n",
	} {
		if !strings.Contains(diffs[name], want) {
			t.Errorf("%s: diff lacks %q:\n%s", name, want, diffs[name])
		}
	}
	for _, v := range []string{"aHVudGVyMg==", "b2xkLXB3"} {
		if strings.Contains(diffs["Secret db"], v) {
			t.Errorf("the Secret's diff shows a value:\n%s", diffs["Secret db"])
		}
	}
}

// TestRunFailuresArePerObject: a Forbidden read, an Invalid update (an
// immutable field), a file that does not decrypt and a kind not served fail
// their object only; objects after them, even ones that depend on them, are
// still tried and the API says why.
func TestRunFailuresArePerObject(t *testing.T) {
	cluster, disc, id, fs := scenario(t)
	cluster.deny = func(verb string, gvr schema.GroupVersionResource, ns, name string) bool {
		return gvr.Resource == "secrets" || (verb == "apply" && gvr.Resource == "serviceaccounts")
	}
	cluster.reject = func(o *unstructured.Unstructured) error {
		if o.GetKind() != "Deployment" {
			return nil
		}
		return apierrors.NewInvalid(schema.GroupKind{Group: "apps", Kind: "Deployment"}, o.GetName(), field.ErrorList{
			field.Invalid(field.NewPath("spec", "selector"), "app=web", "field is immutable")})
	}
	other, _ := age.GenerateX25519Identity()
	fs = append(fs, files(t, other, obj("v1", "Secret", "a", "foreign", map[string]any{"data": map[string]any{"k": "dg=="}}))...)
	fs = append(fs, files(t, id, obj("example.com/v1", "Widget", "a", "w", nil))...)
	r := newTestRestorer(t, cluster, disc)
	res, err := r.Run(context.Background(), fs, Options{Identities: []age.Identity{id}})
	if err != nil {
		t.Fatal(err)
	}
	expect(t, "results", outcomes(res), []string{
		"Namespace a Unchanged",
		"ServiceAccount a/app Failed Forbidden",
		"ConfigMap a/changed Updated",
		"ConfigMap a/new Created",
		"ConfigMap a/same Unchanged",
		"Secret a/db Failed Forbidden",
		"Secret a/foreign Failed DecryptionFailed",
		"Widget a/w Failed NoKindMatch",
		"Service a/web Created",
		"Deployment a/web Failed Invalid",
	})
	msgs := map[string]string{}
	for _, o := range res.Objects {
		msgs[o.Kind+" "+o.Name] = o.Message
	}
	for name, want := range map[string]string{
		"Deployment web":     "spec.selector: Invalid value: \"app=web\": field is immutable",
		"Secret db":          `User "alice" cannot get resource "secrets"`,
		"ServiceAccount app": `User "alice" cannot apply`,
		"Widget w":           "the cluster does not serve the kind Widget.example.com (example.com/v1)",
		"Secret foreign":     "does not decrypt with the target's age keys",
	} {
		if !strings.Contains(msgs[name], want) {
			t.Errorf("%s: message %q lacks %q", name, msgs[name], want)
		}
	}
	if res.Summary.Failed != 5 || res.Summary.Created != 2 {
		t.Errorf("summary %+v", res.Summary)
	}
}

// TestRunKindNoLongerServed: a kind gone from the cluster, or served in
// other versions only, fails with NoKindMatch and says which.
func TestRunKindNoLongerServed(t *testing.T) {
	cluster := newFakeCluster(namespace("a"))
	id, _ := age.GenerateX25519Identity()
	fs := files(t, id, obj("example.com/v1", "Widget", "a", "w", nil), obj("apps/v1beta1", "Deployment", "a", "old", nil))
	res, err := newTestRestorer(t, cluster, newTestDiscovery()).Run(context.Background(), fs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	expect(t, "results", outcomes(res), []string{"Widget a/w Failed NoKindMatch", "Deployment a/old Failed NoKindMatch"})
	if m := res.Objects[1].Message; !strings.Contains(m, "no longer serves Deployment in apps/v1beta1 (it serves apps/v1)") {
		t.Errorf("message: %s", m)
	}
	if m := res.Objects[0].Message; !strings.Contains(m, "is gone") {
		t.Errorf("message: %s", m)
	}
}

// TestRunTooManyObjects: a restore over the bound is refused as a whole.
func TestRunTooManyObjects(t *testing.T) {
	cluster, disc, id, fs := scenario(t)
	r := newTestRestorer(t, cluster, disc)
	r.MaxObjects = 3
	_, err := r.Run(context.Background(), fs, Options{Identities: []age.Identity{id}})
	if !errors.Is(err, ErrTooManyObjects) || !strings.Contains(err.Error(), "the files hold 8 objects, a restore writes at most 3") {
		t.Fatalf("err = %v", err)
	}
	if len(cluster.calls) != 0 {
		t.Fatalf("requests: %v", cluster.calls)
	}
}

// TestRunRequestsPerObject: a restore of 1,000 ConfigMaps reads them with
// one List and writes each with one apply, as kubectl apply --server-side
// does (one PATCH each); a user who may not list reads each with a Get.
func TestRunRequestsPerObject(t *testing.T) {
	var objs []*unstructured.Unstructured
	for i := range 1000 {
		objs = append(objs, configMap("a", fmt.Sprintf("cm-%04d", i), map[string]any{"k": fmt.Sprint(i)}))
	}
	id, _ := age.GenerateX25519Identity()
	fs := files(t, id, objs...)
	for _, denyList := range []bool{false, true} {
		cluster := newFakeCluster(namespace("a"), configMap("a", "cm-0000", map[string]any{"k": "0"}))
		cluster.deny = func(verb string, _ schema.GroupVersionResource, _, _ string) bool { return denyList && verb == "list" }
		res, err := newTestRestorer(t, cluster, newTestDiscovery()).Run(context.Background(), fs, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if res.Summary != (v1alpha1.RestoreSummary{Created: 999, Unchanged: 1}) {
			t.Fatalf("summary %+v", res.Summary)
		}
		gets, lists, applies := cluster.count("get"), cluster.count("list"), cluster.count("apply")
		wantGets := 1 // the namespace
		if denyList {
			wantGets += 1000
		}
		if gets != wantGets || lists != 1 || applies != 999 {
			t.Errorf("deny list %v: %d gets, %d lists, %d applies", denyList, gets, lists, applies)
		}
	}
}

// BenchmarkRun1000ConfigMaps is the restore's own cost for 1,000
// ConfigMaps (decoding, comparing, ordering), without the network.
func BenchmarkRun1000ConfigMaps(b *testing.B) {
	var objs []*unstructured.Unstructured
	for i := range 1000 {
		objs = append(objs, configMap("a", fmt.Sprintf("cm-%04d", i), map[string]any{"k": fmt.Sprint(i), "config.yaml": strings.Repeat("x: 1\n", 20)}))
	}
	id, _ := age.GenerateX25519Identity()
	fs := files(b, id, objs...)
	disc := newTestDiscovery()
	for b.Loop() {
		cluster := newFakeCluster(namespace("a"))
		if _, err := newTestRestorer(b, cluster, disc).Run(context.Background(), fs, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
