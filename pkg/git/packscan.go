package git

import (
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// Bounding what the objects of a fetched pack inflate to (SetMaxObjectSize).
//
// Where: go-git's fetch hands the packfile (the remote's answer, sideband
// demultiplexed) to the storage's PackfileWriter with io.Copy; the filesystem
// storage's writer appends it to objects/pack/tmp_pack_* while a goroutine
// parses the growing file and, once the whole pack has arrived, resolves
// every object into memory (its declared size preallocated, a delta chain's
// objects at once) to index it. go-git offers no hook of its own on sizes,
// and the transports only see the pack framed in pkt-lines, so a fetch goes
// through scanStorage (the clone's storage with another PackfileWriter):
// the pack streams through a packScanner, which reads each entry's header as
// it arrives and passes the entry on only once the header is accepted, and
// fails the write (and so the fetch) at the first entry past the bound.
// go-git never receives a byte of that entry, nor the end of the pack it
// would need before it resolves anything.
//
// The scanner must find where each entry ends, which the pack does not say:
// it inflates every entry (discarding the output) through a zlib reader over
// its own io.ByteReader, so zlib consumes exactly the entry's compressed
// bytes. That is a second inflation of the pack besides go-git's; a clone
// costs some more CPU, no more memory (buffers of 64 KiB and, per entry of
// the pack, 16 bytes to find the chain of a delta).

// scanStorage is the clone's storage as a fetch sees it: a pack written
// through PackfileWriter is scanned against MaxObjectSize on its way.
type scanStorage struct {
	*filesystem.Storage
	limit int64
}

// PackfileWriter is the storage's, behind a packScanner.
func (s scanStorage) PackfileWriter() (io.WriteCloser, error) {
	w, err := s.Storage.PackfileWriter()
	if err != nil {
		return nil, err
	}
	return newScanWriter(w, s.limit), nil
}

// scanWriter feeds what is written to a packScanner running in a goroutine
// (zlib reads, so the scanner pulls) that writes it on to dst.
type scanWriter struct {
	pw   *io.PipeWriter
	dst  io.WriteCloser
	done chan error
}

func newScanWriter(dst io.WriteCloser, limit int64) *scanWriter {
	pr, pw := io.Pipe()
	w := &scanWriter{pw: pw, dst: dst, done: make(chan error, 1)}
	go func() {
		err := newPackScanner(pr, dst, limit, chainLimit(limit)).run()
		// Unblocks and fails the Write in progress and every later one.
		pr.CloseWithError(err)
		w.done <- err
	}()
	return w
}

// Write passes p to the scanner: it fails once the scanner refused the pack.
func (w *scanWriter) Write(p []byte) (int, error) { return w.pw.Write(p) }

// Close ends the pack, waits for the scanner and closes the storage's writer
// (which then parses, indexes and keeps the pack, or drops it). The scanner's
// error wins: it is why the pack is incomplete.
func (w *scanWriter) Close() error {
	_ = w.pw.Close()
	err := <-w.done
	cerr := w.dst.Close()
	if err != nil {
		return err
	}
	return cerr
}

const (
	// scanBufSize is the scanner's read buffer.
	scanBufSize = 64 << 10
	// maxHeld bounds the bytes of one entry held back until its header is
	// accepted: the header itself (at most 30 bytes) and the compressed
	// bytes that inflate to the first bytes of a delta (a few in any zlib
	// stream git writes; more only in a stream built to make us wait).
	maxHeld = 64 << 10
)

// errMalformedPack is wrapped by the scanner's error for a pack that is not
// one (go-git would refuse it too, later).
var errMalformedPack = errors.New("malformed pack")

func malformed(format string, args ...any) error {
	return fmt.Errorf("git: %w: %s", errMalformedPack, fmt.Sprintf(format, args...))
}

// packScanner reads a pack from src and writes it to dst, checking each entry
// against the size bound before dst gets it.
type packScanner struct {
	src io.Reader
	dst io.Writer

	// buf[held:r] was consumed and is not yet written to dst, buf[r:w] was
	// read from src and is not yet consumed.
	buf          []byte
	held, r, w   int
	off          int64 // the pack offset of buf[r]
	accepted     bool  // what was consumed may go to dst
	srcErr       error // src's error, once it returned one
	limit, chain uint64

	// weights holds, by offset and in pack order, each entry's weight: its
	// inflated size plus, for a delta by offset, the weight of its base.
	weights  []entryWeight
	refTotal uint64 // the result sizes of the deltas by reference together

	zr      io.ReadCloser
	scratch []byte
}

type entryWeight struct {
	off    int64
	weight uint64
}

// newPackScanner scans against limit for an object, chain for a delta chain.
func newPackScanner(src io.Reader, dst io.Writer, limit, chain int64) *packScanner {
	return &packScanner{
		src: src, dst: dst, buf: make([]byte, scanBufSize),
		limit: uint64(limit), chain: uint64(chain),
		scratch: make([]byte, 32<<10),
	}
}

// fill reads more of src; on return buf[r:w] is not empty unless it fails.
func (s *packScanner) fill() error {
	if s.accepted {
		if err := s.flush(); err != nil {
			return err
		}
	}
	if s.held > 0 {
		n := copy(s.buf, s.buf[s.held:s.w])
		s.r -= s.held
		s.w = n
		s.held = 0
	}
	if s.w == len(s.buf) {
		if s.w >= maxHeld {
			return malformed("an entry's header does not end within %d bytes", maxHeld)
		}
		s.buf = append(s.buf, make([]byte, len(s.buf))...)
	}
	for s.r == s.w {
		if s.srcErr != nil {
			return s.srcErr
		}
		n, err := s.src.Read(s.buf[s.w:])
		s.w += n
		if err != nil {
			s.srcErr = err
		}
	}
	return nil
}

// flush writes what was consumed to dst.
func (s *packScanner) flush() error {
	if s.r == s.held {
		return nil
	}
	_, err := s.dst.Write(s.buf[s.held:s.r])
	s.held = s.r
	return err
}

// ReadByte consumes one byte (zlib reads an io.ByteReader no further than
// the end of its stream).
func (s *packScanner) ReadByte() (byte, error) {
	if s.r == s.w {
		if err := s.fill(); err != nil {
			return 0, err
		}
	}
	b := s.buf[s.r]
	s.r++
	s.off++
	return b, nil
}

func (s *packScanner) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if s.r == s.w {
		if err := s.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p, s.buf[s.r:s.w])
	s.r += n
	s.off += int64(n)
	return n, nil
}

