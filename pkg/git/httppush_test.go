package git_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	gitpkg "github.com/configbutler/gitops-reverser/pkg/git"
)

// TestPushStreamsThePackWithItsLength: a push over http sends the pack from
// a file spooled in the clone (there while the request arrives), not from
// memory (see receivePackHTTP), with a Content-Length; git-receive-pack
// takes it (fsck), and the spooled file is gone afterwards.
func TestPushStreamsThePackWithItsLength(t *testing.T) {
	var mu sync.Mutex
	var lengths []int64
	var spooled []int
	dir := filepath.Join(t.TempDir(), "clone")
	rm := newRemoteWithHook(t, func(r *http.Request) {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/git-receive-pack") {
			files, _ := filepath.Glob(filepath.Join(dir, "objects", "pack", "tmp_pack_push_*"))
			mu.Lock()
			lengths, spooled = append(lengths, r.ContentLength), append(spooled, len(files))
			mu.Unlock()
		}
	})
	r := openRepo(t, rm, "main", dir)
	var changes []gitpkg.Change
	for i := 0; i < 2000; i++ {
		changes = append(changes, put(fmt.Sprintf("d%d/f%d.yaml", i%20, i), strings.Repeat(fmt.Sprintf("line %d\n", i), 50)))
	}
	res := commit(t, r, "many", changes...)
	equal(t, res.Files, 2000, "Files")
	rm.git(t, "fsck", "--strict")
	equal(t, strings.Count(rm.git(t, "ls-tree", "-r", "--name-only", "main"), "\n"), 1999, "files in the pushed tree (newlines between 2000)")
	mu.Lock()
	defer mu.Unlock()
	if len(lengths) == 0 {
		t.Fatal("no push reached git-receive-pack")
	}
	for i, n := range lengths {
		if n <= 0 || spooled[i] != 1 {
			t.Errorf("push %d: Content-Length %d, %d spooled packs in the clone while it was sent; want a length and one", i, n, spooled[i])
		}
	}
	left, _ := filepath.Glob(filepath.Join(dir, "objects", "pack", "tmp_pack_push_*"))
	if len(left) != 0 {
		t.Errorf("spooled packs left behind: %v", left)
	}
	if _, err := os.Stat(filepath.Join(dir, "objects", "pack")); err != nil {
		t.Fatal(err)
	}
}

// TestPushRedirectIsNotFollowed: a remote that redirects the POST of a push
// (to another port here: a 307 would resend the pack and the credentials)
// fails the push with where it points, and nothing reaches that address.
func TestPushRedirectIsNotFollowed(t *testing.T) {
	rm := newRemote(t)
	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { elsewhere.Add(1) }))
	defer other.Close()
	origin, err := url.Parse(rm.url())
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: origin.Scheme, Host: origin.Host})
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/git-receive-pack") {
			http.Redirect(w, r, other.URL+r.URL.Path, http.StatusTemporaryRedirect)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	defer front.Close()
	r, err := gitpkg.Open(testCtx(t), gitpkg.Options{URL: front.URL + origin.Path, Branch: "main", Dir: filepath.Join(t.TempDir(), "c"), Auth: rm.auth(),
		Author: gitpkg.Signature{Name: "Reverser Bot", Email: "bot@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	_, err = r.CommitAndPush(testCtx(t), []gitpkg.Change{put("a.yaml", "a\n")}, "redirected")
	if err == nil || !strings.Contains(err.Error(), "redirected the push (HTTP 307) to "+other.URL) {
		t.Fatalf("err = %v, want the redirect named", err)
	}
	if n := elsewhere.Load(); n != 0 {
		t.Errorf("the redirect was followed: %d requests reached its target", n)
	}
	if strings.Contains(err.Error(), testPassword) {
		t.Errorf("the error holds the password: %v", err)
	}
}
