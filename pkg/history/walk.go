package history

import (
	"context"
	"errors"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/configbutler/gitops-reverser/pkg/git"
)

// Objects is what the index reads of a clone (a *git.ObjectReader).
type Objects interface {
	Commit(h plumbing.Hash) (git.CommitInfo, error)
	Tree(h plumbing.Hash) ([]object.TreeEntry, error)
}

// walkedCommit is one commit of a walk and the files it changed, in tree
// order.
type walkedCommit struct {
	hash    plumbing.Hash
	time    int64
	author  string
	email   string
	tr      trailers
	changes []change
}

type change struct {
	path string
	op   uint8
	blob plumbing.Hash
}

// walkResult is a first-parent walk from a tip, newest commit first.
type walkResult struct {
	commits []walkedCommit
	// found: the walk reached stop (not included). Otherwise it reached a
	// root commit, or a commit whose first parent is not in the clone
	// (shallow history), diffed against the empty tree.
	found bool
	// base is the first parent of the oldest commit walked (zero: a root).
	base plumbing.Hash
}

// walker walks first-parent histories. intern shares the strings of one walk
// (one path changed by many commits is one string).
type walker struct {
	obj    Objects
	intern map[string]string
}

func newWalker(obj Objects) *walker {
	return &walker{obj: obj, intern: map[string]string{}}
}

func (w *walker) str(s string) string {
	if v, ok := w.intern[s]; ok {
		return v
	}
	w.intern[s] = s
	return s
}

// walk follows first parents from tip until stop (or a root). It calls
// counted once per commit diffed.
func (w *walker) walk(ctx context.Context, tip, stop plumbing.Hash, counted func()) (walkResult, error) {
	var res walkResult
	if tip.IsZero() {
		return res, nil
	}
	c, err := w.obj.Commit(tip)
	if err != nil {
		return res, err
	}
	for n := 0; ; n++ {
		if c.Hash == stop {
			res.found, res.base = true, stop
			return res, nil
		}
		if n%64 == 0 && ctx.Err() != nil {
			return res, ctx.Err()
		}
		var parent git.CommitInfo
		var parentTree plumbing.Hash
		hasParent := len(c.Parents) > 0
		if hasParent {
			res.base = c.Parents[0]
			if parent, err = w.obj.Commit(c.Parents[0]); err != nil {
				if !errors.Is(err, plumbing.ErrObjectNotFound) {
					return res, err
				}
				hasParent = false // shallow: diff against the empty tree
			} else {
				parentTree = parent.Tree
			}
		} else {
			res.base = plumbing.ZeroHash
		}
		wc := walkedCommit{hash: c.Hash, time: c.Time.Unix(), author: w.str(c.AuthorName), email: w.str(c.AuthorEmail), tr: parseTrailers(c.Message, w.str)}
		if err := w.diffTrees(c.Tree, parentTree, &wc.changes); err != nil {
			return res, err
		}
		res.commits = append(res.commits, wc)
		if counted != nil {
			counted()
		}
		if !hasParent {
			return res, nil
		}
		c = parent
	}
}

// diffTrees appends the files that differ between the trees a (the commit's)
// and b (its parent's; zero for the empty tree).
func (w *walker) diffTrees(a, b plumbing.Hash, out *[]change) error {
	ea, err := w.entries(a)
	if err != nil {
		return err
	}
	eb, err := w.entries(b)
	if err != nil {
		return err
	}
	return w.diffEntries("", ea, eb, out)
}

func (w *walker) entries(h plumbing.Hash) ([]object.TreeEntry, error) {
	if h.IsZero() {
		return nil, nil
	}
	return w.obj.Tree(h)
}

// diffEntries merges two trees' entries (both in Git's order) under dir.
func (w *walker) diffEntries(dir string, a, b []object.TreeEntry, out *[]change) error {
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		var c int
		switch {
		case i == len(a):
			c = 1
		case j == len(b):
			c = -1
		default:
			c = compareEntries(&a[i], &b[j])
		}
		var err error
		switch {
		case c < 0:
			err = w.all(dir, &a[i], opCreate, out)
			i++
		case c > 0:
			err = w.all(dir, &b[j], opDelete, out)
			j++
		default:
			err = w.both(dir, &a[i], &b[j], out)
			i, j = i+1, j+1
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// both handles an entry present, under the same name and kind, on both sides.
func (w *walker) both(dir string, ea, eb *object.TreeEntry, out *[]change) error {
	if ea.Hash == eb.Hash {
		return nil // equal subtree or content: skipped by hash
	}
	if ea.Mode == filemode.Dir {
		sa, err := w.obj.Tree(ea.Hash)
		if err != nil {
			return err
		}
		sb, err := w.obj.Tree(eb.Hash)
		if err != nil {
			return err
		}
		return w.diffEntries(join(dir, ea.Name), sa, sb, out)
	}
	switch {
	case ea.Mode == filemode.Submodule && eb.Mode == filemode.Submodule:
		return nil
	case ea.Mode == filemode.Submodule:
		return w.all(dir, eb, opDelete, out)
	case eb.Mode == filemode.Submodule:
		return w.all(dir, ea, opCreate, out)
	}
	*out = append(*out, change{path: w.str(join(dir, ea.Name)), op: opUpdate, blob: ea.Hash})
	return nil
}

// all records every file at or under e as op (a created or deleted subtree).
func (w *walker) all(dir string, e *object.TreeEntry, op uint8, out *[]change) error {
	switch e.Mode {
	case filemode.Submodule:
		return nil
	case filemode.Dir:
		sub, err := w.obj.Tree(e.Hash)
		if err != nil {
			return err
		}
		p := join(dir, e.Name)
		for k := range sub {
			if err := w.all(p, &sub[k], op, out); err != nil {
				return err
			}
		}
		return nil
	}
	*out = append(*out, change{path: w.str(join(dir, e.Name)), op: op, blob: e.Hash})
	return nil
}

func join(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

// compareEntries orders tree entries as Git does: by name, a directory's
// name followed by '/'. A file and a directory of one name are different
// entries.
func compareEntries(a, b *object.TreeEntry) int {
	an, bn := a.Name, b.Name
	n := min(len(an), len(bn))
	if c := strings.Compare(an[:n], bn[:n]); c != 0 {
		return c
	}
	ca, cb := nextByte(a, n), nextByte(b, n)
	switch {
	case ca < cb:
		return -1
	case ca > cb:
		return 1
	}
	return 0
}

// nextByte is the byte at i of an entry's sort name (name, plus '/' for a
// directory), -1 past its end.
func nextByte(e *object.TreeEntry, i int) int {
	if i < len(e.Name) {
		return int(e.Name[i])
	}
	if i == len(e.Name) && e.Mode == filemode.Dir {
		return '/'
	}
	return -1
}
