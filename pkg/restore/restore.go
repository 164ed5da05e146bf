package restore

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"filippo.io/age"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
)

// Defaults of a Restorer's bounds.
const (
	DefaultMaxObjects     = 10000
	DefaultWorkers        = 4
	DefaultCRDWait        = time.Minute
	DefaultDiffLimit      = 16 << 10
	DefaultTotalDiffLimit = 512 << 10
)

// Results of an object (RestoredObject.Result): what a restore did, or what a
// dry run would do.
const (
	Created   = "Created"
	Updated   = "Updated"
	Unchanged = "Unchanged"
	Deleted   = "Deleted"
	Failed    = "Failed"
	Create    = "Create"
	Update    = "Update"
	Delete    = "Delete"
)

// ErrTooManyObjects is the error (wrapped) of a restore of more objects than
// its Restorer's MaxObjects: it writes nothing.
var ErrTooManyObjects = errors.New("too many objects to restore")

var (
	namespaceGK  = schema.GroupKind{Kind: "Namespace"}
	namespaceGVR = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
	crdGK        = schema.GroupKind{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}
)

// Restorer puts objects back as files hold them. Run does not modify it:
// make one per restore, with that restore's Client (which carries the user)
// and the server's shared Mapper.
type Restorer struct {
	// Client makes the requests, as the user (NewClient).
	Client Client
	// Mapper maps kinds to resources (NewMapper): shared between restores.
	Mapper meta.RESTMapper
	// MaxObjects bounds the objects of one restore (0: DefaultMaxObjects).
	MaxObjects int
	// Workers bounds the concurrent writes within one tier of the order
	// (0: DefaultWorkers; 1: one write at a time).
	Workers int
	// CRDWait bounds the wait for a kind whose CustomResourceDefinition the
	// restore wrote to be served (0: DefaultCRDWait).
	CRDWait time.Duration
	// DiffLimit bounds one object's diff in bytes, TotalDiffLimit all of a
	// plan's (0: DefaultDiffLimit, DefaultTotalDiffLimit): the plan is stored
	// in the GitRestore's status.
	DiffLimit, TotalDiffLimit int

	// crdPoll is the interval of the wait for a kind (0: 500ms).
	crdPoll time.Duration
}

// Options says what one restore does.
type Options struct {
	// DryRun plans: every request that would write is made with dryRun=All
	// (so RBAC and admission still judge it), and nothing is written.
	DryRun bool
	// Prune deletes the objects of the restored types in Namespaces that
	// exist now but not in the files.
	Prune bool
	// Namespaces restored: each is created first when missing, and Prune
	// deletes only in them (required with Prune). The files passed to Run
	// are the caller's choice: every object in them is restored.
	Namespaces []string
	// Identities are the age identities of the target, to decrypt Secrets.
	Identities []age.Identity
}

// Result is what a restore did, or with DryRun would do.
type Result struct {
	// Objects in the order they were written: namespaces created first, then
	// the files' objects in the order of writes (see Order), then deletions.
	Objects []v1alpha1.RestoredObject
	// Summary counts Objects by result; on a dry run Create counts as
	// created, Update as updated and Delete as deleted.
	Summary v1alpha1.RestoreSummary
}

// item is one object of a restore.
type item struct {
	Decoded
	out v1alpha1.RestoredObject
	// gvr and namespaced, once mapped.
	gvr        schema.GroupVersionResource
	namespaced bool
	mapped     bool
	// crd is the CustomResourceDefinition of this restore that defines the
	// kind, when the cluster does not serve it yet.
	crd *item
	// apply is what is written: the object without what the server owns.
	apply *unstructured.Unstructured
	// current is the object now (nil: absent), once fetched.
	current *unstructured.Unstructured
	fetched bool
	// uid is the uid a deletion requires (prune).
	uid string
	// gone: a prune found the object already deleted; not reported.
	gone bool
}

func (it *item) done() bool { return it.out.Result != "" }

