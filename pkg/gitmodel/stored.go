package gitmodel

import (
	"bytes"
	"compress/zlib"
	"io"
	"sync"

	"github.com/go-git/go-git/v5/plumbing"
	kzlib "github.com/klauspost/compress/zlib"
)

// StoredBlob is a file's content compressed as a git pack stores an object
// (a zlib stream at BestSpeed, the level of our pack writer), with the
// blob's hash and size. A snapshot holds every file it writes until its one
// commit: compressed, and in a BlobSpool on disk rather than in memory, so a
// snapshot of 100,000 objects keeps some 80 bytes per file in memory, and
// the pack copies the stream as it is instead of compressing each file again
// (once for the clone's pack, once for the push).
type StoredBlob struct {
	Hash plumbing.Hash
	Size int64
	// deflated is the zlib stream when it is held in memory (Hold, or
	// within a spool's memory budget); otherwise it is n bytes at off in
	// spool's file.
	deflated []byte
	spool    *BlobSpool
	off, n   int64
}

// zlibWriters are reused: a new BestSpeed writer allocates its whole window
// and tables (hundreds of KiB) for a file of a few hundred bytes.
// They are klauspost/compress's: the same zlib streams (any reader reads
// them), about a quarter faster than the standard library's at BestSpeed
// and a little smaller; compressing was a fifth of a snapshot's CPU.
var zlibWriters = sync.Pool{New: func() any {
	w, _ := kzlib.NewWriterLevel(nil, kzlib.BestSpeed)
	return w
}}

// deflate compresses content into buf, as a pack entry's zlib stream.
func deflate(buf *bytes.Buffer, content []byte) {
	zw := zlibWriters.Get().(*kzlib.Writer)
	zw.Reset(buf)
	_, _ = zw.Write(content) // a bytes.Buffer does not fail
	_ = zw.Close()
	zlibWriters.Put(zw)
}

// Compressed is a file's content as a pack stores it (its zlib stream),
// with its blob's hash and size: what a StoredBlob is made of. It is the
// CPU-heavy half of storing a file, so a snapshot does it for several files
// at once (Compress is safe to call from several goroutines) and stores the
// results in order (BlobSpool.Put).
type Compressed struct {
	Hash     plumbing.Hash
	Size     int64
	Deflated []byte
}

// Compress compresses content. content is not kept.
func Compress(content []byte) Compressed {
	var buf bytes.Buffer
	buf.Grow(len(content)/2 + 64)
	deflate(&buf, content)
	return Compressed{Hash: BlobHash(content), Size: int64(len(content)), Deflated: buf.Bytes()}
}

// Hold is the StoredBlob holding c in memory, in a slice of its own size
// (c's may have room to spare, which would stay held with it).
func Hold(c Compressed) *StoredBlob {
	return &StoredBlob{Hash: c.Hash, Size: c.Size, deflated: bytes.Clone(c.Deflated), n: int64(len(c.Deflated))}
}

// Deflated returns a reader of the blob's zlib stream (DeflatedLen bytes).
func (b *StoredBlob) Deflated() (io.Reader, error) {
	if b.spool == nil {
		return bytes.NewReader(b.deflated), nil
	}
	return b.spool.section(b.off, b.n)
}

// DeflatedLen is the length of the blob's zlib stream.
func (b *StoredBlob) DeflatedLen() int64 { return b.n }

// Open returns a reader of the blob's content.
func (b *StoredBlob) Open() (io.ReadCloser, error) {
	d, err := b.Deflated()
	if err != nil {
		return nil, err
	}
	return zlib.NewReader(d)
}

// Data is the change's content: Content, or Stored inflated.
func (c Change) Data() ([]byte, error) {
	if c.Stored == nil {
		return c.Content, nil
	}
	zr, err := c.Stored.Open()
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	return io.ReadAll(zr)
}
