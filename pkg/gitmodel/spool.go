package gitmodel

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
)

// BlobSpool keeps a plan's compressed files on disk until its commit, so a
// snapshot's memory does not grow with the bytes it writes: at 100,000
// objects the compressed files were the largest thing the server held (over
// 80 MB, most of it encrypted Secrets, whose ciphertext does not compress).
// The file is unlinked as soon as it is made: it is the spool's alone, and a
// crash leaves nothing behind to clean up.
type BlobSpool struct {
	mu      sync.Mutex
	f       *os.File
	w       *bufio.Writer
	end     int64 // bytes stored (written to w)
	flushed int64 // bytes written through to f
	buf     bytes.Buffer
	closed  bool
}

// NewBlobSpool makes a spool in dir (the clone's own directory: the same
// disk the commit's pack goes to).
func NewBlobSpool(dir string) (*BlobSpool, error) {
	f, err := os.CreateTemp(dir, "tmp_spool_")
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, fmt.Errorf("spool: %w", err)
	}
	return &BlobSpool{f: f, w: bufio.NewWriterSize(f, 256<<10)}, nil
}

// ErrSpoolClosed: the spool was closed before its blob was read.
var ErrSpoolClosed = errors.New("spool: closed")

// Store compresses content into the spool. content is not kept.
func (s *BlobSpool) Store(content []byte) (*StoredBlob, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrSpoolClosed
	}
	s.buf.Reset()
	deflate(&s.buf, content)
	n, err := s.w.Write(s.buf.Bytes())
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	b := &StoredBlob{Hash: BlobHash(content), Size: int64(len(content)), spool: s, off: s.end, n: int64(n)}
	s.end += int64(n)
	if s.buf.Cap() > 1<<20 {
		s.buf = bytes.Buffer{} // one large file does not stay held
	}
	return b, nil
}

// section returns a reader of n bytes at off, flushing what is buffered
// first when they are not yet in the file.
func (s *BlobSpool) section(off, n int64) (io.Reader, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrSpoolClosed
	}
	if off+n > s.flushed {
		if err := s.w.Flush(); err != nil {
			return nil, fmt.Errorf("spool: %w", err)
		}
		s.flushed = s.end
	}
	return io.NewSectionReader(s.f, off, n), nil
}

// Size is the bytes the spool holds.
func (s *BlobSpool) Size() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.end
}

// Close releases the spool's file; its blobs cannot be read after it.
func (s *BlobSpool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return s.f.Close()
}
