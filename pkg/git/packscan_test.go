package git

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// scan runs a packScanner over pack (in pieces of one byte when oneByte),
// chains bounded to 4 times limit, and returns what it wrote on.
func scan(t *testing.T, pack []byte, limit int64, oneByte bool) ([]byte, error) {
	t.Helper()
	var src io.Reader = bytes.NewReader(pack)
	if oneByte {
		src = iotest.OneByteReader(src)
	}
	var out bytes.Buffer
	err := newPackScanner(src, &out, limit, 4*limit).run()
	return out.Bytes(), err
}

// gitPack is a pack the git CLI writes for a history with deltas: a file
// edited in many commits, packed with deep delta chains.
func gitPack(t *testing.T) []byte {
	t.Helper()
	dir := t.TempDir()
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL="+os.DevNull, "HOME="+dir,
			"GIT_AUTHOR_NAME=a", "GIT_AUTHOR_EMAIL=a@example.com", "GIT_COMMITTER_NAME=a", "GIT_COMMITTER_EMAIL=a@example.com")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("init", "--quiet")
	var lines []string
	for i := range 30 {
		lines = append(lines, strings.Repeat("line "+string(rune('a'+i%26))+" of the manifest\n", 20))
		if err := os.WriteFile(filepath.Join(dir, "m.yaml"), []byte(strings.Join(lines, "")), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "n.yaml"), []byte(strings.Repeat(strings.Join(lines, ""), 3)), 0o644); err != nil {
			t.Fatal(err)
		}
		git("add", ".")
		git("commit", "--quiet", "-m", "edit "+string(rune('a'+i%26)))
	}
	git("repack", "-a", "-d", "-f", "--depth=50", "--window=10", "-q")
	packs, _ := filepath.Glob(filepath.Join(dir, ".git", "objects", "pack", "*.pack"))
	if len(packs) != 1 {
		t.Fatalf("packs: %v", packs)
	}
	b, err := os.ReadFile(packs[0])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(git("verify-pack", "-v", packs[0]), "chain length = 2") {
		t.Fatal("the pack has no delta chains")
	}
	return b
}

// TestPackScannerPassesGitPacks: a pack git writes, with delta chains, goes
// through unchanged, also when it arrives a byte at a time (the scanner
// consumes exactly each entry's zlib stream, whatever the reads).
func TestPackScannerPassesGitPacks(t *testing.T) {
	pack := gitPack(t)
	for _, oneByte := range []bool{false, true} {
		out, err := scan(t, pack, 1<<20, oneByte)
		if err != nil {
			t.Fatalf("oneByte %v: %v", oneByte, err)
		}
		if !bytes.Equal(out, pack) {
			t.Fatalf("oneByte %v: %d bytes out of %d, or not the same", oneByte, len(out), len(pack))
		}
	}
	// Nothing at all is fine (go-git reports an empty pack).
	if out, err := scan(t, nil, 1<<20, false); err != nil || len(out) != 0 {
		t.Fatalf("empty: %d bytes, %v", len(out), err)
	}
}

