package files

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/go-git/go-git/v5/plumbing"
	yaml3 "go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/configbutler/gitops-reverser/pkg/gitmodel"
	"github.com/configbutler/gitops-reverser/pkg/lifecycle/mirror"
	"github.com/configbutler/gitops-reverser/pkg/render"
	"github.com/configbutler/gitops-reverser/pkg/sops"
)

// hugeTree holds, at every path, a file too large to read (as git.Repo
// reports one): ReadFile refuses it, FileHash gives its blob hash.
type hugeTree struct{ reads int }

func (h *hugeTree) ReadFile(path string) ([]byte, bool, error) {
	h.reads++
	return nil, true, fmt.Errorf("git: %s is 2147483648 bytes, over the %d bytes read: %w", path, gitmodel.MaxFileSize, gitmodel.ErrFileTooLarge)
}

func (h *hugeTree) FileHash(string) (plumbing.Hash, bool, error) {
	return plumbing.NewHash("0123456789012345678901234567890123456789"), true, nil
}

func testKeys(t *testing.T) *mirror.Keys {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	ids, recipients, err := sops.ParseIdentities(map[string][]byte{"identity.agekey": []byte(id.String())})
	if err != nil {
		t.Fatal(err)
	}
	return &mirror.Keys{Recipients: recipients, Identities: ids, Hash: sops.RecipientsHash(recipients)}
}

// TestSecretOverHugeFile: a Secret whose file in Git is too large to be one
// the server wrote (ErrFileTooLarge) is encrypted afresh and replaces it:
// found, not unchanged, no error, and the new content decrypts to the Secret.
func TestSecretOverHugeFile(t *testing.T) {
	keys := testKeys(t)
	obj := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Secret",
		"metadata": map[string]any{"name": "s", "namespace": "shop"}, "data": map[string]any{"k": "dmFsdWU="}}}
	tree := &hugeTree{}
	gvr := schema.GroupVersionResource{Version: "v1", Resource: "secrets"}
	content, unchanged, found, err := Render(tree, gvr, obj, keys, nil, "t/v1/secrets/shop/s.sops.yaml")
	if err != nil || unchanged || !found || tree.reads != 1 {
		t.Fatalf("Render: unchanged %v, found %v, err %v, reads %d", unchanged, found, err, tree.reads)
	}
	plain, err := render.RenderWith(obj, nil)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := sops.Decrypt(content, keys.Identities)
	if err != nil {
		t.Fatal(err)
	}
	if norm, _ := sops.Normalize(plain); string(dec) != string(norm) {
		t.Fatalf("the new file decrypts to\n%s\nwant\n%s", dec, norm)
	}

	// Another read error still fails.
	if _, _, err := ReadExisting(failingTree{}, "x"); err == nil || errors.Is(err, gitmodel.ErrFileTooLarge) {
		t.Fatalf("other errors: %v", err)
	}
}

type failingTree struct{}

func (failingTree) ReadFile(string) ([]byte, bool, error) { return nil, false, errors.New("boom") }
func (failingTree) FileHash(string) (plumbing.Hash, bool, error) {
	return plumbing.ZeroHash, false, errors.New("boom")
}

// TestBootstrapNeverReads: the bootstrap files are compared by blob hash: a
// huge .sops.yaml is never read, and is replaced; one with the wanted
// content is left alone.
func TestBootstrapNeverReads(t *testing.T) {
	keys := testKeys(t)
	tree := &hugeTree{}
	changes, err := Bootstrap(tree, &mirror.Target{Key: "shop/t", Path: "t", Keys: keys})
	if err != nil || tree.reads != 0 || len(changes) != 1 || changes[0].Path != "t/.sops.yaml" || string(changes[0].Content) != string(SOPSConfigFor(keys)) {
		t.Fatalf("Bootstrap over a huge .sops.yaml: %d reads, %v, %v", tree.reads, changes, err)
	}
	same := sameTree{hash: gitmodel.BlobHash(SOPSConfigFor(keys))}
	if changes, err := Bootstrap(same, &mirror.Target{Key: "shop/t", Path: "t", Keys: keys}); err != nil || len(changes) != 0 {
		t.Fatalf("Bootstrap over the wanted .sops.yaml: %v, %v", changes, err)
	}
}

// sameTree has a file of the given blob hash at every path, and reads none.
type sameTree struct{ hash plumbing.Hash }

