package history

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/configbutler/gitops-reverser/pkg/render"
)

func TestParsePath(t *testing.T) {
	longName := strings.Repeat("n", 253)
	longPath := render.Path("clusters/prod", schema.GroupVersionResource{Group: "example.com", Version: "v1", Resource: "widgets"}, "ns", longName)
	for _, tc := range []struct {
		name, target, path string
		want               Object
		ok                 bool
	}{
		{"namespaced core", "clusters/prod", "clusters/prod/v1/configmaps/team-a/settings.yaml",
			Object{Version: "v1", Resource: "configmaps", Namespace: "team-a", Name: "settings"}, true},
		{"namespaced grouped", "clusters/prod", "clusters/prod/apps/v1/deployments/team-a/web.yaml",
			Object{Group: "apps", Version: "v1", Resource: "deployments", Namespace: "team-a", Name: "web"}, true},
		{"cluster-scoped core", "clusters/prod", "clusters/prod/v1/namespaces/team-a.yaml",
			Object{Version: "v1", Resource: "namespaces", Name: "team-a"}, true},
		{"cluster-scoped grouped", "", "rbac.authorization.k8s.io/v1/clusterroles/system:controller:job.yaml",
			Object{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterroles", Name: "system:controller:job"}, true},
		{"cluster-scoped dotless group", "/base/", "base/policy/v1beta1/podsecuritypolicies/restricted.yaml",
			Object{Group: "policy", Version: "v1beta1", Resource: "podsecuritypolicies", Name: "restricted"}, true},
		{"namespaced dotless group", "base", "base/batch/v2alpha1/cronjobs/ns/nightly.yaml",
			Object{Group: "batch", Version: "v2alpha1", Resource: "cronjobs", Namespace: "ns", Name: "nightly"}, true},
		{"secret", "base", "base/v1/secrets/ns/db.sops.yaml",
			Object{Version: "v1", Resource: "secrets", Namespace: "ns", Name: "db"}, true},
		{"encoded name", "base", "base/rbac.authorization.k8s.io/v1/roles/ns/%2Ehidden%5Cx.yaml",
			Object{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "roles", Namespace: "ns", Name: `.hidden\x`}, true},
		{"shortened name", "clusters/prod", longPath,
			Object{Group: "example.com", Version: "v1", Resource: "widgets", Namespace: "ns", Shortened: true}, true},
		{"a name ending in .sops of another kind", "base", "base/v1/configmaps/ns/x.sops.yaml",
			Object{Version: "v1", Resource: "configmaps", Namespace: "ns", Name: "x.sops"}, true},

		{"secret without .sops", "base", "base/v1/secrets/ns/db.yaml", Object{}, false},
		{"outside the target", "base", "other/v1/configmaps/ns/x.yaml", Object{}, false},
		{"target as a string prefix", "base", "basement/v1/configmaps/ns/x.yaml", Object{}, false},
		{"readme", "base", "base/README.md", Object{}, false},
		{"not yaml", "base", "base/v1/configmaps/ns/x.json", Object{}, false},
		{"nested too deep", "base", "base/apps/v1/deployments/ns/extra/x.yaml", Object{}, false},
		{"too shallow", "base", "base/v1/x.yaml", Object{}, false},
		{"grouped too shallow", "base", "base/apps/v1/x.yaml", Object{}, false},
		{"bad namespace", "base", "base/v1/configmaps/Team_A/x.yaml", Object{}, false},
		{"bad escape", "base", "base/v1/configmaps/ns/100%.yaml", Object{}, false},
		{"bad group", "base", "base/Apps/v1/deployments/ns/x.yaml", Object{}, false},
	} {
		got, ok := ParsePath(tc.target, tc.path)
		got.stem, got.ext = "", ""
		if ok != tc.ok || got != tc.want {
			t.Errorf("%s: ParsePath(%q, %q) = %+v, %v; want %+v, %v", tc.name, tc.target, tc.path, got, ok, tc.want, tc.ok)
		}
	}
}

func TestIsKubeVersion(t *testing.T) {
	for v, want := range map[string]bool{
		"v1": true, "v2": true, "v10": true, "v1beta1": true, "v2alpha3": true, "v1beta12": true,
		"": false, "v": false, "v0": false, "v01": false, "1": false, "V1": false, "v1beta": false,
		"v1beta0": false, "v1gamma1": false, "v1alpha1x": false, "apps": false, "policy": false,
	} {
		if got := isKubeVersion(v); got != want {
			t.Errorf("isKubeVersion(%q) = %v", v, got)
		}
	}
}

func TestNameFromContent(t *testing.T) {
	longName := strings.Repeat("n", 253)
	gvr := schema.GroupVersionResource{Version: "v1", Resource: "secrets"}
	obj, ok := ParsePath("", render.Path("", gvr, "ns", longName))
	if !ok || !obj.Shortened {
		t.Fatalf("%+v %v", obj, ok)
	}
	content := "apiVersion: v1\nkind: Secret\nmetadata:\n  name: " + longName + "\n  namespace: ns\ndata:\n  k: ENC[AES256_GCM,data:x]\n"
	if name, ok := obj.NameFromContent([]byte(content)); !ok || name != longName {
		t.Errorf("name %q, %v", name, ok)
	}
	other := strings.Replace(content, longName, strings.Repeat("m", 253), 1)
	if _, ok := obj.NameFromContent([]byte(other)); ok {
		t.Error("a name the file name is not written for was accepted")
	}
	if _, ok := obj.NameFromContent([]byte("not: [yaml")); ok {
		t.Error("bad YAML was accepted")
	}
	plain, _ := ParsePath("", "v1/configmaps/ns/x.yaml")
	if name, ok := plain.NameFromContent(nil); !ok || name != "x" {
		t.Errorf("plain: %q %v", name, ok)
	}
}
