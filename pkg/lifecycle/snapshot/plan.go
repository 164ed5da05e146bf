// Package snapshot plans a target's snapshot: from the files under the
// target's path (their blob hashes), the selected objects and the index of
// what the worker wrote before, it decides every create, update and delete,
// with the stats. It reads nothing but what it is given (a Tree, a Lister, an
// Index), so the decisions are table-tested without Git or a cluster; the
// branch worker runs it on its clone and commits the result.
//
// Deletion is conservative: only files our layout would produce for a selected
// type and namespace, holding the object their path names, are deleted.
// READMEs, foreign files and other paths are never touched.
package snapshot

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
	"github.com/configbutler/gitops-reverser/pkg/gitmodel"
	"github.com/configbutler/gitops-reverser/pkg/lifecycle/files"
	"github.com/configbutler/gitops-reverser/pkg/lifecycle/mirror"
	"github.com/configbutler/gitops-reverser/pkg/render"
	"github.com/configbutler/gitops-reverser/pkg/selection"
)

// Tree is the branch as the plan reads it (*git.Repo is one).
type Tree interface {
	files.Tree
	// ListFiles returns every file under a directory with its blob hash.
	ListFiles(dir string) (map[string]plumbing.Hash, error)
}

// Index tells whether the file at path, whose blob in the tree is blob, holds
// exactly this version of obj (rendered before with these keys).
type Index interface {
	Current(path string, obj *unstructured.Unstructured, renderID string, blob plumbing.Hash) bool
}

// Lister calls fn for every object of a type, as of one resourceVersion, which
// it returns.
type Lister func(ctx context.Context, gvr schema.GroupVersionResource, fn func(*unstructured.Unstructured) error) (string, error)

// Event is one object state since a resume point: the object's latest state,
// or its last state before it was deleted (Delete) or left the selection.
type Event struct {
	Object *unstructured.Unstructured
	Delete bool
}

// Source is where a snapshot reads each type: Replay for the types in
// Resumed (what changed since the branch worker's resume point, as of the
// resourceVersion it returns), List for the others.
type Source struct {
	List Lister
	// ListIn (optional) lists a namespaced type in some namespaces only, for
	// a selection of a few (as of the lowest of their resourceVersions).
	ListIn  func(ctx context.Context, gvr schema.GroupVersionResource, namespaces []string, fn func(*unstructured.Unstructured) error) (string, error)
	Replay  func(ctx context.Context, gvr schema.GroupVersionResource) ([]Event, string, error)
	Resumed map[schema.GroupVersionResource]bool
	// Listed holds the files of a type's directory already read from the
	// same tree (the resume check): the plan does not walk them again.
	Listed map[schema.GroupVersionResource]map[string]plumbing.Hash
	// ListedAt is the commit Listed was read at (the caller checks it).
	ListedAt plumbing.Hash
	// Spool (optional) holds the planned files until the commit, on disk
	// past its memory budget; without it they are all held in memory. The
	// caller closes it after the commit.
	Spool *gitmodel.BlobSpool
}

// ErrNotResumable from a Replay: the type cannot be replayed after all; the
// snapshot lists it.
var ErrNotResumable = errors.New("the type cannot be replayed")

// Learned is what the index learns once the plan's commit is pushed: path
// holds blob, rendered from the object version UID/ResourceVersion (Gone:
// the file is gone). Only the identity is kept, not the object: a snapshot of
// 10,000 objects holds none of them past its page.
type Learned struct {
	Path                 string
	UID, ResourceVersion string
	Blob                 plumbing.Hash
	Gone                 bool
}

// Plan is a snapshot's decisions.
type Plan struct {
	Changes []gitmodel.Change
	Learned []Learned
	Stats   v1alpha1.SnapshotStats
	// Failed names objects that could not be written (at most MaxFailed of
	// them; Stats.Failed counts them all): one object never fails a snapshot.
	Failed []Failure
	// ListRVs is the resourceVersion each type was read at (listed, or
	// replayed through: the stream barrier).
	ListRVs map[schema.GroupVersionResource]string
	// Replayed are the types read by replay.
	Replayed                  []schema.GroupVersionResource
	Created, Updated, Deleted []string

	spool *gitmodel.BlobSpool
	// pending are the files written but not yet rendered (see writes.go).
	pending []pendingWrite
}

