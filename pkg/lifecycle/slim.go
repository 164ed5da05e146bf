package lifecycle

import (
	"unique"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// slimMetadata keeps of an object's metadata what the source cluster's
// informers read (watchSourceCluster): its key, uid, resourceVersion and
// labels (namespace selectors). The rest (managed fields, annotations with
// their last-applied copies, owners) is most of a Secret's or a
// ServiceAccount's metadata, and a large cluster has tens of thousands of
// them, each cached for as long as the server runs.
func slimMetadata(obj interface{}) (interface{}, error) {
	m, ok := obj.(*metav1.PartialObjectMetadata)
	if !ok {
		return obj, nil
	}
	return &metav1.PartialObjectMetadata{TypeMeta: m.TypeMeta, ObjectMeta: metav1.ObjectMeta{
		Name: m.Name, Namespace: m.Namespace, UID: m.UID, ResourceVersion: m.ResourceVersion,
		Labels: m.Labels, DeletionTimestamp: m.DeletionTimestamp,
	}}, nil
}

// keysOnly keeps of an object's metadata its key, uid and resourceVersion:
// all the handlers of Secrets, RBAC objects and ServiceAccounts read (which
// object changed). A cluster of 25,000 Secrets is 25,000 of them cached for
// as long as the server runs, so their labels are not kept either, and the
// namespace's name is held once for all its objects.
func keysOnly(obj interface{}) (interface{}, error) {
	m, ok := obj.(*metav1.PartialObjectMetadata)
	if !ok {
		return obj, nil
	}
	return &metav1.PartialObjectMetadata{TypeMeta: m.TypeMeta, ObjectMeta: metav1.ObjectMeta{
		Name: m.Name, Namespace: unique.Make(m.Namespace).Value(), UID: m.UID, ResourceVersion: m.ResourceVersion,
		DeletionTimestamp: m.DeletionTimestamp,
	}}, nil
}
