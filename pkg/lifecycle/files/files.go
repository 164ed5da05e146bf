// Package files says what a target's files in Git hold: the content an object
// renders to (Secrets encrypted with SOPS/age), whether the file already there
// holds it (a Secret by its decrypted content, since encryption is randomized),
// whether a file is a manifest of the object its path names (only those are
// ever deleted), and the bootstrap files (README.md, .sops.yaml).
package files

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/go-git/go-git/v5/plumbing"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/configbutler/gitops-reverser/pkg/git"
	"github.com/configbutler/gitops-reverser/pkg/lifecycle/mirror"
	"github.com/configbutler/gitops-reverser/pkg/render"
	"github.com/configbutler/gitops-reverser/pkg/sops"
)

// Names of the bootstrap files under a target's path.
const (
	Readme     = "README.md"
	SOPSConfig = ".sops.yaml"
)

// Tree reads the files of a branch (a clone's tip; *git.Repo is one).
type Tree interface {
	ReadFile(path string) (content []byte, found bool, err error)
	FileHash(path string) (hash plumbing.Hash, found bool, err error)
}

// ErrSecretWithoutEncryption: Secrets are only written by targets with encryption.
var ErrSecretWithoutEncryption = errors.New("secrets are only written by targets with encryption")

// Join joins a target path and a name ("" is the repository root).
func Join(base, name string) string {
	if base == "" {
		return name
	}
	return base + "/" + name
}

// DisplayPath shows a target path to users ("/" for the repository root).
func DisplayPath(p string) string {
	if p == "" {
		return "/"
	}
	return p
}

// Render renders an object as the content to write at path, and reports
// whether the file in tree already holds it and whether the file exists. An
// unchanged Secret never makes a commit, also after a restart.
func Render(tree Tree, gvr schema.GroupVersionResource, obj *unstructured.Unstructured, keys *mirror.Keys, clean *render.Cleaner, path string) (content []byte, unchanged, found bool, err error) {
	plain, err := render.RenderWith(obj, clean)
	if err != nil {
		return nil, false, false, err
	}
	if !render.IsSecret(gvr) {
		// Compare by blob hash: no need to read the stored file.
		h, found, err := tree.FileHash(path)
		if err != nil {
			return nil, false, false, err
		}
		return plain, found && h == git.BlobHash(plain), found, nil
	}
	existing, found, err := tree.ReadFile(path)
	if err != nil {
		return nil, false, false, err
	}
	content, unchanged, err = EncryptSecret(plain, existing, found, keys)
	return content, unchanged, found, err
}

// EncryptSecret encrypts a rendered Secret unless existing already decrypts to it.
func EncryptSecret(plain, existing []byte, found bool, keys *mirror.Keys) ([]byte, bool, error) {
	if keys == nil {
		return nil, false, ErrSecretWithoutEncryption
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

// HoldsObject reports whether content is a manifest of the object named
// namespace/name; anything else is a foreign file and is never deleted.
func HoldsObject(content []byte, ns, name string) bool {
	var m struct {
		Metadata struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"metadata"`
	}
	if err := yaml.Unmarshal(content, &m); err != nil {
		return false
	}
	return m.Metadata.Name == name && m.Metadata.Namespace == ns
}

// ReadmeFor is the README.md written under a target's path.
func ReadmeFor(targetKey string) []byte {
	return []byte(fmt.Sprintf(`# Mirrored by gitops-reverser

This directory is written by the GitTarget %s. gitops-reverser mirrors the
cluster resources selected by its WatchRules and ClusterWatchRules here, as

    <group>/<version>/<resource>/<namespace>/<name>.yaml

(no <group> for the core group, no <namespace> for cluster-scoped resources).
Secrets are written SOPS-encrypted with age, as *.sops.yaml; the age identity
is in the cluster Secret named by the target's spec.encryption.secretRef.

Files in that layout are rewritten and removed as the cluster changes; other
files, like this one once it exists, are left alone.
`, targetKey))
}

// SOPSConfigFor is the .sops.yaml written next to encrypted files, so that a
// human with the identity can run `sops` on them directly.
func SOPSConfigFor(k *mirror.Keys) []byte { return sops.SOPSConfig(k.Recipients) }

// Bootstrap returns the bootstrap files a target still needs in tree:
// README.md when missing, and with encryption .sops.yaml when missing or when
// its recipients are stale.
func Bootstrap(tree Tree, t *mirror.Target) ([]git.Change, error) {
	var changes []git.Change
	if _, found, err := tree.FileHash(Join(t.Path, Readme)); err != nil {
		return nil, err
	} else if !found {
		changes = append(changes, git.Change{Path: Join(t.Path, Readme), Content: ReadmeFor(t.Key)})
	}
	if t.Keys != nil {
		want := SOPSConfigFor(t.Keys)
		got, found, err := tree.ReadFile(Join(t.Path, SOPSConfig))
		if err != nil {
			return nil, err
		}
		if !found || !bytes.Equal(got, want) {
			changes = append(changes, git.Change{Path: Join(t.Path, SOPSConfig), Content: want})
		}
	}
	return changes, nil
}
