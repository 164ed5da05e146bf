package gitmodel

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

var storedContents = [][]byte{nil, []byte("x"), []byte(strings.Repeat("apiVersion: v1\nkind: ConfigMap\n", 40))}

// checkStored: a stored blob inflates to its content, with the content's
// blob hash and size, and is smaller than a manifest it holds.
func checkStored(t *testing.T, sb *StoredBlob, content []byte) {
	t.Helper()
	zr, err := sb.Open()
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(zr)
	if err != nil || !bytes.Equal(got, content) {
		t.Errorf("inflated %q (%v), want %q", got, err, content)
	}
	if sb.Hash != BlobHash(content) || sb.Size != int64(len(content)) {
		t.Errorf("hash %s size %d, want %s %d", sb.Hash, sb.Size, BlobHash(content), len(content))
	}
	if len(content) > 1000 && sb.DeflatedLen() > int64(len(content)/4) {
		t.Errorf("%d bytes stored as %d", len(content), sb.DeflatedLen())
	}
	d, err := sb.Deflated()
	if err != nil {
		t.Fatal(err)
	}
	if raw, _ := io.ReadAll(d); int64(len(raw)) != sb.DeflatedLen() {
		t.Errorf("zlib stream of %d bytes, DeflatedLen %d", len(raw), sb.DeflatedLen())
	}
}

func TestStoreBlob(t *testing.T) {
	for _, content := range storedContents {
		checkStored(t, Hold(Compress(content)), content)
	}
}

// TestBlobSpool: blobs stored in a spool read back as stored, in any order
// and while more are stored after them, whether held in memory (the first
// memLimit bytes) or spilled to its file; the file is gone from its
// directory from the start; once the spool is closed, a spilled blob fails
// to read instead of reading something else.
func TestBlobSpool(t *testing.T) {
	var file *memFile
	s := newBlobSpool(func() (SpillFile, error) {
		if file != nil {
			t.Error("a second spill file")
		}
		file = &memFile{}
		return file, nil
	}, 4096)
	var stored []*StoredBlob
	var contents [][]byte
	for i := 0; i < 300; i++ {
		c := append([]byte(strings.Repeat("data: ", i)), storedContents[i%len(storedContents)]...)
		sb, err := s.Put(Compress(c))
		if err != nil {
			t.Fatal(err)
		}
		stored, contents = append(stored, sb), append(contents, c)
		if i%50 == 0 { // a read between stores flushes what is buffered
			checkStored(t, stored[i/2], contents[i/2])
		}
	}
	for i := len(stored) - 1; i >= 0; i-- {
		checkStored(t, stored[i], contents[i])
	}
	inMemory, onDisk := s.Size()
	if inMemory == 0 || inMemory > 4096 || onDisk == 0 {
		t.Errorf("%d bytes in memory, %d on disk; want at most 4096 in memory and the rest on disk", inMemory, onDisk)
	}
	if err := s.Close(); err != nil || !file.closed {
		t.Fatalf("close: %v, file closed %v", err, file.closed)
	}
	if _, err := stored[0].Open(); err != nil {
		t.Errorf("a blob held in memory, read after close: %v", err)
	}
	if _, err := stored[len(stored)-1].Open(); !errors.Is(err, ErrSpoolClosed) {
		t.Errorf("a spilled blob, read after close: %v, want ErrSpoolClosed", err)
	}
	if _, err := s.Put(Compress([]byte("x"))); !errors.Is(err, ErrSpoolClosed) {
		t.Errorf("store after close: %v, want ErrSpoolClosed", err)
	}
}

// TestBlobSpoolInMemory: a plan within the memory budget makes no file.
func TestBlobSpoolInMemory(t *testing.T) {
	s := NewBlobSpool(func() (SpillFile, error) { return nil, errors.New("no spill expected") })
	for _, c := range storedContents {
		sb, err := s.Put(Compress(c))
		if err != nil {
			t.Fatal(err)
		}
		checkStored(t, sb, c)
	}
	if inMemory, onDisk := s.Size(); inMemory == 0 || onDisk != 0 || s.f != nil {
		t.Errorf("%d bytes in memory, %d on disk, file %v; want all in memory, no file", inMemory, onDisk, s.f)
	}
	s.Close()
}

// memFile is a spill file in memory that reads back only what was written.
type memFile struct {
	b      []byte
	closed bool
}

func (f *memFile) Write(p []byte) (int, error) { f.b = append(f.b, p...); return len(p), nil }
func (f *memFile) Close() error                { f.closed = true; return nil }
func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	if f.closed {
		return 0, errors.New("read after close")
	}
	if off >= int64(len(f.b)) {
		return 0, io.EOF
	}
	n := copy(p, f.b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}
