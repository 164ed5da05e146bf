package worker

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/klog/v2"

	"github.com/configbutler/gitops-reverser/pkg/lifecycle/mirror"
)

// renderedIndex remembers, per file a branch worker wrote, which object version
// it holds: the object's UID and resourceVersion, the encryption keys (Secrets)
// and the blob written. A snapshot that finds the same object version and the
// same blob still in the tree knows the file is current without rendering the
// object again (or, for a Secret, decrypting the file): after a restart, a
// re-snapshot of 10,000 unchanged objects renders none of them.
//
// Entries are only ever true statements ("this blob was rendered from this
// object version with these keys"), so a stale or lost index costs renders,
// never correctness: an entry is used only when the tree still holds its blob.
// It is kept in memory by the worker goroutine and saved in the clone's .git
// directory after snapshots, at most every indexSaveEvery during live
// changes, and when the worker stops.
//
// It also keeps each target's resume point per type: the resourceVersion
// through which the target's events of the type are in the branch, with the
// TypeFingerprint they were mirrored under. After a restart the snapshot
// resumes the type's watch there instead of listing it (pkg/lifecycle/stream),
// when the fingerprint is still the target's and the tree holds exactly the
// files the index says were written (holdsExactly): otherwise it lists.
type renderedIndex struct {
	file    string
	entries map[string]indexEntry
	resume  map[resumeKey]mirror.Position
	// renderIDs holds each distinct render ID once: there are a few per
	// clone (one per target's keys and cleaning), and an entry per file
	// holding its own 130-byte copy cost 13 MB at 100,000 files.
	renderIDs map[string]string
	dirty     bool
	saved     time.Time
}

type resumeKey struct {
	target string
	gvr    schema.GroupVersionResource
}

type indexEntry struct {
	UID, RV, Keys string
	Blob          plumbing.Hash
}

// indexVersion changes whenever rendering or encryption would write different
// bytes for the same object version: an index of another version is dropped.
const indexVersion = "gitops-reverser-index v3 render=goyaml-v2-ordered drops=v2 sops=annotations names=encoded"

const indexSaveEvery = 10 * time.Second

// resumeLine starts a resume point's line (7 fields; a file's has 5).
const resumeLine = "resume"

// resumeFor returns a target's resume point of a type, "" when there is none
// or it was mirrored under another fingerprint.
func (x *renderedIndex) resumeFor(target string, gvr schema.GroupVersionResource, fingerprint string) string {
	if x == nil {
		return ""
	}
	if p, ok := x.resume[resumeKey{target, gvr}]; ok && p.Fingerprint == fingerprint && fingerprint != "" {
		return p.RV
	}
	return ""
}

// setResume replaces a target's resume points (nil: forget them). A type
// missing from points keeps no resume point: it is listed next time.
func (x *renderedIndex) setResume(target string, points map[schema.GroupVersionResource]mirror.Position) {
	if x == nil {
		return
	}
	keep := map[resumeKey]mirror.Position{}
	for gvr, p := range points {
		if p.RV != "" && p.Fingerprint != "" {
			keep[resumeKey{target, gvr}] = p
		}
	}
	changed := false
	for k, p := range x.resume {
		if k.target == target && keep[k] != p {
			delete(x.resume, k)
			changed = true
		}
	}
	for k, p := range keep {
		if x.resume[k] != p {
			x.resume[k] = p
			changed = true
		}
	}
	// An idle worker checkpoints every 10 s: unchanged points write nothing.
	x.dirty = x.dirty || changed
}

// holdsExactly reports whether the files of a type in the tree (existing,
// under the target's directory for it) are exactly those the index says were
// written: each file of the layout in a selected namespace has an entry with
// its blob, and each entry under the directory has its file. A file someone
// else wrote, changed or deleted fails it: the type is listed instead.
func (x *renderedIndex) holdsExactly(existing map[string]plumbing.Hash, dir string, parse func(path string) (ns string, ok bool)) bool {
	if x == nil {
		return false
	}
	// parse (a path's namespace and selection) only where tree and index
	// differ: it was most of a check of 10,000 files (28 ms), and a file the
	// index holds as it is in the tree is fine whatever it is.
	for path, blob := range existing {
		if e, ok := x.entries[path]; ok && e.Blob == blob {
			continue
		}
		if _, selected := parse(path); selected {
			return false
		}
	}
	prefix := dir + "/"
	for path := range x.entries {
		if strings.HasPrefix(path, prefix) {
			if _, ok := existing[path]; !ok {
				if _, selected := parse(path); selected {
					return false
				}
			}
		}
	}
	return true
}

func indexKey(obj *unstructured.Unstructured, renderID string) indexEntry {
	return indexEntry{UID: string(obj.GetUID()), RV: obj.GetResourceVersion(), Keys: renderID}
}