// run is the state of one restore.
type run struct {
	r       *Restorer
	opts    Options
	items   []*item
	deletes []*item
	lists   map[listKey]map[string]*unstructured.Unstructured
	// newNS (dry run) are the namespaces the plan creates.
	newNS map[string]bool
	// awaited are kinds waited for after their CustomResourceDefinition.
	awaited map[string]awaitedKind
}

type listKey struct {
	gvr schema.GroupVersionResource
	ns  string
}

// Run restores files: it decodes them, orders them, writes each object as
// the Client's user (or plans, with DryRun) and, with Prune, deletes what the
// files do not hold. An object that fails is reported and the rest go on.
// Only a restore that cannot start returns an error and no objects (more
// than MaxObjects: ErrTooManyObjects); when ctx ends, the objects not yet
// written are reported Failed and ctx's error is returned with the Result.
func (r *Restorer) Run(ctx context.Context, files []File, opts Options) (Result, error) {
	if r.Client == nil || r.Mapper == nil {
		return Result{}, errors.New("restore: no client or mapper")
	}
	if opts.Prune && len(opts.Namespaces) == 0 {
		return Result{}, errors.New("prune needs the namespaces to prune in")
	}
	ds := Decode(files, opts.Identities)
	if limit := orDefault(r.MaxObjects, DefaultMaxObjects); len(ds) > limit {
		return Result{}, fmt.Errorf("%w: the files hold %d objects, a restore writes at most %d: restore fewer namespaces at a time",
			ErrTooManyObjects, len(ds), limit)
	}
	if rm, ok := r.Mapper.(meta.ResettableRESTMapper); ok {
		rm.Reset() // see the kinds served now
	}
	x := &run{r: r, opts: opts, lists: map[listKey]map[string]*unstructured.Unstructured{},
		newNS: map[string]bool{}, awaited: map[string]awaitedKind{}}
	x.prepare(ds)
	x.ensureNamespaces(ctx)
	sort.SliceStable(x.items, func(i, j int) bool { return less(&x.items[i].Decoded, &x.items[j].Decoded) })
	for _, tier := range byTier(x.items) {
		x.runTier(ctx, tier)
	}
	if opts.Prune && ctx.Err() == nil {
		x.prune(ctx)
	}
	return x.result(), ctx.Err()
}

func orDefault[T int | time.Duration](v, d T) T {
	if v > 0 {
		return v
	}
	return d
}

// prepare makes items of the decoded files and maps their kinds.
func (x *run) prepare(ds []Decoded) {
	seen := map[string]string{}
	crds := map[schema.GroupKind]*item{}
	for i := range ds {
		it := &item{Decoded: ds[i]}
		it.out = v1alpha1.RestoredObject{APIVersion: it.APIVersion, Kind: it.Kind, Namespace: it.Namespace, Name: it.Name}
		x.items = append(x.items, it)
		if it.Reason != "" {
			it.out.Result, it.out.Reason, it.out.Message = Failed, it.Reason, it.Message
			continue
		}
		key := objectKey(it.GroupKind(), it.Namespace, it.Name)
		if first, dup := seen[key]; dup {
			x.failWith(it, ReasonInvalid, "%s holds the same object as %s", it.Path, first)
			continue
		}
		seen[key] = it.Path
		if it.GroupKind() == crdGK {
			group, _, _ := unstructured.NestedString(it.Object.Object, "spec", "group")
			kind, _, _ := unstructured.NestedString(it.Object.Object, "spec", "names", "kind")
			crds[schema.GroupKind{Group: group, Kind: kind}] = it
		}
	}
	for _, it := range x.items {
		if !it.done() {
			x.mapItem(it, crds)
		}
	}
}

func objectKey(gk schema.GroupKind, ns, name string) string {
	return gk.String() + "/" + ns + "/" + name
}

// mapItem maps an item's kind to its resource. A kind the cluster does not
// serve fails, but one whose CustomResourceDefinition the restore writes
// first waits for it (crd).
func (x *run) mapItem(it *item, crds map[schema.GroupKind]*item) {
	gk := it.GroupKind()
	gv, _ := schema.ParseGroupVersion(it.APIVersion)
	m, err := x.r.Mapper.RESTMapping(gk, gv.Version)
	if err != nil {
		if crd := crds[gk]; meta.IsNoMatchError(err) && crd != nil {
			it.crd = crd
			return
		}
		x.failMapping(it, err)
		return
	}
	x.setMapping(it, m)
}

