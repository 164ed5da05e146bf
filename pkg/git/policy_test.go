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

// TestCheckIPMetadataAndMappedForms: cloud metadata endpoints count as
// link-local, loopback as loopback, in every form that reaches them
// (IPv4-mapped IPv6, NAT64); ordinary addresses pass.
func TestCheckIPMetadataAndMappedForms(t *testing.T) {
	for _, tc := range []struct {
		ip   string
		want string // "" allowed, else the --allow-remotes kind named
	}{
		{"169.254.169.254", "link-local"}, // AWS, GCP, Azure IMDS, OpenStack, ...
		{"::ffff:169.254.169.254", "link-local"},
		{"64:ff9b::a9fe:a9fe", "link-local"}, // NAT64 of 169.254.169.254
		{"fd00:ec2::254", "link-local"},      // AWS over IPv6
		{"fd20:ce::254", "link-local"},       // GCP over IPv6
		{"168.63.129.16", "link-local"},      // Azure wireserver
		{"::ffff:168.63.129.16", "link-local"},
		{"::ffff:a83f:8110", "link-local"}, // the same, written in hex
		{"64:ff9b::a83f:8110", "link-local"},
		{"64:ff9b:1::a83f:8110", "link-local"},
		{"100.100.100.200", "link-local"}, // Alibaba Cloud
		{"::ffff:100.100.100.200", "link-local"},
		{"192.0.0.192", "link-local"}, // Oracle Cloud (legacy)
		{"fe80::1", "link-local"},
		{"169.254.0.1", "link-local"},
		{"127.0.0.1", "loopback"},
		{"127.1.2.3", "loopback"},
		{"::1", "loopback"},
		{"::ffff:127.0.0.1", "loopback"},
		{"64:ff9b::7f00:1", "loopback"},
		{"0.0.0.0", "loopback"},
		{"::", "loopback"},
		{"8.8.8.8", ""},
		{"10.0.0.1", ""},
		{"192.168.1.10", ""},
		{"168.63.129.17", ""},
		{"fd20:ce::253", ""},
		{"fd00:ec2::253", ""},
		{"2001:db8::1", ""},
		{"::ffff:8.8.8.8", ""},
		{"64:ff9b::808:808", ""},
	} {
		ip := net.ParseIP(tc.ip)
		if ip == nil {
			t.Fatalf("bad test address %s", tc.ip)
		}
		err := gitpkg.RemotePolicy{}.CheckIP(ip)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v, want allowed", tc.ip, err)
		case tc.want != "" && (!errors.Is(err, gitpkg.ErrRemoteRefused) || !strings.Contains(err.Error(), "--allow-remotes="+tc.want)):
			t.Errorf("%s: %v, want refused as %s", tc.ip, err, tc.want)
		}
		// Each kind is allowed by its own switch only.
		if tc.want == "link-local" {
			if err := (gitpkg.RemotePolicy{AllowLinkLocal: true}).CheckIP(ip); err != nil {
				t.Errorf("%s with link-local allowed: %v", tc.ip, err)
			}
			if err := (gitpkg.RemotePolicy{AllowLoopback: true}).CheckIP(ip); err == nil {
				t.Errorf("%s allowed by loopback", tc.ip)
			}
		}
		if tc.want == "loopback" {
			if err := (gitpkg.RemotePolicy{AllowLinkLocal: true}).CheckIP(ip); err == nil {
				t.Errorf("%s allowed by link-local", tc.ip)
			}
		}
	}
	// Literal hosts in URLs, at admission.
	for _, u := range []string{
		"https://[fd20:ce::254]/r.git",
		"https://168.63.129.16/r.git",
		"https://[::ffff:169.254.169.254]/r.git",
		"https://[::ffff:168.63.129.16]:8443/r.git",
		"ssh://git@[fd00:ec2::254]/r.git",
		"git@[::ffff:100.100.100.200]:org/r.git",
	} {
		if err := (gitpkg.RemotePolicy{}).CheckURL(u); !errors.Is(err, gitpkg.ErrRemoteRefused) {
			t.Errorf("CheckURL(%s) = %v, want refused", u, err)
		}
	}
}
