package lifecycle

import (
	"strings"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// slimMetadata keeps of a namespace's metadata what its informer's readers
// use (watchSourceCluster): its name, uid, resourceVersion and labels
// (namespace selectors). The rest (managed fields, annotations with their
// last-applied copies, owners) is cached for as long as the server runs.
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
		Name: m.Name, Namespace: namespaceName(m.Namespace), UID: m.UID, ResourceVersion: m.ResourceVersion,
		DeletionTimestamp: m.DeletionTimestamp,
	}}, nil
}

// maxNamespaceNames bounds namespaceNames: past it, it starts over (the
// objects cached already keep their strings).
const maxNamespaceNames = 100_000

// namespaceNames holds each namespace's name once for the keysOnly caches
// (the informers call their transforms from their own goroutines).
var namespaceNames struct {
	sync.Mutex
	m map[string]string
}

// namespaceName returns ns, held once.
func namespaceName(ns string) string {
	namespaceNames.Lock()
	defer namespaceNames.Unlock()
	if held, ok := namespaceNames.m[ns]; ok {
		return held
	}
	if namespaceNames.m == nil || len(namespaceNames.m) >= maxNamespaceNames {
		namespaceNames.m = map[string]string{}
	}
	held := strings.Clone(ns)
	namespaceNames.m[held] = held
	return held
}