// TestPackScannerRefuses: each size the scanner checks, past the bound,
// fails with an ObjectTooLargeError naming it; go-git would not have seen a
// byte of the refused entry (what was written on ends where it starts).
// Packs that are not packs fail as malformed.
func TestPackScannerRefuses(t *testing.T) {
	const limit = 1000
	small := bytes.Repeat([]byte("0123456789"), 50) // 500 bytes
	mid := bytes.Repeat([]byte("abcdefghij"), 90)   // 900 bytes
	cases := []struct {
		name  string
		build func(b *PackBuilder) int64 // adds entries, returns the refused one's offset
		what  string
		size  uint64
		bound int64
	}{
		{"blob declared past the bound", func(b *PackBuilder) int64 {
			b.Object(plumbing.BlobObject, small)
			return b.Raw(plumbing.BlobObject, 512<<20, deflate([]byte("not even that")))
		}, "blob", 512 << 20, limit},
		{"tree past the bound", func(b *PackBuilder) int64 {
			return b.Object(plumbing.TreeObject, bytes.Repeat([]byte{1}, limit+1))
		}, "tree", limit + 1, limit},
		{"delta data past the bound", func(b *PackBuilder) int64 {
			base := b.Object(plumbing.BlobObject, small)
			return b.OfsDelta(base, DeltaData(500, 500, repeatOp(CopyOp(0, 1), 600)...))
		}, "delta", 1204, limit},
		{"delta result past the bound (a delta bomb)", func(b *PackBuilder) int64 {
			base := b.Object(plumbing.BlobObject, small)
			return b.OfsDelta(base, DeltaData(500, 1<<30, CopyOp(0, 500)))
		}, "delta result", 1 << 30, limit},
		{"delta source past the bound", func(b *PackBuilder) int64 {
			return b.RefDelta(plumbing.ZeroHash, DeltaData(1<<40, 10, InsertOp([]byte("0123456789"))))
		}, "delta source", 1 << 40, limit},
		{"delta chain past four times the bound", func(b *PackBuilder) int64 {
			d := b.Object(plumbing.BlobObject, mid)                                   // 900
			d = b.OfsDelta(d, DeltaData(900, 900, CopyOp(0, 899), InsertOp(mid[:1]))) // 1800
			d = b.OfsDelta(d, DeltaData(900, 900, CopyOp(0, 900)))                    // 2700
			d = b.OfsDelta(d, DeltaData(900, 900, CopyOp(0, 900)))                    // 3600
			return b.OfsDelta(d, DeltaData(900, 900, CopyOp(0, 900)))                 // 4500
		}, "delta chain", 4500, 4 * limit},
		{"deltas by reference past the bound together", func(b *PackBuilder) int64 {
			h := plumbing.ComputeHash(plumbing.BlobObject, small)
			b.Object(plumbing.BlobObject, small)
			b.RefDelta(h, DeltaData(500, 500, CopyOp(0, 500)))
			return b.RefDelta(h, DeltaData(500, 501, CopyOp(0, 500), InsertOp([]byte("x"))))
		}, "deltas by reference", 1001, limit},
		{"a delta by offset on a delta by reference", func(b *PackBuilder) int64 {
			h := plumbing.ComputeHash(plumbing.BlobObject, small)
			b.Object(plumbing.BlobObject, small)
			ref := b.RefDelta(h, DeltaData(500, 500, CopyOp(0, 500)))
			return b.OfsDelta(ref, DeltaData(500, 1, InsertOp([]byte("x"))))
		}, "delta chain", 4*limit + 1, 4 * limit},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var b PackBuilder
			at := tc.build(&b)
			b.Object(plumbing.BlobObject, []byte("after"))
			pack := b.Bytes()
			for _, oneByte := range []bool{false, true} {
				out, err := scan(t, pack, limit, oneByte)
				var tooLarge *ObjectTooLargeError
				if !errors.As(err, &tooLarge) || !errors.Is(err, ErrObjectTooLarge) {
					t.Fatalf("oneByte %v: %v, want an ObjectTooLargeError", oneByte, err)
				}
				if *tooLarge != (ObjectTooLargeError{What: tc.what, Size: tc.size, Limit: tc.bound}) {
					t.Fatalf("oneByte %v: %+v", oneByte, *tooLarge)
				}
				if int64(len(out)) != at || !bytes.Equal(out, pack[:at]) {
					t.Fatalf("oneByte %v: %d bytes written on, want the %d before the refused entry", oneByte, len(out), at)
				}
			}
		})
	}

	if chainLimit(DefaultMaxObjectSize) != MaxDeltaChainSize || chainLimit(1<<30) != 2<<30 {
		t.Fatalf("chain bounds: %d for the default object bound, %d for 1 GiB", chainLimit(DefaultMaxObjectSize), chainLimit(1<<30))
	}

	// Within the bounds: a chain of exactly four times the bound, and deltas
	// by reference of exactly the bound together.
	var b PackBuilder
	d := b.Object(plumbing.BlobObject, small)                               // 500
	d = b.OfsDelta(d, DeltaData(500, 1000, CopyOp(0, 500), CopyOp(0, 500))) // 1500
	d = b.OfsDelta(d, DeltaData(1000, 1000, CopyOp(0, 1000)))               // 2500
	d = b.OfsDelta(d, DeltaData(1000, 1000, CopyOp(0, 1000)))               // 3500
	b.OfsDelta(d, DeltaData(1000, 500, CopyOp(0, 500)))                     // 4000
	h := plumbing.ComputeHash(plumbing.BlobObject, small)
	b.RefDelta(h, DeltaData(500, 500, CopyOp(0, 500)))
	b.RefDelta(h, DeltaData(500, 500, CopyOp(0, 500)))
	pack := b.Bytes()
	if out, err := scan(t, pack, limit, true); err != nil || !bytes.Equal(out, pack) {
		t.Fatalf("at the bounds: %v", err)
	}
}

