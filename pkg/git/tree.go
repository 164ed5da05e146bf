package git

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/storage/memory"
)

// treeBuilder applies a plan to a base tree, collecting the new objects in
// memory so they can be written as a single packfile.
type treeBuilder struct {
	r       *Repo
	objects *memory.Storage
	order   []plumbing.Hash
	seen    map[plumbing.Hash]bool
	files   int // paths that differ from the base tree
}

func (b *treeBuilder) add(typ plumbing.ObjectType, data []byte) plumbing.Hash {
	obj := &plumbing.MemoryObject{}
	obj.SetType(typ)
	_, _ = obj.Write(data)
	h := obj.Hash()
	if !b.seen[h] {
		b.seen[h] = true
		_, _ = b.objects.SetEncodedObject(obj)
		b.order = append(b.order, h)
	}
	return h
}

func (b *treeBuilder) addEncoded(obj *plumbing.MemoryObject) plumbing.Hash {
	h := obj.Hash()
	if !b.seen[h] {
		b.seen[h] = true
		_, _ = b.objects.SetEncodedObject(obj)
		b.order = append(b.order, h)
	}
	return h
}

// builtCommit is a commit written to the clone, with the objects that are
// new relative to its parent (kept in memory for the push).
type builtCommit struct {
	hash    plumbing.Hash
	files   int
	objects *memory.Storage
	order   []plumbing.Hash
}

// buildChain builds the commits of plans one on top of the other, starting at
// base, and returns the tip with every new object of the chain (nil when no
// plan changes anything).
func (r *Repo) buildChain(plans []*changePlan, commits []Commit, base plumbing.Hash) (*builtCommit, error) {
	var chain *builtCommit
	seen := map[plumbing.Hash]bool{}
	tip := base
	for i, plan := range plans {
		b, err := r.buildCommit(plan, tip, commits[i].Message, commits[i].Author)
		if err != nil {
			return nil, err
		}
		if b == nil {
			continue
		}
		tip = b.hash
		if chain == nil {
			chain = b
			for _, h := range b.order {
				seen[h] = true
			}
			continue
		}
		for _, h := range b.order {
			if seen[h] {
				continue // already in the pack (a blob or tree two commits share)
			}
			seen[h] = true
			obj, err := b.objects.EncodedObject(plumbing.AnyObject, h)
			if err != nil {
				return nil, err
			}
			if _, err := chain.objects.SetEncodedObject(obj); err != nil {
				return nil, err
			}
			chain.order = append(chain.order, h)
		}
		chain.hash = b.hash
		chain.files += b.files
	}
	return chain, nil
}

// buildCommit applies plan to the tree of base and writes a commit. It
// returns nil when the resulting tree equals the base tree.
func (r *Repo) buildCommit(plan *changePlan, base plumbing.Hash, message string, author *Signature) (*builtCommit, error) {
	var baseTree plumbing.Hash
	var parents []plumbing.Hash
	if !base.IsZero() {
		c, err := object.GetCommit(r.storage, base)
		if err != nil {
			return nil, fmt.Errorf("git: read commit %s: %w", base, err)
		}
		baseTree = c.TreeHash
		parents = []plumbing.Hash{base}
	}

	b := &treeBuilder{r: r, objects: memory.NewStorage(), seen: map[plumbing.Hash]bool{}}
	newTree, err := b.build(baseTree, plan.root, "")
	if err != nil {
		return nil, err
	}
	if newTree.IsZero() {
		// Everything was deleted: commit the empty tree.
		newTree, err = b.encodeTree(nil)
		if err != nil {
			return nil, err
		}
	}
	if newTree == baseTree || (base.IsZero() && newTree == emptyTreeHash) {
		return nil, nil
	}

	now := time.Now()
	committer := object.Signature{Name: r.opts.Author.Name, Email: r.opts.Author.Email, When: now}
	authorSig := committer
	if author != nil {
		authorSig = object.Signature{Name: author.Name, Email: author.Email, When: now}
	}
	commit := &object.Commit{
		Author:       authorSig,
		Committer:    committer,
		Message:      ensureTrailingNewline(message),
		TreeHash:     newTree,
		ParentHashes: parents,
	}
	if r.opts.Sign != nil {
		// The signature covers the commit as encoded without it (what git
		// verify-commit checks).
		payload := &plumbing.MemoryObject{}
		if err := commit.EncodeWithoutSignature(payload); err != nil {
			return nil, fmt.Errorf("git: encode commit: %w", err)
		}
		rd, err := payload.Reader()
		if err != nil {
			return nil, err
		}
		data, err := io.ReadAll(rd)
		if err != nil {
			return nil, err
		}
		sig, err := r.opts.Sign(data)
		if err != nil {
			return nil, fmt.Errorf("git: sign commit: %w", err)
		}
		commit.PGPSignature = sig
	}
	obj := &plumbing.MemoryObject{}
	if err := commit.Encode(obj); err != nil {
		return nil, fmt.Errorf("git: encode commit: %w", err)
	}
	commitHash := b.addEncoded(obj)

	if err := b.flush(); err != nil {
		return nil, err
	}
	return &builtCommit{hash: commitHash, files: b.files, objects: b.objects, order: b.order}, nil
}

