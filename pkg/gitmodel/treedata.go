package gitmodel

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
)

// TreeData is a tree object's content as Git stores it: entries of
// "<octal mode> <name>\x00<20-byte hash>", in Git's order. Reading its
// entries allocates nothing: walking a long history of wide directories
// (10,000 files in one namespace) compares two trees per commit, and
// decoding them into entries with a string per name spent 90% of that walk
// allocating (pkg/history).
type TreeData []byte

// TreeEntry is one entry of a TreeData. Name aliases the data: copy it
// (string(e.Name)) to keep it.
type TreeEntry struct {
	Mode filemode.FileMode
	Name []byte
	Hash plumbing.Hash
}

// IsDir reports whether the entry is a subtree.
func (e *TreeEntry) IsDir() bool { return e.Mode == filemode.Dir }

// ErrBadTree is returned (wrapped) for tree data that is not a tree.
var ErrBadTree = errors.New("malformed tree object")

// Next reads the entry at offset off into e and returns the offset of the
// one after it; done is true at the end of the data.
func (t TreeData) Next(off int, e *TreeEntry) (next int, done bool, err error) {
	if off >= len(t) {
		return off, true, nil
	}
	sp := bytes.IndexByte(t[off:], ' ')
	if sp <= 0 || sp > 7 {
		return off, false, fmt.Errorf("%w: bad mode at byte %d", ErrBadTree, off)
	}
	var mode uint32
	for _, c := range t[off : off+sp] {
		if c < '0' || c > '7' {
			return off, false, fmt.Errorf("%w: bad mode at byte %d", ErrBadTree, off)
		}
		mode = mode<<3 | uint32(c-'0')
	}
	nameAt := off + sp + 1
	nul := bytes.IndexByte(t[nameAt:], 0)
	if nul <= 0 || nameAt+nul+1+len(plumbing.Hash{}) > len(t) {
		return off, false, fmt.Errorf("%w: bad entry at byte %d", ErrBadTree, off)
	}
	e.Mode, e.Name = filemode.FileMode(mode), t[nameAt:nameAt+nul]
	hashAt := nameAt + nul + 1
	copy(e.Hash[:], t[hashAt:hashAt+len(plumbing.Hash{})])
	return hashAt + len(plumbing.Hash{}), false, nil
}

// SkipEqual returns the offsets in t and u past the entries the two trees
// have byte for byte in common from offsets i and j on, where both are at the
// start of an entry. Two versions of a directory share most of their
// entries: they are skipped by finding the end of each entry's name, without
// reading modes or hashes (a directory of 10,000 files changed in one entry
// per commit is the case this is for).
func (t TreeData) SkipEqual(i int, u TreeData, j int) (int, int) {
	common := commonPrefix(t[i:], u[j:])
	for {
		nul := bytes.IndexByte(t[i:], 0)
		if nul < 0 {
			return i, j // malformed: Next reports it
		}
		n := nul + 1 + len(plumbing.Hash{})
		if n > common {
			return i, j
		}
		i, j, common = i+n, j+n, common-n
	}
}

// commonPrefix is the length of the longest common prefix of a and b.
func commonPrefix(a, b []byte) int {
	n := min(len(a), len(b))
	const block = 256
	k := 0
	for k+block <= n && bytes.Equal(a[k:k+block], b[k:k+block]) {
		k += block
	}
	for k < n && a[k] == b[k] {
		k++
	}
	return k
}

// CompareEntries orders tree entries as Git does: by name, a directory's
// name followed by '/'. A file and a directory of one name are different
// entries.
func CompareEntries(a, b *TreeEntry) int {
	n := min(len(a.Name), len(b.Name))
	if c := bytes.Compare(a.Name[:n], b.Name[:n]); c != 0 {
		return c
	}
	ca, cb := sortByte(a, n), sortByte(b, n)
	switch {
	case ca < cb:
		return -1
	case ca > cb:
		return 1
	}
	return 0
}

// sortByte is the byte at i of an entry's sort name (name, plus '/' for a
// directory), -1 past its end.
func sortByte(e *TreeEntry, i int) int {
	if i < len(e.Name) {
		return int(e.Name[i])
	}
	if i == len(e.Name) && e.IsDir() {
		return '/'
	}
	return -1
}
