package git_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	gitpkg "github.com/configbutler/gitops-reverser/pkg/git"
)

// allocated runs f and returns the bytes allocated meanwhile, an upper bound
// of how much the heap grew.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// gitIn runs git in dir with stdin.
func gitIn(t *testing.T, dir string, stdin []byte, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = gitEnv(dir)
	cmd.Stdin = bytes.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// refusedObject checks err is a clone or fetch stopped at an object past the
// bound, described and counted as such.
func refusedObject(t *testing.T, err error, what string) {
	t.Helper()
	if !errors.Is(err, gitpkg.ErrObjectTooLarge) {
		t.Fatalf("got %v, want ErrObjectTooLarge", err)
	}
	want := "an object of the repository is larger than the server's limit: a " + what + " inflated, the limit is 64Mi"
	equal(t, gitpkg.Describe(err), want, "Describe")
	equal(t, gitpkg.FailureReason(err), "too_large", "FailureReason")
	if strings.Contains(err.Error(), testPassword) {
		t.Error("credentials in the error")
	}
}

// TestObjectSizeLimitBlob: a blob of 100 MiB of zeros (a tenth of a MiB in
// the pack, far under --max-fetch-size) committed with the git CLI: under a
// 64 MiB object bound a fetch refuses it with ErrObjectTooLarge before go-git
// inflates it (a few MiB allocated, not 100), leaves no half-written pack
// and the clone usable; a first clone refuses it and leaves nothing. The
// same repository before the blob cloned as usual.
func TestObjectSizeLimitBlob(t *testing.T) {
	rm := newRemote(t)
	rm.humanCommit(t, "main", map[string]string{"a.yaml": "a: 1\n"}, "seed")
	defer gitpkg.SetMaxObjectSize(gitpkg.MaxObjectSize())
	gitpkg.SetMaxObjectSize(64 << 20)
	ctx := testCtx(t)
	dir := filepath.Join(t.TempDir(), "clone")
	r := openRepo(t, rm, "main", dir)

	work := rm.clone(t, "main")
	f, err := os.Create(filepath.Join(work, "zeros.bin"))
	if err == nil {
		err = f.Truncate(100 << 20) // zeros, without holding them in memory
		_ = f.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	runGit(t, work, "add", "zeros.bin")
	runGit(t, work, "commit", "--quiet", "-m", "100 MiB of zeros")
	runGit(t, work, "push", "--quiet", "origin", "HEAD:refs/heads/main")

	head := r.Head()
	grew := allocated(func() { err = r.Fetch(ctx) })
	refusedObject(t, err, "blob of 100 MiB")
	t.Logf("fetch refused with %d KiB allocated", grew>>10)
	if grew > 16<<20 {
		t.Errorf("refusing the fetch allocated %d MiB", grew>>20)
	}
	equal(t, r.Head(), head, "Head after the refused fetch")
	assertNoTempPacks(t, dir)
	if content, found, err := r.ReadFile("a.yaml"); !found || err != nil || string(content) != "a: 1\n" {
		t.Fatalf("the clone after the refused fetch: %q %v %v", content, found, err)
	}

	parent := t.TempDir()
	grew = allocated(func() {
		_, err = gitpkg.Open(ctx, gitpkg.Options{URL: rm.url(), Branch: "main", Dir: filepath.Join(parent, "clone"), Auth: rm.auth()})
	})
	refusedObject(t, err, "blob of 100 MiB")
	t.Logf("clone refused with %d KiB allocated", grew>>10)
	if grew > 16<<20 {
		t.Errorf("refusing the clone allocated %d MiB", grew>>20)
	}
	if entries, _ := os.ReadDir(parent); len(entries) != 0 {
		t.Fatalf("a refused clone left %v", entries)
	}
}

// TestObjectSizeLimitDeltaBomb: a delta of 50 KiB whose result is 100 MiB
// (a blob of 4 KiB copied 25600 times), indexed into the remote with git
// index-pack and reachable from main next to its base: git upload-pack sends
// it as it is, and the clone refuses it by the result size the delta
// declares, with a few MiB allocated.
func TestObjectSizeLimitDeltaBomb(t *testing.T) {
	rm := newRemote(t)
	base := bytes.Repeat([]byte("0123456789abcdef"), 256)
	pack, baseHash, bombHash := gitpkg.DeltaBomb(base, 25600)
	gitIn(t, rm.path, pack, "index-pack", "--stdin")
	equal(t, rm.git(t, "cat-file", "-s", bombHash.String()), "104857600", "the bomb's size")
	tree := gitIn(t, rm.path, []byte("100644 blob "+baseHash.String()+"\tbase.txt\n100644 blob "+bombHash.String()+"\tbomb.txt\n"), "mktree")
	commit := gitIn(t, rm.path, nil, "commit-tree", tree, "-m", "a delta bomb")
	rm.git(t, "update-ref", "refs/heads/main", commit)

	defer gitpkg.SetMaxObjectSize(gitpkg.MaxObjectSize())
	gitpkg.SetMaxObjectSize(64 << 20)
	parent := t.TempDir()
	var err error
	grew := allocated(func() {
		_, err = gitpkg.Open(testCtx(t), gitpkg.Options{URL: rm.url(), Branch: "main", Dir: filepath.Join(parent, "clone"), Auth: rm.auth()})
	})
	refusedObject(t, err, "delta result of 100 MiB")
	t.Logf("clone refused with %d KiB allocated", grew>>10)
	if grew > 16<<20 {
		t.Errorf("refusing the clone allocated %d MiB", grew>>20)
	}
	if entries, _ := os.ReadDir(parent); len(entries) != 0 {
		t.Fatalf("a refused clone left %v", entries)
	}
}
