package history

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
)

// The index file, in the clone's directory. Binary, little-endian, varints as
// encoding/binary writes them:
//
//	magic "GRHISTX\n", version uint32
//	tip [20], base [20]
//	strings: uvarint count (without the "" of id 0), each uvarint length + bytes
//	paths:   uvarint count, each uvarint length + bytes, in sorted order (a
//	         path's id in the file is its rank)
//	entries: uvarint count (of all the commits' entries)
//	commits: uvarint count, each: hash [20], varint unix time, six uvarint
//	         string ids (author, email, user, field manager, impersonator,
//	         verb), uvarint entry count, then its entries, each: uvarint
//	         (path id << 2 | op), blob [20]
//	crc32 (Castagnoli) of everything before, uint32
//
// About 23 bytes per change and 30 per commit besides the strings. It is
// written to a temporary file and renamed over the old one, so a crash leaves
// the old index or the new one. A file that is missing, of another version,
// or fails its checksum or any bound is ignored: the index is rebuilt.

// IndexFile is the name of the index file in a clone's directory.
const IndexFile = "gitops-reverser-history"

const (
	fileMagic   = "GRHISTX\n"
	fileVersion = 1
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// Save writes the index to file atomically (a temporary file renamed).
func (x *Index) Save(file string) error {
	x.save.Lock()
	defer x.save.Unlock()
	x.mu.RLock()
	b := x.d.encode()
	x.mu.RUnlock()
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("history: save index: %w", err)
	}
	if err := os.Rename(tmp, file); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("history: save index: %w", err)
	}
	return nil
}

func (d *data) encode() []byte {
	b := make([]byte, 0, 64+30*len(d.commits)+23*len(d.entries)+48*len(d.paths))
	b = append(b, fileMagic...)
	b = binary.LittleEndian.AppendUint32(b, fileVersion)
	b = append(b, d.tip[:]...)
	b = append(b, d.base[:]...)
	b = appendStrings(b, d.strs[1:])
	rank := make([]uint32, len(d.paths))
	b = binary.AppendUvarint(b, uint64(len(d.sorted)))
	for i, pid := range d.sorted {
		rank[pid] = uint32(i)
		b = binary.AppendUvarint(b, uint64(len(d.paths[pid])))
		b = append(b, d.paths[pid]...)
	}
	b = binary.AppendUvarint(b, uint64(len(d.entries)))
	b = binary.AppendUvarint(b, uint64(len(d.commits)))
	for cid := range d.commits {
		c := &d.commits[cid]
		b = append(b, c.hash[:]...)
		b = binary.AppendVarint(b, c.time)
		for _, s := range [...]uint32{c.author, c.email, c.user, c.fieldManager, c.impersonator, c.verb} {
			b = binary.AppendUvarint(b, uint64(s))
		}
		end := uint32(len(d.entries))
		if cid+1 < len(d.commits) {
			end = d.commits[cid+1].first
		}
		b = binary.AppendUvarint(b, uint64(end-c.first))
		for _, e := range d.entries[c.first:end] {
			b = binary.AppendUvarint(b, uint64(rank[e.path()]<<2|uint32(e.op())))
			b = append(b, e.blob[:]...)
		}
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, crcTable))
}

