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
	"github.com/go-git/go-git/v5/storage/memory"
)

// commitWriter builds commits on a clone: each change set applied to the tree
// of its parent (only the trees on changed paths re-encoded), the new objects
// written into the object database as one pack and kept in memory for the
// push. Its committer and signer are fixed at Open; the object database is
// guarded by its Repo's lock.
type commitWriter struct {
	db     *objectDB
	author Signature
	sign   func(payload []byte) (string, error)
}

// builtCommit is a commit written to the clone, with the objects that are
// new relative to its parent (kept in memory for the push).
type builtCommit struct {
	hash    plumbing.Hash
	files   int
	objects *memory.Storage
	order   []plumbing.Hash
}

// chain builds the commits of plans one on top of the other, starting at
// base, and returns the tip with every new object of the chain (nil when no
// plan changes anything).
func (w *commitWriter) chain(plans []*changePlan, commits []Commit, base plumbing.Hash) (*builtCommit, error) {
	var chain *builtCommit
	seen := map[plumbing.Hash]bool{}
	tip := base
	for i, plan := range plans {
		b, err := w.commit(plan, tip, commits[i].Message, commits[i].Author)
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

// commit applies plan to the tree of base and writes a commit. It returns
// nil when the resulting tree equals the base tree.
func (w *commitWriter) commit(plan *changePlan, base plumbing.Hash, message string, author *Signature) (*builtCommit, error) {
	var baseTree plumbing.Hash
	var parents []plumbing.Hash
	if !base.IsZero() {
		c, err := object.GetCommit(w.db.storage, base)
		if err != nil {
			return nil, fmt.Errorf("git: read commit %s: %w", base, err)
		}
		baseTree = c.TreeHash
		parents = []plumbing.Hash{base}
	}

	b := &treeBuilder{db: w.db, objects: memory.NewStorage(), seen: map[plumbing.Hash]bool{}}
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
	committer := object.Signature{Name: w.author.Name, Email: w.author.Email, When: now}
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
	if w.sign != nil {
		if err := w.signCommit(commit); err != nil {
			return nil, err
		}
	}
	obj := &plumbing.MemoryObject{}
	if err := commit.Encode(obj); err != nil {
		return nil, fmt.Errorf("git: encode commit: %w", err)
	}
	commitHash := b.addEncoded(obj)

	if err := w.db.store(b.objects, b.order); err != nil {
		return nil, err
	}
	return &builtCommit{hash: commitHash, files: b.files, objects: b.objects, order: b.order}, nil
}

// signCommit signs commit: the signature covers the commit as encoded
// without it (what git verify-commit checks).
func (w *commitWriter) signCommit(commit *object.Commit) error {
	payload := &plumbing.MemoryObject{}
	if err := commit.EncodeWithoutSignature(payload); err != nil {
		return fmt.Errorf("git: encode commit: %w", err)
	}
	rd, err := payload.Reader()
	if err != nil {
		return err
	}
	data, err := io.ReadAll(rd)
	if err != nil {
		return err
	}
	sig, err := w.sign(data)
	if err != nil {
		return fmt.Errorf("git: sign commit: %w", err)
	}
	commit.PGPSignature = sig
	return nil
}

func ensureTrailingNewline(s string) string {
	if strings.HasSuffix(s, "\n") {
		return s
	}
	return s + "\n"
}

// emptyTreeHash is the well-known hash of the empty tree.
var emptyTreeHash = plumbing.NewHash("4b825dc642cb6eb9a060e54bf8d69288fbee4904")

// treeBuilder applies a plan to a base tree, collecting the new objects in
// memory so they can be written as a single packfile.
type treeBuilder struct {
	db      *objectDB
	objects *memory.Storage
	order   []plumbing.Hash
	seen    map[plumbing.Hash]bool
	files   int // paths that differ from the base tree
}

func (b *treeBuilder) addEncoded(obj plumbing.EncodedObject) plumbing.Hash {
	h := obj.Hash()
	if !b.seen[h] {
		b.seen[h] = true
		_, _ = b.objects.SetEncodedObject(obj)
		b.order = append(b.order, h)
	}
	return h
}

// treeEdit is one directory being rebuilt: the entries of its base tree and
// the overrides on top of them (a nil override removes the entry).
type treeEdit struct {
	entries []object.TreeEntry
	index   map[string]int // entries by name
	over    map[string]*object.TreeEntry
}

// current is the entry called name with the overrides so far applied.
func (e *treeEdit) current(name string) (object.TreeEntry, bool) {
	if o, ok := e.over[name]; ok {
		if o == nil {
			return object.TreeEntry{}, false
		}
		return *o, true
	}
	if i, ok := e.index[name]; ok {
		return e.entries[i], true
	}
	return object.TreeEntry{}, false
}

// changed reports whether the overrides change the base entries.
func (e *treeEdit) changed() bool {
	changed := false
	for name, o := range e.over {
		i, inBase := e.index[name]
		if o == nil {
			if inBase {
				changed = true
			}
			continue
		}
		if !inBase || e.entries[i] != *o {
			changed = true
		}
	}
	return changed
}

// result is the entries with the overrides applied, in git order.
func (e *treeEdit) result() []object.TreeEntry {
	out := make([]object.TreeEntry, 0, len(e.entries)+len(e.over))
	for _, t := range e.entries {
		if _, ok := e.over[t.Name]; !ok {
			out = append(out, t)
		}
	}
	for _, o := range e.over {
		if o != nil {
			out = append(out, *o)
		}
	}
	sort.Sort(object.TreeEntrySorter(out))
	return out
}

// build applies n to the tree base (zero: no tree) at dir ("" or "a/b/")
// and returns the new tree hash, or zero when the directory ends up empty.
// Unchanged directories return base without re-encoding.
func (b *treeBuilder) build(base plumbing.Hash, n *dirNode, dir string) (plumbing.Hash, error) {
	ed := &treeEdit{over: make(map[string]*object.TreeEntry, len(n.files)+len(n.dirs))}
	if !base.IsZero() {
		t, err := b.db.tree(base)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		ed.entries = t.Entries
	}
	ed.index = make(map[string]int, len(ed.entries))
	for i := range ed.entries {
		ed.index[ed.entries[i].Name] = i
	}
	if err := b.applyFiles(ed, n.files, dir); err != nil {
		return plumbing.ZeroHash, err
	}
	if err := b.applyDirs(ed, n.dirs, dir); err != nil {
		return plumbing.ZeroHash, err
	}
	if !ed.changed() {
		if len(ed.entries) == 0 {
			return plumbing.ZeroHash, nil
		}
		return base, nil
	}
	if !base.IsZero() {
		b.db.forgetTree(base)
	}
	out := ed.result()
	if len(out) == 0 {
		return plumbing.ZeroHash, nil
	}
	return b.encodeTree(out)
}

// applyFiles overrides the files of the directory ed at dir: deletes and
// writes (an unchanged file keeps its entry, an executable its mode).
func (b *treeBuilder) applyFiles(ed *treeEdit, files map[string]*fileOp, dir string) error {
	for name, op := range files {
		e, exists := ed.current(name)
		if op.delete {
			if exists && e.Mode != filemode.Dir && e.Mode != filemode.Submodule {
				ed.over[name] = nil
				b.files++
			}
			continue
		}
		if exists && (e.Mode == filemode.Dir || e.Mode == filemode.Submodule) {
			return fmt.Errorf("git: %w: cannot write file %q: a directory exists there", ErrInvalidChange, dir+name)
		}
		mode := filemode.Regular
		if exists && e.Mode == filemode.Executable {
			mode = filemode.Executable
		}
		if exists && e.Hash == op.hash && e.Mode == mode {
			continue
		}
		b.addEncoded(op.blob)
		ed.over[name] = &object.TreeEntry{Name: name, Mode: mode, Hash: op.hash}
		b.files++
	}
	return nil
}

// applyDirs rebuilds the subdirectories of ed (at dir) that have changes
// below them, and overrides their entries.
func (b *treeBuilder) applyDirs(ed *treeEdit, dirs map[string]*dirNode, dir string) error {
	for name, child := range dirs {
		e, exists := ed.current(name)
		var childBase plumbing.Hash
		if exists {
			if e.Mode != filemode.Dir {
				return fmt.Errorf("git: %w: cannot write below %q: it is a file", ErrInvalidChange, dir+name)
			}
			childBase = e.Hash
		}
		h, err := b.build(childBase, child, dir+name+"/")
		if err != nil {
			return err
		}
		switch {
		case h.IsZero() && exists:
			ed.over[name] = nil
		case h.IsZero():
		case !exists || h != e.Hash:
			ed.over[name] = &object.TreeEntry{Name: name, Mode: filemode.Dir, Hash: h}
		}
	}
	return nil
}

func (b *treeBuilder) encodeTree(entries []object.TreeEntry) (plumbing.Hash, error) {
	obj := &plumbing.MemoryObject{}
	if err := (&object.Tree{Entries: entries}).Encode(obj); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("git: encode tree: %w", err)
	}
	return b.addEncoded(obj), nil
}
