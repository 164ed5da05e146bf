package render

import (
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func load(t *testing.T, file string) *unstructured.Unstructured {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	obj := map[string]interface{}{}
	if err := yaml.Unmarshal(raw, &obj); err != nil {
		t.Fatal(err)
	}
	return &unstructured.Unstructured{Object: obj}
}

// TestRenderGolden: server-owned fields are stripped, everything else kept, keys
// sorted; rendering twice gives the same bytes.
func TestRenderGolden(t *testing.T) {
	inputs, _ := filepath.Glob("testdata/*.input.yaml")
	if len(inputs) == 0 {
		t.Fatal("no inputs")
	}
	for _, in := range inputs {
		t.Run(filepath.Base(in), func(t *testing.T) {
			obj := load(t, in)
			got, err := Render(obj)
			if err != nil {
				t.Fatal(err)
			}
			again, _ := Render(load(t, in))
			if string(again) != string(got) {
				t.Fatal("rendering is not deterministic")
			}
			golden := strings.Replace(in, ".input.yaml", ".golden.yaml", 1)
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./pkg/render -update)", err)
			}
			if string(got) != string(want) {
				t.Errorf("rendered differs from %s:\n%s", golden, got)
			}
			for _, gone := range []string{"6f1c8a7e", "uid: u\n", "resourceVersion", "generation", "creationTimestamp", "managedFields", "selfLink",
				"deletionGracePeriodSeconds", "last-applied-configuration", "status:", "readyReplicas"} {
				if strings.Contains(string(got), gone) {
					t.Errorf("%s kept", gone)
				}
			}
			if obj.GetResourceVersion() == "" {
				t.Error("Render modified its input")
			}
		})
	}
}

func TestPathsAndParsePath(t *testing.T) {
	cm := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	sec := schema.GroupVersionResource{Version: "v1", Resource: "secrets"}
	cr := schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterroles"}
	dep := schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	for _, tc := range []struct {
		base       string
		gvr        schema.GroupVersionResource
		ns, name   string
		want       string
		namespaced bool
	}{
		{"clusters/prod", cm, "demo", "app", "clusters/prod/v1/configmaps/demo/app.yaml", true},
		{"clusters/prod", sec, "demo", "db", "clusters/prod/v1/secrets/demo/db.sops.yaml", true},
		{"", dep, "shop", "web", "apps/v1/deployments/shop/web.yaml", true},
		{"x", cr, "", "admin", "x/rbac.authorization.k8s.io/v1/clusterroles/admin.yaml", false},
		{"x", cr, "", "system:controller:foo", "x/rbac.authorization.k8s.io/v1/clusterroles/system:controller:foo.yaml", false},
	} {
		got := Path(tc.base, tc.gvr, tc.ns, tc.name)
		if got != tc.want {
			t.Errorf("Path = %s, want %s", got, tc.want)
		}
		ns, name, ok := ParsePath(tc.base, tc.gvr, tc.namespaced, got)
		if !ok || ns != tc.ns || name != tc.name {
			t.Errorf("ParsePath(%s) = %s %s %v", got, ns, name, ok)
		}
	}
	for _, foreign := range []string{
		"clusters/prod/v1/configmaps/README.md",
		"clusters/prod/v1/configmaps/demo/notes.txt",
		"clusters/prod/v1/configmaps/demo/sub/app.yaml",
		"clusters/prod/v1/configmaps/app.yaml",
		"clusters/prod/v1/configmaps/Bad_NS/app.yaml",
		"clusters/prod/v1/secrets/demo/db.yaml",
		"clusters/other/v1/configmaps/demo/app.yaml",
	} {
		gvr := cm
		if strings.Contains(foreign, "/secrets/") {
			gvr = sec
		}
		if _, _, ok := ParsePath("clusters/prod", gvr, true, foreign); ok {
			t.Errorf("ParsePath accepted foreign file %s", foreign)
		}
	}
}

// randomValue builds a JSON-like value of the kinds unstructured objects hold,
// biased towards what YAML treats specially: strings that look like numbers,
// booleans or null, leading and trailing spaces, colons and hashes, line
// breaks, unicode, and integral and fractional floats.
func randomValue(r *rand.Rand, depth int) interface{} {
	strs := []string{"", "plain", "true", "no", "null", "~", "123", "0x1F", "1e3", "-0.5", " lead", "trail ", "a: b",
		"#hash", "- dash", "multi\nline\n", "multi\nline", "tab\tx", "quote\"s", "it's", "ünïcödé ✓", "*star", "&amp",
		"!bang", "%pct", "@at", "`tick", "{x}", "[y]", "a,b", "?", "|", ">", "\\back", "line\r\nbreak", "10:30", "2026-01-02",
		"y", "Yes", "OFF", ".inf", "-.nan", "0777", "+12", strings.Repeat("long text ", 20), "end\n\n", "\n", "  \n  "}
	switch k := r.IntN(10); {
	case depth > 3 || k < 4:
		switch r.IntN(7) {
		case 0:
			return strs[r.IntN(len(strs))]
		case 1:
			return r.Int64N(1<<40) - 1<<39
		case 2:
			return float64(r.IntN(2000)) - 1000 // integral
		case 3:
			return r.Float64()*1e6 - 5e5
		case 4:
			return r.IntN(2) == 0
		case 5:
			return nil
		default:
			return []float64{1e20, 1e21, 123456789, 1e-7, 0.1, math.Copysign(0, -1), 5e18, 9.3e18, -9.3e18, math.MaxInt64, math.MinInt64}[r.IntN(11)]
		}
	case k < 7:
		m := map[string]interface{}{}
		for i := r.IntN(5); i > 0; i-- {
			m[strs[r.IntN(len(strs))]+fmt.Sprint(r.IntN(12))] = randomValue(r, depth+1)
		}
		return m
	default:
		var l []interface{}
		for i := r.IntN(4); i > 0; i-- {
			l = append(l, randomValue(r, depth+1))
		}
		if l == nil {
			return []interface{}{}
		}
		return l
	}
}

