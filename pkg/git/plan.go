package git

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/go-git/go-git/v5/plumbing"
)

// Change is one entry of a change set: write Content at Path, or delete the
// file at Path when Delete is set. Paths are slash-separated and relative to
// the repository root ("ns/kind/name.yaml"); "", ".", "..", empty segments,
// backslashes, control characters and ".git" segments are rejected.
type Change struct {
	Path    string
	Content []byte
	Delete  bool
}

// fileOp is the final operation on one path.
type fileOp struct {
	delete bool
	hash   plumbing.Hash
	data   []byte
}

// dirNode is the change set restricted to one directory.
type dirNode struct {
	files map[string]*fileOp
	dirs  map[string]*dirNode
}

func newDirNode() *dirNode {
	return &dirNode{files: map[string]*fileOp{}, dirs: map[string]*dirNode{}}
}

// changePlan is a validated change set as a directory tree. It is
// independent of any base tree, so it is built once and replayed on every
// attempt.
type changePlan struct {
	root *dirNode
}

func newChangePlan(changes []Change) (*changePlan, error) {
	last := make(map[string]int, len(changes))
	for i, c := range changes {
		if err := validatePath(c.Path); err != nil {
			return nil, err
		}
		last[c.Path] = i
	}
	root := newDirNode()
	for i, c := range changes {
		if last[c.Path] != i {
			continue // a later change to the same path wins
		}
		parts := strings.Split(c.Path, "/")
		n := root
		for _, d := range parts[:len(parts)-1] {
			child, ok := n.dirs[d]
			if !ok {
				child = newDirNode()
				n.dirs[d] = child
			}
			n = child
		}
		op := &fileOp{delete: c.Delete}
		if !c.Delete {
			op.data = c.Content
			op.hash = BlobHash(c.Content)
		}
		n.files[parts[len(parts)-1]] = op
	}
	// A path cannot be written as a file and have changes below it.
	var check func(n *dirNode, prefix string) error
	check = func(n *dirNode, prefix string) error {
		for name, child := range n.dirs {
			if op, ok := n.files[name]; ok && !op.delete {
				return fmt.Errorf("git: %w: %q is written as a file and also has changes below it", ErrInvalidChange, prefix+name)
			}
			if err := check(child, prefix+name+"/"); err != nil {
				return err
			}
		}
		return nil
	}
	if err := check(root, ""); err != nil {
		return nil, err
	}
	return &changePlan{root: root}, nil
}

// validatePath checks a repository-relative file path.
func validatePath(p string) error {
	bad := func(why string) error {
		return fmt.Errorf("git: %w: path %q: %s", ErrInvalidChange, p, why)
	}
	if p == "" {
		return bad("empty")
	}
	if !utf8.ValidString(p) {
		return bad("not valid UTF-8")
	}
	for i := 0; i < len(p); i++ {
		if p[i] < 0x20 || p[i] == 0x7f {
			return bad("contains a control character")
		}
	}
	if strings.ContainsRune(p, '\\') {
		return bad("contains a backslash")
	}
	for _, seg := range strings.Split(p, "/") {
		switch {
		case seg == "":
			return bad("empty path segment (leading, trailing or double slash)")
		case seg == "." || seg == "..":
			return bad("contains . or ..")
		case strings.EqualFold(seg, ".git"):
			return bad("contains a .git segment")
		}
	}
	return nil
}
