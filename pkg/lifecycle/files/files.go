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

	"github.com/configbutler/gitops-reverser/pkg/gitmodel"
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
		return plain, found && h == gitmodel.BlobHash(plain), found, nil
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
// (gitmodel.ErrFileTooLarge) is reported found with no content: it is never read,
// decrypted or parsed, and the caller's content replaces it (a Secret is
// encrypted afresh, as for a file that does not decrypt).
func ReadExisting(tree Tree, path string) (content []byte, found bool, err error) {
	content, found, err = tree.ReadFile(path)
	if errors.Is(err, gitmodel.ErrFileTooLarge) {
		return nil, true, nil
	}
	return content, found, err
}

// EncryptSecret encrypts a rendered Secret unless existing already decrypts to
// it, is encrypted to exactly keys.Recipients (a recipient added or removed
// re-encrypts it: sops.EncryptedTo) and leaves nothing in plaintext that
// encryption now covers (a file from before annotation values were encrypted
// is encrypted again: sops.Stale).
func EncryptSecret(plain, existing []byte, found bool, keys *mirror.Keys) ([]byte, bool, error) {
	if keys == nil {
		return nil, false, ErrSecretWithoutEncryption
	}
	if found && !sops.Stale(existing) && sops.EncryptedTo(existing, keys.Recipients) {
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

// maxMetadataEntry bounds the YAML ObjectOf parses for metadata.name or
// metadata.namespace (with its continuation lines).
const maxMetadataEntry = 16 << 10

// ObjectOf returns the namespace and name of the object a manifest holds
// (false when content is not a manifest with a name).
//
// content comes from a tenant's repository: a file of the size ReadFile
// allows, in flow YAML, cost a GiB to parse whole. So only the manifests the
// server writes (pkg/render, pkg/sops: block YAML, the top-level keys at
// column 0) and the sops CLI (the same, indented by 4) are recognized, and
// only what is needed is parsed: the lines of the top-level "metadata:"
// block are scanned (without allocating) for its name and namespace entries
// at the block's indentation, and each of those, at most maxMetadataEntry
// bytes, is parsed as YAML. Anything else (flow YAML, JSON, several
// documents, a metadata key twice, a name that is not a string) is not
// recognized: a file not recognized is foreign, never deleted.
func ObjectOf(content []byte) (ns, name string, ok bool) {
	var entries [2][]byte // name, namespace
	// The metadata block's indentation: 0 before it, -1 before its first
	// line.
	indent, inMetadata, started := 0, false, false
	for pos := 0; pos < len(content); {
		start, end, next := nextLine(content, pos)
		pos = next
		line, lead := indentOf(content[start:end])
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		if lead == 0 {
			inMetadata = false
			if bytes.HasPrefix(line, []byte("---")) || bytes.HasPrefix(line, []byte("...")) || line[0] == '%' {
				if started {
					return "", "", false // another document
				}
				continue
			}
			started = true
			if key, rest, _ := bytes.Cut(line, []byte(":")); string(key) == "metadata" {
				if rest = bytes.TrimSpace(rest); len(rest) > 0 && rest[0] != '#' || indent != 0 {
					return "", "", false // a flow mapping, or metadata twice
				}
				inMetadata, indent = true, -1
			}
			continue
		}
		if !inMetadata {
			continue
		}
		switch {
		case indent < 0: // the block's first line sets its indentation
			if line[0] == '-' {
				return "", "", false
			}
			indent = lead
		case lead < indent:
			return "", "", false
		case lead > indent:
			continue
		}
		which := -1
		switch {
		case isEntry(line, "name"):
			which = 0
		case isEntry(line, "namespace"):
			which = 1
		}
		if which < 0 {
			continue
		}
		if entries[which] != nil {
			return "", "", false // twice
		}
		// The entry goes on over the lines indented more.
		entryEnd := end
		for pos < len(content) {
			s, e, n := nextLine(content, pos)
			if l, lead := indentOf(content[s:e]); len(l) > 0 && lead <= indent {
				break
			}
			entryEnd, pos = e, n
		}
		if entryEnd-(start+lead) > maxMetadataEntry {
			return "", "", false
		}
		entries[which] = content[start+lead : entryEnd]
	}
	if name, ok = entryValue(entries[0], "name"); !ok || name == "" {
		return "", "", false
	}
	if entries[1] != nil {
		if ns, ok = entryValue(entries[1], "namespace"); !ok {
			return "", "", false
		}
	}
	return ns, name, true
}

// nextLine finds the line of content at pos: content[start:end], the next
// starting at next.
func nextLine(content []byte, pos int) (start, end, next int) {
	if i := bytes.IndexByte(content[pos:], '\n'); i >= 0 {
		return pos, pos + i, pos + i + 1
	}
	return pos, len(content), len(content)
}

// indentOf returns a line's text after its indentation (spaces), without a
// trailing \r or blanks (nothing for a blank line), and the indentation.
func indentOf(line []byte) ([]byte, int) {
	text := bytes.TrimLeft(line, " ")
	return bytes.TrimRight(text, " \t\r"), len(line) - len(text)
}

// isEntry reports whether line is the mapping entry of key (unquoted).
func isEntry(line []byte, key string) bool {
	return len(line) > len(key) && string(line[:len(key)]) == key && line[len(key)] == ':' &&
		(len(line) == len(key)+1 || line[len(key)+1] == ' ' || line[len(key)+1] == '\t')
}

// entryValue parses the mapping entry of key (a string, not a flow
// collection).
func entryValue(entry []byte, key string) (string, bool) {
	if entry == nil {
		return "", false
	}
	if v := bytes.TrimLeft(entry[len(key)+1:], " \t"); len(v) > 0 && (v[0] == '[' || v[0] == '{') {
		return "", false
	}
	var m map[string]string
	if err := yaml.Unmarshal(entry, &m); err != nil || len(m) != 1 {
		return "", false
	}
	v, ok := m[key]
	return v, ok
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
func Bootstrap(tree Tree, t *mirror.Target) ([]gitmodel.Change, error) {
	var changes []gitmodel.Change
	if _, found, err := tree.FileHash(Join(t.Path, Readme)); err != nil {
		return nil, err
	} else if !found {
		changes = append(changes, gitmodel.Change{Path: Join(t.Path, Readme), Content: ReadmeFor(t.Key)})
	}
	if t.Keys != nil {
		want := SOPSConfigFor(t.Keys)
		got, found, err := tree.FileHash(Join(t.Path, SOPSConfig))
		if err != nil {
			return nil, err
		}
		if !found || got != gitmodel.BlobHash(want) {
			changes = append(changes, gitmodel.Change{Path: Join(t.Path, SOPSConfig), Content: want})
		}
	}
	return changes, nil
}