func (s sameTree) ReadFile(string) ([]byte, bool, error) {
	return nil, false, errors.New("ReadFile called")
}
func (s sameTree) FileHash(string) (plumbing.Hash, bool, error) { return s.hash, true, nil }

// allocated runs f and returns the bytes allocated meanwhile.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestObjectOf: the manifests the server writes (rendered objects, Secrets
// encrypted with SOPS) and the sops CLI's layout name their object, whatever
// else their metadata holds; anything not in that shape is not recognized.
func TestObjectOf(t *testing.T) {
	longName := strings.TrimSpace(strings.Repeat("word ", 30)) // folded by the emitter
	obj := func(ns, name string) *unstructured.Unstructured {
		md := map[string]any{
			"name":       name,
			"labels":     map[string]any{"name": "label-name", "namespace": "label-ns"},
			"finalizers": []any{"example.com/x"},
			"annotations": map[string]any{
				"a": "first line\n  name: evil\nnamespace: evil\n",
				"b": "  name: evil",
			},
			"ownerReferences": []any{map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": "1"}},
		}
		if ns != "" {
			md["namespace"] = ns
		}
		return &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": md,
			"data": map[string]any{"metadata": "name: evil\n", "k": "[0, 0]"}}}
	}
	keys := testKeys(t)
	for _, tc := range []struct{ ns, name string }{
		{"shop", "cm"}, {"", "cluster-scoped"}, {"shop", "123"}, {"shop", "true"}, {"shop", "a: b"}, {"shop", longName},
		{"shop", "x # y"}, {"shop", "'quoted'"}, {"shop", "-dash"},
	} {
		rendered, err := render.RenderWith(obj(tc.ns, tc.name), nil)
		if err != nil {
			t.Fatal(err)
		}
		secret := obj(tc.ns, tc.name)
		secret.SetKind("Secret")
		plain, err := render.RenderWith(secret, nil)
		if err != nil {
			t.Fatal(err)
		}
		enc, err := sops.Encrypt(plain, keys.Recipients)
		if err != nil {
			t.Fatal(err)
		}
		for what, content := range map[string][]byte{"rendered": rendered, "encrypted": enc, "sops CLI layout": sopsLayout(t, rendered)} {
			if ns, name, ok := ObjectOf(content); !ok || ns != tc.ns || name != tc.name {
				t.Errorf("%s %q/%q: ObjectOf = %q, %q, %v\n%s", what, tc.ns, tc.name, ns, name, ok, content)
			}
		}
	}

	for _, content := range []string{
		"",
		"just: some yaml\n",
		"{metadata: {name: x, namespace: y}}\n",
		`{"metadata": {"name": "x", "namespace": "y"}}` + "\n",
		"metadata: {name: x, namespace: y}\n",
		"metadata:\n  name: x\n---\nmetadata:\n  name: y\n",
		"metadata:\n  name: x\nmetadata:\n  name: y\n",
		"metadata:\n  name: x\n  name: y\n",
		"metadata:\n  name: [x]\n",
		"metadata:\n  name: {x: y}\n",
		"metadata:\n  name: \"\"\n",
		"metadata:\n  name:\n  - x\n",
		"metadata:\n- name: x\n",
		"metadata:\n  namespace: y\n",
		"metadata:\n    name: x\n  namespace: y\n",
		"metadata:\n  name: x\n  namespace: [y]\n",
		"spec:\n  metadata:\n    name: x\n",
		"- metadata:\n    name: x\n",
	} {
		if ns, name, ok := ObjectOf([]byte(content)); ok {
			t.Errorf("%q: recognized as %q/%q", content, ns, name)
		}
	}
}

