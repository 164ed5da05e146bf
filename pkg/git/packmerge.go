package git

import (
	"bytes"
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/go-git/go-billy/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/idxfile"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// Every commit we build and every fetch that brings objects adds one
// packfile to the clone. Many packfiles slow object lookups and hold file
// descriptors, so they are consolidated once there are more than
// Options.MaxPacks.
//
// go-git's Repository.RepackObjects is not used: it walks every object
// reachable from every ref and re-encodes the whole repository (cost grows
// with the history), and in v5.19.3 the filesystem storage keeps indexes of
// the packfiles it deletes, so later lookups fail with "packfile not found".
//
// Instead, like `git repack --geometric=2`, the packs are sorted by size and
// only the small ones that break a geometric progression (each pack at least
// twice the size of all smaller ones together) are merged into one new pack.
// The large pack of the initial clone is left alone, so the amortized cost
// is proportional to what was added, not to the repository size. Nothing is
// garbage collected; unreachable objects (from rejected push attempts) are
// rare and small. The new pack is complete before the old ones are deleted,
// and the storage is reopened afterwards to drop go-git's pack caches.

type packInfo struct {
	hash plumbing.Hash
	size int64
}

// geometricSplit returns how many of the packs (sorted by ascending size)
// to merge so that the remaining ones form a progression with factor 2.
func geometricSplit(packs []packInfo) int {
	const factor = 2
	n := len(packs)
	if n < 2 {
		return 0
	}
	i := n - 1
	for ; i > 0; i-- {
		if packs[i].size < factor*packs[i-1].size {
			break
		}
	}
	split := i
	if split > 0 {
		split++
	}
	var total int64
	for _, p := range packs[:split] {
		total += p.size
	}
	for j := split; j < n; j++ {
		if packs[j].size >= factor*total {
			break
		}
		total += packs[j].size
		split = j + 1
	}
	if split < 2 {
		return 0
	}
	return split
}

// packDir is the pack directory of a clone (objects/pack), as files: what
// merging packs and writing a pack with its own index need, with no go-git
// storage (which must be reopened afterwards to see the result, see
// objectDB).
type packDir struct{ fs billy.Filesystem }

// merge writes one pack holding every entry of the given packs, copied
// byte for byte, and its index. Nothing is decompressed: the body of each
// pack is appended as it is (so an offset delta still finds its base, at the
// same distance), the index is the union of the packs' indexes with offsets
// shifted, each entry keeping its CRC. An object in several packs stays in
// all of them, as in a pack index-pack would accept. Reading every
// object back through go-git and having its pack writer parse the result
// took seconds for a few tens of thousands of objects, on the worker's
// goroutine, and stalled live commits; this is a file copy.
func (d packDir) merge(packs []plumbing.Hash) error {
	idxs := make([]*idxfile.MemoryIndex, len(packs))
	var count uint32
	for i, h := range packs {
		idx, err := d.readIndex(h)
		if err != nil {
			return err
		}
		n, err := idx.Count()
		if err != nil {
			return err
		}
		idxs[i] = idx
		count += uint32(n)
	}

	fs := d.fs
	dir := fs.Join("objects", "pack")
	tmp, err := fs.TempFile(dir, "tmp_merge_")
	if err != nil {
		return err
	}
	tmpName := tmp.Name()
	defer func() { _ = fs.Remove(tmpName) }() // after the rename, a no-op
	entries, packSum, err := d.concat(tmp, packs, idxs, count)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}

	return installPack(fs, dir, tmpName, entries, packSum)
}

// installPack puts a written pack (tmpPack, in dir) and its index in place
// under the name its checksum gives: the index first, then the pack, as
// go-git's own pack writer does. go-git lists a clone's packs by their .pack
// files and fails every read when one has no index, so a crash or an error
// between the two must leave an index without a pack (ignored by go-git and
// git alike), never the reverse. What was renamed is removed again on error.
func installPack(fs billy.Filesystem, dir, tmpPack string, entries []packEntry, sum []byte) error {
	name := fs.Join(dir, "pack-"+hex.EncodeToString(sum))
	f, err := fs.TempFile(dir, "tmp_idx_")
	if err != nil {
		return err
	}
	_, err = f.Write(encodePackIndex(entries, sum))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = fs.Rename(f.Name(), name+".idx")
	}
	if err != nil {
		_ = fs.Remove(f.Name())
		return err
	}
	if err := fs.Rename(tmpPack, name+".pack"); err != nil {
		_ = fs.Remove(name + ".idx")
		return err
	}
	return nil
}

// indexOwnPackMin is the size of a commit (in objects) from which its pack is
// written to the clone with an index of our own (packDir.writeIndexed) rather
// than through go-git's pack writer, which parses the pack it is given to
// index it: it inflates every object again, half a second of a 10,000-object
// snapshot. Below it go-git's writer is kept: it keeps the decoded trees'
// cache, which objectDB.store drops (objectDB.reopen) to make go-git see
// the new pack.
const indexOwnPackMin = 1000

