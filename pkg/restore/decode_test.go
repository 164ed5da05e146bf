package restore

import (
	"strings"
	"testing"

	"filippo.io/age"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/configbutler/gitops-reverser/pkg/render"
	"github.com/configbutler/gitops-reverser/pkg/sops"
)

// files renders objects into the files the mirror writes (Secrets
// encrypted to id).
func files(t testing.TB, id *age.X25519Identity, objs ...*unstructured.Unstructured) []File {
	t.Helper()
	var out []File
	for _, o := range objs {
		b, err := render.Render(o)
		if err != nil {
			t.Fatal(err)
		}
		gvr := resourceOf(o)
		if render.IsSecret(gvr) {
			if b, err = sops.Encrypt(b, []string{id.Recipient().String()}); err != nil {
				t.Fatal(err)
			}
		}
		out = append(out, File{Path: render.Path("clusters/prod", gvr, o.GetNamespace(), o.GetName()), Content: b})
	}
	return out
}

// TestDecode: objects decode, Secrets decrypt, broken files fail alone,
// foreign files are left out, and no message holds a Secret's value.
func TestDecode(t *testing.T) {
	id, _ := age.GenerateX25519Identity()
	other, _ := age.GenerateX25519Identity()
	secret := obj("v1", "Secret", "a", "db", map[string]any{"data": map[string]any{"password": "aHVudGVyMg=="}})
	in := files(t, id, configMap("a", "cfg", map[string]any{"k": "v"}), secret)
	wrongKey := files(t, other, obj("v1", "Secret", "a", "other", map[string]any{"stringData": map[string]any{"token": "s3cr3t-value"}}))[0]
	in = append(in, wrongKey,
		File{Path: "clusters/prod/README.md", Content: []byte("# hi\n")},
		File{Path: "clusters/prod/.sops.yaml", Content: []byte("creation_rules: []\n")},
		File{Path: "clusters/prod/kustomization.yaml", Content: []byte("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: []\n")},
		File{Path: "clusters/prod/list.yaml", Content: []byte("- a\n- b\n")},
		File{Path: "clusters/prod/v1/configmaps/a/broken.yaml", Content: []byte("apiVersion: v1\nkind: [\n")},
		File{Path: "clusters/prod/v1/configmaps/a/badgv.yaml", Content: []byte("apiVersion: a/b/c\nkind: ConfigMap\nmetadata:\n  name: x\n")},
	)
	got := Decode(in, []age.Identity{id})
	type row struct{ path, kind, ns, name, reason string }
	want := []row{
		{"clusters/prod/v1/configmaps/a/cfg.yaml", "ConfigMap", "a", "cfg", ""},
		{"clusters/prod/v1/secrets/a/db.sops.yaml", "Secret", "a", "db", ""},
		{"clusters/prod/v1/secrets/a/other.sops.yaml", "Secret", "a", "other", ReasonDecryptionFailed},
		{"clusters/prod/v1/configmaps/a/broken.yaml", "", "", "clusters/prod/v1/configmaps/a/broken.yaml", ReasonInvalid},
		{"clusters/prod/v1/configmaps/a/badgv.yaml", "ConfigMap", "", "x", ReasonInvalid},
	}
	if len(got) != len(want) {
		t.Fatalf("decoded %d files, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if (row{g.Path, g.Kind, g.Namespace, g.Name, g.Reason}) != w {
			t.Errorf("file %d: got %+v, want %+v", i, row{g.Path, g.Kind, g.Namespace, g.Name, g.Reason}, w)
		}
		if (g.Reason == "") != (g.Object != nil) {
			t.Errorf("%s: object %v with reason %q", g.Path, g.Object != nil, g.Reason)
		}
		if g.Reason != "" && g.Message == "" {
			t.Errorf("%s: failed without a message", g.Path)
		}
		for _, v := range []string{"s3cr3t-value", "aHVudGVyMg=="} {
			if strings.Contains(g.Message, v) {
				t.Errorf("%s: the message holds a Secret's value: %s", g.Path, g.Message)
			}
		}
	}
	if pw, _, _ := unstructured.NestedString(got[1].Object.Object, "data", "password"); pw != "aHVudGVyMg==" {
		t.Errorf("decrypted password = %q", pw)
	}
	if !strings.Contains(got[2].Message, "does not decrypt") {
		t.Errorf("decryption message: %s", got[2].Message)
	}
}

// TestDecodeWithoutIdentities: a Secret without the target's keys fails, the
// rest decodes.
func TestDecodeWithoutIdentities(t *testing.T) {
	id, _ := age.GenerateX25519Identity()
	got := Decode(files(t, id, obj("v1", "Secret", "a", "db", map[string]any{"data": map[string]any{"k": "dg=="}}),
		configMap("a", "cfg", nil)), nil)
	if len(got) != 2 || got[0].Reason != ReasonDecryptionFailed || got[1].Reason != "" {
		t.Fatalf("got %+v", got)
	}
}
