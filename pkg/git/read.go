package git

import (
	"bytes"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Reading at Head: files, listings and blob hashes, through the decoded trees
// of the object database, which the tree building shares.

// treeReader reads the tree of a commit, Head's as the Repo passes it. It
// remembers the tree of the last commit looked up: decoding the commit (its
// message lists every changed file) for each file read was a fifth of a live
// batch's time. Its Repo's lock guards it.
type treeReader struct {
	db                       *objectDB
	headTreeOf, headTreeHash plumbing.Hash
}

// headTree returns the tree of head, or nil when the branch is unborn.
func (t *treeReader) headTree(head plumbing.Hash) (*object.Tree, error) {
	if t.db.closed() {
		return nil, errClosed
	}
	if head.IsZero() {
		return nil, nil
	}
	if t.headTreeOf != head {
		c, err := object.GetCommit(t.db.storage, head)
		if err != nil {
			return nil, fmt.Errorf("git: read commit %s: %w", head, err)
		}
		t.headTreeOf, t.headTreeHash = head, c.TreeHash
	}
	return t.db.tree(t.headTreeHash)
}

// findEntry returns the entry called name in t, or nil. Tree entries are
// sorted in git order (directories compare as "name/"), so both candidate
// positions are binary-searched.
func findEntry(t *object.Tree, name string) *object.TreeEntry {
	for _, key := range [2]string{name, name + "/"} {
		i := sort.Search(len(t.Entries), func(i int) bool { return sortName(&t.Entries[i]) >= key })
		if i < len(t.Entries) && t.Entries[i].Name == name {
			return &t.Entries[i]
		}
	}
	return nil
}

// sortName is the git tree-order key of an entry.
func sortName(e *object.TreeEntry) string {
	if e.Mode == filemode.Dir {
		return e.Name + "/"
	}
	return e.Name
}

// lookup returns the entry at p (a validated, slash-separated path) in t,
// or nil when there is none (including when a parent is not a directory).
func (t *treeReader) lookup(tree *object.Tree, p string) (*object.TreeEntry, error) {
	parts := strings.Split(p, "/")
	for i, name := range parts {
		e := findEntry(tree, name)
		if e == nil {
			return nil, nil
		}
		if i == len(parts)-1 {
			return e, nil
		}
		if e.Mode != filemode.Dir {
			return nil, nil
		}
		sub, err := t.db.tree(e.Hash)
		if err != nil {
			return nil, err
		}
		tree = sub
	}
	return nil, nil
}

// ListFiles returns every file (blob) under the directory prefix at Head,
// recursively, as full path -> blob hash. prefix "" lists the whole tree; a
// prefix naming a file returns just that file; a missing prefix returns an
// empty map. Submodule entries are skipped. Compare the hashes with BlobHash
// to diff desired content without reading blobs.
func (r *Repo) ListFiles(prefix string) (map[string]plumbing.Hash, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.tree.listFiles(r.head, prefix)
}

// listFiles is ListFiles at head.
func (t *treeReader) listFiles(head plumbing.Hash, prefix string) (map[string]plumbing.Hash, error) {
	out := map[string]plumbing.Hash{}
	prefix = strings.Trim(prefix, "/")
	if prefix != "" {
		if err := validatePath(prefix); err != nil {
			return nil, err
		}
	}
	tree, err := t.headTree(head)
	if err != nil || tree == nil {
		return out, err
	}
	if prefix != "" {
		e, err := t.lookup(tree, prefix)
		if err != nil || e == nil {
			return out, err
		}
		switch {
		case e.Mode == filemode.Dir:
			if tree, err = t.db.tree(e.Hash); err != nil {
				return nil, err
			}
		case e.Mode == filemode.Submodule:
			return out, nil
		default:
			out[prefix] = e.Hash
			return out, nil
		}
	}
	return out, t.walk(tree, prefix, out)
}

func (t *treeReader) walk(tree *object.Tree, base string, out map[string]plumbing.Hash) error {
	for _, e := range tree.Entries {
		p := e.Name
		if base != "" {
			p = base + "/" + e.Name
		}
		switch e.Mode {
		case filemode.Dir:
			sub, err := t.db.tree(e.Hash)
			if err != nil {
				return err
			}
			if err := t.walk(sub, p, out); err != nil {
				return err
			}
		case filemode.Submodule:
		default:
			out[p] = e.Hash
		}
	}
	return nil
}

// ReadFile returns the content of the file at path at Head. found is false
// (with a nil error) when there is no file at path. A file larger than
// MaxFileSize is not read: the error wraps ErrFileTooLarge, found is true.
func (r *Repo) ReadFile(path string) (content []byte, found bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.tree.readFile(r.head, path)
}

// readFile is ReadFile at head.
func (t *treeReader) readFile(head plumbing.Hash, path string) (content []byte, found bool, err error) {
	if err := validatePath(path); err != nil {
		return nil, false, err
	}
	tree, err := t.headTree(head)
	if err != nil || tree == nil {
		return nil, false, err
	}
	e, err := t.lookup(tree, path)
	if err != nil || e == nil || e.Mode == filemode.Dir || e.Mode == filemode.Submodule {
		return nil, false, err
	}
	// The size comes from the object header (loose or packed, deltas
	// included): go-git's EncodedObject would inflate a loose object whole
	// before its size could be checked.
	size, err := t.db.storage.EncodedObjectSize(e.Hash)
	if err != nil {
		return nil, false, fmt.Errorf("git: read blob %s: %w", e.Hash, err)
	}
	if size > MaxFileSize {
		return nil, true, fmt.Errorf("git: %s is %d bytes, over the %d bytes read: %w", path, size, MaxFileSize, ErrFileTooLarge)
	}
	obj, err := t.db.storage.EncodedObject(plumbing.BlobObject, e.Hash)
	if err != nil {
		return nil, false, fmt.Errorf("git: read blob %s: %w", e.Hash, err)
	}
	if obj.Size() > MaxFileSize {
		return nil, true, fmt.Errorf("git: %s is %d bytes, over the %d bytes read: %w", path, obj.Size(), MaxFileSize, ErrFileTooLarge)
	}
	rd, err := obj.Reader()
	if err != nil {
		return nil, false, fmt.Errorf("git: read blob %s: %w", e.Hash, err)
	}
	defer rd.Close()
	var buf bytes.Buffer
	buf.Grow(int(obj.Size()))
	// Never more than the header said (and at most MaxFileSize): one byte
	// more is read to notice a blob that does not match its header.
	if _, err := io.Copy(&buf, io.LimitReader(rd, obj.Size()+1)); err != nil {
		return nil, false, fmt.Errorf("git: read blob %s: %w", e.Hash, err)
	}
	if int64(buf.Len()) != obj.Size() {
		return nil, false, fmt.Errorf("git: read blob %s: %d bytes, its header says %d", e.Hash, buf.Len(), obj.Size())
	}
	return buf.Bytes(), true, nil
}

// FileHash returns the blob hash of the file at path in the current Head, for
// comparing with BlobHash of desired content without reading the blob.
func (r *Repo) FileHash(path string) (hash plumbing.Hash, found bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.tree.fileHash(r.head, path)
}

// fileHash is FileHash at head.
func (t *treeReader) fileHash(head plumbing.Hash, path string) (hash plumbing.Hash, found bool, err error) {
	if err := validatePath(path); err != nil {
		return plumbing.ZeroHash, false, err
	}
	tree, err := t.headTree(head)
	if err != nil || tree == nil {
		return plumbing.ZeroHash, false, err
	}
	e, err := t.lookup(tree, path)
	if err != nil || e == nil || e.Mode == filemode.Dir || e.Mode == filemode.Submodule {
		return plumbing.ZeroHash, false, err
	}
	return e.Hash, true, nil
}
