package git_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"

	gitpkg "github.com/configbutler/gitops-reverser/pkg/git"
)

func TestEmptyRemoteFirstCommitCreatesBranch(t *testing.T) {
	rm := newRemote(t)
	dir := filepath.Join(t.TempDir(), "clones", "repo-main")
	r := openRepo(t, rm, "main", dir)

	equal(t, r.Head(), plumbing.ZeroHash, "Head of an empty remote")
	files, err := r.ListFiles("")
	if err != nil || len(files) != 0 {
		t.Fatalf("ListFiles on unborn branch = %v, %v", files, err)
	}
	if _, found, err := r.ReadFile("a.yaml"); found || err != nil {
		t.Fatalf("ReadFile on unborn branch: found=%v err=%v", found, err)
	}
	// No-op on an unborn branch: deleting nothing creates nothing.
	res := commit(t, r, "nothing", del("missing.yaml"))
	equal(t, res.Changed, false, "Changed for a delete-only change set on an unborn branch")

	res = commit(t, r, "first", put("ns/app.yaml", "kind: ConfigMap\n"))
	equal(t, res.Changed, true, "Changed")
	equal(t, res.Pushed, true, "Pushed")
	equal(t, res.Attempts, 1, "Attempts")
	equal(t, res.Files, 1, "Files")
	equal(t, r.Head(), res.Hash, "Head after push")

	equal(t, rm.git(t, "rev-parse", "refs/heads/main"), res.Hash.String(), "server main")
	equal(t, rm.git(t, "rev-list", "--parents", "-n1", "main"), res.Hash.String(), "root commit has no parent")
	equal(t, rm.git(t, "show", "main:ns/app.yaml"), "kind: ConfigMap", "content")
	equal(t, rm.git(t, "log", "-1", "--format=%an <%ae>|%cn|%s", "main"), "Reverser Bot <bot@example.com>|Reverser Bot|first", "author/message")
	rm.git(t, "fsck", "--strict")

	cli := rm.clone(t, "")
	equal(t, runGit(t, cli, "rev-parse", "--abbrev-ref", "HEAD"), "main", "cloned default branch")

	// The clone directory is a bare repository with delta compression off,
	// and no temporary directory was left next to it.
	cfg, err := os.ReadFile(filepath.Join(dir, "config"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(cfg), "window = 0") {
		t.Fatalf("pack.window not set to 0 in clone config:\n%s", cfg)
	}
	if strings.Contains(string(cfg), testPassword) {
		t.Fatal("password stored in clone config")
	}
	entries, _ := os.ReadDir(filepath.Dir(dir))
	if len(entries) != 1 {
		t.Fatalf("unexpected entries next to the clone: %v", entries)
	}
}

func TestMissingBranchStartsOrphan(t *testing.T) {
	rm := newRemote(t)
	mainHash := rm.humanCommit(t, "main", map[string]string{"README.md": "hello\n"}, "human main")

	r := openRepo(t, rm, "gitops", "")
	equal(t, r.Head(), plumbing.ZeroHash, "Head of a missing branch")

	res := commit(t, r, "ours", put("cluster/a.yaml", "a: 1\n"))
	equal(t, res.Pushed, true, "Pushed")
	equal(t, rm.git(t, "rev-parse", "refs/heads/gitops"), res.Hash.String(), "server gitops")
	equal(t, rm.git(t, "rev-list", "--parents", "-n1", "gitops"), res.Hash.String(), "orphan root commit")
	equal(t, rm.git(t, "ls-tree", "-r", "--name-only", "gitops"), "cluster/a.yaml", "gitops tree")
	equal(t, rm.git(t, "rev-parse", "refs/heads/main"), mainHash, "main untouched")
}

func TestReopenFetchesAndDoesNotReclone(t *testing.T) {
	rm := newRemote(t)
	dir := filepath.Join(t.TempDir(), "clone")
	r := openRepo(t, rm, "main", dir)
	first := commit(t, r, "ours", put("a.yaml", "a\n"))
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	// A marker that a re-clone (which starts from a fresh directory) would lose.
	marker := filepath.Join(dir, "reverser-marker")
	if err := os.WriteFile(marker, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	human := rm.humanCommit(t, "main", map[string]string{"docs/notes.md": "by a human\n"}, "human edit")

	r2 := openRepo(t, rm, "main", dir)
	equal(t, r2.Head().String(), human, "Head after reopen")
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("clone directory was recreated: %v", err)
	}
	got, found, err := r2.ReadFile("docs/notes.md")
	if err != nil || !found || string(got) != "by a human\n" {
		t.Fatalf("ReadFile(docs/notes.md) = %q, %v, %v", got, found, err)
	}
	// Our earlier commit is the parent of the human commit.
	equal(t, rm.git(t, "rev-parse", human+"^"), first.Hash.String(), "human parent")

	// Fetch also picks up later commits.
	human2 := rm.humanCommit(t, "main", map[string]string{"docs/notes.md": "v2\n"}, "human edit 2")
	if err := r2.Fetch(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	equal(t, r2.Head().String(), human2, "Head after Fetch")

	// A directory that exists but is not a clone is refused, not wiped.
	junk := t.TempDir()
	if err := os.WriteFile(filepath.Join(junk, "file"), []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = gitpkg.Open(testCtx(t), gitpkg.Options{URL: rm.url(), Branch: "main", Dir: junk, Auth: rm.auth()})
	if err == nil || !strings.Contains(err.Error(), "not a git repository") {
		t.Fatalf("Open on a non-repo dir: %v", err)
	}
	if _, err := os.Stat(filepath.Join(junk, "file")); err != nil {
		t.Fatal("Open removed data it does not own")
	}
}

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

func TestConcurrentHumanCommitIsKept(t *testing.T) {
	rm := newRemote(t)
	r := openRepo(t, rm, "main", "")
	base := commit(t, r, "initial", put("apps/a.yaml", "a: 1\n"))

	// A human pushes between our last fetch and our next push.
	human := rm.humanCommit(t, "main", map[string]string{"README.md": "human\n", "apps/a.yaml": "a: 1\n"}, "human commit")
	equal(t, r.Head(), base.Hash, "our view is stale")

	res := commit(t, r, "ours", put("apps/b.yaml", "b: 2\n"), put("apps/a.yaml", "a: 10\n"))
	equal(t, res.Attempts, 2, "Attempts: first push rejected, replayed push accepted")
	equal(t, res.Pushed, true, "Pushed")
	equal(t, res.Files, 2, "Files")

	// History is linear and the human commit is an ancestor (no force push;
	// the server also has receive.denyNonFastForwards=true).
	equal(t, rm.git(t, "rev-parse", "main"), res.Hash.String(), "server tip")
	equal(t, rm.git(t, "rev-parse", "main^"), human, "our parent is the human commit")
	equal(t, rm.git(t, "rev-list", "--merges", "main"), "", "no merges")
	rm.git(t, "merge-base", "--is-ancestor", human, "main")
	equal(t, rm.git(t, "show", "main:README.md"), "human", "human change kept")
	equal(t, rm.git(t, "show", "main:apps/a.yaml"), "a: 10", "our update applied")
	equal(t, rm.git(t, "show", "main:apps/b.yaml"), "b: 2", "our create applied")

	// Every update of main recorded by the server was a fast-forward.
	reflog := strings.Fields(rm.git(t, "reflog", "show", "--format=%H", "refs/heads/main"))
	equal(t, len(reflog), 3, "server ref updates")
	for i := 0; i+1 < len(reflog); i++ {
		rm.git(t, "merge-base", "--is-ancestor", reflog[i+1], reflog[i])
	}
}

func TestReplayThatBecomesEmptyMakesNoCommit(t *testing.T) {
	rm := newRemote(t)
	r := openRepo(t, rm, "main", "")
	commit(t, r, "initial", put("a.yaml", "a\n"), put("old.yaml", "old\n"))
	// A human already made exactly our change.
	human := rm.humanCommit(t, "main", map[string]string{"a.yaml": "a2\n", "old.yaml": ""}, "same change")

	res := commit(t, r, "ours", put("a.yaml", "a2\n"), del("old.yaml"))
	equal(t, res.Changed, false, "Changed")
	equal(t, res.Pushed, false, "Pushed")
	equal(t, res.Attempts, 1, "Attempts")
	equal(t, res.Hash.String(), human, "Hash is the new remote tip")
	equal(t, r.Head().String(), human, "Head")
	equal(t, rm.git(t, "rev-parse", "main"), human, "server untouched")
}

func TestConcurrentBranchCreationIsKept(t *testing.T) {
	rm := newRemote(t)
	r := openRepo(t, rm, "main", "")
	equal(t, r.Head(), plumbing.ZeroHash, "unborn")
	// The branch appears on the remote after our Open.
	human := rm.humanCommit(t, "main", map[string]string{"README.md": "first\n"}, "human creates main")

	res := commit(t, r, "ours", put("a.yaml", "a\n"))
	equal(t, res.Attempts, 2, "Attempts")
	equal(t, rm.git(t, "rev-parse", "main^"), human, "replayed on the human root commit")
	equal(t, rm.git(t, "ls-tree", "-r", "--name-only", "main"), fmtLines("README.md", "a.yaml"), "both files")
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

func TestWrongCredentialsAreRedacted(t *testing.T) {
	rm := newRemote(t)
	const wrong = "wr0ng-secret-value"
	parent := t.TempDir()
	dir := filepath.Join(parent, "clone")

	_, err := gitpkg.Open(testCtx(t), gitpkg.Options{
		URL: rm.url(), Branch: "main", Dir: dir,
		Auth: &githttp.BasicAuth{Username: testUser, Password: wrong},
	})
	if err == nil {
		t.Fatal("Open with a wrong password succeeded")
	}
	if !errors.Is(err, transport.ErrAuthenticationRequired) {
		t.Fatalf("error does not match transport.ErrAuthenticationRequired: %v", err)
	}
	if strings.Contains(err.Error(), wrong) {
		t.Fatalf("error leaks the password: %v", err)
	}
	if !strings.Contains(err.Error(), "authentication required") {
		t.Fatalf("unclear error: %v", err)
	}
	if entries, _ := os.ReadDir(parent); len(entries) != 0 {
		t.Fatalf("failed clone left files behind: %v", entries)
	}

	// Credentials embedded in the URL are scrubbed too.
	badURL := strings.Replace(rm.credURL(), testPassword, wrong, 1)
	_, err = gitpkg.Open(testCtx(t), gitpkg.Options{URL: badURL, Branch: "main", Dir: dir})
	if err == nil || strings.Contains(err.Error(), wrong) {
		t.Fatalf("Open with credentials in URL: err = %v", err)
	}
	t.Logf("error shown to users: %v", err)

	// An existing clone reopened with revoked credentials: the fetch error
	// is clear and redacted, and the clone is kept.
	r := openRepo(t, rm, "main", "")
	commit(t, r, "first", put("a", "a\n"))
	_ = r.Close()
	_, err = gitpkg.Open(testCtx(t), gitpkg.Options{URL: rm.url(), Branch: "main", Dir: r.Dir(),
		Auth: &githttp.BasicAuth{Username: testUser, Password: wrong}})
	if !errors.Is(err, transport.ErrAuthenticationRequired) || strings.Contains(err.Error(), wrong) {
		t.Fatalf("reopen with a wrong password: %v", err)
	}
	if _, err := os.Stat(filepath.Join(r.Dir(), "HEAD")); err != nil {
		t.Fatalf("existing clone removed after an auth error: %v", err)
	}
}

func TestCredentialsInURLWork(t *testing.T) {
	rm := newRemote(t)
	dir := filepath.Join(t.TempDir(), "clone")
	r, err := gitpkg.Open(testCtx(t), gitpkg.Options{URL: rm.credURL(), Branch: "main", Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	res := commit(t, r, "via url creds", put("a", "a\n"))
	equal(t, res.Pushed, true, "Pushed")
}

func TestManyCommitsConsolidatePacks(t *testing.T) {
	rm := newRemote(t)
	dir := filepath.Join(t.TempDir(), "clone")
	open := func() *gitpkg.Repo {
		r, err := gitpkg.Open(testCtx(t), gitpkg.Options{URL: rm.url(), Branch: "main", Dir: dir, Auth: rm.auth(), MaxPacks: 3})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = r.Close() })
		return r
	}
	r := open()
	countPacks := func() int {
		packs, _ := filepath.Glob(filepath.Join(dir, "objects", "pack", "*.pack"))
		return len(packs)
	}
	// Several consolidations, with packs from our commits and from fetches
	// of human commits; every file must stay readable in between (go-git's
	// RepackObjects left stale pack indexes behind: "packfile not found").
	for i := 0; i < 20; i++ {
		commit(t, r, "c", put("f.yaml", strings.Repeat("x", i+1)), put(fmt.Sprintf("dir/%02d", i), "y"))
		if i%5 == 4 {
			rm.humanCommit(t, "main", map[string]string{fmt.Sprintf("human/%02d", i): "h\n"}, "human")
			if err := r.Fetch(testCtx(t)); err != nil {
				t.Fatal(err)
			}
		}
		if n := countPacks(); n > 3 {
			t.Fatalf("after commit %d: %d packfiles, want at most MaxPacks=3", i, n)
		}
		files, err := r.ListFiles("")
		if err != nil {
			t.Fatal(err)
		}
		for p, h := range files {
			got, found, err := r.ReadFile(p)
			if err != nil || !found || gitpkg.BlobHash(got) != h {
				t.Fatalf("after commit %d: ReadFile(%s) = %v %v", i, p, found, err)
			}
		}
	}
	files, err := r.ListFiles("")
	if err != nil || len(files) != 1+20+4 {
		t.Fatalf("ListFiles = %d files, %v", len(files), err)
	}
	runGit(t, dir, "fsck", "--strict") // the local clone is a valid git repository
	_ = r.Close()

	r = open()
	commit(t, r, "after reopen", put("g", "g"))
	rm.git(t, "fsck", "--strict")
}

// TestServerSideRaceIsRejectedAndReplayed makes the remote move after we
// read the advertised refs but before receive-pack runs, so our own check
// passes and only the server's compare-and-swap on the old hash (sent in
// the update command) can reject the push.
func TestServerSideRaceIsRejectedAndReplayed(t *testing.T) {
	for _, unborn := range []bool{false, true} {
		t.Run(fmt.Sprintf("unborn=%v", unborn), func(t *testing.T) {
			var (
				rm      *remote
				armed   atomic.Bool
				human   string
				hookErr error
				tmp     = t.TempDir()
			)
			rm = newRemoteWithHook(t, func(r *http.Request) {
				if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/git-receive-pack") && armed.CompareAndSwap(true, false) {
					human, hookErr = rm.humanCommitE(tmp, "main", map[string]string{"human.txt": "raced\n"}, "racing human")
				}
			})
			r := openRepo(t, rm, "main", "")
			want := fmtLines("b.yaml", "human.txt")
			var base gitpkg.CommitResult
			if !unborn {
				base = commit(t, r, "initial", put("a.yaml", "a\n"))
				want = fmtLines("a.yaml", "b.yaml", "human.txt")
			}

			armed.Store(true)
			res := commit(t, r, "ours", put("b.yaml", "b\n"))
			if hookErr != nil {
				t.Fatal(hookErr)
			}
			if human == "" {
				t.Fatal("race was not injected")
			}
			equal(t, res.Attempts, 2, "Attempts")
			equal(t, rm.git(t, "rev-parse", "main^"), human, "our parent is the racing commit")
			if !unborn {
				equal(t, rm.git(t, "rev-parse", "main^^"), base.Hash.String(), "racing commit's parent")
			}
			equal(t, rm.git(t, "ls-tree", "-r", "--name-only", "main"), want, "tree")
			rm.git(t, "fsck", "--strict")
		})
	}
}

// TestPushGivesUpWhileRemoteKeepsMoving: a remote that moves before every
// one of our pushes makes CommitAndPush stop after MaxPushAttempts with
// ErrPushRejected; the backoff honours the context.
func TestPushGivesUpWhileRemoteKeepsMoving(t *testing.T) {
	var (
		rm      *remote
		n       atomic.Int32
		hookErr atomic.Value
		tmp     = t.TempDir()
	)
	rm = newRemoteWithHook(t, func(r *http.Request) {
		// Only our pushes (go-git) trigger a racing human push (git CLI).
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/git-receive-pack") &&
			strings.HasPrefix(r.UserAgent(), "go-git") {
			i := n.Add(1)
			dir := filepath.Join(tmp, fmt.Sprint(i))
			if _, err := rm.humanCommitE(dir, "main", map[string]string{fmt.Sprintf("h/%d", i): "h\n"}, "racer"); err != nil {
				hookErr.Store(err)
			}
		}
	})
	r, err := gitpkg.Open(testCtx(t), gitpkg.Options{URL: rm.url(), Branch: "main", Dir: filepath.Join(t.TempDir(), "c"),
		Auth: rm.auth(), MaxPushAttempts: 3, RetryBaseDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()

	res, err := r.CommitAndPush(testCtx(t), []gitpkg.Change{put("ours.yaml", "x")}, "ours")
	if e := hookErr.Load(); e != nil {
		t.Fatal(e)
	}
	if !errors.Is(err, gitpkg.ErrPushRejected) {
		t.Fatalf("err = %v, want ErrPushRejected", err)
	}
	equal(t, res.Attempts, 3, "Attempts")
	equal(t, res.Pushed, false, "Pushed")
	equal(t, rm.git(t, "log", "--format=%s", "main"), fmtLines("racer", "racer", "racer"), "only the racing commits landed")

	// Context cancellation during the backoff.
	r2, err := gitpkg.Open(testCtx(t), gitpkg.Options{URL: rm.url(), Branch: "main", Dir: filepath.Join(t.TempDir(), "c2"),
		Auth: rm.auth(), RetryBaseDelay: time.Minute, RetryMaxDelay: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	ctx, cancel := context.WithTimeout(testCtx(t), 2*time.Second)
	defer cancel()
	start := time.Now()
	_, err = r2.CommitAndPush(ctx, []gitpkg.Change{put("ours.yaml", "x")}, "ours")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Fatalf("CommitAndPush ignored the context for %v", d)
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