// TestPackScannerMalformed: what is not a pack fails, as malformed, never
// hangs or reads on: a truncated pack, an entry inflating past its declared
// size, an entry whose delta header the zlib stream withholds past maxHeld.
func TestPackScannerMalformed(t *testing.T) {
	var b PackBuilder
	b.Object(plumbing.BlobObject, []byte("hello"))
	whole := b.Bytes()

	var lie PackBuilder
	lie.Raw(plumbing.BlobObject, 3, deflate([]byte("longer than three")))

	// zlib header, then empty stored blocks (5 bytes, no output each), then
	// the delta.
	var stall PackBuilder
	base := stall.Object(plumbing.BlobObject, []byte("hello"))
	stalled := []byte{0x78, 0x01}
	for range maxHeld / 5 {
		stalled = append(stalled, 0x00, 0x00, 0x00, 0xff, 0xff)
	}
	real := deflate(DeltaData(5, 5, CopyOp(0, 5)))
	stalled = append(stalled, real[2:]...)
	rel := stall.Offset() - base
	stall.Raw(plumbing.OFSDeltaObject, 7, append([]byte{byte(rel)}, stalled...))

	for name, pack := range map[string][]byte{
		"truncated":                  whole[:len(whole)-25],
		"no signature":               append([]byte("PAKC"), whole[4:]...),
		"inflates past its size":     lie.Bytes(),
		"delta header withheld long": stall.Bytes(),
		"invalid type":               append(append([]byte{}, whole[:12]...), 0x50, 0x00),
	} {
		if _, err := scan(t, pack, 1<<20, false); !errors.Is(err, errMalformedPack) {
			t.Errorf("%s: %v, want malformed", name, err)
		}
	}
}

func newTestStorage(t *testing.T) *filesystem.Storage {
	t.Helper()
	st := filesystem.NewStorage(osfs.New(t.TempDir()), cache.NewObjectLRUDefault())
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// writePack writes pack through the storage's PackfileWriter, as go-git's
// fetch does, and returns the error and the bytes allocated meanwhile.
func writeScanned(t *testing.T, st interface {
	PackfileWriter() (io.WriteCloser, error)
}, pack []byte) (error, uint64) {
	t.Helper()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	w, err := st.PackfileWriter()
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.Copy(w, bytes.NewReader(pack))
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	runtime.ReadMemStats(&after)
	return err, after.TotalAlloc - before.TotalAlloc
}

// TestScanStorageDeltaBomb: a delta bomb (a delta of 64 KiB whose result is
// 32 MiB) makes go-git's PackfileWriter allocate more than the result while
// it indexes the pack; through scanStorage with a 16 MiB bound it is refused
// with a fraction of that allocated. An ordinary pack through scanStorage is
// stored and indexed as before.
func TestScanStorageDeltaBomb(t *testing.T) {
	bomb, _, bombHash := DeltaBomb(bytes.Repeat([]byte("0123456789abcdef"), 64), 32<<10)

	st := newTestStorage(t)
	err, plain := writeScanned(t, st, bomb)
	if err != nil {
		t.Fatalf("go-git alone: %v", err)
	}
	if _, err := st.EncodedObject(plumbing.BlobObject, bombHash); err != nil {
		t.Fatalf("go-git alone did not store the bomb: %v", err)
	}
	t.Logf("go-git alone allocated %d MiB for the bomb", plain>>20)
	if plain < 32<<20 {
		t.Fatalf("go-git alone allocated %d bytes: the bomb is no bomb", plain)
	}

	st = newTestStorage(t)
	err, scanned := writeScanned(t, scanStorage{Storage: st, limit: 16 << 20}, bomb)
	var tooLarge *ObjectTooLargeError
	if !errors.As(err, &tooLarge) || tooLarge.What != "delta result" || tooLarge.Size != 32<<20 {
		t.Fatalf("through scanStorage: %v", err)
	}
	t.Logf("through scanStorage: refused with %d KiB allocated", scanned>>10)
	if scanned > 4<<20 {
		t.Errorf("refusing the bomb allocated %d bytes", scanned)
	}

	pack, baseHash, _ := DeltaBomb([]byte("0123456789abcdef"), 4)
	st = newTestStorage(t)
	if err, _ := writeScanned(t, scanStorage{Storage: st, limit: 16 << 20}, pack); err != nil {
		t.Fatalf("an ordinary pack: %v", err)
	}
	if _, err := st.EncodedObject(plumbing.BlobObject, baseHash); err != nil {
		t.Fatalf("an ordinary pack was not stored: %v", err)
	}
}

func repeatOp(op []byte, n int) [][]byte {
	ops := make([][]byte, n)
	for i := range ops {
		ops[i] = op
	}
	return ops
}

// TestPackScannerRefusesTooManyObjects: a pack header announcing more than
// MaxPackObjects entries is refused before any entry is read (go-git would
// hold a few hundred bytes per object while indexing them).
func TestPackScannerRefusesTooManyObjects(t *testing.T) {
	hdr := []byte("PACK\x00\x00\x00\x02")
	hdr = binary.BigEndian.AppendUint32(hdr, MaxPackObjects+1)
	_, err := scan(t, hdr, 1<<20, false)
	var tl *ObjectTooLargeError
	if !errors.Is(err, ErrObjectTooLarge) || !errors.As(err, &tl) || tl.What != "pack" || !strings.Contains(err.Error(), "objects") {
		t.Fatalf("err = %v, want a refusal of the pack's object count", err)
	}
}
