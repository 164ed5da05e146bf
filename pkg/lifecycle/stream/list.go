package stream

import (
	"context"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"

	"github.com/configbutler/gitops-reverser/pkg/lifecycle/snapshot"
	"github.com/configbutler/gitops-reverser/pkg/render"
	"github.com/configbutler/gitops-reverser/pkg/selection"
)

// listPage is the page size of a snapshot's LIST: memory is bounded by a page,
// not by the type.
const listPage = 500

// maxNamespaceLists is how many namespaces a snapshot lists one by one; a
// selection of more lists the type across the cluster.
const maxNamespaceLists = 20

// lister is the snapshot's source of objects: LISTs of a type, and for a
// resumed type whose feed had passed the resume point, a watch of its own
// from there (catchUp). It keeps nothing, so it needs no lock; what a LIST
// sees it tells the feeds (learn, which takes the registry's lock), so that
// routing knows the objects' labels before their next event.
type lister struct {
	dyn dynamic.Interface
	// raw (optional) reads LIST pages as bytes (rawPages); without it they
	// are read through dyn.
	raw rest.Interface
	// proto (optional) reads the pages of the types protoPages knows.
	proto rest.Interface
	learn func(schema.GroupVersionResource, *unstructured.Unstructured)
}

// list lists a type across the cluster (see Router.List). at (optional) is
// told the LIST's resourceVersion once its first page is read.
func (l *lister) list(ctx context.Context, gvr schema.GroupVersionResource, fn func(*unstructured.Unstructured) error, at func(string)) (string, error) {
	return l.listPages(ctx, gvr, "", fn, at)
}

// listIn lists a type namespace by namespace (see Router.ListIn), or across the
// cluster when there are none or too many to list one by one. at is told
// the lowest of the LISTs' resourceVersions once they are all read (the one
// GoLive cuts at; each LIST's own may be higher).
func (l *lister) listIn(ctx context.Context, gvr schema.GroupVersionResource, namespaces []string, fn func(*unstructured.Unstructured) error, at func(string)) (string, error) {
	if len(namespaces) == 0 || len(namespaces) > maxNamespaceLists {
		return l.list(ctx, gvr, fn, at)
	}
	low := ""
	for _, ns := range namespaces {
		rv, err := l.listPages(ctx, gvr, ns, fn, nil)
		if err != nil {
			return "", err
		}
		if low == "" || !rvAtLeast(rv, low) {
			low = rv
		}
	}
	if at != nil {
		at(low)
	}
	return low, nil
}

// listPages lists a type in one namespace ("": all) in pages. The next page
// is read (and decoded) while this one is planned: on two cores the decode
// of one page and the render of the one before overlap. At most three pages
// are held (planned, waiting, being read), whatever the type's size.
func (l *lister) listPages(ctx context.Context, gvr schema.GroupVersionResource, ns string, fn func(*unstructured.Unstructured) error, at func(string)) (string, error) {
	ctx, cancel := context.WithCancel(ctx)
	pages := make(chan listed, 1)
	go l.readPages(ctx, gvr, ns, pages)
	defer func() {
		cancel()
		for range pages { // until the reader has stopped
		}
	}()
	var rv string
	for p := range pages {
		if p.err != nil {
			return "", p.err
		}
		if rv == "" {
			rv = p.list.GetResourceVersion()
			if at != nil {
				at(rv)
			}
		}
		for i := range p.list.Items {
			u := &p.list.Items[i]
			l.learn(gvr, u)
			if err := fn(u); err != nil {
				return "", err
			}
			// Planned: let the object go now rather than with its page (a
			// page of 500 Deployments is some 6 MB of maps).
			p.list.Items[i] = unstructured.Unstructured{}
		}
		if p.list.GetContinue() == "" {
			return rv, nil // the last page
		}
	}
	// The reader stopped before the last page (ctx ended): a partial list
	// must never pass for the whole type, or its missing objects' files
	// would be removed.
	if err := ctx.Err(); err != nil {
		return "", err
	}
	return "", fmt.Errorf("the list of %s ended before its last page", gvr.Resource)
}

