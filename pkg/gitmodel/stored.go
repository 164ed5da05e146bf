package gitmodel

import (
	"bytes"
	"compress/zlib"
	"io"
	"sync"

	"github.com/go-git/go-git/v5/plumbing"
)

// StoredBlob is a file's content compressed as a git pack stores an object
// (a zlib stream at BestSpeed, the level of our pack writer), with the
// blob's hash and size. A snapshot holds every file it writes until its one
// commit: compressed, 100,000 rendered manifests take a fraction of the
// room, and the pack copies the stream as it is instead of compressing each
// file again (once for the clone's pack, once for the push).
type StoredBlob struct {
	Hash     plumbing.Hash
	Size     int64
	Deflated []byte
}

// zlibWriters are reused: a new BestSpeed writer allocates its whole window
// and tables (hundreds of KiB) for a file of a few hundred bytes.
var zlibWriters = sync.Pool{New: func() any {
	w, _ := zlib.NewWriterLevel(nil, zlib.BestSpeed)
	return w
}}

// StoreBlob compresses content into a StoredBlob. content is not kept.
func StoreBlob(content []byte) *StoredBlob {
	var buf bytes.Buffer
	buf.Grow(len(content)/2 + 64)
	zw := zlibWriters.Get().(*zlib.Writer)
	zw.Reset(&buf)
	_, _ = zw.Write(content) // a bytes.Buffer does not fail
	_ = zw.Close()
	zlibWriters.Put(zw)
	return &StoredBlob{Hash: BlobHash(content), Size: int64(len(content)), Deflated: bytes.Clone(buf.Bytes())}
}

// Data is the change's content: Content, or Stored inflated.
func (c Change) Data() ([]byte, error) {
	if c.Stored == nil {
		return c.Content, nil
	}
	zr, err := zlib.NewReader(bytes.NewReader(c.Stored.Deflated))
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	return io.ReadAll(zr)
}
