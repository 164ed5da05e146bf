package git_test

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	gitpkg "github.com/configbutler/gitops-reverser/pkg/git"
)

// objectCount is the number of objects in a clone (packed and loose).
func objectCount(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	for _, line := range strings.Split(runGit(t, dir, "count-objects", "-v"), "\n") {
		k, v, _ := strings.Cut(line, ": ")
		if k == "count" || k == "in-pack" {
			i, err := strconv.Atoi(v)
			if err != nil {
				t.Fatalf("count-objects: %q", line)
			}
			n += i
		}
	}
	return n
}

// TestCloneAndFetchOnlyTheBranch: a clone and its fetches download the one
// branch, without tags: a remote with another, larger branch and tags (one of
// them on a history of its own) is cloned under a limit smaller than any of
// those, and the clone holds exactly the branch's objects and refs.
func TestCloneAndFetchOnlyTheBranch(t *testing.T) {
	rm := newRemote(t)
	rm.humanCommit(t, "main", map[string]string{"a.yaml": "a: 1\n"}, "seed")
	rm.humanCommit(t, "big", map[string]string{"big.bin": string(randomBytes(t, 1<<20))}, "big branch")
	rm.git(t, "tag", "-a", "v1", "-m", "annotated tag on big", "big")
	rm.humanCommit(t, "tagged", map[string]string{"tagged.bin": string(randomBytes(t, 1<<20))}, "tagged only")
	rm.git(t, "tag", "huge", "tagged")
	rm.git(t, "branch", "-D", "tagged") // reachable from the tag only
	rm.git(t, "tag", "main-tag", "main")

	defer gitpkg.SetMaxFetchSize(gitpkg.MaxFetchSize())
	gitpkg.SetMaxFetchSize(256 << 10) // a quarter of either big history
	dir := filepath.Join(t.TempDir(), "clone")
	r := openRepo(t, rm, "main", dir)
	equal(t, r.Head().String(), rm.git(t, "rev-parse", "main"), "Head")
	refs := fmtLines("refs/heads/main", "refs/remotes/origin/main")
	equal(t, runGit(t, dir, "for-each-ref", "--format=%(refname)"), refs, "refs of the clone")
	want := len(strings.Split(rm.git(t, "rev-list", "--objects", "main"), "\n"))
	equal(t, objectCount(t, dir), want, "objects in the clone (those of main)")

	// A fetch too: main moves, big grows.
	rm.humanCommit(t, "big", map[string]string{"big2.bin": string(randomBytes(t, 1<<20))}, "big grows")
	rm.humanCommit(t, "main", map[string]string{"b.yaml": "b: 2\n"}, "main moves")
	if err := r.Fetch(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	equal(t, r.Head().String(), rm.git(t, "rev-parse", "main"), "Head after fetch")
	equal(t, runGit(t, dir, "for-each-ref", "--format=%(refname)"), refs, "refs after fetch")
	want = len(strings.Split(rm.git(t, "rev-list", "--objects", "main"), "\n"))
	equal(t, objectCount(t, dir), want, "objects after fetch")
}

// TestFetchLimitHTTP: over HTTP a clone larger than the limit fails with
// ErrFetchTooLarge (described with the limit, counted as too_large) and leaves
// no directory; under the limit it works; a fetch of an existing clone past
// the limit fails, leaves no half-written pack and the clone usable; the
// ref advertisement is bounded too.
func TestFetchLimitHTTP(t *testing.T) {
	rm := newRemote(t)
	rm.humanCommit(t, "main", map[string]string{"a.yaml": "a: 1\n", "big.bin": string(randomBytes(t, 1<<20))}, "seed")
	defer gitpkg.SetMaxFetchSize(gitpkg.MaxFetchSize())
	ctx := testCtx(t)

	gitpkg.SetMaxFetchSize(512 << 10)
	parent := t.TempDir()
	_, err := gitpkg.Open(ctx, gitpkg.Options{URL: rm.url(), Branch: "main", Dir: filepath.Join(parent, "clone"), Auth: rm.auth()})
	if !errors.Is(err, gitpkg.ErrFetchTooLarge) {
		t.Fatalf("clone past the limit: %v, want ErrFetchTooLarge", err)
	}
	var tooLarge *gitpkg.FetchTooLargeError
	if !errors.As(err, &tooLarge) && !strings.Contains(err.Error(), "--max-fetch-size=512Ki") {
		t.Errorf("error %q does not name the limit", err)
	}
	equal(t, gitpkg.Describe(err), "the repository is larger than the server's limit (--max-fetch-size=512Ki)", "Describe")
	equal(t, gitpkg.FailureReason(err), "too_large", "FailureReason")
	if strings.Contains(err.Error(), testPassword) {
		t.Error("credentials in the error")
	}
	if entries, _ := os.ReadDir(parent); len(entries) != 0 {
		t.Fatalf("a failed clone left %v", entries)
	}

	gitpkg.SetMaxFetchSize(8 << 20)
	dir := filepath.Join(parent, "clone")
	r := openRepo(t, rm, "main", dir)
	equal(t, r.Head().String(), rm.git(t, "rev-parse", "main"), "Head under the limit")

	// An existing clone: the next fetch brings more than the limit.
	rm.humanCommit(t, "main", map[string]string{"big2.bin": string(randomBytes(t, 1<<20))}, "grows")
	head := r.Head()
	gitpkg.SetMaxFetchSize(512 << 10)
	err = r.Fetch(ctx)
	if !errors.Is(err, gitpkg.ErrFetchTooLarge) {
		t.Fatalf("fetch past the limit: %v", err)
	}
	equal(t, r.Head(), head, "Head after a fetch past the limit")
	assertNoTempPacks(t, dir)
	if _, found, err := r.ReadFile("a.yaml"); !found || err != nil {
		t.Fatalf("the clone after a fetch past the limit: %v %v", found, err)
	}
	gitpkg.SetMaxFetchSize(8 << 20)
	if err := r.Fetch(ctx); err != nil {
		t.Fatalf("fetch under the limit: %v", err)
	}
	equal(t, r.Head().String(), rm.git(t, "rev-parse", "main"), "Head after the fetch under the limit")
	res := commit(t, r, "after", put("c.yaml", "c: 3\n"))
	equal(t, rm.git(t, "rev-parse", "main"), res.Hash.String(), "push after")

	// The advertisement alone past a tiny limit.
	gitpkg.SetMaxFetchSize(64)
	if _, err := gitpkg.LsRemote(ctx, rm.url(), rm.auth()); !errors.Is(err, gitpkg.ErrFetchTooLarge) {
		t.Fatalf("ls-remote past the limit: %v", err)
	}
	// 0: no limit.
	gitpkg.SetMaxFetchSize(0)
	if n, err := gitpkg.LsRemote(ctx, rm.url(), rm.auth()); err != nil || n == 0 {
		t.Fatalf("ls-remote without a limit: %d %v", n, err)
	}
}

func TestFormatByteSize(t *testing.T) {
	for n, want := range map[int64]string{1 << 30: "1Gi", 512 << 20: "512Mi", 1536 << 10: "1536Ki", 1000: "1000", 1 << 40: "1Ti", 0: "0"} {
		equal(t, gitpkg.FormatByteSize(n), want, "FormatByteSize")
	}
}
