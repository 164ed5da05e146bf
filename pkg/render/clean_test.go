package render

import (
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

func TestParseFieldPath(t *testing.T) {
	for _, ok := range []string{"spec.replicas", "metadata.annotations[example.com/x]", "metadata.annotations[example.com/*]",
		"spec.template.spec.containers[*].image", "a[b][c]", "a[b].c", "metadata.labels[app.kubernetes.io/name]"} {
		if _, err := ParseFieldPath(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".a", "a.", "a..b", "a[", "a[]", "a[b", "a[*b]", "a[b*c]", "a]b", "a*", "a[b]c"} {
		if _, err := ParseFieldPath(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func obj(t *testing.T, y string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(y), &u.Object); err != nil {
		t.Fatal(err)
	}
	return u
}

func render(t *testing.T, u *unstructured.Unstructured, c *Cleaner) string {
	t.Helper()
	b, err := RenderWith(u, c)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestDefaultDrops: what controllers and the API server write back is left
// out; what only looks like it (a headless Service's clusterIP) stays; the
// object itself is never modified.
func TestDefaultDrops(t *testing.T) {
	cases := []struct{ name, in, want, gone string }{
		{"deployment revision and owner", `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  annotations: {deployment.kubernetes.io/revision: "3", team: shop}
  ownerReferences: [{apiVersion: v1, kind: X, name: x, uid: u}]
spec: {replicas: 1}`, "team: shop", "revision"},
		{"service allocation", `apiVersion: v1
kind: Service
metadata: {name: s}
spec: {clusterIP: 10.96.0.7, clusterIPs: [10.96.0.7], ports: [{port: 80}]}`, "port: 80", "10.96.0.7"},
		{"headless service keeps None", `apiVersion: v1
kind: Service
metadata: {name: s}
spec: {clusterIP: None, clusterIPs: [None]}`, "clusterIP: None", "zzz"},
		{"pvc binding", `apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: data
  annotations: {pv.kubernetes.io/bind-completed: "yes", volume.kubernetes.io/selected-node: n1}
spec: {volumeName: pvc-123, resources: {requests: {storage: 1Gi}}}`, "storage: 1Gi", "pvc-123"},
		{"namespace", `apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {kubernetes.io/metadata.name: shop, team: a}}
spec: {finalizers: [kubernetes]}`, "team: a", "finalizers"},
		{"a ConfigMap with an owner", `apiVersion: v1
kind: ConfigMap
metadata: {name: c, ownerReferences: [{apiVersion: v1, kind: X, name: x, uid: u}]}
data: {k: v}`, "k: v", "ownerReferences"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := obj(t, tc.in)
			before := u.DeepCopy()
			got := render(t, u, nil)
			if !strings.Contains(got, tc.want) || strings.Contains(got, tc.gone) {
				t.Errorf("rendered:\n%s\nwant %q, without %q", got, tc.want, tc.gone)
			}
			if strings.Contains(got, "annotations: {}") || strings.Contains(got, "annotations:\n  name") {
				t.Errorf("an emptied map stays:\n%s", got)
			}
			if !reflect.DeepEqual(before.Object, u.Object) {
				t.Error("rendering modified the object")
			}
		})
	}
}

// TestTargetDrops: a target's own drops, by group and kind: a field, keys by
// prefix, a field of every list element; a change that touches only them
// renders to the same bytes.
func TestTargetDrops(t *testing.T) {
	mk := func(replicas, beat, image string) *unstructured.Unstructured {
		return obj(t, `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  annotations: {example.com/heartbeat: "`+beat+`", example.com/other: "`+beat+`", keep: me}
spec:
  replicas: `+replicas+`
  template:
    spec:
      containers: [{name: a, image: `+image+`}, {name: b, image: `+image+`}]`)
	}
	c := NewCleaner([]Drop{
		{Groups: []string{"apps"}, Kinds: []string{"Deployment"}, Path: mustPath("spec.replicas")},
		{Path: mustPath("metadata.annotations[example.com/*]")},
		{Kinds: []string{"Deployment"}, Path: mustPath("spec.template.spec.containers[*].image")},
		{Kinds: []string{"StatefulSet"}, Path: mustPath("metadata.annotations[keep]")},
	})
	a, b := render(t, mk("1", "t1", "nginx:1"), c), render(t, mk("5", "t2", "nginx:2"), c)
	if a != b {
		t.Errorf("changes only in dropped fields render differently:\n%s\n---\n%s", a, b)
	}
	if strings.Contains(a, "replicas") || strings.Contains(a, "example.com") || strings.Contains(a, "image") || !strings.Contains(a, "keep: me") || !strings.Contains(a, "name: b") {
		t.Errorf("rendered:\n%s", a)
	}
	if c.Hash() == NewCleaner(nil).Hash() || c.Hash() != NewCleaner(c.drops[len(DefaultDrops):]).Hash() {
		t.Error("the hash does not identify the target's drops")
	}
	if render(t, mk("1", "t1", "nginx:1"), nil) == a {
		t.Error("the defaults alone drop the target's fields")
	}
}

// Targets that ignore no fields of their own share the one default cleaner
// (1,000 copies of the defaults were some 3.5 MB of an idle server).
func TestCleanerWithoutExtraIsShared(t *testing.T) {
	if NewCleaner(nil) != NewCleaner([]Drop{}) || NewCleaner(nil) != defaultCleaner {
		t.Error("a cleaner without extra drops is a new copy of the defaults")
	}
	p, err := ParseFieldPath("spec.replicas")
	if err != nil {
		t.Fatal(err)
	}
	if c := NewCleaner([]Drop{{Path: p}}); c == defaultCleaner || c.Hash() == defaultCleaner.Hash() {
		t.Error("a cleaner with extra drops is the default one")
	}
}
