package lifecycle

import (
	"reflect"
	"runtime"
	"strings"
	"testing"
	"unsafe"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
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

// TestKeysOnly: the Secrets', RBAC objects' and ServiceAccounts' cache keeps
// which object it is (key, uid, resourceVersion) and not its labels, and
// objects of one namespace share its name.
func TestKeysOnly(t *testing.T) {
	meta := func(name string) *metav1.PartialObjectMetadata {
		return &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: strings.Clone("team-a"), UID: "u-" + types.UID(name), ResourceVersion: "9",
			Labels: map[string]string{"owner": "helm"}, Annotations: map[string]string{"a": "b"}}}
	}
	a, _ := keysOnly(meta("a"))
	runtime.GC() // what holds the name must outlive a collection
	b, _ := keysOnly(meta("b"))
	want := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "team-a", UID: "u-a", ResourceVersion: "9"}}
	if !reflect.DeepEqual(a, want) {
		t.Errorf("got %+v, want %+v", a, want)
	}
	if unsafe.StringData(a.(*metav1.PartialObjectMetadata).Namespace) != unsafe.StringData(b.(*metav1.PartialObjectMetadata).Namespace) {
		t.Error("two objects of one namespace hold its name twice")
	}
	if other, _ := keysOnly("tombstone"); other != "tombstone" {
		t.Errorf("a value that is not metadata changed: %v", other)
	}
}
