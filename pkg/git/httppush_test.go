package git_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	gitpkg "github.com/configbutler/gitops-reverser/pkg/git"
)

// TestPushStreamsThePackWithItsLength: a push over http sends the pack from
// a file spooled in the clone (there while the request arrives), not from
// memory (see receivePackHTTP), with a Content-Length; git-receive-pack
// takes it (fsck), and the spooled file is gone afterwards.
func TestPushStreamsThePackWithItsLength(t *testing.T) {
	var mu sync.Mutex
	var lengths []int64
	var spooled []int
	dir := filepath.Join(t.TempDir(), "clone")
	rm := newRemoteWithHook(t, func(r *http.Request) {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/git-receive-pack") {
			files, _ := filepath.Glob(filepath.Join(dir, "objects", "pack", "tmp_pack_push_*"))
			mu.Lock()
			lengths, spooled = append(lengths, r.ContentLength), append(spooled, len(files))
			mu.Unlock()
		}
	})
	r := openRepo(t, rm, "main", dir)
	var changes []gitpkg.Change
	for i := 0; i < 2000; i++ {
		changes = append(changes, put(fmt.Sprintf("d%d/f%d.yaml", i%20, i), strings.Repeat(fmt.Sprintf("line %d\n", i), 50)))
	}
	res := commit(t, r, "many", changes...)
	equal(t, res.Files, 2000, "Files")
	rm.git(t, "fsck", "--strict")
	equal(t, strings.Count(rm.git(t, "ls-tree", "-r", "--name-only", "main"), "\n"), 1999, "files in the pushed tree (newlines between 2000)")
	mu.Lock()
	defer mu.Unlock()
	if len(lengths) == 0 {
		t.Fatal("no push reached git-receive-pack")
	}
	for i, n := range lengths {
		if n <= 0 || spooled[i] != 1 {
			t.Errorf("push %d: Content-Length %d, %d spooled packs in the clone while it was sent; want a length and one", i, n, spooled[i])
		}
	}
	left, _ := filepath.Glob(filepath.Join(dir, "objects", "pack", "tmp_pack_push_*"))
	if len(left) != 0 {
		t.Errorf("spooled packs left behind: %v", left)
	}
	if _, err := os.Stat(filepath.Join(dir, "objects", "pack")); err != nil {
		t.Fatal(err)
	}
}
