package git

import (
	"fmt"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/configbutler/gitops-reverser/pkg/repopath"
)

// fileOp is the final operation on one path.
type fileOp struct {
	delete bool
	hash   plumbing.Hash
	// blob is the file's blob over the change's content, not a copy of it
	// (contentBlob): a large snapshot's content is held once, not twice.
	blob plumbing.EncodedObject
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
			if c.Stored != nil {
				op.blob = storedBlob{c.Stored}
			} else {
				op.blob = newContentBlob(c.Content)
			}
			op.hash = op.blob.Hash()
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

// validatePath checks a repository-relative file path with the rule the API
// applies to GitTarget.spec.path (see repopath).
func validatePath(p string) error {
	if err := repopath.Validate(p); err != nil {
		return fmt.Errorf("git: %w: %w", ErrInvalidChange, err)
	}
	return nil
}
