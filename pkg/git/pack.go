package git

import (
	"bufio"
	"crypto/sha1"
	"encoding/binary"
	"fmt"
	"hash"
	"hash/crc32"
	"io"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/storer"
	zlib "github.com/klauspost/compress/zlib"
)

// packHeaderSize and packTrailerSize are the sizes of a version 2 packfile's
// header ("PACK", version, object count) and trailer (SHA-1 of the rest).
const (
	packHeaderSize  = 12
	packTrailerSize = sha1.Size
)

// packWriter writes a version 2 packfile: the header, the entries, and the
// SHA-1 trailer. It is the one pack writer of the package: the commits we
// build (written to the clone and sent in the push) and the consolidation of
// small packs (packDir.merge) both go through it. Everything but the trailer is
// written through one 1 MiB buffer and hashed on the way; objects are
// deflated at zlib.BestSpeed by one reused zlib stream (klauspost/compress:
// see gitmodel.zlibWriters).
type packWriter struct {
	w   io.Writer
	out *packSink
	bw  *bufio.Writer
	zw  *zlib.Writer // created by the first writeObject
	// copyBuf copies spooled zlib streams (storedBlob) into the pack.
	copyBuf []byte

	// With entries non-nil, writeObject records each entry as an index
	// lists it (name, offset, CRC-32 of its bytes): see packDir.writeIndexed.
	entries []packEntry
	crc     hash.Hash32
	crcBW   io.Writer // bw and crc
}

// packSink passes the bytes to the destination, hashing and counting them.
type packSink struct {
	w   io.Writer
	sum hash.Hash
	n   int64
}

func (s *packSink) Write(p []byte) (int, error) {
	n, err := s.w.Write(p)
	s.sum.Write(p[:n])
	s.n += int64(n)
	return n, err
}

func newPackWriter(w io.Writer) *packWriter {
	out := &packSink{w: w, sum: sha1.New()}
	return &packWriter{w: w, out: out, bw: bufio.NewWriterSize(out, 1<<20)}
}

// header writes the pack header for n entries; it comes first.
func (p *packWriter) header(n uint32) error {
	var hdr [packHeaderSize]byte
	copy(hdr[:4], "PACK")
	binary.BigEndian.PutUint32(hdr[4:8], 2)
	binary.BigEndian.PutUint32(hdr[8:12], n)
	_, err := p.bw.Write(hdr[:])
	return err
}

// offset is the position in the pack of the next byte written.
func (p *packWriter) offset() int64 {
	return p.out.n + int64(p.bw.Buffered())
}

// writeObject writes obj as one undeltified entry: its type and size, then
// its content deflated.
func (p *packWriter) writeObject(obj plumbing.EncodedObject) error {
	// Entry header: type and size, little-endian base-128, 4 bits first.
	size := uint64(obj.Size())
	var buf [16]byte
	n := 0
	c := byte(obj.Type())<<4 | byte(size&0x0f)
	size >>= 4
	for size != 0 {
		buf[n] = c | 0x80
		n++
		c = byte(size & 0x7f)
		size >>= 7
	}
	buf[n] = c
	n++
	dst := io.Writer(p.bw)
	if p.entries != nil {
		p.entries = append(p.entries, packEntry{hash: obj.Hash(), offset: uint64(p.offset())})
		p.crc.Reset()
		dst = p.crcBW
	}
	if _, err := dst.Write(buf[:n]); err != nil {
		return err
	}
	if d, ok := obj.(interface {
		deflated() (io.Reader, int64, error)
	}); ok {
		// Compressed when it was planned (storedBlob): copied as it is,
		// exactly its length (a short read would make a pack whose
		// checksum is right and whose object is cut).
		src, n, err := d.deflated()
		if err == nil {
			if p.copyBuf == nil {
				p.copyBuf = make([]byte, 32<<10)
			}
			var copied int64
			copied, err = io.CopyBuffer(dst, io.LimitReader(src, n), p.copyBuf)
			if err == nil && copied != n {
				err = fmt.Errorf("git: a planned file's stream is %d bytes, %d read back", n, copied)
			}
		}
		if p.entries != nil {
			p.entries[len(p.entries)-1].crc = p.crc.Sum32()
		}
		return err
	}
	rd, err := obj.Reader()
	if err != nil {
		return err
	}
	defer rd.Close()
	if p.zw == nil {
		if p.zw, err = zlib.NewWriterLevel(dst, zlib.BestSpeed); err != nil {
			return err
		}
	} else {
		p.zw.Reset(dst)
	}
	if p.entries != nil {
		defer func() { p.entries[len(p.entries)-1].crc = p.crc.Sum32() }()
	}
	if _, err := io.Copy(p.zw, rd); err != nil {
		return err
	}
	return p.zw.Close()
}

// writeRaw copies n bytes of already encoded entries (the body of another
// pack) as they are.
func (p *packWriter) writeRaw(r io.Reader, n int64) error {
	_, err := io.CopyN(p.bw, r, n)
	return err
}

// finish flushes the pack, appends the trailer and returns it: the SHA-1 of
// everything before it, which also names the pack.
func (p *packWriter) finish() ([]byte, error) {
	if err := p.bw.Flush(); err != nil {
		return nil, err
	}
	sum := p.out.sum.Sum(nil)
	if _, err := p.w.Write(sum); err != nil {
		return nil, err
	}
	return sum, nil
}

// indexingPackWriter is a packWriter that records its entries for the index.
func indexingPackWriter(w io.Writer, n int) *packWriter {
	p := newPackWriter(w)
	p.entries, p.crc = make([]packEntry, 0, n), crc32.NewIEEE()
	p.crcBW = io.MultiWriter(p.bw, p.crc)
	return p
}

// writePack writes the objects as a version 2 packfile without deltas.
// go-git's packfile.Encoder would do the same, but it deflates every object
// at the default level, and resetting a default-level flate writer (zeroing
// its hash tables) dominates for thousands of small objects. This pack
// uses BestSpeed and one buffered write stream (see packWriter); it is both
// the clone's new pack and the one sent in the push, which needs neither
// ofs-delta nor ref-delta support from the server.
func writePack(w io.Writer, objects storer.EncodedObjectStorer, order []plumbing.Hash) error {
	pw := newPackWriter(w)
	if err := pw.header(uint32(len(order))); err != nil {
		return err
	}
	for _, h := range order {
		obj, err := objects.EncodedObject(plumbing.AnyObject, h)
		if err != nil {
			return err
		}
		if err := pw.writeObject(obj); err != nil {
			return err
		}
	}
	_, err := pw.finish()
	return err
}