func eofIsUnexpected(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return malformed("the pack ends early")
	}
	return err
}

// run scans the whole pack, then passes on whatever follows it.
func (s *packScanner) run() error {
	var hdr [12]byte
	n, err := io.ReadFull(s, hdr[:])
	if n == 0 && errors.Is(err, io.EOF) {
		return nil // nothing sent: go-git says so
	}
	if err != nil {
		return eofIsUnexpected(err)
	}
	if string(hdr[:4]) != "PACK" {
		return malformed("no pack signature")
	}
	if v := binary.BigEndian.Uint32(hdr[4:8]); v != 2 && v != 3 {
		return malformed("unsupported pack version %d", v)
	}
	count := binary.BigEndian.Uint32(hdr[8:])
	if count > MaxPackObjects {
		// go-git keeps a few hundred bytes per object while it indexes a
		// pack: a pack of millions of tiny entries would cost gigabytes.
		return &ObjectTooLargeError{What: "pack", Size: uint64(count), Limit: MaxPackObjects}
	}
	s.accepted = true
	for range count {
		if err := s.entry(); err != nil {
			return err
		}
	}
	// The trailer (the pack's checksum) and anything after it.
	s.accepted = true
	for {
		if s.r == s.w {
			if err := s.fill(); err != nil {
				if errors.Is(err, io.EOF) {
					return s.flush()
				}
				return err
			}
		}
		s.off += int64(s.w - s.r)
		s.r = s.w
	}
}

// MaxPackObjects bounds the objects of one fetched pack: go-git holds about
// 250 bytes per object while it indexes a pack, so this is about 250 MiB at
// most. A mirror's branch holds a few objects per mirrored object and commit.
const MaxPackObjects = 1_000_000

// entry scans one entry: its header, then its zlib stream to the end.
func (s *packScanner) entry() error {
	if err := s.flush(); err != nil {
		return err
	}
	s.accepted = false
	start := s.off
	typ, size, err := s.entryHeader()
	if err != nil {
		return err
	}
	base, err := s.entryBase(typ, size, start)
	if err != nil {
		return err
	}
	if typ.IsDelta() && size > s.limit {
		return &ObjectTooLargeError{What: "delta", Size: size, Limit: int64(s.limit)}
	}

	if s.zr == nil {
		s.zr, err = zlib.NewReader(s)
	} else {
		err = s.zr.(zlib.Resetter).Reset(s, nil)
	}
	if err != nil {
		return malformed("an entry's data: %v", eofIsUnexpected(err))
	}
	inflated := &countingReader{r: s.zr}
	weight := size
	if typ.IsDelta() {
		if weight, err = s.deltaWeight(typ, base, inflated); err != nil {
			return err
		}
	}
	s.weights = append(s.weights, entryWeight{off: start, weight: weight})

	// Accepted: what was consumed of it may go, and the rest as it comes.
	s.accepted = true
	return s.drain(inflated, size)
}

