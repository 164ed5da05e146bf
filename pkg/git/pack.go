package git

import (
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/idxfile"
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

// maybeConsolidatePacks merges small packfiles when there are more than
// MaxPacks. Errors leave the clone valid (old packs are only deleted after
// the merged pack is complete).
func (r *Repo) maybeConsolidatePacks() error {
	if r.opts.MaxPacks < 0 {
		return nil
	}
	hashes, err := r.storage.ObjectPacks()
	if err != nil || len(hashes) <= r.opts.MaxPacks {
		return err
	}
	fs := r.storage.Filesystem()
	packs := make([]packInfo, 0, len(hashes))
	for _, h := range hashes {
		fi, err := fs.Stat(fs.Join("objects", "pack", "pack-"+h.String()+".pack"))
		if err != nil {
			return fmt.Errorf("git: stat pack %s: %w", h, err)
		}
		packs = append(packs, packInfo{hash: h, size: fi.Size()})
	}
	sort.Slice(packs, func(i, j int) bool { return packs[i].size < packs[j].size })
	split := geometricSplit(packs)
	if split < 2 {
		return nil
	}
	merge := packs[:split]

	// Collect the object names of the packs to merge from their indexes.
	seen := map[plumbing.Hash]bool{}
	var order []plumbing.Hash
	for _, p := range merge {
		names, err := r.packObjectNames(p.hash)
		if err != nil {
			return err
		}
		for _, h := range names {
			if !seen[h] {
				seen[h] = true
				order = append(order, h)
			}
		}
	}

	// Write the merged pack (objects are read back through the storage,
	// which resolves deltas), then delete the merged packs.
	w, err := r.storage.PackfileWriter()
	if err != nil {
		return fmt.Errorf("git: consolidate packs: %w", err)
	}
	if err := writePack(w, r.storage, order); err != nil {
		_ = w.Close()
		return fmt.Errorf("git: consolidate packs: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("git: consolidate packs: %w", err)
	}
	var errs []error
	for _, p := range merge {
		if err := r.storage.DeleteOldObjectPackAndIndex(p.hash, zeroTime); err != nil {
			errs = append(errs, err)
		}
	}
	if err := r.reopenStorage(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("git: consolidate packs: %w", errors.Join(errs...))
	}
	return nil
}

func (r *Repo) packObjectNames(pack plumbing.Hash) ([]plumbing.Hash, error) {
	f, err := r.storage.Filesystem().Open(r.storage.Filesystem().Join("objects", "pack", "pack-"+pack.String()+".idx"))
	if err != nil {
		return nil, fmt.Errorf("git: open index of pack %s: %w", pack, err)
	}
	defer f.Close()
	idx := idxfile.NewMemoryIndex()
	if err := idxfile.NewDecoder(f).Decode(idx); err != nil {
		return nil, fmt.Errorf("git: read index of pack %s: %w", pack, err)
	}
	it, err := idx.EntriesByOffset()
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []plumbing.Hash
	for {
		e, err := it.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("git: read index of pack %s: %w", pack, err)
		}
		out = append(out, e.Hash)
	}
}
