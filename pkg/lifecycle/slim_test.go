package lifecycle

import (
	"reflect"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestSlimMetadata: the informers' cache keeps an object's key, uid,
// resourceVersion and labels, and drops what no handler reads.
func TestSlimMetadata(t *testing.T) {
	in := &metav1.PartialObjectMetadata{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "ns", UID: "u", ResourceVersion: "9",
			Labels:          map[string]string{"team": "a"},
			Annotations:     map[string]string{"kubectl.kubernetes.io/last-applied-configuration": "{...}"},
			ManagedFields:   []metav1.ManagedFieldsEntry{{Manager: "kubectl"}},
			OwnerReferences: []metav1.OwnerReference{{Name: "o"}},
			Finalizers:      []string{"f"}},
	}
	got, err := slimMetadata(in)
	if err != nil {
		t.Fatal(err)
	}
	want := &metav1.PartialObjectMetadata{TypeMeta: in.TypeMeta, ObjectMeta: metav1.ObjectMeta{
		Name: "s", Namespace: "ns", UID: "u", ResourceVersion: "9", Labels: map[string]string{"team": "a"}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if other, _ := slimMetadata("tombstone"); other != "tombstone" {
		t.Errorf("a value that is not metadata changed: %v", other)
	}
}
