package git

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/go-git/go-billy/v5/osfs"
	gogit "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// objectDB is the object database of a clone: go-git's storage of Dir, the
// repository over it, the trees decoded from it, and its packfiles. Only its
// methods replace the storage: when packs were installed or deleted behind
// go-git's back it is reopened, which drops the decoded trees with it. It has
// no lock of its own: its Repo's lock guards it.
type objectDB struct {
	dir     string
	storage *filesystem.Storage // nil once closed
	objects cache.Object        // go-git's object cache under storage (tests look into it)
	repo    *gogit.Repository
	// maxPacks is Options.MaxPacks: the packfiles kept before the small ones
	// are merged (negative: never).
	maxPacks int

	trees       map[plumbing.Hash]*object.Tree // decoded-tree cache, see tree
	treeEntries int                            // entries held by trees
}

// openObjectDB opens the bare repository in dir, initializing it when create
// is set and there is none.
func openObjectDB(dir string, maxPacks int, create bool) (*objectDB, error) {
	st, objects := newStorage(dir)
	repo, err := gogit.Open(st, nil)
	if errors.Is(err, gogit.ErrRepositoryNotExists) {
		if !create {
			_ = st.Close()
			return nil, fmt.Errorf("git: %s exists but is not a git repository", dir)
		}
		repo, err = gogit.Init(st, nil)
	}
	if err != nil {
		_ = st.Close()
		return nil, fmt.Errorf("git: open %s: %w", dir, err)
	}
	return &objectDB{dir: dir, storage: st, objects: objects, repo: repo, maxPacks: maxPacks}, nil
}

func newStorage(dir string) (*filesystem.Storage, cache.Object) {
	// go-git's default object cache is 96 MiB; we read few objects twice
	// (decoded trees have their own cache), so a small one keeps RSS down.
	objects := cache.NewObjectLRU(8 * cache.MiByte)
	return filesystem.NewStorageWithOptions(osfs.New(dir), objects, filesystem.Options{
		// Only this Repo touches Dir: let go-git cache the pack list.
		ExclusiveAccess: true,
		// Keep a bounded number of pack files open between reads.
		MaxOpenDescriptors: 32,
		// Larger objects are streamed from their pack and never cached:
		// mostly the trees of large directories, decoded once into the
		// tree cache and replaced by every commit to them. Cached, the
		// stale versions of a 10,000-file directory (460 KiB each) filled
		// the 8 MiB during a stream of changes.
		LargeObjectThreshold: largeObject,
	}), objects
}

// largeObject is the size above which go-git does not cache an object.
const largeObject = 64 << 10

// errClosed is the error of any use of a closed Repo.
var errClosed = errors.New("git: repository is closed")

func (db *objectDB) closed() bool { return db.storage == nil }

// close releases open file descriptors.
func (db *objectDB) close() error {
	if db.storage == nil {
		return nil
	}
	err := db.storage.Close()
	db.storage = nil
	return err
}

// reopen drops every go-git cache about the object database (pack list,
// pack indexes, open files), e.g. after packfiles were deleted, and the
// decoded trees.
func (db *objectDB) reopen() error {
	old := db.storage
	st, objects := newStorage(db.dir)
	repo, err := gogit.Open(st, nil)
	if err != nil {
		_ = st.Close()
		return fmt.Errorf("git: reopen %s: %w", db.dir, err)
	}
	db.storage, db.objects, db.repo, db.trees, db.treeEntries = st, objects, repo, nil, 0
	// The swap is done: failing to close the old storage's files must not
	// make the caller (a commit already in the clone) report a failure.
	_ = old.Close()
	return nil
}

// maxCachedTreeEntries bounds the decoded-tree cache by the entries it holds
// (trees are immutable, so entries never go stale; the cache is simply
// dropped when full). Counting trees would not do: every commit to a
// directory of 10,000 files adds another decoded copy of it.
const maxCachedTreeEntries = 200_000

