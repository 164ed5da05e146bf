package git_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	gitpkg "github.com/configbutler/gitops-reverser/pkg/git"
)

func TestCommitCreatesUpdatesDeletes(t *testing.T) {
	rm := newRemote(t)
	r := openRepo(t, rm, "main", "")

	// Names chosen to exercise git's tree order (a directory sorts as
	// "name/", after "a.txt" and "a-b" but before "a0").
	commit(t, r, "initial",
		put("a/1.yaml", "one\n"),
		put("a/2.yaml", "two\n"),
		put("a.txt", "file next to dir a\n"),
		put("a-b", "dash\n"),
		put("a0", "zero\n"),
		put("b/c/3.yaml", "three\n"),
	)
	res := commit(t, r, "update",
		put("a/1.yaml", "one v2\n"),
		del("a/2.yaml"),
		put("d/4.yaml", "four\n"),
		put("b/c/3.yaml", "three\n"), // unchanged content: not a change
		del("does/not/exist.yaml"),   // no-op
	)
	equal(t, res.Files, 3, "Files")
	rm.git(t, "fsck", "--strict")

	cli := rm.clone(t, "main")
	equal(t, runGit(t, cli, "log", "-1", "--name-status", "--format=%s"),
		fmtLines("update", "", "M\ta/1.yaml", "D\ta/2.yaml", "A\td/4.yaml"), "name-status of the update")
	equal(t, runGit(t, cli, "show", "HEAD:a/1.yaml"), "one v2", "updated content")
	equal(t, runGit(t, cli, "rev-list", "--count", "HEAD"), "2", "commit count")
	equal(t, runGit(t, cli, "status", "--porcelain"), "", "clean checkout")

	// Unchanged subtrees keep their hashes.
	equal(t, rm.git(t, "rev-parse", "HEAD:b"), rm.git(t, "rev-parse", "HEAD~1:b"), "unchanged subtree b")
	// Our clone (packs written by writePack, indexed by go-git) passes fsck.
	runGit(t, r.Dir(), "fsck", "--strict")
	equal(t, runGit(t, r.Dir(), "rev-parse", "refs/heads/main"), res.Hash.String(), "local branch ref")

	// Reading back through the API.
	files, err := r.ListFiles("")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"a-b", "a.txt", "a/1.yaml", "a0", "b/c/3.yaml", "d/4.yaml"}
	if len(files) != len(want) {
		t.Fatalf("ListFiles = %v, want %v", files, want)
	}
	for _, p := range want {
		if _, ok := files[p]; !ok {
			t.Fatalf("ListFiles misses %s: %v", p, files)
		}
	}
	equal(t, files["a/1.yaml"], gitpkg.BlobHash([]byte("one v2\n")), "BlobHash matches the stored blob")
	equal(t, files["a/1.yaml"].String(), rm.git(t, "rev-parse", "HEAD:a/1.yaml"), "blob hash vs git")

	sub, err := r.ListFiles("b/")
	if err != nil || len(sub) != 1 || sub["b/c/3.yaml"].IsZero() {
		t.Fatalf("ListFiles(b/) = %v, %v", sub, err)
	}
	one, err := r.ListFiles("a0")
	if err != nil || len(one) != 1 {
		t.Fatalf("ListFiles(file) = %v, %v", one, err)
	}
	none, err := r.ListFiles("nope")
	if err != nil || len(none) != 0 {
		t.Fatalf("ListFiles(missing) = %v, %v", none, err)
	}
	if _, found, _ := r.ReadFile("a"); found {
		t.Fatal("ReadFile of a directory reports found")
	}
	if _, found, _ := r.ReadFile("a0/x"); found {
		t.Fatal("ReadFile below a file reports found")
	}
}

