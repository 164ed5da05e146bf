package git_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"

	gitpkg "github.com/configbutler/gitops-reverser/pkg/git"
)

func TestParseRemotePolicy(t *testing.T) {
	p, err := gitpkg.ParseRemotePolicy([]string{"loopback", " file"})
	if err != nil || !p.AllowLoopback || !p.AllowFile || p.AllowLinkLocal {
		t.Errorf("%+v %v", p, err)
	}
	if _, err := gitpkg.ParseRemotePolicy([]string{"everything"}); err == nil {
		t.Error("an unknown kind is accepted")
	}
}

// nonLoopbackIP is an address of this machine that is not loopback.
func nonLoopbackIP(t *testing.T) net.IP {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
			return n.IP
		}
	}
	t.Fatal("this machine has no non-loopback IPv4 address to test a redirect with")
	return nil
}

// TestRemotePolicyAtDialTime: with the policy installed, a loopback remote is
// refused when dialed (a name resolving to it too), and so is an HTTP redirect
// from an allowed host to loopback; an HTTP error's body never reaches the
// description; with loopback allowed the same remote answers.
func TestRemotePolicyAtDialTime(t *testing.T) {
	rm := newRemote(t)
	rm.humanCommit(t, "main", map[string]string{"a": "1"}, "seed")
	defer gitpkg.SetRemotePolicy(gitpkg.AllowAll)

	gitpkg.SetRemotePolicy(gitpkg.RemotePolicy{})
	ctx := context.Background()
	url := rm.url() // http://127.0.0.1:PORT/name.git
	if _, err := gitpkg.LsRemote(ctx, url, rm.auth()); !errors.Is(err, gitpkg.ErrRemoteRefused) {
		t.Fatalf("loopback remote: %v, want refused", err)
	}
	// localhost resolves to 127.0.0.1: refused by name, before the dial.
	byName := strings.Replace(url, "127.0.0.1", "localhost", 1)
	if _, err := gitpkg.LsRemote(ctx, byName, rm.auth()); !errors.Is(err, gitpkg.ErrRemoteRefused) {
		t.Fatalf("localhost remote: %v", err)
	}
	// An allowed host that redirects to loopback: the redirect's dial is refused.
	ip := nonLoopbackIP(t)
	l, err := net.Listen("tcp", net.JoinHostPort(ip.String(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/leak") {
			http.Error(w, "SECRET-METADATA-TOKEN", http.StatusInternalServerError)
			return
		}
		if strings.HasPrefix(r.URL.Path, "/gone") {
			http.Error(w, "SECRET-METADATA-TOKEN", http.StatusNotFound)
			return
		}
		http.Redirect(w, r, url+strings.TrimPrefix(r.URL.Path, "/r.git")+"?"+r.URL.RawQuery, http.StatusFound)
	})}
	go srv.Serve(l)
	defer srv.Close()
	base := fmt.Sprintf("http://%s", l.Addr())
	_, err = gitpkg.LsRemote(ctx, base+"/r.git", rm.auth())
	if !errors.Is(err, gitpkg.ErrRemoteRefused) && !strings.Contains(fmt.Sprint(err), "remote refused by the server's policy") {
		t.Fatalf("redirect to loopback: %v, want refused", err)
	}
	// An HTTP error: described by its status, without its body.
	_, err = gitpkg.LsRemote(ctx, base+"/leak.git", nil)
	if err == nil || gitpkg.Describe(err) != "the remote answered HTTP 500" {
		t.Errorf("described as %q (%v)", gitpkg.Describe(err), err)
	}
	if strings.Contains(gitpkg.Describe(err), "SECRET") {
		t.Error("the response body reached the description")
	}
	// go-git puts a 404's body into its error; the description leaves it out.
	_, err = gitpkg.LsRemote(ctx, base+"/gone.git", nil)
	if !strings.Contains(fmt.Sprint(err), "SECRET-METADATA-TOKEN") || gitpkg.Describe(err) != "repository not found" {
		t.Errorf("404: described as %q (%v)", gitpkg.Describe(err), err)
	}

	gitpkg.SetRemotePolicy(gitpkg.RemotePolicy{AllowLoopback: true})
	if n, err := gitpkg.LsRemote(ctx, url, rm.auth()); err != nil || n == 0 {
		t.Fatalf("loopback allowed: %d refs, %v", n, err)
	}
}

func TestDescribe(t *testing.T) {
	ctx := context.Background()
	// A closed port: connection refused, and nothing about the address.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	_, err := gitpkg.LsRemote(ctx, "http://"+addr+"/r.git", nil)
	if d := gitpkg.Describe(err); d != "connection refused" {
		t.Errorf("closed port: %q (%v)", d, err)
	}
	_, err = gitpkg.LsRemote(ctx, "https://does-not-exist.invalid/r.git", nil)
	if d := gitpkg.Describe(err); d != "the host name does not resolve" {
		t.Errorf("unknown host: %q (%v)", d, err)
	}
	if gitpkg.Describe(nil) != "" {
		t.Error("nil")
	}
}