func (x *run) failMapping(it *item, err error) {
	if !meta.IsNoMatchError(err) {
		x.failWith(it, errReason(err), "cannot map kind %s: %v", it.Kind, err)
		return
	}
	gk := it.GroupKind()
	if m, err := x.r.Mapper.RESTMapping(gk); err == nil {
		x.failWith(it, ReasonNoKindMatch, "the cluster no longer serves %s in %s (it serves %s): convert the file to a served version",
			it.Kind, it.APIVersion, m.GroupVersionKind.GroupVersion())
		return
	}
	x.failWith(it, ReasonNoKindMatch, "the cluster does not serve the kind %s (%s): its CustomResourceDefinition or API is gone",
		gk, it.APIVersion)
}

// setMapping records a mapping and makes the object to write: the file's
// without what the server owns (status, uid, resourceVersion, ...) and
// without owner references, which name other objects by uid: a stale one
// would have the garbage collector delete the restored object.
func (x *run) setMapping(it *item, m *meta.RESTMapping) {
	it.gvr, it.mapped = m.Resource, true
	it.namespaced = m.Scope.Name() == meta.RESTScopeNameNamespace
	u := it.Object.DeepCopy()
	delete(u.Object, "status")
	if md, ok := u.Object["metadata"].(map[string]any); ok {
		for _, f := range []string{"uid", "resourceVersion", "generation", "creationTimestamp", "managedFields",
			"selfLink", "deletionTimestamp", "deletionGracePeriodSeconds", "ownerReferences"} {
			delete(md, f)
		}
	}
	switch {
	case it.namespaced && it.Namespace == "":
		x.failWith(it, ReasonInvalid, "%s: a namespaced %s without metadata.namespace", it.Path, it.Kind)
		return
	case !it.namespaced:
		u.SetNamespace("")
		it.Namespace, it.out.Namespace = "", ""
	}
	it.apply = u
}

// ensureNamespaces adds a bare Namespace for each namespace restored into
// that does not exist and whose Namespace the files do not hold. A namespace
// the user may not read is left alone: the writes into it say what is wrong.
func (x *run) ensureNamespaces(ctx context.Context) {
	have, need := map[string]bool{}, map[string]bool{}
	for _, ns := range x.opts.Namespaces {
		need[ns] = true
	}
	for _, it := range x.items {
		switch {
		case it.GroupKind() == namespaceGK:
			have[it.Name] = true
		case !it.done() && it.Namespace != "" && (it.namespaced || it.crd != nil):
			need[it.Namespace] = true
		}
	}
	names := make([]string, 0, len(need))
	for ns := range need {
		if !have[ns] {
			names = append(names, ns)
		}
	}
	sort.Strings(names)
	for _, ns := range names {
		if _, err := x.r.Client.Get(ctx, namespaceGVR, "", ns); !isNotFound(err) {
			continue
		}
		obj := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": ns}}}
		x.items = append(x.items, &item{
			Decoded: Decoded{Object: obj, APIVersion: "v1", Kind: "Namespace", Name: ns},
			out: v1alpha1.RestoredObject{APIVersion: "v1", Kind: "Namespace", Name: ns,
				Message: "the files hold no Namespace " + ns + ": created without labels or annotations"},
			gvr: namespaceGVR, mapped: true, apply: obj, fetched: true,
		})
	}
}

// byTier splits items (in order) into runs of one tier.
func byTier(items []*item) [][]*item {
	var out [][]*item
	for i := 0; i < len(items); {
		t := Tier(items[i].GroupKind())
		j := i + 1
		for j < len(items) && Tier(items[j].GroupKind()) == t {
			j++
		}
		out = append(out, items[i:j])
		i = j
	}
	return out
}
