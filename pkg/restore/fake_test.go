package restore

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	fakediscovery "k8s.io/client-go/discovery/fake"
	k8stesting "k8s.io/client-go/testing"
)

// fakeCluster is a Client over objects in memory. Apply merges the applied
// object into the stored one (applied fields win, others stay, as with a
// forced server-side apply over another manager's fields) and moves the
// resourceVersion only when the content changes. Namespaced objects need
// their Namespace, as with the NamespaceLifecycle admission plugin.
type fakeCluster struct {
	mu    sync.Mutex
	objs  map[string]*unstructured.Unstructured
	rv    int
	calls []string
	// deny returns true to refuse a request as Forbidden.
	deny func(verb string, gvr schema.GroupVersionResource, ns, name string) bool
	// reject returns an error to refuse an apply (e.g. Invalid).
	reject func(obj *unstructured.Unstructured) error
	// onApply is called after a (not dry-run) apply.
	onApply func(obj *unstructured.Unstructured)
}

func newFakeCluster(objs ...*unstructured.Unstructured) *fakeCluster {
	f := &fakeCluster{objs: map[string]*unstructured.Unstructured{}}
	for _, o := range objs {
		f.rv++
		o = o.DeepCopy()
		o.SetResourceVersion(strconv.Itoa(f.rv))
		o.SetUID(types.UID("uid-" + o.GetName()))
		f.objs[f.key(resourceOf(o), o.GetNamespace(), o.GetName())] = o
	}
	return f
}

// resourceOf is the test's RESTMapper in short: kind to resource.
func resourceOf(o *unstructured.Unstructured) schema.GroupVersionResource {
	gvk := o.GroupVersionKind()
	plural, _ := meta.UnsafeGuessKindToResource(gvk)
	return plural
}

func (f *fakeCluster) key(gvr schema.GroupVersionResource, ns, name string) string {
	return gvr.Group + "/" + gvr.Resource + "/" + ns + "/" + name
}

func (f *fakeCluster) record(verb string, gvr schema.GroupVersionResource, ns, name string, dryRun bool) error {
	call := verb + " " + gvr.Resource + " " + strings.TrimPrefix(ns+"/"+name, "/")
	if dryRun {
		call += " (dry run)"
	}
	f.calls = append(f.calls, call)
	if f.deny != nil && f.deny(verb, gvr, ns, name) {
		return apierrors.NewForbidden(gvr.GroupResource(), name, fmt.Errorf("User \"alice\" cannot %s resource %q in the namespace %q", verb, gvr.Resource, ns))
	}
	return nil
}

func (f *fakeCluster) Get(_ context.Context, gvr schema.GroupVersionResource, ns, name string) (*unstructured.Unstructured, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("get", gvr, ns, name, false); err != nil {
		return nil, err
	}
	o, ok := f.objs[f.key(gvr, ns, name)]
	if !ok {
		return nil, apierrors.NewNotFound(gvr.GroupResource(), name)
	}
	return o.DeepCopy(), nil
}

func (f *fakeCluster) List(_ context.Context, gvr schema.GroupVersionResource, ns string) ([]unstructured.Unstructured, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("list", gvr, ns, "", false); err != nil {
		return nil, err
	}
	prefix := f.key(gvr, ns, "")
	var out []unstructured.Unstructured
	for k, o := range f.objs {
		if strings.HasPrefix(k, prefix) {
			out = append(out, *o.DeepCopy())
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].GetName() < out[j].GetName() })
	return out, nil
}

func (f *fakeCluster) Apply(_ context.Context, gvr schema.GroupVersionResource, obj *unstructured.Unstructured, dryRun bool) (*unstructured.Unstructured, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ns, name := obj.GetNamespace(), obj.GetName()
	if err := f.record("apply", gvr, ns, name, dryRun); err != nil {
		return nil, err
	}
	if obj.GetResourceVersion() != "" || obj.GetUID() != "" || obj.Object["status"] != nil || obj.GetOwnerReferences() != nil {
		return nil, apierrors.NewBadRequest("apply of server-owned fields")
	}
	if ns != "" {
		if _, ok := f.objs[f.key(namespaceGVR, "", ns)]; !ok {
			return nil, apierrors.NewNotFound(namespaceGVR.GroupResource(), ns)
		}
	}
	if f.reject != nil {
		if err := f.reject(obj); err != nil {
			return nil, err
		}
	}
	k := f.key(gvr, ns, name)
	old := f.objs[k]
	next := obj.DeepCopy()
	if old != nil {
		next = &unstructured.Unstructured{Object: merge(old.DeepCopy().Object, obj.DeepCopy().Object)}
		if reflect.DeepEqual(next.Object, old.Object) {
			return old.DeepCopy(), nil
		}
	} else {
		next.SetUID(types.UID("uid-" + name))
	}
	if dryRun {
		return next, nil
	}
	f.rv++
	next.SetResourceVersion(strconv.Itoa(f.rv))
	f.objs[k] = next
	if f.onApply != nil {
		f.onApply(next)
	}
	return next.DeepCopy(), nil
}

