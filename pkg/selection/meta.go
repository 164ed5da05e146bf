package selection

import "k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

// Every object of a snapshot and of the stream goes through the filter, and
// unstructured's GetLabels and GetAnnotations copy the whole map on each
// call: on a snapshot of 10,000 ConfigMaps they were a tenth of everything
// it allocated. These read the maps in place.

// metaMap is the object's metadata.labels or metadata.annotations, not
// copied; nil when absent or not a map.
func metaMap(u *unstructured.Unstructured, field string) map[string]any {
	md, _ := u.Object["metadata"].(map[string]any)
	m, _ := md[field].(map[string]any)
	return m
}

// label is the value of one label ("" when absent or not a string).
func label(u *unstructured.Unstructured, key string) string {
	v, _ := metaMap(u, "labels")[key].(string)
	return v
}

// annotation is the value of one annotation ("" when absent or not a string).
func annotation(u *unstructured.Unstructured, key string) string {
	v, _ := metaMap(u, "annotations")[key].(string)
	return v
}

// objectLabels are an object's labels as a label selector reads them, not
// copied (labels.Labels): a null value is present and "", as GetLabels
// makes it. (A value of another type, which kube-apiserver never serves,
// reads as "" too; GetLabels would drop every label.)
type objectLabels map[string]any

func (l objectLabels) Has(key string) bool {
	_, ok := l.Lookup(key)
	return ok
}

func (l objectLabels) Get(key string) string {
	v, _ := l.Lookup(key)
	return v
}

func (l objectLabels) Lookup(key string) (string, bool) {
	v, ok := l[key]
	s, _ := v.(string)
	return s, ok
}