// sopsLayout is content as the sops CLI writes YAML: yaml.v3, 4 spaces.
func sopsLayout(t *testing.T, content []byte) []byte {
	t.Helper()
	var doc yaml3.Node
	if err := yaml3.Unmarshal(content, &doc); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	enc := yaml3.NewEncoder(&out)
	enc.SetIndent(4)
	if err := enc.Encode(&doc); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// TestObjectOfBounded: ObjectOf parses only a file's metadata name and
// namespace: files of the size ReadFile allows (8 MiB) built to cost a GiB
// parsed whole are recognized or not with next to nothing allocated.
func TestObjectOfBounded(t *testing.T) {
	const size = 8 << 20
	flow := "[" + strings.Repeat("0,", size/2-2) + "0]\n"
	for _, tc := range []struct {
		name, content string
		ok            bool
	}{
		{"flow document", flow, false},
		{"flow metadata", "metadata: " + flow, false},
		{"flow name", "metadata:\n  name: " + flow, false},
		{"a long name", "metadata:\n  name: " + strings.Repeat("a", size) + "\n", false},
		{"a long name over lines", "metadata:\n  name: a\n" + strings.Repeat("    a\n", size/6), false},
		{"flow elsewhere", "apiVersion: v1\nmetadata:\n  name: x\n  namespace: y\nspec: " + flow, true},
		{"block elsewhere", "metadata:\n  name: x\n  namespace: y\n  labels:\n" + strings.Repeat("    a: b\n", size/9), true},
	} {
		var ok bool
		content := []byte(tc.content)
		got := allocated(func() { _, _, ok = ObjectOf(content) })
		if ok != tc.ok {
			t.Errorf("%s: recognized %v, want %v", tc.name, ok, tc.ok)
		}
		if got > 1<<20 {
			t.Errorf("%s: ObjectOf allocated %d KiB", tc.name, got>>10)
		}
	}
}

// TestSecretOverUnparseableFile: a Secret whose file in Git is 8 MiB of flow
// YAML (sops refuses it unparsed, sops.ErrOutOfBounds) is encrypted afresh
// and replaces it, as a file that does not decrypt, with little allocated.
func TestSecretOverUnparseableFile(t *testing.T) {
	keys := testKeys(t)
	obj := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Secret",
		"metadata": map[string]any{"name": "s", "namespace": "shop"}, "data": map[string]any{"k": "dmFsdWU="}}}
	plain, err := render.RenderWith(obj, nil)
	if err != nil {
		t.Fatal(err)
	}
	existing := []byte("data: [" + strings.Repeat("0,", 4<<20-8) + "0]\n")
	if _, err := sops.Decrypt(existing, keys.Identities); !errors.Is(err, sops.ErrOutOfBounds) {
		t.Fatalf("Decrypt: %v", err)
	}
	var content []byte
	var unchanged bool
	got := allocated(func() { content, unchanged, err = EncryptSecret(plain, existing, true, keys) })
	if err != nil || unchanged {
		t.Fatalf("EncryptSecret: unchanged %v, %v", unchanged, err)
	}
	if got > 16<<20 {
		t.Errorf("EncryptSecret allocated %d MiB", got>>20)
	}
	dec, err := sops.Decrypt(content, keys.Identities)
	if norm, _ := sops.Normalize(plain); err != nil || !bytes.Equal(dec, norm) {
		t.Fatalf("the new file decrypts to %q, %v", dec, err)
	}
}

// TestSecretReencryptedForNewRecipients: a Secret whose file decrypts to the
// same plaintext is kept only while it is encrypted to exactly the target's
// recipients. Adding a reader's public key (spec.encryption.age.recipients)
// encrypts it again, so the added key alone decrypts it; removing the key
// encrypts it again without it.
func TestSecretReencryptedForNewRecipients(t *testing.T) {
	plain := []byte("apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n  namespace: ns\ndata:\n  k: dg==\n")
	server := testKeys(t)
	first, kept, err := EncryptSecret(plain, nil, false, server)
	if err != nil || kept {
		t.Fatalf("first encryption: kept=%v err=%v", kept, err)
	}
	if again, kept, err := EncryptSecret(plain, first, true, server); err != nil || !kept || !bytes.Equal(again, first) {
		t.Fatalf("same recipients: kept=%v err=%v, want the file kept", kept, err)
	}

	reader, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	wider := &mirror.Keys{Identities: server.Identities, Recipients: append([]string{reader.Recipient().String()}, server.Recipients...)}
	second, kept, err := EncryptSecret(plain, first, true, wider)
	if err != nil || kept {
		t.Fatalf("a recipient added: kept=%v err=%v, want it encrypted again", kept, err)
	}
	if _, err := sops.Decrypt(first, []age.Identity{reader}); err == nil {
		t.Fatal("the reader decrypts the file written before it was a recipient")
	}
	if got, err := sops.Decrypt(second, []age.Identity{reader}); err != nil || !strings.Contains(string(got), "k: dg==") {
		t.Fatalf("the added reader alone: %q, %v", got, err)
	}

	third, kept, err := EncryptSecret(plain, second, true, server)
	if err != nil || kept {
		t.Fatalf("a recipient removed: kept=%v err=%v, want it encrypted again", kept, err)
	}
	if _, err := sops.Decrypt(third, []age.Identity{reader}); err == nil {
		t.Fatal("a removed reader still decrypts the file")
	}
}