// Current reports whether the file at path, whose blob in the tree is blob,
// holds exactly this version of obj.
func (x *renderedIndex) Current(path string, obj *unstructured.Unstructured, renderID string, blob plumbing.Hash) bool {
	if x == nil {
		return false
	}
	e, ok := x.entries[path]
	want := indexKey(obj, renderID)
	return ok && e.UID != "" && e.RV != "" && e.UID == want.UID && e.RV == want.RV && e.Keys == want.Keys && e.Blob == blob
}

// record notes that path now holds blob, rendered from obj (nil: deleted).
func (x *renderedIndex) record(path string, obj *unstructured.Unstructured, renderID string, blob plumbing.Hash) {
	if obj == nil {
		x.recordVersion(path, "", "", "", blob)
		return
	}
	x.recordVersion(path, string(obj.GetUID()), obj.GetResourceVersion(), renderID, blob)
}

// recordVersion notes that path now holds blob, rendered from the object
// version uid/rv ("" uid: deleted).
func (x *renderedIndex) recordVersion(path, uid, rv, renderID string, blob plumbing.Hash) {
	if x == nil {
		return
	}
	if uid == "" {
		delete(x.entries, path)
	} else {
		x.entries[path] = indexEntry{UID: uid, RV: rv, Keys: x.renderID(renderID), Blob: blob}
	}
	x.dirty = true
}

// renderID is id, held once (see renderIDs).
func (x *renderedIndex) renderID(id string) string {
	if x.renderIDs == nil {
		x.renderIDs = map[string]string{}
	}
	if held, ok := x.renderIDs[id]; ok {
		return held
	}
	id = strings.Clone(id)
	x.renderIDs[id] = id
	return id
}

// loadIndex reads the index of a clone (an empty one when there is none or it
// is of another version).
func loadIndex(gitDir string) *renderedIndex {
	x := &renderedIndex{file: filepath.Join(gitDir, "gitops-reverser-index"), entries: map[string]indexEntry{}, resume: map[resumeKey]mirror.Position{}}
	b, err := os.ReadFile(x.file)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			klog.InfoS("Ignoring an unreadable rendered-file index", "file", x.file, "err", err)
		}
		return x
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	if !sc.Scan() || sc.Text() != indexVersion {
		return x
	}
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		if len(f) == 7 && f[0] == resumeLine {
			gvr := schema.GroupVersionResource{Group: f[2], Version: f[3], Resource: f[4]}
			x.resume[resumeKey{f[1], gvr}] = mirror.Position{Fingerprint: f[5], RV: f[6]}
			continue
		}
		if len(f) != 5 {
			continue
		}
		h := plumbing.NewHash(f[4])
		if h.IsZero() {
			continue
		}
		// Copies: the fields would otherwise keep the whole line alive.
		x.entries[strings.Clone(f[0])] = indexEntry{UID: strings.Clone(f[1]), RV: strings.Clone(f[2]), Keys: x.renderID(f[3]), Blob: h}
	}
	return x
}

// save writes the index when it changed (atomically: a crash leaves the old one).
func (x *renderedIndex) save() error {
	if x == nil || !x.dirty {
		return nil
	}
	// Appended by hand: fmt.Fprintf per line made a save of 10,000 entries
	// take 28 ms, and a snapshot saves on its way to SnapshotSynced.
	b := make([]byte, 0, 160*(len(x.entries)+1))
	b = append(b, indexVersion+"\n"...)
	for p, e := range x.entries {
		if strings.ContainsAny(p, "\t\n") {
			continue // not representable; such a file is simply rendered again
		}
		b = append(b, p...)
		for _, f := range [...]string{e.UID, e.RV, e.Keys} {
			b = append(append(b, '\t'), f...)
		}
		b = hex.AppendEncode(append(b, '\t'), e.Blob[:])
		b = append(b, '\n')
	}
	for k, pos := range x.resume {
		if strings.ContainsAny(k.target, "\t\n") {
			continue
		}
		b = append(b, resumeLine...)
		for _, f := range [...]string{k.target, k.gvr.Group, k.gvr.Version, k.gvr.Resource, pos.Fingerprint, pos.RV} {
			b = append(append(b, '\t'), f...)
		}
		b = append(b, '\n')
	}
	tmp := x.file + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, x.file); err != nil {
		return err
	}
	x.dirty, x.saved = false, time.Now()
	return nil
}

// saveIfDue saves a dirty index at most every indexSaveEvery.
func (x *renderedIndex) saveIfDue() {
	if x == nil || !x.dirty || time.Since(x.saved) < indexSaveEvery {
		return
	}
	if err := x.save(); err != nil {
		klog.InfoS("Saving the rendered-file index failed", "file", x.file, "err", err)
	}
}
