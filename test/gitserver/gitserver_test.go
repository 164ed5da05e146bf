package gitserver_test

import (
	"bytes"
	"crypto/rand"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/configbutler/gitops-reverser/test/gitserver"
)

func gitCmd(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	home := t.TempDir()
	cmd.Env = append(os.Environ(),
		"HOME="+home,
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL="+os.DevNull,
		"GIT_TERMINAL_PROMPT=0",
		"GIT_ASKPASS=",
		"SSH_ASKPASS=",
		"GIT_AUTHOR_NAME=Test", "GIT_AUTHOR_EMAIL=test@example.com",
		"GIT_COMMITTER_NAME=Test", "GIT_COMMITTER_EMAIL=test@example.com",
	)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func mustGit(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := gitCmd(t, dir, args...)
	if err != nil {
		t.Fatalf("git %v: %v: %s", args, err, out)
	}
	return out
}

func noErr(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: unexpected error: %v", what, err)
	}
}

func TestCloneAndPushWithCLI(t *testing.T) {
	srv := gitserver.StartT(t, gitserver.Options{Username: "alice", Password: "s3cret-pw"})
	_, err := srv.CreateBareRepo("org/demo")
	noErr(t, err, "CreateBareRepo")
	if got, want := srv.URL("org/demo"), srv.BaseURL()+"/org/demo.git"; got != want {
		t.Fatalf("URL = %q, want %q", got, want)
	}
	if strings.Contains(srv.URL("org/demo"), "s3cret-pw") {
		t.Fatal("URL must not contain the password")
	}

	work := t.TempDir()
	mustGit(t, work, "clone", "--quiet", srv.URLWithCredentials("org/demo"), "c1")
	c1 := filepath.Join(work, "c1")
	noErr(t, os.WriteFile(filepath.Join(c1, "hello.txt"), []byte("hi\n"), 0o644), "write")
	// A >1 MiB incompressible file makes the git CLI send a chunked request
	// body, which the server must spool for net/http/cgi.
	big := make([]byte, 3<<20)
	_, _ = rand.Read(big)
	noErr(t, os.WriteFile(filepath.Join(c1, "big.bin"), big, 0o644), "write")
	mustGit(t, c1, "add", ".")
	mustGit(t, c1, "commit", "--quiet", "-m", "first")
	mustGit(t, c1, "push", "--quiet", "origin", "HEAD:main")

	mustGit(t, work, "clone", "--quiet", srv.URLWithCredentials("org/demo"), "c2")
	c2 := filepath.Join(work, "c2")
	got, err := os.ReadFile(filepath.Join(c2, "hello.txt"))
	noErr(t, err, "read hello.txt")
	if string(got) != "hi\n" {
		t.Fatalf("hello.txt = %q", got)
	}
	got, err = os.ReadFile(filepath.Join(c2, "big.bin"))
	noErr(t, err, "read big.bin")
	if !bytes.Equal(got, big) {
		t.Fatal("big.bin differs after round trip")
	}
	if b := strings.TrimSpace(mustGit(t, c2, "rev-parse", "--abbrev-ref", "HEAD")); b != "main" {
		t.Fatalf("default branch = %q, want main", b)
	}

	if _, err := srv.CreateBareRepo("org/demo"); err == nil {
		t.Fatal("creating an existing repo must fail")
	}
	if _, err := srv.CreateBareRepo("../escape"); err == nil {
		t.Fatal("a repo name escaping the root must be refused")
	}
}

func TestWrongCredentialsRefused(t *testing.T) {
	srv := gitserver.StartT(t, gitserver.Options{Username: "alice", Password: "right"})
	_, err := srv.CreateBareRepo("demo")
	noErr(t, err, "CreateBareRepo")

	infoRefs := srv.URL("demo") + "/info/refs?service=git-upload-pack"
	status := func(user, pass string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, infoRefs, nil)
		noErr(t, err, "NewRequest")
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := http.DefaultClient.Do(req)
		noErr(t, err, "GET info/refs")
		_ = resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("WWW-Authenticate")
	}
	for _, c := range []struct{ user, pass string }{{"", ""}, {"alice", "wrong"}, {"bob", "right"}} {
		code, www := status(c.user, c.pass)
		if code != http.StatusUnauthorized || !strings.HasPrefix(www, "Basic ") {
			t.Fatalf("%q/%q: status %d, WWW-Authenticate %q; want 401 + Basic challenge", c.user, c.pass, code, www)
		}
	}
	if code, _ := status("alice", "right"); code != http.StatusOK {
		t.Fatalf("right credentials: status %d, want 200", code)
	}

	// git CLI: a wrong password fails clearly, without prompting.
	bad := strings.Replace(srv.URLWithCredentials("demo"), ":right@", ":wrong@", 1)
	out, err := gitCmd(t, t.TempDir(), "clone", bad, "x")
	if err == nil || !strings.Contains(out, "Authentication failed") {
		t.Fatalf("clone with wrong password: err=%v out=%s", err, out)
	}
	if out, err := gitCmd(t, t.TempDir(), "ls-remote", srv.URL("demo")); err == nil {
		t.Fatalf("ls-remote without credentials succeeded: %s", out)
	}
}

func TestNewWithRootAndServe(t *testing.T) {
	root := t.TempDir()
	srv, err := gitserver.New(gitserver.Options{Username: "u", Password: "p", Root: root})
	noErr(t, err, "New")
	done := make(chan error, 1)
	go func() { done <- srv.Serve() }()

	path, err := srv.CreateBareRepo("r")
	noErr(t, err, "CreateBareRepo")
	if want := filepath.Join(root, "r.git"); path != want {
		t.Fatalf("path = %q, want %q", path, want)
	}
	mustGit(t, t.TempDir(), "ls-remote", srv.URLWithCredentials("r"))

	noErr(t, srv.Close(), "Close")
	noErr(t, <-done, "Serve")
	noErr(t, srv.Close(), "second Close")
	_, err = os.Stat(path)
	noErr(t, err, "a caller-provided root is kept")
}

// TestAdvertisementsCounted: every ls-remote, clone and push of a repository
// is one ref advertisement of it, and of no other repository.
func TestAdvertisementsCounted(t *testing.T) {
	srv := gitserver.StartT(t, gitserver.Options{Username: "alice", Password: "s3cret-pw"})
	for _, r := range []string{"one", "org/two"} {
		_, err := srv.CreateBareRepo(r)
		noErr(t, err, "CreateBareRepo "+r)
	}
	dir := t.TempDir()
	mustGit(t, dir, "ls-remote", srv.URLWithCredentials("one"))
	mustGit(t, dir, "ls-remote", srv.URLWithCredentials("one"))
	mustGit(t, dir, "clone", "-q", srv.URLWithCredentials("org/two"), "two")
	if got := srv.Advertisements("one"); got != 2 {
		t.Errorf("one: %d advertisements, want 2 (two ls-remotes)", got)
	}
	if got := srv.Advertisements("org/two.git"); got != 1 {
		t.Errorf("org/two: %d advertisements, want 1 (a clone)", got)
	}
	if got := srv.Advertisements("three"); got != 0 {
		t.Errorf("three: %d advertisements of a repository never asked for", got)
	}
}