func TestNoOpChangeSetMakesNoCommit(t *testing.T) {
	rm := newRemote(t)
	r := openRepo(t, rm, "main", "")
	first := commit(t, r, "initial", put("x/a.yaml", "a\n"), put("b.yaml", "b\n"))

	res := commit(t, r, "again", put("x/a.yaml", "a\n"), del("gone.yaml"), del("x/nothing.yaml"))
	equal(t, res.Changed, false, "Changed")
	equal(t, res.Pushed, false, "Pushed")
	equal(t, res.Attempts, 0, "Attempts")
	equal(t, res.Hash, first.Hash, "Hash is the unchanged tip")
	equal(t, rm.git(t, "rev-list", "--count", "main"), "1", "no new commit on the server")

	res = commit(t, r, "empty change set")
	equal(t, res.Changed, false, "Changed for an empty change set")
}

func TestDeleteLastFileRemovesDirectory(t *testing.T) {
	rm := newRemote(t)
	r := openRepo(t, rm, "main", "")
	commit(t, r, "initial", put("x/y/only.yaml", "o\n"), put("x/keep.txt", "k\n"), put("z/z.yaml", "z\n"))

	commit(t, r, "drop only", del("x/y/only.yaml"))
	equal(t, rm.git(t, "ls-tree", "-r", "-t", "--name-only", "main"), fmtLines("x", "x/keep.txt", "z", "z/z.yaml"), "tree after deleting x/y/only.yaml")

	commit(t, r, "drop keep", del("x/keep.txt"))
	equal(t, rm.git(t, "ls-tree", "--name-only", "main"), "z", "x removed with its last file")

	// Deleting everything commits the empty tree.
	commit(t, r, "drop all", del("z/z.yaml"))
	equal(t, rm.git(t, "rev-parse", "main^{tree}"), "4b825dc642cb6eb9a060e54bf8d69288fbee4904", "empty tree")
	rm.git(t, "fsck", "--strict")
}

func TestFileDirectoryClashIsRefused(t *testing.T) {
	rm := newRemote(t)
	r := openRepo(t, rm, "main", "")
	commit(t, r, "initial", put("x", "file\n"), put("d/f.yaml", "f\n"))

	for _, c := range [][]gitpkg.Change{
		{put("x/y.yaml", "below a file")},
		{put("d", "file over a directory")},
		{put("n/a", "1"), put("n", "2")},
	} {
		_, err := r.CommitAndPush(testCtx(t), c, "clash")
		if !errors.Is(err, gitpkg.ErrInvalidChange) {
			t.Fatalf("%v: err = %v, want ErrInvalidChange", c[0].Path, err)
		}
	}
	// Replacing a file by a directory is allowed when the file is deleted.
	commit(t, r, "file to dir", del("x"), put("x/y.yaml", "y\n"))
	equal(t, rm.git(t, "ls-tree", "-r", "--name-only", "main"), fmtLines("d/f.yaml", "x/y.yaml"), "tree")

	for _, p := range []string{"", "/abs", "a//b", "a/", "./a", "a/./b", "a/../b", ".git/config", "x/.GIT/y", ".Git", "a\\b", "a\nb", "a\tb", "a\x00b", "a/\xff"} {
		_, err := r.CommitAndPush(testCtx(t), []gitpkg.Change{put(p, "x")}, "bad path")
		if !errors.Is(err, gitpkg.ErrInvalidChange) {
			t.Fatalf("path %q: err = %v, want ErrInvalidChange", p, err)
		}
	}
}

