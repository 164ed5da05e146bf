package files

import (
	"errors"
	"fmt"
	"testing"

	"filippo.io/age"
	"github.com/go-git/go-git/v5/plumbing"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/configbutler/gitops-reverser/pkg/git"
	"github.com/configbutler/gitops-reverser/pkg/lifecycle/mirror"
	"github.com/configbutler/gitops-reverser/pkg/render"
	"github.com/configbutler/gitops-reverser/pkg/sops"
)

// hugeTree holds, at every path, a file too large to read (as git.Repo
// reports one): ReadFile refuses it, FileHash gives its blob hash.
type hugeTree struct{ reads int }

func (h *hugeTree) ReadFile(path string) ([]byte, bool, error) {
	h.reads++
	return nil, true, fmt.Errorf("git: %s is 2147483648 bytes, over the %d bytes read: %w", path, git.MaxFileSize, git.ErrFileTooLarge)
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
	if _, _, err := ReadExisting(failingTree{}, "x"); err == nil || errors.Is(err, git.ErrFileTooLarge) {
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
	same := sameTree{hash: git.BlobHash(SOPSConfigFor(keys))}
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