// put holds a planned file until the commit: in the spool when there is one.
func (p *Plan) put(c gitmodel.Compressed) (*gitmodel.StoredBlob, error) {
	if p.spool == nil {
		return gitmodel.Hold(c), nil
	}
	return p.spool.Put(c)
}

// Failure is an object (or the file of one) a snapshot could not write, and
// why.
type Failure struct {
	Object string
	Err    error
}

func (f Failure) String() string { return fmt.Sprintf("%s: %v", f.Object, f.Err) }

// MaxFailed bounds the failures a plan names (the rest are counted).
const MaxFailed = 20

// fail counts an object that cannot be written and names the first MaxFailed.
func (p *Plan) fail(gvr schema.GroupVersionResource, obj *unstructured.Unstructured, err error) {
	what := obj.GetName()
	if ns := obj.GetNamespace(); ns != "" {
		what = ns + "/" + what
	}
	p.failed(gvr.Resource+" "+what, err)
}

func (p *Plan) failed(what string, err error) {
	p.Stats.Failed++
	if len(p.Failed) < MaxFailed {
		p.Failed = append(p.Failed, Failure{Object: what, Err: err})
	}
}

// ErrBlocked: a file or directory the target did not write is where its file
// would go (git.Repo.Blocked).
var ErrBlocked = errors.New("a file or directory someone else wrote is in the way")

// LeaveOut takes the writes of paths out of the plan (they cannot be written:
// see git.Repo.Blocked), counting each as failed: one object never fails the
// snapshot of every other.
func (p *Plan) LeaveOut(paths []string) {
	if len(paths) == 0 {
		return
	}
	out := sets.New(paths...)
	keepChanges := p.Changes[:0]
	for _, c := range p.Changes {
		if c.Delete || !out.Has(c.Path) {
			keepChanges = append(keepChanges, c)
		}
	}
	p.Changes = keepChanges
	keepLearned := p.Learned[:0]
	for _, l := range p.Learned {
		if l.Gone || !out.Has(l.Path) {
			keepLearned = append(keepLearned, l)
		}
	}
	p.Learned = keepLearned
	drop := func(list []string, n *int32) []string {
		kept := list[:0]
		for _, path := range list {
			if out.Has(path) {
				*n--
				continue
			}
			kept = append(kept, path)
		}
		return kept
	}
	p.Created = drop(p.Created, &p.Stats.Created)
	p.Updated = drop(p.Updated, &p.Stats.Updated)
	for _, path := range sets.List(out) {
		p.failed(path, ErrBlocked)
	}
}

// Compute plans the snapshot of t. progress (optional) gets the stats after
// each type.
func Compute(ctx context.Context, t *mirror.Target, tree Tree, index Index, list Lister, progress func(v1alpha1.SnapshotStats)) (*Plan, error) {
	return ComputeFrom(ctx, t, tree, index, Source{List: list}, progress)
}

// ComputeFrom plans the snapshot of t, reading each type from src.
func ComputeFrom(ctx context.Context, t *mirror.Target, tree Tree, index Index, src Source, progress func(v1alpha1.SnapshotStats)) (*Plan, error) {
	p := &Plan{ListRVs: map[schema.GroupVersionResource]string{}, spool: src.Spool}
	for _, gvr := range t.Selection.GVRs() {
		ts := t.Selection[gvr]
		existing, ok := src.Listed[gvr]
		if !ok {
			var err error
			if existing, err = tree.ListFiles(render.Dir(t.Path, gvr)); err != nil {
				return nil, err
			}
		}
		if src.Resumed[gvr] {
			err := p.replay(ctx, t, gvr, tree, index, existing, src.Replay)
			if err == nil {
				if progress != nil {
					progress(p.Stats)
				}
				continue
			}
			if !errors.Is(err, ErrNotResumable) {
				return nil, fmt.Errorf("replaying %s: %w", gvr.String(), err)
			}
		}
		desired := map[string]bool{}
		list := src.List
		if src.ListIn != nil && ts.Resource.Namespaced && !ts.AllNamespaces {
			namespaces := sets.List(ts.Namespaces)
			list = func(ctx context.Context, gvr schema.GroupVersionResource, fn func(*unstructured.Unstructured) error) (string, error) {
				return src.ListIn(ctx, gvr, namespaces, fn)
			}
		}
		rv, err := list(ctx, gvr, func(obj *unstructured.Unstructured) error {
			ns := obj.GetNamespace()
			if !ts.MatchesObject(obj) {
				return nil // not taken (selectors, exclusions, derived): its file, if any, goes
			}
			if render.IsSecret(gvr) && t.Keys == nil {
				p.Stats.SkippedSecrets++
				return nil
			}
			path := render.Path(t.Path, gvr, ns, obj.GetName())
			desired[path] = true
			blob, had := existing[path]
			if had && index != nil && index.Current(path, obj, t.RenderID(), blob) {
				p.Stats.Unchanged++ // this very version is in the tree: no render
				return nil
			}
			if !opAllowed(ts, obj, had) { // the rules leave this create or update out
				return p.leftOut(tree, t, path, render.IsSecret(gvr), had)
			}
			return p.write(tree, t, gvr, obj, path, blob, had)
		})
		if err != nil {
			return nil, fmt.Errorf("listing %s: %w", gvr.String(), err)
		}
		if err := p.flushWrites(); err != nil {
			return nil, err
		}
		p.ListRVs[gvr] = rv
		stale := make([]string, 0)
		for path := range existing {
			if !desired[path] {
				stale = append(stale, path)
			}
		}
		sort.Strings(stale)
		for _, path := range stale {
			ns, name, ok := render.ParsePath(t.Path, gvr, ts.Resource.Namespaced, path)
			if !ok || !ts.Matches(ns) || (render.IsSecret(gvr) && t.Keys == nil) {
				continue
			}
			p.deleteIfHolds(tree, t, ts, path, ns, name)
		}
		if progress != nil {
			progress(p.Stats)
		}
	}
	return p, nil
}

