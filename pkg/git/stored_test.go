package git_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	gitpkg "github.com/configbutler/gitops-reverser/pkg/git"
	"github.com/configbutler/gitops-reverser/pkg/gitmodel"
)

// TestStoredChangesCommit: changes whose content is stored compressed
// (gitmodel.StoreBlob, as a snapshot plans them) commit to the same blobs as
// plain ones, in a small commit (go-git's pack writer reads them) and a
// large one (our indexed pack writer copies their zlib streams): the remote
// and the clone pass git fsck --strict, and every file reads back.
func TestStoredChangesCommit(t *testing.T) {
	rm := newRemote(t)
	dir := filepath.Join(t.TempDir(), "clone")
	r := openRepo(t, rm, "main", dir)
	content := func(i int) string { return strings.Repeat(fmt.Sprintf("key-%d: value\n", i), 20) }
	stored := func(path string, i int) gitpkg.Change {
		return gitpkg.Change{Path: path, Stored: gitmodel.StoreBlob([]byte(content(i)))}
	}
	commit(t, r, "small", stored("a/0.yaml", 0), stored("a/1.yaml", 1), put("plain.yaml", content(2)))
	var many []gitpkg.Change
	for i := 0; i < 1500; i++ {
		many = append(many, stored(fmt.Sprintf("b/%d/%d.yaml", i%10, i), i))
	}
	res := commit(t, r, "large", many...)
	equal(t, res.Files, 1500, "Files")
	rm.git(t, "fsck", "--strict")
	runGit(t, dir, "fsck", "--strict")
	equal(t, strings.TrimSpace(rm.git(t, "show", "main:a/1.yaml")), strings.TrimSpace(content(1)), "a stored file")
	equal(t, strings.TrimSpace(rm.git(t, "show", "main:b/7/1497.yaml")), strings.TrimSpace(content(1497)), "a stored file of the large commit")
	equal(t, strings.TrimSpace(rm.git(t, "rev-parse", "main:a/0.yaml")), gitmodel.BlobHash([]byte(content(0))).String(), "a stored file's blob")
}
