package restore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// listMin is the number of objects of one type in one namespace from which
// they are read with one List instead of a Get each (a user who may not
// list gets a Get each).
const listMin = 4

// runTier writes (or plans) the objects of one tier. Kinds whose
// CustomResourceDefinition an earlier tier wrote are awaited first, the
// current objects read (a List per type and namespace), then each object is
// written, Workers at a time.
func (x *run) runTier(ctx context.Context, items []*item) {
	for _, it := range items {
		if it.crd != nil && !it.done() {
			x.resolveCRDKind(ctx, it)
		}
	}
	x.fetchLists(ctx, items)
	x.parallel(ctx, items, x.write)
	for _, it := range items {
		if x.opts.DryRun && it.GroupKind() == namespaceGK && it.out.Result == Create {
			x.newNS[it.Name] = true
		}
	}
}

// parallel runs fn for each item not yet done, Workers at a time.
func (x *run) parallel(ctx context.Context, items []*item, fn func(context.Context, *item)) {
	sem := make(chan struct{}, orDefault(x.r.Workers, DefaultWorkers))
	var wg sync.WaitGroup
	for _, it := range items {
		if it.done() {
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			fn(ctx, it)
		})
	}
	wg.Wait()
}

// fetchLists reads with one List the current objects of each type and
// namespace that has listMin objects to write; the others are read one by
// one when written (so is a group whose List fails).
func (x *run) fetchLists(ctx context.Context, items []*item) {
	groups := map[listKey][]*item{}
	var keys []listKey
	for _, it := range items {
		if it.done() || !it.mapped || it.fetched || (x.opts.DryRun && x.newNS[it.Namespace]) {
			continue
		}
		k := listKey{it.gvr, it.Namespace}
		if groups[k] == nil {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], it)
	}
	for _, k := range keys {
		if len(groups[k]) < listMin {
			continue
		}
		objs, err := x.list(ctx, k)
		if err != nil {
			continue
		}
		for _, it := range groups[k] {
			it.current, it.fetched = objs[it.Name], true
		}
	}
}

// list reads (once per restore) the objects of a type in a namespace, by name.
func (x *run) list(ctx context.Context, k listKey) (map[string]*unstructured.Unstructured, error) {
	if objs, ok := x.lists[k]; ok {
		return objs, nil
	}
	l, err := x.r.Client.List(ctx, k.gvr, k.ns)
	if err != nil {
		return nil, err
	}
	objs := make(map[string]*unstructured.Unstructured, len(l))
	for i := range l {
		objs[l[i].GetName()] = &l[i]
	}
	x.lists[k] = objs
	return objs, nil
}

// write writes one object: Unchanged without a request when the object
// already renders as the file does, else a server-side apply (dry run: the
// plan of one).
func (x *run) write(ctx context.Context, it *item) {
	if err := ctx.Err(); err != nil {
		x.fail(it, fmt.Errorf("not written: %w", err))
		return
	}
	if x.opts.DryRun && x.newNS[it.Namespace] {
		// Nothing is in a namespace the plan creates, and a dry-run write
		// into it would be refused for the namespace's absence.
		it.out.Result = Create
		it.out.Message = "namespace " + it.Namespace + " is created first"
		it.out.Diff = objectDiff(nil, it.apply, orDefault(x.r.DiffLimit, DefaultDiffLimit))
		return
	}
	if !it.fetched {
		cur, err := x.r.Client.Get(ctx, it.gvr, it.Namespace, it.Name)
		switch {
		case isNotFound(err):
			cur = nil
		case err != nil:
			x.fail(it, err)
			return
		}
		it.current, it.fetched = cur, true
	}
	if it.current != nil && sameRendering(it.apply, it.current) {
		it.out.Result = Unchanged
		return
	}
	res, err := x.r.Client.Apply(ctx, it.gvr, it.apply, x.opts.DryRun)
	if err != nil {
		x.fail(it, err)
		return
	}
	it.out.Result = resultOf(it.current, res, x.opts.DryRun)
	if it.out.Result == Create || it.out.Result == Update {
		it.out.Diff = objectDiff(it.current, res, orDefault(x.r.DiffLimit, DefaultDiffLimit))
	}
}

