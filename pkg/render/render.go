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
// last-applied annotation), what controllers and the API server write back
// (DefaultDrops, clean.go) and what a GitTarget asks to ignore, and keeps every
// other field of any kind. Keys are sorted, so the same object always renders
// to the same bytes.
package render

import (
	"fmt"
	"math"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode"

	goyaml "go.yaml.in/yaml/v2"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/configbutler/gitops-reverser/pkg/yamlemit"
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
	file := FileStem(name, ext) + ext
	if namespace == "" {
		return path.Join(Dir(base, gvr), file)
	}
	return path.Join(Dir(base, gvr), namespace, file)
}

// ParsePath is the inverse of Path for one resource type: it reports the
// namespace and name of the object a file under Dir(base, gvr) would hold, and
// false for any file our layout would not produce (a README, a name that is not
// a valid object name, a nested directory). Only such files may ever be deleted.
// The name of a shortened file name (see FileStem) is in the file only: name
// is "" for it.
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
	var stem string
	switch {
	case namespaced && len(parts) == 2:
		namespace, stem = parts[0], parts[1]
		if len(validation.IsDNS1123Label(namespace)) != 0 {
			return "", "", false
		}
	case !namespaced && len(parts) == 1:
		stem = parts[0]
	default:
		return "", "", false
	}
	name, _, ok = ParseStem(stem, ext)
	if !ok {
		return "", "", false
	}
	return namespace, name, true
}

// validObjectName accepts names the API server can store: path-segment names
// (no "/", not "." or ".."); most kinds are stricter, none is looser.
func validObjectName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, "/%") && len(name) <= 253
}

// serverOwnedMetadata are the metadata fields the server owns.
var serverOwnedMetadata = []string{"uid", "resourceVersion", "generation", "creationTimestamp", "managedFields",
	"selfLink", "deletionTimestamp", "deletionGracePeriodSeconds"}

// StripForCache removes, in place, the fields Render would strip that nothing
// else reads: status, managedFields, the last-applied annotation and the
// server's bookkeeping, but not uid and resourceVersion (which identify an
// object version). For informer transforms: Render(obj) is the same after.
//
// Of managedFields it keeps the manager and operation of the latest write
// (LastManager reads them): a change no audit report explains is authored by
// that field manager.
func StripForCache(obj *unstructured.Unstructured) {
	delete(obj.Object, "status")
	if md, ok := obj.Object["metadata"].(map[string]interface{}); ok {
		manager := lastManager(md)
		stripMetadata(md, "uid", "resourceVersion", "deletionTimestamp")
		if manager != nil {
			md["managedFields"] = []interface{}{manager}
		}
	}
}

// lastManager is the managedFields entry of the latest write (manager,
// operation and time only).
func lastManager(md map[string]interface{}) map[string]interface{} {
	entries, _ := md["managedFields"].([]interface{})
	var best map[string]interface{}
	bestTime := ""
	for _, e := range entries {
		m, ok := e.(map[string]interface{})
		if !ok {
			continue
		}
		t, _ := m["time"].(string)
		if best == nil || t >= bestTime {
			best, bestTime = m, t
		}
	}
	if best == nil {
		return nil
	}
	out := map[string]interface{}{}
	for _, k := range []string{"manager", "operation", "time"} {
		if v, ok := best[k]; ok {
			out[k] = v
		}
	}
	return out
}

// LastManager is the field manager of an object's latest write, and the
// operation ("Update", "Apply"); "" when unknown.
func LastManager(obj *unstructured.Unstructured) (manager, operation string) {
	md, _ := obj.Object["metadata"].(map[string]interface{})
	m := lastManager(md)
	if m == nil {
		return "", ""
	}
	manager, _ = m["manager"].(string)
	operation, _ = m["operation"].(string)
	return manager, operation
}

// stripMetadata deletes from md, a map the caller owns, the server-owned
// fields but those in keep, and the last-applied annotation (dropping
// annotations that end up empty). The annotations map is replaced, never
// modified: it may be shared.
func stripMetadata(md map[string]interface{}, keep ...string) {
	for _, f := range serverOwnedMetadata {
		if !slices.Contains(keep, f) {
			delete(md, f)
		}
	}
	ann, ok := md["annotations"].(map[string]interface{})
	if !ok {
		return
	}
	a := make(map[string]interface{}, len(ann))
	for k, e := range ann {
		if k != LastAppliedAnnotation {
			a[k] = e
		}
	}
	if len(a) == 0 {
		delete(md, "annotations")
	} else {
		md["annotations"] = a
	}
}

// Render returns the sanitized object as YAML with sorted keys.
//
// The bytes are those of sigs.k8s.io/yaml.Marshal of the sanitized object (JSON,
// then YAML through go-yaml v2), which is what files were always written
// with, so an unchanged object never rewrites its file; with two differences:
//   - it is deterministic: go-yaml sorts keys with a "natural" comparison that
//     is not a total order (e.g. "0x1F2" and "2026-01-021"), and sorted them
//     starting from Go's random map order, so such keys came out in either
//     order and rewrote the file. Keys are ordered here by the same
//     comparison, stably, from byte order;
//   - it is about twice as fast: go-yaml emits ordered maps directly, without
//     the JSON round trip and without copying the object. The one thing the
//     round trip did to values, integral floats becoming integers, is done
//     here (number).
//
// TestRenderMatchesJSONRoundTrip holds the two ways to the same bytes.
func Render(obj *unstructured.Unstructured) ([]byte, error) {
	return RenderWith(obj, defaultCleaner)
}

