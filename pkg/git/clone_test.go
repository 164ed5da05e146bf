package git_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