// merge merges b into a: b's values win, maps merge.
func merge(a, b map[string]any) map[string]any {
	for k, v := range b {
		am, ok1 := a[k].(map[string]any)
		bm, ok2 := v.(map[string]any)
		if ok1 && ok2 {
			a[k] = merge(am, bm)
		} else {
			a[k] = v
		}
	}
	return a
}

func (f *fakeCluster) Delete(_ context.Context, gvr schema.GroupVersionResource, ns, name string, uid types.UID, dryRun bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("delete", gvr, ns, name, dryRun); err != nil {
		return err
	}
	k := f.key(gvr, ns, name)
	o, ok := f.objs[k]
	if !ok {
		return apierrors.NewNotFound(gvr.GroupResource(), name)
	}
	if uid != "" && o.GetUID() != uid {
		return apierrors.NewConflict(gvr.GroupResource(), name, errors.New("uid precondition failed"))
	}
	if !dryRun {
		delete(f.objs, k)
	}
	return nil
}

// writes are the calls that would change the cluster.
func (f *fakeCluster) writes() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.calls {
		if (strings.HasPrefix(c, "apply ") || strings.HasPrefix(c, "delete ")) && !strings.HasSuffix(c, "(dry run)") {
			out = append(out, c)
		}
	}
	return out
}

func (f *fakeCluster) count(verb string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if strings.HasPrefix(c, verb+" ") {
			n++
		}
	}
	return n
}

func (f *fakeCluster) object(gvr schema.GroupVersionResource, ns, name string) *unstructured.Unstructured {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.objs[f.key(gvr, ns, name)]
}

// testDiscovery is discovery of the kinds the tests use; add serves more.
type testDiscovery struct{ *fakediscovery.FakeDiscovery }

func newTestDiscovery() testDiscovery {
	d := testDiscovery{&fakediscovery.FakeDiscovery{Fake: &k8stesting.Fake{}}}
	d.add("v1", "Namespace", "namespaces", false)
	for _, k := range []string{"ConfigMap", "Secret", "ServiceAccount", "Service", "PersistentVolumeClaim"} {
		d.add("v1", k, strings.ToLower(k)+"s", true)
	}
	d.add("apps/v1", "Deployment", "deployments", true)
	d.add("rbac.authorization.k8s.io/v1", "ClusterRole", "clusterroles", false)
	d.add("apiextensions.k8s.io/v1", "CustomResourceDefinition", "customresourcedefinitions", false)
	return d
}

func (d testDiscovery) add(gv, kind, resource string, namespaced bool) {
	r := metav1.APIResource{Name: resource, Kind: kind, Namespaced: namespaced, Verbs: metav1.Verbs{"get", "list", "patch", "delete"}}
	for _, l := range d.Resources {
		if l.GroupVersion == gv {
			l.APIResources = append(l.APIResources, r)
			return
		}
	}
	d.Resources = append(d.Resources, &metav1.APIResourceList{GroupVersion: gv, APIResources: []metav1.APIResource{r}})
}

// newTestRestorer is a Restorer over a fake cluster and the test discovery.
func newTestRestorer(t testing.TB, c Client, d testDiscovery) *Restorer {
	t.Helper()
	return &Restorer{Client: c, Mapper: NewMapper(d), crdPoll: 1e6}
}

func obj(apiVersion, kind, ns, name string, fields map[string]any) *unstructured.Unstructured {
	md := map[string]any{"name": name}
	if ns != "" {
		md["namespace"] = ns
	}
	o := map[string]any{"apiVersion": apiVersion, "kind": kind, "metadata": md}
	for k, v := range fields {
		o[k] = v
	}
	return &unstructured.Unstructured{Object: o}
}

func namespace(name string) *unstructured.Unstructured { return obj("v1", "Namespace", "", name, nil) }

func configMap(ns, name string, data map[string]any) *unstructured.Unstructured {
	return obj("v1", "ConfigMap", ns, name, map[string]any{"data": data})
}

// all are the stored objects.
func (f *fakeCluster) all() []*unstructured.Unstructured {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*unstructured.Unstructured
	for _, o := range f.objs {
		out = append(out, o.DeepCopy())
	}
	return out
}
