package worker

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/klog/v2"
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
type renderedIndex struct {
	file    string
	entries map[string]indexEntry
	dirty   bool
	saved   time.Time
}

type indexEntry struct {
	UID, RV, Keys string
	Blob          plumbing.Hash
}

// indexVersion changes whenever rendering or encryption would write different
// bytes for the same object version: an index of another version is dropped.
const indexVersion = "gitops-reverser-index v2 render=goyaml-v2-ordered drops=v1"

const indexSaveEvery = 10 * time.Second

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
	if x == nil {
		return
	}
	if obj == nil {
		delete(x.entries, path)
	} else {
		e := indexKey(obj, renderID)
		e.Blob = blob
		x.entries[path] = e
	}
	x.dirty = true
}

// loadIndex reads the index of a clone (an empty one when there is none or it
// is of another version).
func loadIndex(gitDir string) *renderedIndex {
	x := &renderedIndex{file: filepath.Join(gitDir, "gitops-reverser-index"), entries: map[string]indexEntry{}}
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
		if len(f) != 5 {
			continue
		}
		h := plumbing.NewHash(f[4])
		if h.IsZero() {
			continue
		}
		x.entries[f[0]] = indexEntry{UID: f[1], RV: f[2], Keys: f[3], Blob: h}
	}
	return x
}

// save writes the index when it changed (atomically: a crash leaves the old one).
func (x *renderedIndex) save() error {
	if x == nil || !x.dirty {
		return nil
	}
	var b bytes.Buffer
	b.WriteString(indexVersion + "\n")
	for p, e := range x.entries {
		if strings.ContainsAny(p, "\t\n") {
			continue // not representable; such a file is simply rendered again
		}
		fmt.Fprintf(&b, "%s\t%s\t%s\t%s\t%s\n", p, e.UID, e.RV, e.Keys, e.Blob)
	}
	tmp := x.file + ".tmp"
	if err := os.WriteFile(tmp, b.Bytes(), 0o600); err != nil {
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
