package lifecycle

import (
	"bytes"
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/configbutler/gitops-reverser/pkg/git"
	"github.com/configbutler/gitops-reverser/pkg/render"
	"github.com/configbutler/gitops-reverser/pkg/sops"
)

var errSecretWithoutEncryption = errors.New("secrets are only written by targets with encryption")

// renderFile renders an object as the file content to write at path, and reports
// whether the file in the repository already holds it, and whether it exists. Secrets are encrypted; one
// whose stored file decrypts to the same plaintext is unchanged, so an unchanged
// Secret never makes a commit, also after a restart.
func renderFile(repo *git.Repo, gvr schema.GroupVersionResource, obj *unstructured.Unstructured, keys *encryptionKeys, path string) (content []byte, unchanged, found bool, err error) {
	plain, err := render.Render(obj)
	if err != nil {
		return nil, false, false, err
	}
	if !render.IsSecret(gvr) {
		// Compare by blob hash: no need to read the stored file.
		h, found, err := repo.FileHash(path)
		if err != nil {
			return nil, false, false, err
		}
		return plain, found && h == git.BlobHash(plain), found, nil
	}
	existing, found, err := repo.ReadFile(path)
	if err != nil {
		return nil, false, false, err
	}
	content, unchanged, err = encryptSecret(plain, existing, found, keys)
	return content, unchanged, found, err
}

// encryptSecret encrypts a rendered Secret unless existing already decrypts to it.
func encryptSecret(plain, existing []byte, found bool, keys *encryptionKeys) ([]byte, bool, error) {
	if keys == nil {
		return nil, false, errSecretWithoutEncryption
	}
	if found {
		if dec, err := sops.Decrypt(existing, keys.Identities); err == nil {
			if norm, err := sops.Normalize(plain); err == nil && bytes.Equal(dec, norm) {
				return existing, true, nil
			}
		}
	}
	enc, err := sops.Encrypt(plain, keys.Recipients)
	if err != nil {
		return nil, false, fmt.Errorf("encrypting a Secret: %w", err)
	}
	return enc, false, nil
}

// sopsConfigFor is the .sops.yaml written next to encrypted files, so that a
// human with the identity can run `sops` on them directly.
func sopsConfigFor(k *encryptionKeys) []byte { return sops.SOPSConfig(k.Recipients) }
