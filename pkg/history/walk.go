package history

import (
	"context"
	"errors"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"

	"github.com/configbutler/gitops-reverser/pkg/git"
	"github.com/configbutler/gitops-reverser/pkg/gitmodel"
)

// Objects is what the index reads of a clone (a *git.ObjectReader).
type Objects interface {
	Commit(h plumbing.Hash) (git.CommitInfo, error)
	Tree(h plumbing.Hash) (gitmodel.TreeData, error)
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
	ta, err := w.tree(a)
	if err != nil {
		return err
	}
	tb, err := w.tree(b)
	if err != nil {
		return err
	}
	return w.diffEntries("", ta, tb, out)
}

func (w *walker) tree(h plumbing.Hash) (gitmodel.TreeData, error) {
	if h.IsZero() {
		return nil, nil
	}
	return w.obj.Tree(h)
}

// diffEntries merges two trees' entries (both in Git's order) under dir.
// Entries equal on both sides (most of a wide directory) cost a comparison
// of bytes and nothing else.
func (w *walker) diffEntries(dir string, a, b gitmodel.TreeData, out *[]change) error {
	var ea, eb gitmodel.TreeEntry
	var doneA, doneB bool
	var err error
	i, j := a.SkipEqual(0, b, 0)
	// i, j: the entries after ea and eb.
	if i, doneA, err = a.Next(i, &ea); err != nil {
		return err
	}
	if j, doneB, err = b.Next(j, &eb); err != nil {
		return err
	}
	for !doneA || !doneB {
		var c int
		switch {
		case doneA:
			c = 1
		case doneB:
			c = -1
		default:
			c = gitmodel.CompareEntries(&ea, &eb)
		}
		advanceA, advanceB := c <= 0, c >= 0
		switch {
		case c < 0:
			err = w.all(dir, &ea, opCreate, out)
		case c > 0:
			err = w.all(dir, &eb, opDelete, out)
		default:
			err = w.both(dir, &ea, &eb, out)
		}
		if err != nil {
			return err
		}
		if advanceA && advanceB {
			i, j = a.SkipEqual(i, b, j)
		}
		if advanceA {
			if i, doneA, err = a.Next(i, &ea); err != nil {
				return err
			}
		}
		if advanceB {
			if j, doneB, err = b.Next(j, &eb); err != nil {
				return err
			}
		}
	}
	return nil
}

// both handles an entry present, under the same name and kind, on both sides.
func (w *walker) both(dir string, ea, eb *gitmodel.TreeEntry, out *[]change) error {
	if ea.Hash == eb.Hash {
		return nil // equal subtree or content: skipped by hash
	}
	if ea.IsDir() {
		sa, err := w.obj.Tree(ea.Hash)
		if err != nil {
			return err
		}
		sb, err := w.obj.Tree(eb.Hash)
		if err != nil {
			return err
		}
		return w.diffEntries(join(dir, string(ea.Name)), sa, sb, out)
	}
	switch {
	case ea.Mode == filemode.Submodule && eb.Mode == filemode.Submodule:
		return nil
	case ea.Mode == filemode.Submodule:
		return w.all(dir, eb, opDelete, out)
	case eb.Mode == filemode.Submodule:
		return w.all(dir, ea, opCreate, out)
	}
	*out = append(*out, change{path: w.str(join(dir, string(ea.Name))), op: opUpdate, blob: ea.Hash})
	return nil
}

// all records every file at or under e as op (a created or deleted subtree).
func (w *walker) all(dir string, e *gitmodel.TreeEntry, op uint8, out *[]change) error {
	switch e.Mode {
	case filemode.Submodule:
		return nil
	case filemode.Dir:
		sub, err := w.obj.Tree(e.Hash)
		if err != nil {
			return err
		}
		p := join(dir, string(e.Name))
		var se gitmodel.TreeEntry
		for k, done, err := sub.Next(0, &se); !done; k, done, err = sub.Next(k, &se) {
			if err != nil {
				return err
			}
			if err := w.all(p, &se, op, out); err != nil {
				return err
			}
		}
		return nil
	}
	*out = append(*out, change{path: w.str(join(dir, string(e.Name))), op: op, blob: e.Hash})
	return nil
}

func join(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}