// TestCommitChainPushesOnce: a chain of change sets becomes one commit each,
// one on top of the other, pushed in one exchange; a change set that changes
// nothing makes no commit; an object two commits share is sent once (the
// server's fsck passes); a human commit that lands first is kept and the whole
// chain is replayed on it.
func TestCommitChainPushesOnce(t *testing.T) {
	rm := newRemote(t)
	r := openRepo(t, rm, "main", "")
	base := commit(t, r, "initial", put("apps/a.yaml", "a: 1\n"))
	human := rm.humanCommit(t, "main", map[string]string{"README.md": "human\n", "apps/a.yaml": "a: 1\n"}, "human commit")

	res, err := r.CommitChainAndPush(context.Background(), []gitpkg.Commit{
		{Message: "one", Changes: []gitpkg.Change{{Path: "apps/b.yaml", Content: []byte("same\n")}}},
		{Message: "nothing", Changes: []gitpkg.Change{{Path: "apps/a.yaml", Content: []byte("a: 1\n")}}},
		{Message: "two", Changes: []gitpkg.Change{{Path: "apps/c.yaml", Content: []byte("same\n")}, {Path: "apps/a.yaml", Delete: true}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	equal(t, res.Pushed, true, "Pushed")
	equal(t, res.Attempts, 2, "Attempts: rejected once (the human commit), then the replayed chain")
	equal(t, res.Files, 3, "Files over the chain")
	equal(t, rm.git(t, "rev-parse", "main"), res.Hash.String(), "server tip")
	equal(t, rm.git(t, "log", "--format=%s", base.Hash.String()+"..main"), "two\none\nhuman commit", "commits, newest first")
	equal(t, rm.git(t, "rev-parse", "main~2"), human, "the chain sits on the human commit")
	equal(t, rm.git(t, "show", "main:README.md"), "human", "human change kept")
	equal(t, rm.git(t, "ls-tree", "--name-only", "main", "apps/"), "apps/b.yaml\napps/c.yaml", "files at the tip")
	rm.git(t, "fsck", "--strict")
	// One ref update for the whole chain: initial, human, chain.
	equal(t, len(strings.Fields(rm.git(t, "reflog", "show", "--format=%H", "refs/heads/main"))), 3, "server ref updates")
}

// TestLargeCommitIndexesItsOwnPack: a commit of more objects than
// indexOwnPackMin is written to the clone with an index we build from what we
// wrote. That index is byte for byte what git index-pack computes for the
// pack; the clone passes fsck; the files read back, a later small commit
// (go-git's writer) builds on it, and a new clone sees both.
func TestLargeCommitIndexesItsOwnPack(t *testing.T) {
	rm := newRemote(t)
	r := openRepo(t, rm, "main", "")
	var changes []gitpkg.Change
	for i := range 1200 {
		changes = append(changes, put(fmt.Sprintf("ns-%d/cm-%04d.yaml", i%7, i), fmt.Sprintf("data: %d\n", i)))
	}
	big := commit(t, r, "snapshot", changes...)
	equal(t, big.Files, 1200, "Files")

	packs, _ := filepath.Glob(filepath.Join(r.Dir(), "objects", "pack", "pack-*.idx"))
	var ours string
	for _, idx := range packs {
		if out := runGit(t, r.Dir(), "verify-pack", "-v", idx); strings.Contains(out, big.Hash.String()) {
			ours = idx
		}
	}
	if ours == "" {
		t.Fatalf("no pack of the clone holds the commit %s (packs: %v)", big.Hash, packs)
	}
	want := filepath.Join(t.TempDir(), "git.idx")
	runGit(t, r.Dir(), "index-pack", "-o", want, strings.TrimSuffix(ours, ".idx")+".pack")
	a, _ := os.ReadFile(ours)
	b, _ := os.ReadFile(want)
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Fatalf("our index of %s (%d bytes) differs from git index-pack's (%d bytes)", filepath.Base(ours), len(a), len(b))
	}
	runGit(t, r.Dir(), "fsck", "--strict")

	content, found, err := r.ReadFile("ns-3/cm-0010.yaml")
	if err != nil || !found || string(content) != "data: 10\n" {
		t.Fatalf("ReadFile after the large commit: %q %v %v", content, found, err)
	}
	small := commit(t, r, "stream", put("ns-3/cm-0010.yaml", "data: ten\n"), del("ns-0/cm-0000.yaml"))
	equal(t, small.Files, 2, "Files of the small commit")
	runGit(t, r.Dir(), "fsck", "--strict")
	rm.git(t, "fsck", "--strict")
	cli := rm.clone(t, "main")
	equal(t, runGit(t, cli, "show", "HEAD:ns-3/cm-0010.yaml"), "data: ten", "content after both commits")
	equal(t, strings.Count(runGit(t, cli, "ls-files"), "\n")+1, 1199, "files in a fresh clone")
}
