package history

import (
	"context"
	"fmt"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/configbutler/gitops-reverser/pkg/gitmodel"
)

// File is one file of a commit's tree.
type File struct {
	Path    string
	Content []byte
}

// MaxFiles bounds the files Files reads at once (a restore of everything a
// target mirrored from some namespaces).
const MaxFiles = 20000

// ResolveCommit returns the full hash of the key's commit with the prefix
// ("": the branch tip, as last fetched).
func (x *Index) ResolveCommit(prefix string) (plumbing.Hash, bool, error) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if prefix == "" {
		return x.d.tip, !x.d.tip.IsZero(), nil
	}
	cid, found, err := x.d.findCommit(prefix)
	if err != nil || !found {
		return plumbing.ZeroHash, false, err
	}
	return x.d.commits[cid].hash, true, nil
}

// Files returns the files of the key's branch at the commit with the prefix
// ("": the tip) under dir ("" the root) whose paths keep accepts, read
// whole, and the commit's full hash. Files over git.MaxFileSize fail it, as
// do more than MaxFiles files.
func (s *Store) Files(ctx context.Context, key BranchKey, commitPrefix, dir string, keep func(path string) bool) ([]File, string, error) {
	c, err := s.acquire(ctx, key)
	if err != nil {
		return nil, "", err
	}
	defer s.release(c)
	hash, found, err := c.idx.ResolveCommit(commitPrefix)
	if err != nil {
		return nil, "", err
	}
	if !found {
		return nil, "", fmt.Errorf("history: no commit %q on branch %s", commitPrefix, key.Branch)
	}
	commit, err := c.obj.Commit(hash)
	if err != nil {
		return nil, "", err
	}
	var out []File
	err = walkFiles(ctx, c, commit.Tree, "", func(path string, blob plumbing.Hash) error {
		if dir != "" && !strings.HasPrefix(path, dir+"/") || keep != nil && !keep(path) {
			return nil
		}
		if len(out) == MaxFiles {
			return fmt.Errorf("history: more than %d files to read under %s", MaxFiles, dir)
		}
		b, err := c.obj.ReadBlob(blob)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		out = append(out, File{Path: path, Content: b})
		return nil
	}, dir)
	return out, hash.String(), err
}

// walkFiles calls fn for every regular file under the tree h (at dir),
// descending only into directories on the way to within (""; everything).
func walkFiles(ctx context.Context, c *clone, h plumbing.Hash, dir string, fn func(path string, blob plumbing.Hash) error, within string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	tree, err := c.obj.Tree(h)
	if err != nil {
		return err
	}
	var e gitmodel.TreeEntry
	for off, done, err := tree.Next(0, &e); !done; off, done, err = tree.Next(off, &e) {
		if err != nil {
			return err
		}
		path := join(dir, string(e.Name))
		switch {
		case e.IsDir():
			if within != "" && !strings.HasPrefix(within+"/", path+"/") && !strings.HasPrefix(path+"/", within+"/") {
				continue // neither on the way to within nor below it
			}
			if err := walkFiles(ctx, c, e.Hash, path, fn, within); err != nil {
				return err
			}
		case e.Mode.IsFile():
			if err := fn(path, e.Hash); err != nil {
				return err
			}
		}
	}
	return nil
}
