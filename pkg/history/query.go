package history

import (
	"bytes"
	"encoding/hex"
	"sort"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
)

// Revisions returns the revisions of the file at path, newest first (none
// for a path no commit touched).
func (x *Index) Revisions(path string) []Revision {
	x.mu.RLock()
	defer x.mu.RUnlock()
	d := x.d
	pid, ok := d.pathIdx[path]
	if !ok {
		return nil
	}
	list := d.byPath[pid]
	out := make([]Revision, 0, len(list))
	for k := len(list) - 1; k >= 0; k-- {
		out = append(out, d.revision(list[k], k))
	}
	return out
}

// Revision returns the revision of the file at path made by the commit whose
// hash starts with commitPrefix (4 to 40 lower-case hex digits). ok is false
// when there is none; ErrAmbiguous when the prefix matches two of the path's
// revisions.
func (x *Index) Revision(commitPrefix, path string) (rev Revision, ok bool, err error) {
	if !validPrefix(commitPrefix) {
		return Revision{}, false, ErrBadPrefix
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	d := x.d
	pid, found := d.pathIdx[path]
	if !found {
		return Revision{}, false, nil
	}
	list := d.byPath[pid]
	at := -1
	for k, eid := range list {
		if hasHexPrefix(d.commits[d.entries[eid].commit].hash, commitPrefix) {
			if at >= 0 {
				return Revision{}, false, ErrAmbiguous
			}
			at = k
		}
	}
	if at < 0 {
		return Revision{}, false, nil
	}
	return d.revision(list[at], at), true, nil
}

// InCommit returns the revisions of the commit whose hash starts with
// commitPrefix, in tree order, of the paths match accepts (every path when
// match is nil). found is false when no commit of the history has the prefix.
func (x *Index) InCommit(commitPrefix string, match func(path string) bool) (revs []Revision, found bool, err error) {
	if !validPrefix(commitPrefix) {
		return nil, false, ErrBadPrefix
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	d := x.d
	cid, found, err := d.findCommit(commitPrefix)
	if err != nil || !found {
		return nil, found, err
	}
	end := uint32(len(d.entries))
	if int(cid)+1 < len(d.commits) {
		end = d.commits[cid+1].first
	}
	for eid := end; eid > d.commits[cid].first; eid-- {
		e := d.entries[eid-1]
		if match == nil || match(d.paths[e.path()]) {
			revs = append(revs, d.revision(eid-1, -1))
		}
	}
	return revs, true, nil
}

// findCommit finds the one commit with a hash prefix.
func (d *data) findCommit(prefix string) (cid uint32, found bool, err error) {
	var low plumbing.Hash // the prefix padded with zeros: the least hash with it
	padded := prefix
	if len(padded)%2 == 1 {
		padded += "0"
	}
	if _, err := hex.Decode(low[:], []byte(padded)); err != nil {
		return 0, false, ErrBadPrefix
	}
	i := sort.Search(len(d.byHash), func(i int) bool {
		return bytes.Compare(d.commits[d.byHash[i]].hash[:], low[:]) >= 0
	})
	if i == len(d.byHash) || !hasHexPrefix(d.commits[d.byHash[i]].hash, prefix) {
		return 0, false, nil
	}
	if i+1 < len(d.byHash) && hasHexPrefix(d.commits[d.byHash[i+1]].hash, prefix) {
		return 0, false, ErrAmbiguous
	}
	return d.byHash[i], true, nil
}

// revision builds the revision of entry eid, at position pos of its path's
// list (-1: look it up).
func (d *data) revision(eid uint32, pos int) Revision {
	e := d.entries[eid]
	list := d.byPath[e.path()]
	if pos < 0 {
		pos = sort.Search(len(list), func(i int) bool { return list[i] >= eid })
	}
	c := &d.commits[e.commit]
	r := Revision{
		Path:         d.paths[e.path()],
		Operation:    opNames[e.op()],
		Commit:       c.hash.String(),
		Parent:       hashString(d.parent(e.commit)),
		Time:         time.Unix(c.time, 0).UTC(),
		AuthorName:   d.strs[c.author],
		AuthorEmail:  d.strs[c.email],
		User:         d.strs[c.user],
		FieldManager: d.strs[c.fieldManager],
		Impersonator: d.strs[c.impersonator],
		Verb:         d.strs[c.verb],
		Blob:         e.blob.String(),
	}
	if pos > 0 {
		prev := d.entries[list[pos-1]]
		r.PreviousCommit = d.commits[prev.commit].hash.String()
		if e.op() != opCreate {
			r.PreviousBlob = prev.blob.String()
		}
	}
	if e.op() == opDelete && r.PreviousBlob == "" {
		r.PreviousBlob = r.Blob
	}
	return r
}

// parent is the first parent of commit cid.
func (d *data) parent(cid uint32) plumbing.Hash {
	if cid == 0 {
		return d.base
	}
	return d.commits[cid-1].hash
}

func validPrefix(p string) bool {
	if len(p) < 4 || len(p) > 40 {
		return false
	}
	for i := 0; i < len(p); i++ {
		if !(p[i] >= '0' && p[i] <= '9' || p[i] >= 'a' && p[i] <= 'f') {
			return false
		}
	}
	return true
}

func hasHexPrefix(h plumbing.Hash, prefix string) bool {
	var buf [40]byte
	hex.Encode(buf[:], h[:])
	return string(buf[:len(prefix)]) == prefix
}
