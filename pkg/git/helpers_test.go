package git_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"

	gitpkg "github.com/configbutler/gitops-reverser/pkg/git"
	"github.com/configbutler/gitops-reverser/test/gitcli"
	"github.com/configbutler/gitops-reverser/test/gitserver"
)

const (
	testUser     = "reverser"
	testPassword = "pa55-w0rd-do-not-leak"
)

// remote is a bare repository served over HTTP with basic auth.
type remote struct {
	srv  *gitserver.Server
	name string
	path string // bare repo on disk
}

func newRemote(t testing.TB) *remote {
	t.Helper()
	return newRemoteWithHook(t, nil)
}

// newRemoteWithHook is newRemote with a gitserver OnRequest hook.
func newRemoteWithHook(t testing.TB, hook func(*http.Request)) *remote {
	t.Helper()
	srv := gitserver.StartT(t, gitserver.Options{Username: testUser, Password: testPassword, OnRequest: hook})
	path, err := srv.CreateBareRepo("repo")
	if err != nil {
		t.Fatal(err)
	}
	rm := &remote{srv: srv, name: "repo", path: path}
	// Make any forced (non-fast-forward) update fail on the server, and keep
	// a reflog of every update so tests can inspect the branch history.
	rm.git(t, "config", "receive.denyNonFastForwards", "true")
	rm.git(t, "config", "receive.denyDeletes", "true")
	rm.git(t, "config", "core.logAllRefUpdates", "always")
	return rm
}

func (rm *remote) url() string     { return rm.srv.URL(rm.name) }
func (rm *remote) credURL() string { return rm.srv.URLWithCredentials(rm.name) }
func (rm *remote) auth() *githttp.BasicAuth {
	return &githttp.BasicAuth{Username: testUser, Password: testPassword}
}

// git runs git inside the bare repository on the server.
func (rm *remote) git(t testing.TB, args ...string) string {
	t.Helper()
	return runGit(t, rm.path, args...)
}

func gitEnv(home string) []string { return gitcli.Env(home) }

func gitOut(t testing.TB, dir string, args ...string) (string, error) {
	t.Helper()
	return gitcli.Out(dir, nil, args...)
}

func runGit(t testing.TB, dir string, args ...string) string {
	t.Helper()
	return gitcli.Run(t, dir, nil, args...)
}

// clone clones the remote with the git CLI and returns the work tree.
func (rm *remote) clone(t testing.TB, branch string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "cli")
	args := []string{"clone", "--quiet"}
	if branch != "" {
		args = append(args, "--branch", branch)
	}
	runGit(t, filepath.Dir(dir), append(args, rm.credURL(), dir)...)
	return dir
}

// humanCommit commits files (path -> content, "" deletes) with the git CLI
// on branch and pushes it; it returns the new commit hash.
func (rm *remote) humanCommit(t testing.TB, branch string, files map[string]string, msg string) string {
	t.Helper()
	h, err := rm.humanCommitE(t.TempDir(), branch, files, msg)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// humanCommitE is humanCommit without testing.TB, safe to call from a
// server goroutine.
func (rm *remote) humanCommitE(tmp, branch string, files map[string]string, msg string) (string, error) {
	dir := filepath.Join(tmp, "human")
	git := func(args ...string) (string, error) {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = gitEnv(tmp)
		out, err := cmd.CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out)), nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if _, err := git("clone", "--quiet", rm.credURL(), dir); err != nil {
		return "", err
	}
	if out, err := git("rev-parse", "--verify", "--quiet", "origin/"+branch); err == nil {
		if _, err := git("checkout", "--quiet", "-B", branch, out); err != nil {
			return "", err
		}
	} else if _, err := git("checkout", "--quiet", "--orphan", branch); err != nil {
		return "", err
	}
	for p, c := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if c == "" {
			if _, err := git("rm", "--quiet", p); err != nil {
				return "", err
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			return "", err
		}
		if _, err := git("add", p); err != nil {
			return "", err
		}
	}
	if _, err := git("commit", "--quiet", "-m", msg); err != nil {
		return "", err
	}
	if _, err := git("push", "--quiet", "origin", "HEAD:refs/heads/"+branch); err != nil {
		return "", err
	}
	return git("rev-parse", "HEAD")
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func openRepo(t testing.TB, rm *remote, branch, dir string) *gitpkg.Repo {
	t.Helper()
	return openRepoWith(t, rm, branch, gitpkg.Options{Dir: dir})
}

// openRepoWith is openRepo with more options (o.Dir "" for a temporary one).
func openRepoWith(t testing.TB, rm *remote, branch string, o gitpkg.Options) *gitpkg.Repo {
	t.Helper()
	if o.Dir == "" {
		o.Dir = filepath.Join(t.TempDir(), "clone")
	}
	o.URL, o.Branch, o.Auth = rm.url(), branch, rm.auth()
	o.Author = gitpkg.Signature{Name: "Reverser Bot", Email: "bot@example.com"}
	o.RetryBaseDelay = 10 * time.Millisecond
	r, err := gitpkg.Open(testCtx(t), o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

func commit(t testing.TB, r *gitpkg.Repo, msg string, changes ...gitpkg.Change) gitpkg.CommitResult {
	t.Helper()
	res, err := r.CommitAndPush(testCtx(t), changes, msg)
	if err != nil {
		t.Fatalf("CommitAndPush(%s): %v", msg, err)
	}
	return res
}

func put(path, content string) gitpkg.Change {
	return gitpkg.Change{Path: path, Content: []byte(content)}
}

func del(path string) gitpkg.Change { return gitpkg.Change{Path: path, Delete: true} }

func equal[T comparable](t testing.TB, got, want T, what string) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: got %v, want %v", what, got, want)
	}
}

func fmtLines(lines ...string) string { return strings.Join(lines, "\n") }
