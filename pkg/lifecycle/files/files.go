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
	existing, found, err := ReadExisting(tree, path)
	if err != nil {
		return nil, false, false, err
	}
	content, unchanged, err = EncryptSecret(plain, existing, found, keys)
	return content, unchanged, found, err
}

// ReadExisting reads the file at path in tree for comparison with what the
// server writes there. A file too large to be one the server wrote
// (git.ErrFileTooLarge) is reported found with no content: it is never read,
// decrypted or parsed, and the caller's content replaces it (a Secret is
// encrypted afresh, as for a file that does not decrypt).
func ReadExisting(tree Tree, path string) (content []byte, found bool, err error) {
	content, found, err = tree.ReadFile(path)
	if errors.Is(err, git.ErrFileTooLarge) {
		return nil, true, nil
	}
	return content, found, err
}

// EncryptSecret encrypts a rendered Secret unless existing already decrypts to
// it and leaves nothing in plaintext that encryption now covers (a file from
// before annotation values were encrypted is encrypted again: sops.Stale).
func EncryptSecret(plain, existing []byte, found bool, keys *mirror.Keys) ([]byte, bool, error) {
	if keys == nil {
		return nil, false, ErrSecretWithoutEncryption
	}
	if found && !sops.Stale(existing) {
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
	fns, fname, ok := ObjectOf(content)
	return ok && fname == name && fns == ns
}

// ObjectOf returns the namespace and name of the object a manifest holds
// (false when content is not a manifest with a name).
func ObjectOf(content []byte) (ns, name string, ok bool) {
	var m struct {
		Metadata struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"metadata"`
	}
	if err := yaml.Unmarshal(content, &m); err != nil || m.Metadata.Name == "" {
		return "", "", false
	}
	return m.Metadata.Namespace, m.Metadata.Name, true
}

// ReadmeFor is the README.md written under a target's path.
func ReadmeFor(targetKey string) []byte {
	return []byte(fmt.Sprintf(`# Mirrored by gitops-reverser

This directory is written by the GitTarget %s. gitops-reverser mirrors the
cluster resources selected by its WatchRules and ClusterWatchRules here, as

    <group>/<version>/<resource>/<namespace>/<name>.yaml

(no <group> for the core group, no <namespace> for cluster-scoped resources).
A name a file name cannot hold as it is has those bytes percent-encoded
(a backslash as %%5C, control characters, a leading dot as %%2E); a name too
long for a file name (255 bytes) is cut to a prefix, "%%~" and a hash. The
full name is always in the file (metadata.name).
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
// it differs from the one wanted (stale recipients, or anything else). Both
// are compared by blob hash: nothing is read, so a huge file there costs
// nothing and is replaced.
func Bootstrap(tree Tree, t *mirror.Target) ([]git.Change, error) {
	var changes []git.Change
	if _, found, err := tree.FileHash(Join(t.Path, Readme)); err != nil {
		return nil, err
	} else if !found {
		changes = append(changes, git.Change{Path: Join(t.Path, Readme), Content: ReadmeFor(t.Key)})
	}
	if t.Keys != nil {
		want := SOPSConfigFor(t.Keys)
		got, found, err := tree.FileHash(Join(t.Path, SOPSConfig))
		if err != nil {
			return nil, err
		}
		if !found || got != git.BlobHash(want) {
			changes = append(changes, git.Change{Path: Join(t.Path, SOPSConfig), Content: want})
		}
	}
	return changes, nil
}