// deleteIfHolds plans the delete of a file of our layout, only when it holds
// the object its path names (conservative deletion, see the package comment).
// A shortened file name (name "") names its object inside the file: the file
// goes when that object's path is this one.
func (p *Plan) deleteIfHolds(tree Tree, t *mirror.Target, ts *selection.TypeSelection, path, ns, name string) {
	gvr := ts.Resource.GVR
	b, found, err := tree.ReadFile(path)
	if err != nil || !found {
		return // a file too large to read (gitmodel.ErrFileTooLarge) is foreign: never deleted
	}
	fns, fname, ok := files.ObjectOf(b)
	if !ok || fns != ns || (name != "" && fname != name) || (name == "" && render.Path(t.Path, gvr, fns, fname) != path) {
		return
	}
	if !deleteAllowed(ts, b) {
		return // the rules that took the object leave its deletion out: the file stays
	}
	p.Stats.Deleted++
	p.Deleted = append(p.Deleted, path)
	p.Changes = append(p.Changes, gitmodel.Change{Path: path, Delete: true})
	p.Learned = append(p.Learned, Learned{Path: path, Gone: true})
}

// write plans the file of an object the target takes: rendered and compared
// with the blob already there (had), a create, an update or unchanged. The
// rendering waits in the plan's batch (see writes.go) and is recorded when
// the batch is flushed; only a failure to read the tree fails here.
func (p *Plan) write(tree Tree, t *mirror.Target, gvr schema.GroupVersionResource, obj *unstructured.Unstructured, path string, blob plumbing.Hash, had bool) error {
	var old []byte
	if had && render.IsSecret(gvr) {
		var err error
		if old, _, err = files.ReadExisting(tree, path); err != nil {
			return err
		}
	}
	// The lister clears its page's slot once this returns: keep the object's map.
	w := pendingWrite{gvr: gvr, obj: &unstructured.Unstructured{Object: obj.Object}, path: path, blob: blob, had: had, old: old, keys: t.Keys, clean: t.Clean}
	p.pending = append(p.pending, w)
	if len(p.pending) >= writeBatch {
		return p.flushWrites()
	}
	return nil
}

// record records a rendered file: not written (it could not be rendered:
// counted and named), unchanged, a create or an update.
func (p *Plan) record(w *pendingWrite) error {
	if w.err != nil {
		p.fail(w.gvr, w.obj, w.err)
		return nil
	}
	blob := w.blob
	// Held compressed until the commit (see gitmodel.StoredBlob).
	var stored *gitmodel.StoredBlob
	if !w.unchanged {
		var err error
		if stored, err = p.put(w.compressed); err != nil {
			return err // the local disk: the snapshot fails and is retried
		}
		blob = stored.Hash
	}
	p.Learned = append(p.Learned, Learned{Path: w.path, UID: string(w.obj.GetUID()), ResourceVersion: w.obj.GetResourceVersion(), Blob: blob})
	switch {
	case w.unchanged:
		p.Stats.Unchanged++
	case w.had:
		p.Stats.Updated++
		p.Updated = append(p.Updated, w.path)
		p.Changes = append(p.Changes, gitmodel.Change{Path: w.path, Stored: stored})
	default:
		p.Stats.Created++
		p.Created = append(p.Created, w.path)
		p.Changes = append(p.Changes, gitmodel.Change{Path: w.path, Stored: stored})
	}
	return nil
}