func appendStrings(b []byte, ss []string) []byte {
	b = binary.AppendUvarint(b, uint64(len(ss)))
	for _, s := range ss {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return b
}

// errCorrupt is returned by LoadIndex for a file that is not a whole index
// of this version.
var errCorrupt = errors.New("history: the index file is corrupt or of another version")

// LoadIndex reads an index saved by Save. Any error (a missing file included)
// means the index must be rebuilt.
func LoadIndex(file string) (*Index, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	n := len(fileMagic) + 4 + 40 + 4
	if len(b) < n || string(b[:len(fileMagic)]) != fileMagic ||
		binary.LittleEndian.Uint32(b[len(fileMagic):]) != fileVersion ||
		crc32.Checksum(b[:len(b)-4], crcTable) != binary.LittleEndian.Uint32(b[len(b)-4:]) {
		return nil, errCorrupt
	}
	r := &reader{b: b[len(fileMagic)+4 : len(b)-4]}
	d, ok := r.data()
	if !ok {
		return nil, errCorrupt
	}
	return &Index{d: d}, nil
}

// reader decodes an index file; ok turns false at the first bad value.
type reader struct {
	b  []byte
	ok bool
}

func (r *reader) data() (*data, bool) {
	r.ok = true
	d := newData()
	copy(d.tip[:], r.bytes(20))
	copy(d.base[:], r.bytes(20))
	for _, s := range r.strings() {
		if _, dup := d.strIdx[s]; dup {
			return nil, false
		}
		d.str(s)
	}
	d.paths = r.strings()
	d.pathIdx = make(map[string]uint32, len(d.paths))
	d.sorted = make([]uint32, len(d.paths))
	for i, p := range d.paths {
		if i > 0 && d.paths[i-1] >= p {
			return nil, false // not sorted, or a duplicate
		}
		d.pathIdx[p] = uint32(i)
		d.sorted[i] = uint32(i)
	}
	ne := r.count(21)
	d.entries = make([]entry, 0, ne)
	nc := r.count(28)
	d.commits = make([]commitRec, 0, nc)
	for cid := 0; cid < nc && r.ok; cid++ {
		c := commitRec{first: uint32(len(d.entries))}
		copy(c.hash[:], r.bytes(20))
		c.time = r.varint()
		for _, s := range [...]*uint32{&c.author, &c.email, &c.user, &c.fieldManager, &c.impersonator, &c.verb} {
			*s = r.id(len(d.strs))
		}
		d.commits = append(d.commits, c)
		for range r.count(21) {
			po := r.uvarint()
			e := entry{pathOp: uint32(po), commit: uint32(cid)}
			copy(e.blob[:], r.bytes(20))
			if po>>2 >= uint64(len(d.paths)) || po&3 == 0 || len(d.entries) == ne || !r.ok {
				return nil, false
			}
			d.entries = append(d.entries, e)
		}
	}
	if !r.ok || len(r.b) != 0 || len(d.entries) != ne || (len(d.commits) == 0) != d.tip.IsZero() {
		return nil, false
	}
	d.fillByPath()
	d.sortNew(0, 0) // commits by hash; paths are sorted already
	return d, true
}

// fillByPath makes each path's list of entries, all in one array.
func (d *data) fillByPath() {
	count := make([]uint32, len(d.paths))
	for _, e := range d.entries {
		count[e.path()]++
	}
	all := make([]uint32, len(d.entries))
	d.byPath = make([][]uint32, len(d.paths))
	off := uint32(0)
	for pid, n := range count {
		d.byPath[pid] = all[off : off : off+n] // full: an append copies it
		off += n
	}
	for eid, e := range d.entries {
		d.byPath[e.path()] = append(d.byPath[e.path()], uint32(eid))
	}
}

func (r *reader) bytes(n int) []byte {
	if !r.ok || len(r.b) < n {
		r.ok = false
		return make([]byte, n)
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if !r.ok || n <= 0 {
		r.ok = false
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.b)
	if !r.ok || n <= 0 {
		r.ok = false
		return 0
	}
	r.b = r.b[n:]
	return v
}

// count reads a count of items of at least minSize bytes each, bounded by
// what is left (so a bad count never allocates much).
func (r *reader) count(minSize int) int {
	v := r.uvarint()
	if v > uint64(len(r.b)/minSize) {
		r.ok = false
		return 0
	}
	return int(v)
}

// id reads an id below n.
func (r *reader) id(n int) uint32 {
	v := r.uvarint()
	if v >= uint64(n) {
		r.ok = false
		return 0
	}
	return uint32(v)
}

func (r *reader) strings() []string {
	n := r.count(1)
	out := make([]string, 0, n)
	for range n {
		l := r.uvarint()
		if l > uint64(len(r.b)) {
			r.ok = false
			return nil
		}
		out = append(out, string(r.bytes(int(l))))
	}
	return out
}
