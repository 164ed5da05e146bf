package git_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	gitpkg "github.com/configbutler/gitops-reverser/pkg/git"
)

// TestDropCaches: an idle worker's clone lets go of its decoded trees (and
// go-git's caches), and reads and commits go on from disk as before; a
// closed clone refuses.
func TestDropCaches(t *testing.T) {
	rm := newRemote(t)
	dir := filepath.Join(t.TempDir(), "clone")
	r := openRepo(t, rm, "main", dir)
	var changes []gitpkg.Change
	for i := range 50 {
		changes = append(changes, put(fmt.Sprintf("d%d/f%d.yaml", i%5, i), fmt.Sprintf("v: %d\n", i)))
	}
	commit(t, r, "files", changes...)
	if _, err := r.ListFiles("d3"); err != nil {
		t.Fatal(err)
	}
	if r.CachedTreeEntries() == 0 {
		t.Fatal("listing decoded no tree: the test would prove nothing")
	}
	if err := r.DropCaches(); err != nil {
		t.Fatal(err)
	}
	equal(t, r.CachedTreeEntries(), 0, "tree entries held after DropCaches")
	files, err := r.ListFiles("d3")
	if err != nil {
		t.Fatal(err)
	}
	equal(t, len(files), 10, "files read back after DropCaches")
	b, found, err := r.ReadFile("d2/f7.yaml")
	if err != nil || !found || string(b) != "v: 7\n" {
		t.Fatalf("read after DropCaches: %q %v %v", b, found, err)
	}
	commit(t, r, "after", put("d0/f0.yaml", "v: changed\n"))
	equal(t, strings.TrimSpace(rm.git(t, "show", "main:d0/f0.yaml")), "v: changed", "a commit after DropCaches")
	rm.git(t, "fsck", "--strict")

	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.DropCaches(); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("DropCaches on a closed clone: %v", err)
	}
}