// listed is one page of a LIST, or why there is none.
type listed struct {
	list *unstructured.UnstructuredList
	err  error
}

// readPages reads the pages of a LIST into out, stripped for the cache, until
// the last page, an error (sent) or ctx's end; it closes out.
func (l *lister) readPages(ctx context.Context, gvr schema.GroupVersionResource, ns string, out chan<- listed) {
	defer close(out)
	var cont string
	for {
		list, err := l.page(ctx, gvr, ns, cont)
		if err == nil {
			for i := range list.Items {
				render.StripForCache(&list.Items[i])
			}
		}
		select {
		case out <- listed{list: list, err: err}:
		case <-ctx.Done():
			return
		}
		if err != nil {
			return
		}
		if cont = list.GetContinue(); cont == "" {
			return
		}
	}
}

// page reads one page of a LIST, continuing at cont.
func (l *lister) page(ctx context.Context, gvr schema.GroupVersionResource, ns, cont string) (*unstructured.UnstructuredList, error) {
	if l.proto != nil && protoServed(gvr) {
		list, err := protoPages{l.proto}.page(ctx, gvr, ns, listPage, cont)
		if !errors.Is(err, errNotExact) {
			return list, err
		}
		// Fields this build does not know: this page as JSON, which keeps
		// them (a continue token is the same in either encoding).
		klog.V(2).InfoS("LIST page read again as JSON", "resource", gvr.String(), "reason", err)
	}
	if l.raw != nil {
		return rawPages{l.raw}.page(ctx, gvr, ns, listPage, cont)
	}
	return l.dyn.Resource(gvr).Namespace(ns).List(ctx, metav1.ListOptions{Limit: listPage, Continue: cont})
}

// catchUp reads the events of a type from a resume point the shared feed had
// passed (from) until the feed's position when the target registered (until),
// with a watch of its own: until is reached by an event or a bookmark at or
// after it (the watch is asked to end within seconds, so that a bookmark
// comes before: about a second). It returns the latest event per object
// (keyed namespace/name) in the namespaces the target's selection of the
// type (ts) holds, another namespace's changes being neither held nor
// replayed; the plan applies the selection's clauses.
// The watch itself is of every namespace: until is the feed's position, the
// version of the type's last event anywhere, and only a watch of every
// namespace is sure to see it. kube-apiserver (v1.37) sends a watch of one
// namespace no bookmark at the version it already passed through other
// namespaces' events, so such a watch asked to end in 3 s saw nothing and
// ended short (measured on the e2e stack). A watch that ends short of until,
// or whose start expired, fails it: the type is listed.
func (l *lister) catchUp(ctx context.Context, gvr schema.GroupVersionResource, ts *selection.TypeSelection, from, until string) (map[string]snapshot.Event, error) {
	// A bookmark is due 2 s before a watch's deadline (kube-apiserver's watch
	// cache), so one asked to end in 3 s gets it after about a second.
	timeout := int64(3)
	w, err := l.dyn.Resource(gvr).Watch(ctx, metav1.ListOptions{ResourceVersion: from, AllowWatchBookmarks: true, TimeoutSeconds: &timeout})
	if err != nil {
		return nil, err
	}
	defer w.Stop()
	out := map[string]snapshot.Event{}
	for ev := range w.ResultChan() {
		switch ev.Type {
		case watch.Error:
			return nil, apierrors.FromObject(ev.Object)
		case watch.Added, watch.Modified, watch.Deleted, watch.Bookmark:
			u, ok := ev.Object.(*unstructured.Unstructured)
			if !ok {
				continue
			}
			if ev.Type != watch.Bookmark && ts.Matches(u.GetNamespace()) {
				render.StripForCache(u)
				out[u.GetNamespace()+"/"+u.GetName()] = snapshot.Event{Object: u, Delete: ev.Type == watch.Deleted}
			}
			if rvAtLeast(u.GetResourceVersion(), until) {
				return out, nil
			}
		}
	}
	return nil, fmt.Errorf("the watch from %s ended before %s", from, until)
}