// tree returns the decoded tree h, cached by hash. Callers must not modify
// the returned tree.
func (db *objectDB) tree(h plumbing.Hash) (*object.Tree, error) {
	if t, ok := db.trees[h]; ok {
		return t, nil
	}
	t, err := object.GetTree(db.storage, h)
	if err != nil {
		return nil, fmt.Errorf("git: read tree %s: %w", h, err)
	}
	if db.trees == nil || db.treeEntries+len(t.Entries) > maxCachedTreeEntries {
		db.trees, db.treeEntries = make(map[plumbing.Hash]*object.Tree), 0
	}
	db.trees[h] = t
	db.treeEntries += len(t.Entries)
	return t, nil
}

// forgetTree drops tree h from the cache: a commit replaced it, and the live
// changes only ever build on the newest version. Without it, a stream of
// commits to one directory of 10,000 files filled the cache with its stale
// versions (some 20 MB) before the bound emptied it. Dropping a tree still in
// use costs one decode.
func (db *objectDB) forgetTree(h plumbing.Hash) {
	if t, ok := db.trees[h]; ok {
		db.treeEntries -= len(t.Entries)
		delete(db.trees, h)
	}
}

// store writes the objects (in order) into the clone as one packfile,
// falling back to loose objects if the storage cannot take packs.
func (db *objectDB) store(objects storer.EncodedObjectStorer, order []plumbing.Hash) error {
	if len(order) == 0 {
		return nil
	}
	st := db.storage
	if len(order) >= indexOwnPackMin {
		if err := (packDir{st.Filesystem()}).writeIndexed(objects, order); err != nil {
			return err
		}
		return db.reopen()
	}
	if pw, ok := storer.EncodedObjectStorer(st).(storer.PackfileWriter); ok {
		w, err := pw.PackfileWriter()
		if err != nil {
			return fmt.Errorf("git: write pack: %w", err)
		}
		if err := writePack(w, objects, order); err != nil {
			_ = w.Close()
			return fmt.Errorf("git: write pack: %w", err)
		}
		if err := w.Close(); err != nil {
			return fmt.Errorf("git: write pack: %w", err)
		}
		return nil
	}
	for _, h := range order {
		obj, err := objects.EncodedObject(plumbing.AnyObject, h)
		if err != nil {
			return err
		}
		if _, err := st.SetEncodedObject(obj); err != nil {
			return fmt.Errorf("git: write object: %w", err)
		}
	}
	return nil
}

var zeroTime time.Time

// consolidatePacks merges small packfiles when there are more than
// maxPacks (see packmerge.go). Errors leave the clone valid (old packs are
// only deleted after the merged pack is complete).
func (db *objectDB) consolidatePacks() error {
	if db.maxPacks < 0 {
		return nil
	}
	hashes, err := db.storage.ObjectPacks()
	if err != nil || len(hashes) <= db.maxPacks {
		return err
	}
	fs := db.storage.Filesystem()
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

	hashesToMerge := make([]plumbing.Hash, len(merge))
	for i, p := range merge {
		hashesToMerge[i] = p.hash
	}
	if err := (packDir{fs}).merge(hashesToMerge); err != nil {
		return fmt.Errorf("git: consolidate packs: %w", err)
	}
	var errs []error
	for _, p := range merge {
		if err := db.storage.DeleteOldObjectPackAndIndex(p.hash, zeroTime); err != nil {
			errs = append(errs, err)
		}
	}
	if err := db.reopen(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("git: consolidate packs: %w", errors.Join(errs...))
	}
	return nil
}

// removeTempPacks removes the packfiles go-git left half-written in the clone
// (objects/pack/tmp_pack_*): when a fetch fails, go-git's pack writer returns
// without removing its temporary file, so every fetch stopped at the limit
// would leave up to the limit behind. Only the Repo writes into its Dir.
func (db *objectDB) removeTempPacks() {
	tmp, _ := filepath.Glob(filepath.Join(db.dir, "objects", "pack", "tmp_pack_*"))
	for _, f := range tmp {
		_ = os.Remove(f)
	}
}