// resultOf is the result of an apply of an object that was cur (nil: absent)
// and is res: Unchanged when the resourceVersion did not move or only what
// the server owns changed (field ownership, when the restore takes over
// fields that already held). A dry run's resourceVersion is the current
// one: only its content tells.
func resultOf(cur, res *unstructured.Unstructured, dryRun bool) string {
	switch {
	case cur == nil && dryRun:
		return Create
	case cur == nil:
		return Created
	case dryRun && sameRendering(cur, res):
		return Unchanged
	case dryRun:
		return Update
	case res.GetResourceVersion() == cur.GetResourceVersion() || sameRendering(cur, res):
		return Unchanged
	}
	return Updated
}

// awaitedKind is the outcome of a wait for a kind.
type awaitedKind struct {
	m   *meta.RESTMapping
	err error
}

// resolveCRDKind maps a kind whose CustomResourceDefinition this restore
// wrote in an earlier tier. A dry run wrote nothing: the object is planned
// as created. A restore waits (CRDWait) for the kind to be served: a new
// CustomResourceDefinition is served once established.
func (x *run) resolveCRDKind(ctx context.Context, it *item) {
	crd := it.crd
	if crd.out.Result == Failed {
		x.failWith(it, ReasonNoKindMatch, "the cluster does not serve the kind %s (%s), and its CustomResourceDefinition %s failed",
			it.GroupKind(), it.APIVersion, crd.Name)
		return
	}
	if x.opts.DryRun {
		it.out.Result = Create
		it.out.Message = "its kind is served once its CustomResourceDefinition " + crd.Name + " is restored"
		it.out.Diff = objectDiff(nil, it.Object, orDefault(x.r.DiffLimit, DefaultDiffLimit))
		return
	}
	gv, _ := schema.ParseGroupVersion(it.APIVersion)
	m, err := x.awaitKind(ctx, it.GroupKind(), gv.Version)
	if err != nil {
		if !meta.IsNoMatchError(err) {
			x.failWith(it, errReason(err), "waiting for kind %s: %v", it.GroupKind(), err)
			return
		}
		x.failWith(it, ReasonNoKindMatch, "the cluster did not serve the kind %s (%s) within %s of restoring its CustomResourceDefinition %s",
			it.GroupKind(), it.APIVersion, orDefault(x.r.CRDWait, DefaultCRDWait), crd.Name)
		return
	}
	x.setMapping(it, m)
}

// awaitKind re-reads discovery until the kind is served in version, CRDWait
// passes, or it is served in other versions only (once per kind and version
// and restore).
func (x *run) awaitKind(ctx context.Context, gk schema.GroupKind, version string) (*meta.RESTMapping, error) {
	key := gk.String() + "/" + version
	if a, ok := x.awaited[key]; ok {
		return a.m, a.err
	}
	deadline := time.Now().Add(orDefault(x.r.CRDWait, DefaultCRDWait))
	rm, resettable := x.r.Mapper.(meta.ResettableRESTMapper)
	var a awaitedKind
	for {
		if resettable {
			rm.Reset()
		}
		a.m, a.err = x.r.Mapper.RESTMapping(gk, version)
		if a.err == nil || !meta.IsNoMatchError(a.err) || !resettable || time.Now().After(deadline) {
			break
		}
		if _, err := x.r.Mapper.RESTMapping(gk); err == nil {
			break // served, but not in this version
		}
		t := time.NewTimer(orDefault(x.r.crdPoll, 500*time.Millisecond))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
	x.awaited[key] = a
	return a.m, a.err
}

func (x *run) fail(it *item, err error) {
	it.out.Result, it.out.Reason, it.out.Message = Failed, errReason(err), err.Error()
}

func (x *run) failWith(it *item, reason, format string, args ...any) {
	it.out.Result, it.out.Reason, it.out.Message = Failed, reason, fmt.Sprintf(format, args...)
}

// errReason is the API's reason for a failure (Forbidden, Invalid,
// Conflict, NotFound, ...); Timeout or Canceled when the restore's context
// ended; Unknown for an error that is not the API's.
func errReason(err error) string {
	if r := apierrors.ReasonForError(err); r != metav1.StatusReasonUnknown {
		return string(r)
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return string(metav1.StatusReasonTimeout)
	case errors.Is(err, context.Canceled):
		return "Canceled"
	}
	return "Unknown"
}

func isNotFound(err error) bool {
	return err != nil && apierrors.IsNotFound(err)
}