// writeIndexed writes the objects into the clone as one pack and its index,
// both from what was written (the entries' offsets and CRCs), the way merge
// does. go-git lists it once its storage is reopened.
func (d packDir) writeIndexed(objects storer.EncodedObjectStorer, order []plumbing.Hash) error {
	fs := d.fs
	dir := fs.Join("objects", "pack")
	if err := fs.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("git: write pack: %w", err)
	}
	tmp, err := fs.TempFile(dir, "tmp_pack_")
	if err != nil {
		return fmt.Errorf("git: write pack: %w", err)
	}
	tmpName := tmp.Name()
	defer func() { _ = fs.Remove(tmpName) }() // after the rename, a no-op
	pw := indexingPackWriter(tmp, len(order))
	err = pw.header(uint32(len(order)))
	for _, h := range order {
		if err != nil {
			break
		}
		var obj plumbing.EncodedObject
		if obj, err = objects.EncodedObject(plumbing.AnyObject, h); err == nil {
			err = pw.writeObject(obj)
		}
	}
	var sum []byte
	if err == nil {
		sum, err = pw.finish()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("git: write pack: %w", err)
	}
	if err := installPack(fs, dir, tmpName, pw.entries, sum); err != nil {
		return fmt.Errorf("git: write pack: %w", err)
	}
	return nil
}

// packEntry is one entry of a merged pack, as its index lists it.
type packEntry struct {
	hash   plumbing.Hash
	crc    uint32
	offset uint64
}

// concat writes to w one pack of count entries made of the bodies of
// packs, in order, and returns its entries (from idxs, the packs' indexes,
// with the offsets they now have) and its checksum.
func (d packDir) concat(w io.Writer, packs []plumbing.Hash, idxs []*idxfile.MemoryIndex, count uint32) ([]packEntry, []byte, error) {
	pw := newPackWriter(w)
	if err := pw.header(count); err != nil {
		return nil, nil, err
	}
	entries := make([]packEntry, 0, count)
	for i, h := range packs {
		// The body of pack i starts here; its entries move by the difference.
		start := uint64(pw.offset())
		it, err := idxs[i].EntriesByOffset()
		if err != nil {
			return nil, nil, err
		}
		for {
			e, err := it.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				_ = it.Close()
				return nil, nil, err
			}
			entries = append(entries, packEntry{e.Hash, e.CRC32, e.Offset - packHeaderSize + start})
		}
		_ = it.Close()
		if err := d.copyBody(pw, h); err != nil {
			return nil, nil, err
		}
	}
	sum, err := pw.finish()
	if err != nil {
		return nil, nil, err
	}
	return entries, sum, nil
}

// copyBody copies the entries of one of the clone's packs to pw, without
// the pack's header and trailer.
func (d packDir) copyBody(pw *packWriter, pack plumbing.Hash) error {
	fs := d.fs
	name := fs.Join("objects", "pack", "pack-"+pack.String()+".pack")
	f, err := fs.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := fs.Stat(name)
	if err != nil {
		return err
	}
	body := fi.Size() - packHeaderSize - packTrailerSize
	var hdr [packHeaderSize]byte
	if _, err := io.ReadFull(f, hdr[:]); err != nil || string(hdr[:4]) != "PACK" || body < 0 {
		return fmt.Errorf("pack %s: not a packfile (%v)", pack, err)
	}
	return pw.writeRaw(f, body)
}

// encodePackIndex returns the index (version 2) of a pack with the given
// entries and checksum: one entry per pack entry, sorted by name (git and
// go-git accept an object that appears twice, as index-pack writes it). It
// sorts entries in place.
func encodePackIndex(entries []packEntry, packSum []byte) []byte {
	sort.SliceStable(entries, func(i, j int) bool { return bytes.Compare(entries[i].hash[:], entries[j].hash[:]) < 0 })
	var idx bytes.Buffer
	idx.Write([]byte{0xff, 't', 'O', 'c', 0, 0, 0, 2})
	var fanout [256]uint32
	for _, e := range entries {
		fanout[e.hash[0]]++
	}
	var cum uint32
	for i := range fanout {
		cum += fanout[i]
		_ = binary.Write(&idx, binary.BigEndian, cum)
	}
	for _, e := range entries {
		idx.Write(e.hash[:])
	}
	for _, e := range entries {
		_ = binary.Write(&idx, binary.BigEndian, e.crc)
	}
	var large []uint64
	for _, e := range entries {
		if e.offset < 1<<31 {
			_ = binary.Write(&idx, binary.BigEndian, uint32(e.offset))
			continue
		}
		_ = binary.Write(&idx, binary.BigEndian, uint32(1<<31|len(large)))
		large = append(large, e.offset)
	}
	for _, o := range large {
		_ = binary.Write(&idx, binary.BigEndian, o)
	}
	idx.Write(packSum)
	idxSum := sha1.Sum(idx.Bytes())
	idx.Write(idxSum[:])
	return idx.Bytes()
}

// readIndex reads the index of one of the clone's packs.
func (d packDir) readIndex(pack plumbing.Hash) (*idxfile.MemoryIndex, error) {
	fs := d.fs
	f, err := fs.Open(fs.Join("objects", "pack", "pack-"+pack.String()+".idx"))
	if err != nil {
		return nil, fmt.Errorf("open index of pack %s: %w", pack, err)
	}
	defer f.Close()
	idx := idxfile.NewMemoryIndex()
	if err := idxfile.NewDecoder(f).Decode(idx); err != nil {
		return nil, fmt.Errorf("read index of pack %s: %w", pack, err)
	}
	return idx, nil
}