// TestRenderMatchesJSONRoundTrip: Render writes exactly the bytes files were
// always written with, sigs.k8s.io/yaml.Marshal of the sanitized object (JSON,
// then YAML), for thousands of random objects, wherever that way is itself
// deterministic; where it is not (go-yaml's key order for keys like "0x1F2"
// and "2026-01-021" depends on Go's map order), Render still gives one answer.
// It never changes its input.
func TestRenderMatchesJSONRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	unstable := 0
	for i := range 3000 {
		obj := map[string]interface{}{
			"apiVersion": "v1", "kind": "Thing",
			"metadata": map[string]interface{}{
				"name": fmt.Sprintf("n%d", i), "namespace": "ns", "uid": "u", "resourceVersion": "9", "generation": int64(2),
				"managedFields": []interface{}{map[string]interface{}{"manager": "m"}},
				"labels":        randomValue(r, 2),
				"annotations":   map[string]interface{}{LastAppliedAnnotation: "{}", "keep": randomValue(r, 3)},
			},
			"spec":   randomValue(r, 0),
			"data":   randomValue(r, 1),
			"status": randomValue(r, 1),
		}
		if r.IntN(3) == 0 {
			delete(obj["metadata"].(map[string]interface{})["annotations"].(map[string]interface{}), "keep")
		}
		u := &unstructured.Unstructured{Object: obj}
		before := u.DeepCopy()
		var oracle []string
		for range 4 {
			want, err := yaml.Marshal(Sanitize(u).Object)
			if err != nil {
				t.Fatal(err)
			}
			oracle = append(oracle, string(want))
		}
		got, err := Render(u)
		if err != nil {
			t.Fatal(err)
		}
		if !equality.Semantic.DeepEqual(before.Object, u.Object) {
			t.Fatalf("object %d: Render changed its input", i)
		}
		stripped := u.DeepCopy()
		StripForCache(stripped)
		if again, _ := Render(stripped); string(again) != string(got) {
			t.Fatalf("object %d renders differently after StripForCache:\n%s\n---\n%s", i, got, again)
		}
		if stripped.GetUID() != u.GetUID() || stripped.GetResourceVersion() != u.GetResourceVersion() {
			t.Fatalf("object %d: StripForCache dropped uid or resourceVersion", i)
		}
		stable := oracle[0] == oracle[1] && oracle[1] == oracle[2] && oracle[2] == oracle[3]
		if stable && string(got) != oracle[0] {
			// Four equal answers may be luck: a differing Render counts only
			// against an oracle that gives one answer a hundred times.
			for range 100 {
				if want, _ := yaml.Marshal(Sanitize(u).Object); string(want) != oracle[0] {
					stable = false
					break
				}
			}
			if stable {
				t.Fatalf("object %d renders differently:\n--- JSON round trip\n%s\n--- Render\n%s", i, oracle[0], got)
			}
		}
		if stable {
			continue
		}
		unstable++
		for range 5 {
			if again, _ := Render(u.DeepCopy()); string(again) != string(got) {
				t.Fatalf("object %d: Render is not deterministic:\n%s\n---\n%s", i, got, again)
			}
		}
	}
	t.Logf("%d of 3000 objects had a key order go-yaml does not fix", unstable)
}

// TestRenderKeyOrderIsDeterministic: keys that go-yaml's natural comparison
// does not order (it is not a total order) came out in either order through
// the JSON round trip, rewriting an unchanged object's file; Render always
// gives one answer.
func TestRenderKeyOrderIsDeterministic(t *testing.T) {
	data := map[string]interface{}{}
	for _, k := range []string{"0x1F2", "2026-01-021", "10:306", "0777", "007", "7", "a01", "a1", "b", "B", "x9", "x10"} {
		data[k] = k
	}
	u := &unstructured.Unstructured{Object: map[string]interface{}{"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]interface{}{"name": "n"}, "data": data}}
	first, err := Render(u)
	if err != nil {
		t.Fatal(err)
	}
	oracle := map[string]bool{}
	for range 200 {
		again, _ := Render(u.DeepCopy())
		if string(again) != string(first) {
			t.Fatalf("Render is not deterministic:\n%s\n---\n%s", first, again)
		}
		want, _ := yaml.Marshal(Sanitize(u.DeepCopy()).Object)
		oracle[string(want)] = true
	}
	t.Logf("the JSON round trip gave %d different files for this object in 200 runs", len(oracle))
}

// Sanitize is how Render stripped objects before it emitted YAML itself: a
// deep copy without the server-owned fields. The tests hold Render to it.
func Sanitize(obj *unstructured.Unstructured) *unstructured.Unstructured {
	out := obj.DeepCopy()
	delete(out.Object, "status")
	md, ok := out.Object["metadata"].(map[string]interface{})
	if ok {
		for _, f := range serverOwnedMetadata {
			delete(md, f)
		}
		if ann, ok := md["annotations"].(map[string]interface{}); ok {
			delete(ann, LastAppliedAnnotation)
			if len(ann) == 0 {
				delete(md, "annotations")
			}
		}
	}
	return out
}