var defaultCleaner = newCleaner(nil)

// RenderWith is Render with the fields c drops left out too (nil: the
// defaults).
func RenderWith(obj *unstructured.Unstructured, c *Cleaner) ([]byte, error) {
	return AppendRender(make([]byte, 0, 1024), obj, c)
}

// AppendRender is RenderWith appending the file to dst (see
// yamlemit.AppendMarshal).
func AppendRender(dst []byte, obj *unstructured.Unstructured, c *Cleaner) ([]byte, error) {
	if c == nil {
		c = defaultCleaner
	}
	gv, _ := schema.ParseGroupVersion(obj.GetAPIVersion())
	// A map's ordered form is a MapSlice: go-yaml's bytes, mostly without
	// go-yaml (pkg/yamlemit).
	b, err := yamlemit.AppendMarshal(dst, ordered(c.clean(obj.Object, gv.Group, obj.GetKind()), true).(goyaml.MapSlice))
	if err != nil {
		return nil, fmt.Errorf("rendering %s %s/%s: %w", obj.GetKind(), obj.GetNamespace(), obj.GetName(), err)
	}
	return b, nil
}

// ordered converts a JSON-like value into what go-yaml emits in order:
// maps become MapSlices with sorted keys. top strips the server-owned fields.
func ordered(v interface{}, top bool) interface{} {
	switch t := v.(type) {
	case map[string]interface{}:
		keys := make([]string, 0, len(t))
		for k := range t {
			if top && k == "status" {
				continue
			}
			keys = append(keys, k)
		}
		sortKeys(keys)
		out := make(goyaml.MapSlice, 0, len(keys))
		for _, k := range keys {
			var val interface{}
			if top && k == "metadata" {
				val = orderedMetadata(t[k])
			} else {
				val = ordered(t[k], false)
			}
			out = append(out, goyaml.MapItem{Key: k, Value: val})
		}
		return out
	case []interface{}:
		out := make([]interface{}, len(t))
		for i, e := range t {
			out[i] = ordered(e, false)
		}
		return out
	case float64:
		return number(t)
	}
	return v
}

// orderedMetadata is ordered(md) without the server-owned fields and the
// last-applied annotation.
func orderedMetadata(v interface{}) interface{} {
	md, ok := v.(map[string]interface{})
	if !ok {
		return ordered(v, false)
	}
	m := make(map[string]interface{}, len(md))
	for k, e := range md {
		m[k] = e
	}
	stripMetadata(m)
	return ordered(m, false)
}

// number is what a float becomes through JSON and back through YAML: JSON
// prints an integral float below 1e21 as its digits, which YAML reads as an
// int64, else a uint64, else a float.
func number(f float64) interface{} {
	if f == math.Trunc(f) && math.Abs(f) < 1e21 {
		digits := strconv.FormatFloat(f, 'f', -1, 64)
		if i, err := strconv.ParseInt(digits, 10, 64); err == nil {
			return i
		}
		if u, err := strconv.ParseUint(digits, 10, 64); err == nil {
			return u
		}
	}
	return f
}

// sortKeys orders keys as go-yaml v2 does (keyLess), stably from byte order,
// so that keys keyLess does not order come out the same way every time.
func sortKeys(keys []string) {
	sort.Strings(keys)
	sort.SliceStable(keys, func(i, j int) bool { return keyLess(keys[i], keys[j]) })
}

// keyLess is go-yaml v2's comparison of string map keys (sorter.go): letters
// before other characters, runs of digits compared as numbers.
func keyLess(a, b string) bool {
	ar, br := []rune(a), []rune(b)
	for i := 0; i < len(ar) && i < len(br); i++ {
		if ar[i] == br[i] {
			continue
		}
		al, bl := unicode.IsLetter(ar[i]), unicode.IsLetter(br[i])
		if al && bl {
			return ar[i] < br[i]
		}
		if al || bl {
			return bl
		}
		var ai, bi int
		var an, bn int64
		if ar[i] == '0' || br[i] == '0' {
			for j := i - 1; j >= 0 && unicode.IsDigit(ar[j]); j-- {
				if ar[j] != '0' {
					an, bn = 1, 1
					break
				}
			}
		}
		for ai = i; ai < len(ar) && unicode.IsDigit(ar[ai]); ai++ {
			an = an*10 + int64(ar[ai]-'0')
		}
		for bi = i; bi < len(br) && unicode.IsDigit(br[bi]); bi++ {
			bn = bn*10 + int64(br[bi]-'0')
		}
		if an != bn {
			return an < bn
		}
		if ai != bi {
			return ai < bi
		}
		return ar[i] < br[i]
	}
	return len(ar) < len(br)
}
