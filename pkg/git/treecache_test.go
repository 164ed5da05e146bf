package git_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	gitpkg "github.com/configbutler/gitops-reverser/pkg/git"
)

// TestTreeCacheHoldsNewestVersions: commits that keep changing one large
// directory leave its newest decoded version in the cache, not one per
// commit; the commits read and push as before.
func TestTreeCacheHoldsNewestVersions(t *testing.T) {
	rm := newRemote(t)
	r := openRepo(t, rm, "main", filepath.Join(t.TempDir(), "clone"))
	const files = 300
	var changes []gitpkg.Change
	for i := range files {
		changes = append(changes, put(fmt.Sprintf("big/f%03d.yaml", i), fmt.Sprintf("v: %d\n", i)))
	}
	commit(t, r, "files", changes...)
	const commits = 10
	for i := range commits {
		commit(t, r, fmt.Sprintf("change %d", i), put(fmt.Sprintf("big/f%03d.yaml", i), fmt.Sprintf("v: changed %d\n", i)))
	}
	// The root (one entry) and big/ as the last commit built on them, and
	// at most the version just written once it is read back.
	if got := r.CachedTreeEntries(); got > 2*(files+1) {
		t.Errorf("%d tree entries cached after %d commits to a directory of %d files: stale versions are kept", got, commits, files)
	}
	equal(t, strings.TrimSpace(rm.git(t, "show", "main:big/f009.yaml")), "v: changed 9", "the last commit")
	equal(t, strings.TrimSpace(rm.git(t, "show", "main:big/f010.yaml")), "v: 10", "a file no commit changed")
	rm.git(t, "fsck", "--strict")
}

// TestLargeTreesStayOutOfGoGitsCache: the tree of a directory of 2,000
// files (about 80 KiB) is read from its pack each time the tree cache
// misses, not kept a second time, encoded, in go-git's object cache; a small
// tree is.
func TestLargeTreesStayOutOfGoGitsCache(t *testing.T) {
	rm := newRemote(t)
	r := openRepo(t, rm, "main", filepath.Join(t.TempDir(), "clone"))
	var changes []gitpkg.Change
	for i := range 2000 {
		changes = append(changes, put(fmt.Sprintf("big/file-%05d.yaml", i), fmt.Sprintf("v: %d\n", i)))
	}
	changes = append(changes, put("small/a.yaml", "v: a\n"))
	commit(t, r, "files", changes...)
	for i := range 3 {
		commit(t, r, fmt.Sprintf("change %d", i), put(fmt.Sprintf("big/file-%05d.yaml", i), "v: changed\n"))
	}
	if err := r.DropCaches(); err != nil { // read from the packs again
		t.Fatal(err)
	}
	for _, dir := range []string{"big", "small"} {
		files, err := r.ListFiles(dir)
		if err != nil || len(files) == 0 {
			t.Fatalf("ListFiles(%s): %d files, %v", dir, len(files), err)
		}
	}
	big := strings.TrimSpace(rm.git(t, "rev-parse", "main:big"))
	small := strings.TrimSpace(rm.git(t, "rev-parse", "main:small"))
	if !r.ObjectCached(small) {
		t.Fatal("the small tree is not in go-git's cache: the test would prove nothing")
	}
	if r.ObjectCached(big) {
		t.Error("the 2,000-entry tree is held in go-git's object cache as well as decoded")
	}
}
