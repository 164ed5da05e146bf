package git

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Reading at Head: files, listings and blob hashes, through a cache of
// decoded trees that the tree building shares.

// headTree returns the tree of Head, or nil when the branch is unborn.
func (r *Repo) headTree() (*object.Tree, error) {
	if r.storage == nil {
		return nil, errors.New("git: repository is closed")
	}
	if r.head.IsZero() {
		return nil, nil
	}
	if r.headTreeOf != r.head {
		c, err := object.GetCommit(r.storage, r.head)
		if err != nil {
			return nil, fmt.Errorf("git: read commit %s: %w", r.head, err)
		}
		r.headTreeOf, r.headTreeHash = r.head, c.TreeHash
	}
	return r.getTree(r.headTreeHash)
}

// maxCachedTreeEntries bounds the decoded-tree cache by the entries it holds
// (trees are immutable, so entries never go stale; the cache is simply
// dropped when full). Counting trees would not do: every commit to a
// directory of 10,000 files adds another decoded copy of it.
const maxCachedTreeEntries = 200_000

// getTree returns the decoded tree h, cached by hash. Callers must not
// modify the returned tree.
func (r *Repo) getTree(h plumbing.Hash) (*object.Tree, error) {
	if t, ok := r.trees[h]; ok {
		return t, nil
	}
	t, err := object.GetTree(r.storage, h)
	if err != nil {
		return nil, fmt.Errorf("git: read tree %s: %w", h, err)
	}
	if r.trees == nil || r.treeEntries+len(t.Entries) > maxCachedTreeEntries {
		r.trees, r.treeEntries = make(map[plumbing.Hash]*object.Tree), 0
	}
	r.trees[h] = t
	r.treeEntries += len(t.Entries)
	return t, nil
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
func (r *Repo) lookup(t *object.Tree, p string) (*object.TreeEntry, error) {
	parts := strings.Split(p, "/")
	for i, name := range parts {
		e := findEntry(t, name)
		if e == nil {
			return nil, nil
		}
		if i == len(parts)-1 {
			return e, nil
		}
		if e.Mode != filemode.Dir {
			return nil, nil
		}
		sub, err := r.getTree(e.Hash)
		if err != nil {
			return nil, err
		}
		t = sub
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
	out := map[string]plumbing.Hash{}
	prefix = strings.Trim(prefix, "/")
	if prefix != "" {
		if err := validatePath(prefix); err != nil {
			return nil, err
		}
	}
	t, err := r.headTree()
	if err != nil || t == nil {
		return out, err
	}
	if prefix != "" {
		e, err := r.lookup(t, prefix)
		if err != nil || e == nil {
			return out, err
		}
		switch {
		case e.Mode == filemode.Dir:
			if t, err = r.getTree(e.Hash); err != nil {
				return nil, err
			}
		case e.Mode == filemode.Submodule:
			return out, nil
		default:
			out[prefix] = e.Hash
			return out, nil
		}
	}
	return out, r.walk(t, prefix, out)
}

func (r *Repo) walk(t *object.Tree, base string, out map[string]plumbing.Hash) error {
	for _, e := range t.Entries {
		p := e.Name
		if base != "" {
			p = base + "/" + e.Name
		}
		switch e.Mode {
		case filemode.Dir:
			sub, err := r.getTree(e.Hash)
			if err != nil {
				return err
			}
			if err := r.walk(sub, p, out); err != nil {
				return err
			}
		case filemode.Submodule:
		default:
			out[p] = e.Hash
		}
	}
	return nil
}

// MaxFileSize bounds the blobs ReadFile reads (8 MiB). The server only reads
// files it may have written itself: a Kubernetes object is at most about
// 1.5 MiB in etcd, and its SOPS-encrypted manifest (base64 of each value, a
// MAC and the recipients) stays well under twice that. Anyone who can push to
// the repository can put a larger blob where the server reads (a 2 GiB file
// of zeros is 2 MB compressed); its size is read from the object header and
// the blob is never inflated. The bound is on bytes: what callers parse out
// of up to MaxFileSize bytes is theirs to bound.
const MaxFileSize = 8 << 20

// ErrFileTooLarge is returned (wrapped, with found true) by ReadFile for a
// file larger than MaxFileSize. Such a file cannot be one the server wrote:
// callers treat it as a foreign file, which is never decrypted, parsed or
// deleted (see pkg/lifecycle/files).
var ErrFileTooLarge = errors.New("file too large")

// ReadFile returns the content of the file at path at Head. found is false
// (with a nil error) when there is no file at path. A file larger than
// MaxFileSize is not read: the error wraps ErrFileTooLarge, found is true.
func (r *Repo) ReadFile(path string) (content []byte, found bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := validatePath(path); err != nil {
		return nil, false, err
	}
	t, err := r.headTree()
	if err != nil || t == nil {
		return nil, false, err
	}
	e, err := r.lookup(t, path)
	if err != nil || e == nil || e.Mode == filemode.Dir || e.Mode == filemode.Submodule {
		return nil, false, err
	}
	// The size comes from the object header (loose or packed, deltas
	// included): go-git's EncodedObject would inflate a loose object whole
	// before its size could be checked.
	size, err := r.storage.EncodedObjectSize(e.Hash)
	if err != nil {
		return nil, false, fmt.Errorf("git: read blob %s: %w", e.Hash, err)
	}
	if size > MaxFileSize {
		return nil, true, fmt.Errorf("git: %s is %d bytes, over the %d bytes read: %w", path, size, MaxFileSize, ErrFileTooLarge)
	}
	obj, err := r.storage.EncodedObject(plumbing.BlobObject, e.Hash)
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
	if err := validatePath(path); err != nil {
		return plumbing.ZeroHash, false, err
	}
	t, err := r.headTree()
	if err != nil || t == nil {
		return plumbing.ZeroHash, false, err
	}
	e, err := r.lookup(t, path)
	if err != nil || e == nil || e.Mode == filemode.Dir || e.Mode == filemode.Submodule {
		return plumbing.ZeroHash, false, err
	}
	return e.Hash, true, nil
}

// BlobHash returns the git blob hash of content (what `git hash-object`
// prints), so callers can compare desired content with ListFiles output
// without writing anything.
func BlobHash(content []byte) plumbing.Hash {
	return plumbing.ComputeHash(plumbing.BlobObject, content)
}
