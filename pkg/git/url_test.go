package git_test

import (
	"strings"
	"testing"

	gitpkg "github.com/configbutler/gitops-reverser/pkg/git"
)

func TestNormalizeURL(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		// One repository, many spellings.
		{"https://github.com/a/b", "github.com/a/b"},
		{"https://github.com/a/b.git", "github.com/a/b"},
		{"https://github.com/a/b.git/", "github.com/a/b"},
		{"https://github.com/a/b/", "github.com/a/b"},
		{"HTTPS://GitHub.COM/a/b", "github.com/a/b"},
		{"https://github.com:443/a/b", "github.com/a/b"},
		{"http://github.com:80/a/b", "github.com/a/b"},
		{"https://user:token@github.com/a/b.git", "github.com/a/b"},
		{"https://x-access-token@github.com/a/b", "github.com/a/b"},
		{"git@github.com:a/b.git", "github.com/a/b"},
		{"git@github.com:a/b", "github.com/a/b"},
		{"git@github.com:/a/b.git", "github.com/a/b"},
		{"github.com:a/b.git", "github.com/a/b"},
		{"ssh://git@github.com/a/b.git", "github.com/a/b"},
		{"ssh://git@github.com:22/a/b", "github.com/a/b"},
		{"git+ssh://git@github.com/a/b", "github.com/a/b"},
		{"https://github.com/a/b?foo=bar#frag", "github.com/a/b"},
		{"https://github.com//a//b", "github.com/a/b"},
		// Path case is significant; non-default ports are kept.
		{"https://github.com/A/B", "github.com/A/B"},
		{"https://git.example.com:8443/a/b.git", "git.example.com:8443/a/b"},
		{"ssh://git@git.example.com:2222/a/b.git", "git.example.com:2222/a/b"},
		{"http://127.0.0.1:8080/repo.git", "127.0.0.1:8080/repo"},
		{"https://[::1]:8443/a/b", "[::1]:8443/a/b"},
		{"https://[::1]/a/b", "[::1]/a/b"},
		{"git://example.com/a/b.git", "example.com/a/b"},
		{"https://gitlab.com/group/sub/project.git", "gitlab.com/group/sub/project"},
		// Local repositories keep .git (a different directory).
		{"file:///srv/git/repo.git", "file:///srv/git/repo.git"},
		{"file:///srv/git/repo.git/", "file:///srv/git/repo.git"},
		{"/srv/git/repo.git", "file:///srv/git/repo.git"},
		{"/srv/git/../git/repo", "file:///srv/git/repo"},
	} {
		got, err := gitpkg.NormalizeURL(tc.in)
		if err != nil {
			t.Errorf("NormalizeURL(%q): %v", tc.in, err)
			continue
		}
		if got != tc.want {
			t.Errorf("NormalizeURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	for _, in := range []string{"", "   ", "https://github.com", "https://github.com/", "https:///a/b", "ftp://example.com/a", "https://github.com/.git", "https://user:p%zz@host/a"} {
		if got, err := gitpkg.NormalizeURL(in); err == nil {
			t.Errorf("NormalizeURL(%q) = %q, want an error", in, got)
		}
	}
	// Errors must not echo credentials.
	if _, err := gitpkg.NormalizeURL("https://user:hunter2-secret@host/"); err == nil || strings.Contains(err.Error(), "hunter2-secret") {
		t.Errorf("error for a URL with credentials = %v", err)
	}
}

func TestHasCredentials(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"https://github.com/a/b", false},
		{"https://user:pass@github.com/a/b", true},
		{"https://ghp_token@github.com/a/b", true},
		{"http://user:@host/a", true},
		{"git@github.com:a/b.git", false},
		{"github.com:a/b.git", false},
		{"ssh://git@github.com/a/b", false},
		{"ssh://git:secret@github.com/a/b", true},
		{"user:secret@github.com:a/b.git", true},
		{"file:///srv/repo.git", false},
		{"/srv/repo.git", false},
		{"https://user:p%zz@host/a", true}, // unparseable, detected textually
	} {
		if got := gitpkg.HasCredentials(tc.in); got != tc.want {
			t.Errorf("HasCredentials(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestRedact(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		{"https://github.com/a/b", "https://github.com/a/b"},
		{"https://user:pass@github.com/a/b", "https://***@github.com/a/b"},
		{"https://ghp_token@github.com/a/b", "https://***@github.com/a/b"},
		{"ssh://git@github.com/a/b", "ssh://git@github.com/a/b"},
		{"ssh://git:pw@github.com/a/b", "ssh://***@github.com/a/b"},
		{"git@github.com:a/b.git", "git@github.com:a/b.git"},
		{"user:pw@github.com:a/b.git", "***@github.com:a/b.git"},
		{`Get "https://u:p@ss@host:8443/r.git/info/refs": EOF`, `Get "https://***@host:8443/r.git/info/refs": EOF`},
		{"fetch https://a:b@x/r and https://c:d@y/s", "fetch https://***@x/r and https://***@y/s"},
	} {
		if got := gitpkg.Redact(tc.in); got != tc.want {
			t.Errorf("Redact(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
