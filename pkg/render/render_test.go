package render

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
