package gitmodel

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"sync"
)

// BlobSpool keeps a plan's compressed files until its commit: the first
// MemoryBytes of them in memory, the rest in a spill file on disk, so a
// snapshot's memory does not grow with the bytes it writes. At 100,000
// objects the compressed files were the largest thing the server held (over
// 80 MB, most of it encrypted Secrets, whose ciphertext does not compress);
// a snapshot of a few thousand objects never touches the disk (reading each
// file back is a system call, twice: for the clone's pack and for the push).
// The spill file is opened on the first spill, by the function the spool was
// made with (git.Repo.NewBlobSpool: a file in the clone, unlinked at once).
type BlobSpool struct {
	open     func() (SpillFile, error)
	memLimit int64

	mu       sync.Mutex
	inMemory int64 // bytes held in memory
	f        SpillFile
	w        *bufio.Writer
	end      int64 // bytes written to the file (through w)
	flushed  int64 // bytes through to f
	closed   bool
}

// SpillFile is where a spool puts what does not fit in memory: written in
// order, read back at offsets.
type SpillFile interface {
	io.Writer
	io.ReaderAt
	io.Closer
}

// MemoryBytes is how much of a plan's compressed files a spool holds in
// memory before it spills (8 MiB: some 10,000 small manifests).
const MemoryBytes = 8 << 20

// NewBlobSpool makes a spool that spills to the file open makes.
func NewBlobSpool(open func() (SpillFile, error)) *BlobSpool {
	return newBlobSpool(open, MemoryBytes)
}

func newBlobSpool(open func() (SpillFile, error), memLimit int64) *BlobSpool {
	return &BlobSpool{open: open, memLimit: memLimit}
}

// spillLocked opens the spool's file.
func (s *BlobSpool) spillLocked() error {
	f, err := s.open()
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	s.f, s.w = f, bufio.NewWriterSize(f, 256<<10)
	return nil
}

// ErrSpoolClosed: the spool was closed before its blob was read.
var ErrSpoolClosed = errors.New("spool: closed")

// Put keeps a file compressed by Compress: in memory within the spool's
// budget, in its file past it. c.Deflated is not kept.
func (s *BlobSpool) Put(c Compressed) (*StoredBlob, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrSpoolClosed
	}
	d := c.Deflated
	if s.f == nil && s.inMemory+int64(len(d)) <= s.memLimit {
		s.inMemory += int64(len(d))
		return Hold(c), nil
	}
	if s.f == nil {
		if err := s.spillLocked(); err != nil {
			return nil, err
		}
	}
	if _, err := s.w.Write(d); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	b := &StoredBlob{Hash: c.Hash, Size: c.Size, spool: s, off: s.end, n: int64(len(d))}
	s.end += int64(len(d))
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

// Size is the bytes the spool holds in memory and on disk.
func (s *BlobSpool) Size() (inMemory, onDisk int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inMemory, s.end
}

// Close releases the spool's file; the blobs spilled to it cannot be read
// after it (those held in memory can).
func (s *BlobSpool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if s.f == nil {
		return nil
	}
	return s.f.Close()
}