func ensureTrailingNewline(s string) string {
	if strings.HasSuffix(s, "\n") {
		return s
	}
	return s + "\n"
}

// emptyTreeHash is the well-known hash of the empty tree.
var emptyTreeHash = plumbing.NewHash("4b825dc642cb6eb9a060e54bf8d69288fbee4904")

// build applies n to the tree base (zero: no tree) at dir ("" or "a/b/")
// and returns the new tree hash, or zero when the directory ends up empty.
// Unchanged directories return base without re-encoding.
func (b *treeBuilder) build(base plumbing.Hash, n *dirNode, dir string) (plumbing.Hash, error) {
	var entries []object.TreeEntry
	if !base.IsZero() {
		t, err := b.r.getTree(base)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		entries = t.Entries
	}
	index := make(map[string]int, len(entries))
	for i := range entries {
		index[entries[i].Name] = i
	}
	// Overrides on top of the base entries: a nil value removes the entry.
	over := make(map[string]*object.TreeEntry, len(n.files)+len(n.dirs))
	current := func(name string) (object.TreeEntry, bool) {
		if e, ok := over[name]; ok {
			if e == nil {
				return object.TreeEntry{}, false
			}
			return *e, true
		}
		if i, ok := index[name]; ok {
			return entries[i], true
		}
		return object.TreeEntry{}, false
	}

	for name, op := range n.files {
		e, exists := current(name)
		if op.delete {
			if exists && e.Mode != filemode.Dir && e.Mode != filemode.Submodule {
				over[name] = nil
				b.files++
			}
			continue
		}
		if exists && (e.Mode == filemode.Dir || e.Mode == filemode.Submodule) {
			return plumbing.ZeroHash, fmt.Errorf("git: %w: cannot write file %q: a directory exists there", ErrInvalidChange, dir+name)
		}
		mode := filemode.Regular
		if exists && e.Mode == filemode.Executable {
			mode = filemode.Executable
		}
		if exists && e.Hash == op.hash && e.Mode == mode {
			continue
		}
		b.addEncoded(op.blob)
		over[name] = &object.TreeEntry{Name: name, Mode: mode, Hash: op.hash}
		b.files++
	}

	for name, child := range n.dirs {
		e, exists := current(name)
		var childBase plumbing.Hash
		if exists {
			if e.Mode != filemode.Dir {
				return plumbing.ZeroHash, fmt.Errorf("git: %w: cannot write below %q: it is a file", ErrInvalidChange, dir+name)
			}
			childBase = e.Hash
		}
		h, err := b.build(childBase, child, dir+name+"/")
		if err != nil {
			return plumbing.ZeroHash, err
		}
		switch {
		case h.IsZero() && exists:
			over[name] = nil
		case h.IsZero():
		case !exists || h != e.Hash:
			over[name] = &object.TreeEntry{Name: name, Mode: filemode.Dir, Hash: h}
		}
	}

	changed := false
	for name, e := range over {
		i, inBase := index[name]
		if e == nil {
			if inBase {
				changed = true
			}
			continue
		}
		if !inBase || entries[i] != *e {
			changed = true
		}
	}
	if !changed {
		if len(entries) == 0 {
			return plumbing.ZeroHash, nil
		}
		return base, nil
	}

	out := make([]object.TreeEntry, 0, len(entries)+len(over))
	for _, e := range entries {
		if _, ok := over[e.Name]; !ok {
			out = append(out, e)
		}
	}
	for _, e := range over {
		if e != nil {
			out = append(out, *e)
		}
	}
	if len(out) == 0 {
		return plumbing.ZeroHash, nil
	}
	sort.Sort(object.TreeEntrySorter(out))
	return b.encodeTree(out)
}

func (b *treeBuilder) encodeTree(entries []object.TreeEntry) (plumbing.Hash, error) {
	obj := &plumbing.MemoryObject{}
	if err := (&object.Tree{Entries: entries}).Encode(obj); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("git: encode tree: %w", err)
	}
	return b.addEncoded(obj), nil
}

// flush writes the collected objects into the clone as one packfile,
// falling back to loose objects if the storage cannot take packs.
func (b *treeBuilder) flush() error {
	if len(b.order) == 0 {
		return nil
	}
	st := b.r.storage
	if len(b.order) >= indexOwnPackMin {
		return b.r.writeIndexedPack(b.objects, b.order)
	}
	if pw, ok := storer.EncodedObjectStorer(st).(storer.PackfileWriter); ok {
		w, err := pw.PackfileWriter()
		if err != nil {
			return fmt.Errorf("git: write pack: %w", err)
		}
		if err := writePack(w, b.objects, b.order); err != nil {
			_ = w.Close()
			return fmt.Errorf("git: write pack: %w", err)
		}
		if err := w.Close(); err != nil {
			return fmt.Errorf("git: write pack: %w", err)
		}
		return nil
	}
	for _, h := range b.order {
		obj, err := b.objects.EncodedObject(plumbing.AnyObject, h)
		if err != nil {
			return err
		}
		if _, err := st.SetEncodedObject(obj); err != nil {
			return fmt.Errorf("git: write object: %w", err)
		}
	}
	return nil
}
