package history

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/configbutler/gitops-reverser/pkg/git"
	"github.com/configbutler/gitops-reverser/test/gitcli"
)

// upstream is a repository with a work tree, committed to with the git CLI
// and read by the code under test over file://.
type upstream struct {
	t    testing.TB
	dir  string
	tick int // commit times: one second apart
}

func newUpstream(t testing.TB) *upstream {
	t.Helper()
	u := &upstream{t: t, dir: t.TempDir()}
	u.git("init", "-q", "-b", "main")
	return u
}

func (u *upstream) url() string { return "file://" + u.dir }

func (u *upstream) git(args ...string) string {
	u.t.Helper()
	return gitcli.Run(u.t, u.dir, nil, args...)
}

func (u *upstream) write(path, content string) {
	u.t.Helper()
	p := filepath.Join(u.dir, filepath.FromSlash(path))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		u.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		u.t.Fatal(err)
	}
}

func (u *upstream) rm(path string) {
	u.t.Helper()
	u.git("rm", "-q", path)
}

// commit commits everything with message and returns the commit's hash.
func (u *upstream) commit(message string) string {
	u.t.Helper()
	return u.commitAs("Human", "human@example.com", message)
}

func (u *upstream) commitAs(name, email, message string) string {
	u.t.Helper()
	u.tick++
	date := time.Unix(1_700_000_000+int64(u.tick), 0).UTC().Format(time.RFC3339)
	u.git("add", "-A")
	gitcli.Run(u.t, u.dir, []string{
		"GIT_AUTHOR_NAME=" + name, "GIT_AUTHOR_EMAIL=" + email,
		"GIT_AUTHOR_DATE=" + date, "GIT_COMMITTER_DATE=" + date,
	}, "commit", "-q", "--allow-empty", "-m", message)
	return u.git("rev-parse", "HEAD")
}

// clone opens a go-git clone of the upstream's main branch and a reader of
// it.
func (u *upstream) clone() (*git.Repo, *git.ObjectReader) {
	u.t.Helper()
	repo, err := git.Open(context.Background(), git.Options{URL: u.url(), Branch: "main", Dir: filepath.Join(u.t.TempDir(), "clone")})
	if err != nil {
		u.t.Fatal(err)
	}
	obj := git.OpenObjectReader(repo.Dir(), 0)
	u.t.Cleanup(func() {
		_ = obj.Close()
		_ = repo.Close()
	})
	return repo, obj
}

// syncIndex fetches and brings idx to the clone's tip.
func syncIndex(t testing.TB, repo *git.Repo, obj *git.ObjectReader, idx *Index) bool {
	t.Helper()
	if err := repo.Fetch(context.Background()); err != nil {
		t.Fatal(err)
	}
	changed, err := idx.Update(context.Background(), obj, repo.Head())
	if err != nil {
		t.Fatal(err)
	}
	return changed
}

// ops lists the operations and short commits of revisions, newest first:
// "Create@1234567".
func ops(revs []Revision) []string {
	out := make([]string, len(revs))
	for i, r := range revs {
		out[i] = string(r.Operation) + "@" + r.Commit[:7]
	}
	return out
}

func trailerMsg(subject string, trailers ...string) string {
	return subject + "\n\nSome body.\n\n" + strings.Join(trailers, "\n") + "\n"
}
