package git

import (
	"bytes"
	"compress/zlib"
	"crypto/sha1"
	"encoding/binary"
	"strconv"

	"github.com/go-git/go-git/v5/plumbing"
)

// PackBuilder writes packfiles by hand, entries as given: tests build packs
// that git would not (a delta bomb, chains, lies about sizes).
type PackBuilder struct {
	entries bytes.Buffer
	count   uint32
}

// Offset is the pack offset the next entry gets (entries follow the 12
// bytes of the pack header).
func (b *PackBuilder) Offset() int64 { return 12 + int64(b.entries.Len()) }

func entryHeader(typ plumbing.ObjectType, size uint64) []byte {
	c := byte(typ)<<4 | byte(size&0x0f)
	size >>= 4
	var out []byte
	for size != 0 {
		out = append(out, c|0x80)
		c = byte(size & 0x7f)
		size >>= 7
	}
	return append(out, c)
}

func deflate(data []byte) []byte {
	var buf bytes.Buffer
	zw := zlib.NewWriter(&buf)
	_, _ = zw.Write(data)
	_ = zw.Close()
	return buf.Bytes()
}

// Raw adds an entry of typ declaring size, followed by body (the compressed
// data, after the base reference of a delta), and returns its offset.
func (b *PackBuilder) Raw(typ plumbing.ObjectType, size uint64, body []byte) int64 {
	off := b.Offset()
	b.entries.Write(entryHeader(typ, size))
	b.entries.Write(body)
	b.count++
	return off
}

// Object adds a commit, tree, blob or tag.
func (b *PackBuilder) Object(typ plumbing.ObjectType, data []byte) int64 {
	return b.Raw(typ, uint64(len(data)), deflate(data))
}

// OfsDelta adds a delta on the entry at base.
func (b *PackBuilder) OfsDelta(base int64, delta []byte) int64 {
	rel := uint64(b.Offset() - base)
	enc := []byte{byte(rel & 0x7f)}
	for rel >>= 7; rel != 0; rel >>= 7 {
		rel--
		enc = append([]byte{0x80 | byte(rel&0x7f)}, enc...)
	}
	return b.Raw(plumbing.OFSDeltaObject, uint64(len(delta)), append(enc, deflate(delta)...))
}

// RefDelta adds a delta on the object named base.
func (b *PackBuilder) RefDelta(base plumbing.Hash, delta []byte) int64 {
	return b.Raw(plumbing.REFDeltaObject, uint64(len(delta)), append(base[:], deflate(delta)...))
}

// Bytes is the pack: header, entries, checksum.
func (b *PackBuilder) Bytes() []byte {
	var out bytes.Buffer
	out.WriteString("PACK")
	_ = binary.Write(&out, binary.BigEndian, uint32(2))
	_ = binary.Write(&out, binary.BigEndian, b.count)
	out.Write(b.entries.Bytes())
	sum := sha1.Sum(out.Bytes())
	out.Write(sum[:])
	return out.Bytes()
}

func appendVarint(out []byte, v uint64) []byte {
	for v >= 0x80 {
		out = append(out, byte(v)|0x80)
		v >>= 7
	}
	return append(out, byte(v))
}

// DeltaData is a delta's data: its source and result sizes, then ops (see
// CopyOp, InsertOp).
func DeltaData(src, target uint64, ops ...[]byte) []byte {
	out := appendVarint(appendVarint(nil, src), target)
	for _, op := range ops {
		out = append(out, op...)
	}
	return out
}

// CopyOp copies size bytes (1 to 1<<24-1) at off of the source.
func CopyOp(off, size uint32) []byte {
	cmd := byte(0x80)
	var args []byte
	for i := range 4 {
		if v := byte(off >> (8 * i)); v != 0 {
			cmd |= 1 << i
			args = append(args, v)
		}
	}
	for i := range 3 {
		if v := byte(size >> (8 * i)); v != 0 {
			cmd |= 0x10 << i
			args = append(args, v)
		}
	}
	return append([]byte{cmd}, args...)
}

// InsertOp inserts data (1 to 127 bytes).
func InsertOp(data []byte) []byte { return append([]byte{byte(len(data))}, data...) }

// DeltaBomb is a pack of two blobs: base, and a delta on it whose result is
// base repeated copies times (a delta of 2 bytes a copy). It returns the pack
// and the hashes of both blobs.
func DeltaBomb(base []byte, copies int) (pack []byte, baseHash, bombHash plumbing.Hash) {
	var b PackBuilder
	off := b.Object(plumbing.BlobObject, base)
	target := uint64(len(base)) * uint64(copies)
	ops := make([][]byte, copies)
	for i := range ops {
		ops[i] = CopyOp(0, uint32(len(base)))
	}
	b.OfsDelta(off, DeltaData(uint64(len(base)), target, ops...))

	h := sha1.New()
	h.Write([]byte("blob " + strconv.FormatUint(target, 10) + "\x00"))
	for range copies {
		h.Write(base)
	}
	copy(bombHash[:], h.Sum(nil))
	return b.Bytes(), plumbing.ComputeHash(plumbing.BlobObject, base), bombHash
}
