package git_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	gitpkg "github.com/configbutler/gitops-reverser/pkg/git"
)

// readAllocs is ReadFile(path) with the bytes it allocated.
func readAllocs(t *testing.T, r *gitpkg.Repo, path string) ([]byte, bool, error, uint64) {
	t.Helper()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b, found, err := r.ReadFile(path)
	runtime.ReadMemStats(&after)
	return b, found, err, after.TotalAlloc - before.TotalAlloc
}

// TestReadFileRefusesInflatingBlob: a file someone pushed that inflates far
// beyond MaxFileSize (64 MiB of zeros, some 64 KiB compressed) is refused by
// ReadFile with ErrFileTooLarge (found true, the error naming the path)
// without allocating anything near its size, whether its blob is packed (as
// fetched) or loose; a file of exactly MaxFileSize is still read, one byte
// more is refused.
func TestReadFileRefusesInflatingBlob(t *testing.T) {
	const huge = 64 << 20
	rm := newRemote(t)
	rm.humanCommit(t, "main", map[string]string{
		"small.yaml":                  "a: 1\n",
		"t/.sops.yaml":                strings.Repeat("\x00", huge),
		"t/at-limit.yaml":             strings.Repeat("a", gitpkg.MaxFileSize),
		"t/over-limit.yaml":           strings.Repeat("a", gitpkg.MaxFileSize+1),
		"t/v1/secrets/ns/x.sops.yaml": strings.Repeat("\x00", huge),
	}, "bombs")
	dir := filepath.Join(t.TempDir(), "clone")
	r := openRepo(t, rm, "main", dir)

	check := func(r *gitpkg.Repo, how string) {
		t.Helper()
		// Warm the pack index and caches: what is measured is the read.
		if b, found, err := r.ReadFile("small.yaml"); err != nil || !found || string(b) != "a: 1\n" {
			t.Fatalf("%s: small.yaml: %q %v %v", how, b, found, err)
		}
		for _, p := range []string{"t/.sops.yaml", "t/v1/secrets/ns/x.sops.yaml", "t/over-limit.yaml"} {
			b, found, err, allocated := readAllocs(t, r, p)
			if !errors.Is(err, gitpkg.ErrFileTooLarge) || !found || b != nil || !strings.Contains(err.Error(), p) {
				t.Errorf("%s: ReadFile(%s) = %d bytes, found %v, %v; want ErrFileTooLarge naming the path", how, p, len(b), found, err)
			}
			if allocated > 1<<20 {
				t.Errorf("%s: refusing %s allocated %d bytes", how, p, allocated)
			}
		}
		b, found, err := r.ReadFile("t/at-limit.yaml")
		if err != nil || !found || len(b) != gitpkg.MaxFileSize {
			t.Errorf("%s: a file of MaxFileSize: %d bytes, %v, %v", how, len(b), found, err)
		}
	}
	check(r, "packed")

	// The same objects loose: unpack the clone's packs and reopen it.
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	packs, err := filepath.Glob(filepath.Join(dir, "objects", "pack", "*.pack"))
	if err != nil || len(packs) == 0 {
		t.Fatalf("packs of the clone: %v %v", packs, err)
	}
	for _, p := range packs {
		moved := filepath.Join(t.TempDir(), "p.pack")
		if err := os.Rename(p, moved); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(strings.TrimSuffix(p, ".pack") + ".idx"); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(moved)
		if err != nil {
			t.Fatal(err)
		}
		if out, err := gitCmdStdin(dir, f, "unpack-objects", "-q"); err != nil {
			t.Fatalf("unpack-objects: %v\n%s", err, out)
		}
		_ = f.Close()
	}
	loose := openRepo(t, rm, "main", dir)
	if n, _ := filepath.Glob(filepath.Join(dir, "objects", "pack", "*.pack")); len(n) != 0 {
		t.Fatalf("the reopened clone has packs again: %v", n)
	}
	check(loose, "loose")
}

// gitCmdStdin runs git in dir with stdin.
func gitCmdStdin(dir string, stdin *os.File, args ...string) ([]byte, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = gitEnv(dir)
	cmd.Stdin = stdin
	return cmd.CombinedOutput()
}
