package history

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/go-git/go-git/v5/plumbing"
)

// Index is the revision index of one branch: the paths each commit of its
// first-parent history touched. It is safe for concurrent use: queries run
// in parallel, Update (one at a time) walks the new commits without blocking
// them and applies what it found under a short write lock.
//
// Memory: strings are interned (a path once, an author once), a commit is a
// record of 56 bytes (its hash, time, first entry and six string ids; its
// parent is the commit before it), a change is an entry of 28 bytes (blob
// hash, path id and operation, commit id) plus 4 bytes in its path's list.
type Index struct {
	mu sync.RWMutex
	d  *data

	update   sync.Mutex   // one Update at a time
	save     sync.Mutex   // one Save at a time
	walked   atomic.Int64 // commits diffed by this index's walks
	rebuilds atomic.Int64 // rebuilds after the recorded tip left the history
}

// data is the content of an index; it is replaced whole by a rebuild.
type data struct {
	tip plumbing.Hash
	// base is the first parent of commits[0] (zero: a root commit).
	base    plumbing.Hash
	commits []commitRec
	entries []entry
	strs    []string // strs[0] is ""
	strIdx  map[string]uint32
	paths   []string
	pathIdx map[string]uint32
	byPath  [][]uint32 // path id -> its entry ids, oldest first
	sorted  []uint32   // path ids by path
	byHash  []uint32   // commit ids by hash

	viewMu sync.Mutex         // guards views and files (extended by queries)
	views  map[string]*nsView // per prefix, see List
	files  fileView
}

// commitRec is one commit: commits are in first-parent order, oldest first,
// and the entries of commit i are entries[commits[i].first:commits[i+1].first].
type commitRec struct {
	hash  plumbing.Hash
	first uint32
	time  int64

	// String ids.
	author, email, user, fieldManager, impersonator, verb uint32
}

// entry is one change; entries are in commit order, and within a commit in
// reverse tree order (so newest first reads a commit's files in tree order).
type entry struct {
	blob   plumbing.Hash
	pathOp uint32 // path id << 2 | op
	commit uint32
}

func (e entry) path() uint32 { return e.pathOp >> 2 }
func (e entry) op() uint8    { return uint8(e.pathOp & 3) }

func newData() *data {
	return &data{strs: []string{""}, strIdx: map[string]uint32{"": 0}, pathIdx: map[string]uint32{}}
}

// NewIndex returns an empty index (of an unborn branch).
func NewIndex() *Index { return &Index{d: newData()} }

// Update brings the index to tip: it walks the first-parent history from tip
// back to the recorded tip and appends what it finds, or rebuilds the index
// from the whole history when the recorded tip is not on it (a force push).
// changed reports whether the index moved.
func (x *Index) Update(ctx context.Context, obj Objects, tip plumbing.Hash) (changed bool, err error) {
	x.update.Lock()
	defer x.update.Unlock()
	x.mu.RLock()
	old := x.d.tip
	x.mu.RUnlock()
	if tip == old {
		return false, nil
	}
	res, err := newWalker(obj).walk(ctx, tip, old, func() { x.walked.Add(1) })
	if err != nil {
		return false, err
	}
	if res.found {
		x.mu.Lock()
		defer x.mu.Unlock()
		x.d.add(res)
		x.d.tip = tip
		return true, nil
	}
	nd := newData()
	nd.base = res.base
	nd.add(res)
	nd.tip = tip
	if !old.IsZero() {
		x.rebuilds.Add(1)
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	x.d = nd
	return true, nil
}

func (x *Index) tipHash() plumbing.Hash {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.d.tip
}

// IndexStats describe an index.
type IndexStats struct {
	// Tip is the commit the index was built at ("" for an unborn branch).
	Tip string
	// Commits, Entries (changes) and Paths (distinct) held.
	Commits, Entries, Paths int
	// Walked counts the commits this Index value diffed (loading a saved
	// index walks none); Rebuilds the rebuilds after a rewrite.
	Walked, Rebuilds int64
}

// Stats describes the index.
func (x *Index) Stats() IndexStats {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return IndexStats{
		Tip:     hashString(x.d.tip),
		Commits: len(x.d.commits), Entries: len(x.d.entries), Paths: len(x.d.paths),
		Walked: x.walked.Load(), Rebuilds: x.rebuilds.Load(),
	}
}

func hashString(h plumbing.Hash) string {
	if h.IsZero() {
		return ""
	}
	return h.String()
}

func (d *data) str(s string) uint32 {
	if id, ok := d.strIdx[s]; ok {
		return id
	}
	id := uint32(len(d.strs))
	d.strs = append(d.strs, s)
	d.strIdx[s] = id
	return id
}

// add appends a walk's commits (newest first in res) after the index's.
func (d *data) add(res walkResult) {
	firstCommit, firstPath := len(d.commits), len(d.paths)
	for i := len(res.commits) - 1; i >= 0; i-- {
		wc := &res.commits[i]
		cid := uint32(len(d.commits))
		d.commits = append(d.commits, commitRec{
			hash: wc.hash, first: uint32(len(d.entries)), time: wc.time,
			author: d.str(wc.author), email: d.str(wc.email),
			user: d.str(wc.tr.user), fieldManager: d.str(wc.tr.fieldManager),
			impersonator: d.str(wc.tr.impersonator), verb: d.str(wc.tr.verb),
		})
		for k := len(wc.changes) - 1; k >= 0; k-- {
			ch := &wc.changes[k]
			pid, ok := d.pathIdx[ch.path]
			if !ok {
				pid = uint32(len(d.paths))
				d.paths = append(d.paths, ch.path)
				d.pathIdx[ch.path] = pid
				d.byPath = append(d.byPath, nil)
			}
			d.byPath[pid] = append(d.byPath[pid], uint32(len(d.entries)))
			d.entries = append(d.entries, entry{blob: ch.blob, pathOp: pid<<2 | uint32(ch.op), commit: cid})
		}
	}
	d.sortNew(firstCommit, firstPath)
}

// sortNew merges the commits and paths from the given ids on into the
// sorted orders.
func (d *data) sortNew(firstCommit, firstPath int) {
	d.byHash = mergeNew(d.byHash, firstCommit, len(d.commits), func(a, b uint32) int {
		return bytes.Compare(d.commits[a].hash[:], d.commits[b].hash[:])
	})
	if len(d.sorted) == len(d.paths) {
		return
	}
	d.sorted = mergeNew(d.sorted, firstPath, len(d.paths), func(a, b uint32) int {
		return strings.Compare(d.paths[a], d.paths[b])
	})
}

// mergeNew returns sorted (ids below from, in cmp order) with the ids from
// from to to merged in: O(n) plus sorting the new ones.
func mergeNew(sorted []uint32, from, to int, cmp func(a, b uint32) int) []uint32 {
	if from == to {
		return sorted
	}
	add := make([]uint32, 0, to-from)
	for id := from; id < to; id++ {
		add = append(add, uint32(id))
	}
	slices.SortFunc(add, cmp)
	if len(sorted) == 0 {
		return add
	}
	out := make([]uint32, 0, len(sorted)+len(add))
	i, j := 0, 0
	for i < len(sorted) && j < len(add) {
		if cmp(sorted[i], add[j]) <= 0 {
			out = append(out, sorted[i])
			i++
		} else {
			out = append(out, add[j])
			j++
		}
	}
	out = append(out, sorted[i:]...)
	return append(out, add[j:]...)
}
