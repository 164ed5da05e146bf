package lifecycle

import (
	"strings"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/configbutler/gitops-reverser/pkg/intern"
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
	out, err := slimMetadata(obj)
	if m, ok := out.(*metav1.PartialObjectMetadata); ok {
		m.Labels = nil
		m.Namespace = namespaceName(m.Namespace)
	}
	return out, err
}

// namespaceNames holds each namespace's name once for the keysOnly caches
// (the informers call their transforms from their own goroutines, hence the
// lock), up to 100,000 names.
var namespaceNames = struct {
	sync.Mutex
	intern.Table[string, string]
}{Table: intern.Table[string, string]{Max: 100_000}}

// namespaceName returns ns, held once.
func namespaceName(ns string) string {
	namespaceNames.Lock()
	defer namespaceNames.Unlock()
	return namespaceNames.Get(ns, func() string { return strings.Clone(ns) })
}
