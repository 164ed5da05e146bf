package restore

import (
	"fmt"
	"path"
	"strings"

	"filippo.io/age"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/yaml"

	"github.com/configbutler/gitops-reverser/pkg/render"
	"github.com/configbutler/gitops-reverser/pkg/sops"
)

// Reasons of failures found before any request (the API's own reasons,
// Forbidden, Invalid, Conflict, ..., are passed on as it gives them).
const (
	// ReasonInvalid: the file is not a valid object (or the object cannot be
	// restored as it is, e.g. a namespaced object without a namespace).
	ReasonInvalid = "Invalid"
	// ReasonDecryptionFailed: a SOPS file did not decrypt with the target's
	// age identities.
	ReasonDecryptionFailed = "DecryptionFailed"
	// ReasonNoKindMatch: the cluster does not serve the object's kind (in the
	// file's version).
	ReasonNoKindMatch = "NoKindMatch"
)

// File is one file of the tree restored from: its path in the repository
// and its bytes, as Git holds them.
type File struct {
	Path    string
	Content []byte
}

// Decoded is a file decoded into the object it holds, or why it could not be.
type Decoded struct {
	// Path of the file.
	Path string
	// Object is the object to write (a Secret decrypted); nil when the file
	// failed (Reason is set).
	Object *unstructured.Unstructured
	// APIVersion, Kind, Namespace and Name of the object, as far as the file
	// tells them (a SOPS file keeps them in plaintext). A file that is not
	// YAML tells none: Name is then its path.
	APIVersion, Kind, Namespace, Name string
	// Reason (ReasonInvalid, ReasonDecryptionFailed) and Message say why the
	// file failed; "" when it decoded.
	Reason, Message string
}

// GroupKind is the object's group and kind (empty when the file told none).
func (d *Decoded) GroupKind() schema.GroupKind {
	gv, _ := schema.ParseGroupVersion(d.APIVersion)
	return schema.GroupKind{Group: gv.Group, Kind: d.Kind}
}

func (d *Decoded) fail(reason, format string, args ...any) {
	d.Object, d.Reason, d.Message = nil, reason, fmt.Sprintf(format, args...)
}

// Decode turns files into objects, in the files' order. SOPS-encrypted files
// (Secrets, *.sops.yaml) are decrypted with identities, here and only here,
// and only to be written: their values are never logged, and no message
// holds them. A file that does not parse or decrypt is a failed Decoded (one
// object fails, never the restore). Files that hold no object of the layout
// are left out: anything not ending in .yaml, the SOPS configuration
// (.sops.yaml), a YAML document that is not a mapping, or a mapping without
// apiVersion, kind and metadata.name (a kustomization, a values file).
func Decode(files []File, identities []age.Identity) []Decoded {
	out := make([]Decoded, 0, len(files))
	for _, f := range files {
		if d, ok := decodeFile(f, identities); ok {
			out = append(out, d)
		}
	}
	return out
}

func decodeFile(f File, identities []age.Identity) (Decoded, bool) {
	base := path.Base(f.Path)
	if base == ".sops.yaml" || !strings.HasSuffix(base, render.Ext) {
		return Decoded{}, false
	}
	d := Decoded{Path: f.Path}
	v, err := parseYAML(f.Content)
	if err != nil {
		d.Name = f.Path
		d.fail(ReasonInvalid, "%s is not valid YAML: %v", f.Path, err)
		return d, true
	}
	m, ok := v.(map[string]any)
	if !ok || !identify(&d, m) {
		return Decoded{}, false
	}
	if _, encrypted := m["sops"]; encrypted || strings.HasSuffix(base, render.SecretExt) {
		// The error of Decrypt never holds plaintext or key material.
		plain, err := sops.Decrypt(f.Content, identities)
		if err != nil {
			d.fail(ReasonDecryptionFailed, "%s does not decrypt with the target's age keys: %v", f.Path, err)
			return d, true
		}
		v, err := parseYAML(plain)
		m, ok = v.(map[string]any)
		clear(plain)
		if err != nil || !ok || !identify(&d, m) {
			d.fail(ReasonInvalid, "%s does not decrypt to an object", f.Path)
			return d, true
		}
	}
	if _, err := schema.ParseGroupVersion(d.APIVersion); err != nil {
		d.fail(ReasonInvalid, "%s: apiVersion %q: %v", f.Path, d.APIVersion, err)
		return d, true
	}
	d.Object = &unstructured.Unstructured{Object: m}
	return d, true
}

// parseYAML parses a YAML document into JSON-like values, integers as int64
// (as the API machinery holds them).
func parseYAML(b []byte) (any, error) {
	j, err := yaml.YAMLToJSON(b)
	if err != nil {
		return nil, err
	}
	var v any
	if err := utiljson.Unmarshal(j, &v); err != nil {
		return nil, err
	}
	return v, nil
}

// identify sets d's identity from an object's fields; false when the mapping
// is no object (no apiVersion, kind or metadata.name).
func identify(d *Decoded, m map[string]any) bool {
	apiVersion, _ := m["apiVersion"].(string)
	kind, _ := m["kind"].(string)
	md, _ := m["metadata"].(map[string]any)
	name, _ := md["name"].(string)
	if apiVersion == "" || kind == "" || name == "" {
		return false
	}
	ns, _ := md["namespace"].(string)
	d.APIVersion, d.Kind, d.Namespace, d.Name = apiVersion, kind, ns, name
	return true
}
