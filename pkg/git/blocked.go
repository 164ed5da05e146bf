package git

import (
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Blocked returns the paths of changes that cannot be written on the current
// head: a write where the tree has a directory (or a submodule), or below a
// path that is a file not deleted by the same change set. CommitAndPush fails
// the whole change set with ErrInvalidChange for such a path (we never drop
// somebody else's subtree); a caller that writes many objects leaves the
// blocked ones out instead, so one foreign file in the way costs one object,
// not the batch. Deletes are never blocked (deleting a directory is a no-op).
func (r *Repo) Blocked(changes []Change) ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.tree.blocked(r.head, changes)
}

// blocked is Blocked at head.
func (t *treeReader) blocked(head plumbing.Hash, changes []Change) ([]string, error) {
	root, err := t.headTree(head)
	if err != nil || root == nil {
		return nil, err
	}
	deleted := map[string]bool{}
	for _, c := range changes {
		if c.Delete {
			deleted[c.Path] = true
		}
	}
	// dirs memoizes the tree of each directory (nil: absent, so nothing
	// below it can be in the way); blockedDir marks a directory path that is
	// a file kept by the change set.
	dirs := map[string]*object.Tree{"": root}
	blockedDir := map[string]bool{}
	var treeOf func(dir string) (*object.Tree, bool, error)
	treeOf = func(dir string) (*object.Tree, bool, error) {
		if known, ok := dirs[dir]; ok {
			return known, blockedDir[dir], nil
		}
		parent, name := "", dir
		if i := strings.LastIndex(dir, "/"); i >= 0 {
			parent, name = dir[:i], dir[i+1:]
		}
		pt, blocked, err := treeOf(parent)
		if err != nil || blocked || pt == nil {
			dirs[dir], blockedDir[dir] = nil, blocked
			return nil, blocked, err
		}
		e := findEntry(pt, name)
		switch {
		case e == nil:
			dirs[dir] = nil
			return nil, false, nil
		case e.Mode != filemode.Dir:
			b := e.Mode == filemode.Submodule || !deleted[dir]
			dirs[dir], blockedDir[dir] = nil, b
			return nil, b, nil
		}
		sub, err := t.db.tree(e.Hash)
		if err != nil {
			return nil, false, err
		}
		dirs[dir] = sub
		return sub, false, nil
	}
	var out []string
	for _, c := range changes {
		if c.Delete {
			continue
		}
		dir, name := "", c.Path
		if i := strings.LastIndex(c.Path, "/"); i >= 0 {
			dir, name = c.Path[:i], c.Path[i+1:]
		}
		tree, blocked, err := treeOf(dir)
		if err != nil {
			return nil, err
		}
		if !blocked && tree != nil {
			if e := findEntry(tree, name); e != nil && (e.Mode == filemode.Dir || e.Mode == filemode.Submodule) {
				blocked = true
			}
		}
		if blocked {
			out = append(out, c.Path)
		}
	}
	return out, nil
}
