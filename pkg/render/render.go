// Package render turns cluster objects into the files gitops-reverser writes:
// deterministic, sanitized YAML at a path derived from the object's identity.
//
// Layout (DESIGN.md section 7):
//
//	<path>/<group>/<version>/<resource>/<namespace>/<name>.yaml
//
// The core group omits <group>; cluster-scoped objects omit <namespace>; Secrets
// end in ".sops.yaml" (they are written SOPS-encrypted, see pkg/sops).
//
// Rendering strips what the server owns (status, uid, resourceVersion,
// generation, creationTimestamp, managedFields, selfLink, deletion fields, the
// last-applied annotation) and keeps every other field of any kind. Keys are
// sorted, so the same object always renders to the same bytes.
package render

import (
	"fmt"
	"path"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"
)

const (
	// Ext is the extension of a rendered object.
	Ext = ".yaml"
	// SecretExt is the extension of an encrypted Secret.
	SecretExt = ".sops.yaml"
	// LastAppliedAnnotation is kubectl's client-side apply record; it can hold a
	// Secret's plaintext, so it is always stripped.
	LastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration"
)

// IsSecret reports whether a resource is core/v1 secrets (written encrypted).
func IsSecret(gvr schema.GroupVersionResource) bool {
	return gvr.Group == "" && gvr.Resource == "secrets"
}

// Dir returns the directory of a resource type under base:
// <base>/<group>/<version>/<resource> (no <group> for the core group).
func Dir(base string, gvr schema.GroupVersionResource) string {
	parts := []string{base}
	if gvr.Group != "" {
		parts = append(parts, gvr.Group)
	}
	parts = append(parts, gvr.Version, gvr.Resource)
	return path.Join(parts...)
}

// Path returns the file of an object. namespace is "" for cluster-scoped objects.
func Path(base string, gvr schema.GroupVersionResource, namespace, name string) string {
	ext := Ext
	if IsSecret(gvr) {
		ext = SecretExt
	}
	if namespace == "" {
		return path.Join(Dir(base, gvr), name+ext)
	}
	return path.Join(Dir(base, gvr), namespace, name+ext)
}

// ParsePath is the inverse of Path for one resource type: it reports the
// namespace and name of the object a file under Dir(base, gvr) would hold, and
// false for any file our layout would not produce (a README, a name that is not
// a valid object name, a nested directory). Only such files may ever be deleted.
func ParsePath(base string, gvr schema.GroupVersionResource, namespaced bool, file string) (namespace, name string, ok bool) {
	dir := Dir(base, gvr) + "/"
	if base == "" {
		dir = strings.TrimPrefix(dir, "/")
	}
	rest, found := strings.CutPrefix(file, dir)
	if !found {
		return "", "", false
	}
	ext := Ext
	if IsSecret(gvr) {
		ext = SecretExt
	}
	base2, found := strings.CutSuffix(rest, ext)
	if !found {
		return "", "", false
	}
	parts := strings.Split(base2, "/")
	switch {
	case namespaced && len(parts) == 2:
		namespace, name = parts[0], parts[1]
		if len(validation.IsDNS1123Label(namespace)) != 0 {
			return "", "", false
		}
	case !namespaced && len(parts) == 1:
		name = parts[0]
	default:
		return "", "", false
	}
	if !validObjectName(name) {
		return "", "", false
	}
	return namespace, name, true
}

// validObjectName accepts names the API server can store: path-segment names
// (no "/", not "." or ".."); most kinds are stricter, none is looser.
func validObjectName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, "/%") && len(name) <= 253
}

// Sanitize returns a copy of obj without server-owned fields.
func Sanitize(obj *unstructured.Unstructured) *unstructured.Unstructured {
	out := obj.DeepCopy()
	delete(out.Object, "status")
	md, ok := out.Object["metadata"].(map[string]interface{})
	if ok {
		for _, f := range []string{"uid", "resourceVersion", "generation", "creationTimestamp", "managedFields",
			"selfLink", "deletionTimestamp", "deletionGracePeriodSeconds"} {
			delete(md, f)
		}
		if ann, ok := md["annotations"].(map[string]interface{}); ok {
			delete(ann, LastAppliedAnnotation)
			if len(ann) == 0 {
				delete(md, "annotations")
			}
		}
	}
	return out
}

// Render returns the sanitized object as YAML with sorted keys.
func Render(obj *unstructured.Unstructured) ([]byte, error) {
	b, err := yaml.Marshal(Sanitize(obj).Object)
	if err != nil {
		return nil, fmt.Errorf("rendering %s %s/%s: %w", obj.GetKind(), obj.GetNamespace(), obj.GetName(), err)
	}
	return b, nil
}