// replay plans a resumed type: the tree held the type as of the resume point
// (the branch worker checked it holds exactly the files it wrote), so only
// the objects changed since are looked at; every other file of the type is
// unchanged. Deletes are as conservative as a listed type's.
func (p *Plan) replay(ctx context.Context, t *mirror.Target, gvr schema.GroupVersionResource, tree Tree, index Index, existing map[string]plumbing.Hash, replay func(context.Context, schema.GroupVersionResource) ([]Event, string, error)) error {
	ts := t.Selection[gvr]
	events, cut, err := replay(ctx, gvr)
	if err != nil {
		return err
	}
	p.ListRVs[gvr] = cut
	p.Replayed = append(p.Replayed, gvr)
	sort.Slice(events, func(i, j int) bool { // a stable plan: by path
		return events[i].Object.GetNamespace()+"/"+events[i].Object.GetName() < events[j].Object.GetNamespace()+"/"+events[j].Object.GetName()
	})
	touched := map[string]bool{}
	for _, ev := range events {
		obj := ev.Object
		ns, name := obj.GetNamespace(), obj.GetName()
		if !ts.Matches(ns) || (render.IsSecret(gvr) && t.Keys == nil) {
			continue
		}
		path := render.Path(t.Path, gvr, ns, name)
		if touched[path] {
			continue
		}
		touched[path] = true
		blob, had := existing[path]
		if ev.Delete || !ts.MatchesObject(obj) {
			if had {
				p.deleteIfHolds(tree, t, ts, path, ns, name)
			}
			continue
		}
		if had && index != nil && index.Current(path, obj, t.RenderID(), blob) {
			p.Stats.Unchanged++
			continue
		}
		if !replayAllowed(ts, obj, had) {
			if err := p.leftOut(tree, t, path, render.IsSecret(gvr), had); err != nil {
				return err
			}
			continue
		}
		if err := p.write(tree, t, gvr, obj, path, blob, had); err != nil {
			return err
		}
	}
	for path := range existing {
		if touched[path] {
			continue
		}
		if ns, _, ok := render.ParsePath(t.Path, gvr, ts.Resource.Namespaced, path); ok && ts.Matches(ns) {
			p.Stats.Unchanged++
		}
	}
	return p.flushWrites()
}

// contentFor is an object's file from its rendering (plain), compared with
// the blob already there by hash (Secrets by decrypted content: old is the
// file there). A Secret's file is its encryption; any other's is plain
// itself, in the caller's pooled buffer: compress it before the buffer goes
// back.
func contentFor(gvr schema.GroupVersionResource, plain []byte, keys *mirror.Keys, old []byte, blob plumbing.Hash, had bool) ([]byte, bool, error) {
	if !render.IsSecret(gvr) {
		return plain, had && gitmodel.BlobHash(plain) == blob, nil
	}
	return files.EncryptSecret(plain, old, had, keys)
}

// Message is the commit message of a plan for the target targetKey: the counts,
// then up to 200 files by operation.
func (p *Plan) Message(targetKey string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "gitops-reverser: snapshot of GitTarget %s (%d created, %d updated, %d deleted)\n\n",
		targetKey, p.Stats.Created, p.Stats.Updated, p.Stats.Deleted)
	const maxLines = 200
	lines := 0
	total := len(p.Created) + len(p.Updated) + len(p.Deleted)
	for _, group := range []struct {
		verb  string
		paths []string
	}{{"create", p.Created}, {"update", p.Updated}, {"delete", p.Deleted}} {
		paths := append([]string(nil), group.paths...)
		sort.Strings(paths)
		for _, path := range paths {
			if lines == maxLines {
				fmt.Fprintf(&b, "... and %d more\n", total-maxLines)
				return b.String()
			}
			fmt.Fprintf(&b, "%s %s\n", group.verb, path)
			lines++
		}
	}
	return b.String()
}
