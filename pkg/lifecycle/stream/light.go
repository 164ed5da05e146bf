package stream

import (
	"fmt"
	"sort"
	"unique"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// lastApplied is left out of the annotations kept: it holds a copy of the
// whole object, and no clause reads it.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// lightMeta is what selection clauses read of an object besides its name and
// namespace (its key): labels, annotations (without lastApplied), owners and
// a Secret's type. A feed keeps one per object of the selected namespaces,
// so it is held compactly: labels and annotations as interned key/value
// pairs (unique handles: the same key or value in 100,000 objects is one
// string), not the event's maps (a one-label map alone is some 300 bytes).
type lightMeta struct {
	rv string
	// pairs are the labels' keys and values, then the annotations':
	// k0, v0, k1, v1, ..., each run sorted by key.
	pairs   []unique.Handle[string]
	nLabels int32
	hasType bool
	typ     unique.Handle[string]
	owners  interface{}
}

// lightOf keeps what selection clauses read of an object (see lightMeta).
func lightOf(u *unstructured.Unstructured) *lightMeta {
	l := &lightMeta{rv: u.GetResourceVersion()}
	src, _ := u.Object["metadata"].(map[string]interface{})
	labels, _ := src["labels"].(map[string]interface{})
	annotations, _ := src["annotations"].(map[string]interface{})
	if n := len(labels) + len(annotations); n > 0 {
		l.pairs = make([]unique.Handle[string], 0, 2*n)
		l.pairs = appendPairs(l.pairs, labels)
		l.nLabels = int32(len(l.pairs) / 2)
		if _, big := annotations[lastApplied]; big {
			kept := make(map[string]interface{}, len(annotations))
			for k, v := range annotations {
				if k != lastApplied {
					kept[k] = v
				}
			}
			annotations = kept
		}
		l.pairs = appendPairs(l.pairs, annotations)
	}
	if v, ok := src["ownerReferences"]; ok {
		l.owners = v
	}
	if t, ok := u.Object["type"]; ok && t != nil {
		l.hasType, l.typ = true, unique.Make(fmt.Sprint(t))
	}
	return l
}

// appendPairs appends m's keys and values, sorted by key, interned.
func appendPairs(out []unique.Handle[string], m map[string]interface{}) []unique.Handle[string] {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v, ok := m[k].(string)
		if !ok {
			v = fmt.Sprint(m[k])
		}
		out = append(out, unique.Make(k), unique.Make(v))
	}
	return out
}

// mapOf rebuilds a labels or annotations map from its pairs (nil for none).
func mapOf(pairs []unique.Handle[string]) map[string]interface{} {
	if len(pairs) == 0 {
		return nil
	}
	m := make(map[string]interface{}, len(pairs)/2)
	for i := 0; i+1 < len(pairs); i += 2 {
		m[pairs[i].Value()] = pairs[i+1].Value()
	}
	return m
}

// object rebuilds the metadata-only object clauses are evaluated on.
func (l *lightMeta) object(u *unstructured.Unstructured) *unstructured.Unstructured {
	md := map[string]interface{}{"name": u.GetName(), "resourceVersion": l.rv}
	if ns := u.GetNamespace(); ns != "" {
		md["namespace"] = ns
	}
	if m := mapOf(l.pairs[:2*l.nLabels]); m != nil {
		md["labels"] = m
	}
	if m := mapOf(l.pairs[2*l.nLabels:]); m != nil {
		md["annotations"] = m
	}
	if l.owners != nil {
		md["ownerReferences"] = l.owners
	}
	out := map[string]interface{}{"apiVersion": u.GetAPIVersion(), "kind": u.GetKind(), "metadata": md}
	if l.hasType {
		out["type"] = l.typ.Value()
	}
	return &unstructured.Unstructured{Object: out}
}