// entryHeader reads an entry's type and declared size.
func (s *packScanner) entryHeader() (plumbing.ObjectType, uint64, error) {
	c, err := s.ReadByte()
	if err != nil {
		return 0, 0, eofIsUnexpected(err)
	}
	typ := plumbing.ObjectType((c >> 4) & 7)
	size := uint64(c & 0x0f)
	for shift := uint(4); c&0x80 != 0; shift += 7 {
		if shift > 53 {
			return 0, 0, malformed("an entry's size does not fit 60 bits")
		}
		if c, err = s.ReadByte(); err != nil {
			return 0, 0, eofIsUnexpected(err)
		}
		size |= uint64(c&0x7f) << shift
	}
	return typ, size, nil
}

// entryBase checks an object's size, or reads what names a delta's base:
// the offset of a delta by offset (returned; -1 for any other entry), the
// hash of a delta by reference.
func (s *packScanner) entryBase(typ plumbing.ObjectType, size uint64, start int64) (int64, error) {
	switch typ {
	case plumbing.CommitObject, plumbing.TreeObject, plumbing.BlobObject, plumbing.TagObject:
		if size > s.limit {
			return -1, &ObjectTooLargeError{What: typ.String(), Size: size, Limit: int64(s.limit)}
		}
		return -1, nil
	case plumbing.OFSDeltaObject:
		c, err := s.ReadByte()
		if err != nil {
			return -1, eofIsUnexpected(err)
		}
		rel := uint64(c & 0x7f)
		for c&0x80 != 0 {
			if rel >= 1<<56 {
				return -1, malformed("a delta's base offset does not fit 64 bits")
			}
			if c, err = s.ReadByte(); err != nil {
				return -1, eofIsUnexpected(err)
			}
			rel = (rel+1)<<7 | uint64(c&0x7f)
		}
		if rel == 0 || rel > uint64(start) {
			return -1, malformed("a delta's base is not before it")
		}
		return start - int64(rel), nil
	case plumbing.REFDeltaObject:
		var ref [20]byte
		if _, err := io.ReadFull(s, ref[:]); err != nil {
			return -1, eofIsUnexpected(err)
		}
		return -1, nil
	default:
		return -1, malformed("an entry of invalid type %d", typ)
	}
}

// deltaWeight reads the source and result sizes at the start of a delta's
// data, checks them, and returns the delta's weight: its result size plus
// its base's weight (by offset), or the whole chain bound (by reference).
func (s *packScanner) deltaWeight(typ plumbing.ObjectType, base int64, inflated io.Reader) (uint64, error) {
	src, err := readVarint(inflated)
	if err != nil {
		return 0, malformed("a delta's source size: %v", err)
	}
	target, err := readVarint(inflated)
	if err != nil {
		return 0, malformed("a delta's result size: %v", err)
	}
	switch {
	case src > s.limit:
		return 0, &ObjectTooLargeError{What: "delta source", Size: src, Limit: int64(s.limit)}
	case target > s.limit:
		return 0, &ObjectTooLargeError{What: "delta result", Size: target, Limit: int64(s.limit)}
	}
	if typ == plumbing.OFSDeltaObject {
		weight := target + s.weightAt(base)
		if weight > s.chain {
			return 0, &ObjectTooLargeError{What: "delta chain", Size: weight, Limit: int64(s.chain)}
		}
		return weight, nil
	}
	// The base is named by hash, which only resolving the pack tells: these
	// deltas are bounded together, and a delta by offset on one of them
	// counts the whole chain bound.
	if s.refTotal += target; s.refTotal > s.limit {
		return 0, &ObjectTooLargeError{What: "deltas by reference", Size: s.refTotal, Limit: int64(s.limit)}
	}
	return s.chain, nil
}

// drain inflates the rest of an accepted entry, no further than its declared
// size, to the end of its zlib stream.
func (s *packScanner) drain(inflated *countingReader, size uint64) error {
	for {
		_, err := inflated.Read(s.scratch)
		if inflated.n > size {
			return malformed("an entry inflates past its declared size")
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return malformed("an entry's data: %v", eofIsUnexpected(err))
		}
	}
}

// weightAt is the weight of the entry at off (0 when there is none: go-git
// refuses that delta).
func (s *packScanner) weightAt(off int64) uint64 {
	i := sort.Search(len(s.weights), func(i int) bool { return s.weights[i].off >= off })
	if i < len(s.weights) && s.weights[i].off == off {
		return s.weights[i].weight
	}
	return 0
}

type countingReader struct {
	r io.Reader
	n uint64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += uint64(n)
	return n, err
}

// readVarint reads a delta header's size: little-endian base-128.
func readVarint(r io.Reader) (uint64, error) {
	var b [1]byte
	var v uint64
	for shift := uint(0); ; shift += 7 {
		if shift > 56 {
			return 0, errors.New("does not fit 63 bits")
		}
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return 0, eofIsUnexpected(err)
		}
		v |= uint64(b[0]&0x7f) << shift
		if b[0]&0x80 == 0 {
			return v, nil
		}
	}
}
