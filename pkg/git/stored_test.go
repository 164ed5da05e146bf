package git_test

import (
	"fmt"
	"io/fs"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	gitpkg "github.com/configbutler/gitops-reverser/pkg/git"
	"github.com/configbutler/gitops-reverser/pkg/gitmodel"
)

// TestStoredChangesCommit: changes whose content is stored compressed
// (gitmodel.Compress and Hold, as a snapshot plans them) commit to the same blobs as
// plain ones, in a small commit (go-git's pack writer reads them) and a
// large one (our indexed pack writer copies their zlib streams): the remote
// and the clone pass git fsck --strict, and every file reads back.
func TestStoredChangesCommit(t *testing.T) {
	rm := newRemote(t)
	dir := filepath.Join(t.TempDir(), "clone")
	r := openRepo(t, rm, "main", dir)
	content := func(i int) string { return strings.Repeat(fmt.Sprintf("key-%d: value\n", i), 20) }
	stored := func(path string, i int) gitpkg.Change {
		return gitpkg.Change{Path: path, Stored: gitmodel.Hold(gitmodel.Compress([]byte(content(i))))}
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

// TestSpooledChangesCommit: a plan larger than a spool's memory (its files
// spilled to the clone's directory, as a 100,000-object snapshot's are)
// commits and pushes every file intact; the spill file has no name in the
// clone at any time, and after the spool is closed nothing of it is left.
func TestSpooledChangesCommit(t *testing.T) {
	rm := newRemote(t)
	dir := filepath.Join(t.TempDir(), "clone")
	r := openRepo(t, rm, "main", dir)
	spool := r.NewBlobSpool()
	rnd := rand.New(rand.NewPCG(1, 2))
	content := func(i int) []byte { // incompressible: 600 files spill past 8 MiB
		b := make([]byte, 16<<10)
		for j := range b {
			b[j] = byte(rnd.IntN(256))
		}
		return append([]byte(fmt.Sprintf("file %d\n", i)), b...)
	}
	var changes []gitpkg.Change
	want := map[string]string{}
	for i := 0; i < 600; i++ {
		c := content(i)
		sb, err := spool.Put(gitmodel.Compress(c))
		if err != nil {
			t.Fatal(err)
		}
		path := fmt.Sprintf("s/%d/%d.yaml", i%7, i)
		changes = append(changes, gitpkg.Change{Path: path, Stored: sb})
		want[path] = string(c)
	}
	if inMemory, onDisk := spool.Size(); onDisk == 0 || inMemory > gitmodel.MemoryBytes {
		t.Fatalf("%d bytes in memory, %d on disk: the plan did not spill", inMemory, onDisk)
	}
	before := filesUnder(t, dir)
	res := commit(t, r, "spooled", changes...)
	equal(t, res.Files, 600, "Files")
	if err := spool.Close(); err != nil {
		t.Fatal(err)
	}
	rm.git(t, "fsck", "--strict")
	for _, path := range []string{"s/0/0.yaml", "s/3/304.yaml", "s/4/599.yaml"} {
		equal(t, rm.git(t, "show", "main:"+path), want[path], path)
	}
	for _, files := range [][]string{before, filesUnder(t, dir)} {
		for _, f := range files {
			if strings.Contains(f, "tmp_spool_") {
				t.Errorf("the spill file has a name in the clone: %s", f)
			}
		}
	}
}

// filesUnder lists every file under dir.
func filesUnder(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			out = append(out, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
