package gitmodel

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"path"
	"path/filepath"
	"regexp"
	"strings"
)

// RemoteKind classifies a Git remote URL by transport.
type RemoteKind int

const (
	KindHTTP RemoteKind = iota + 1 // http:// and https://
	KindSSH                        // ssh://, git+ssh://, ssh+git:// and scp-like user@host:path
	KindGit                        // git:// (unauthenticated git daemon)
	KindFile                       // file:// and local paths
)

// RemoteURL is the transport-relevant view of a remote URL (ParseRemoteURL).
// Its credentials are not exported: Secrets returns them to be scrubbed.
type RemoteURL struct {
	Kind RemoteKind
	User string // the user name of the URL's user info
	Host string // lower-case, without brackets or port
	Port string // empty when absent

	scheme string // lower-case; "ssh" for scp-like URLs, "file" for local paths
	pass   string
	hasPwd bool
	path   string // as given (leading "/" for non-local URLs)
}

// scpLike matches "[user@]host:path" where host contains no "/" (so local
// paths such as "./a:b" or "/tmp/x" are not mistaken for it). A bracketed
// IPv6 host is tried first: "[::1]:path" is not host "[" and path ":1]:path".
var scpLike = regexp.MustCompile(`^(?:([^@/]+)@)?(\[[^\]]+\]|[^@/:]+):(.*)$`)

// ParseRemoteURL parses a remote URL: https://, http://, ssh:// (and
// git+ssh://, ssh+git://), scp-like [user@]host:path, git://, file:// or a
// local path. Its errors never contain the URL's credentials.
func ParseRemoteURL(raw string) (RemoteURL, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return RemoteURL{}, errors.New("empty repository URL")
	}
	if strings.Contains(raw, "://") {
		return parseSchemeURL(raw)
	}
	if m := scpLike.FindStringSubmatch(raw); m != nil && !isWindowsDrive(raw) {
		user := m[1]
		p := RemoteURL{Kind: KindSSH, scheme: "ssh", User: user,
			Host: strings.ToLower(strings.Trim(m[2], "[]")), path: "/" + strings.TrimLeft(m[3], "/")}
		if i := strings.IndexByte(user, ':'); i >= 0 {
			p.User, p.pass, p.hasPwd = user[:i], user[i+1:], true
		}
		return p, nil
	}
	// Anything else is a local path (what go-git and git treat as file transport).
	return RemoteURL{Kind: KindFile, scheme: "file", path: raw}, nil
}

// parseSchemeURL parses a URL with a scheme ("scheme://...").
func parseSchemeURL(raw string) (RemoteURL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error embeds the raw URL, which may contain credentials.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return RemoteURL{}, fmt.Errorf("invalid repository URL %q: %w", Redact(raw), err)
	}
	p := RemoteURL{scheme: strings.ToLower(u.Scheme), Host: strings.ToLower(u.Hostname()), Port: u.Port(), path: u.Path}
	if u.User != nil {
		p.User = u.User.Username()
		p.pass, p.hasPwd = u.User.Password()
	}
	switch p.scheme {
	case "http", "https":
		p.Kind = KindHTTP
	case "ssh", "git+ssh", "ssh+git":
		p.Kind, p.scheme = KindSSH, "ssh"
	case "git":
		p.Kind = KindGit
	case "file":
		p.Kind = KindFile
		if u.Host != "" && u.Host != "localhost" {
			return RemoteURL{}, fmt.Errorf("unsupported file URL %q: only local paths are supported", Redact(raw))
		}
		return p, nil
	default:
		return RemoteURL{}, fmt.Errorf("unsupported repository URL scheme %q", u.Scheme)
	}
	if p.Host == "" {
		return RemoteURL{}, fmt.Errorf("repository URL %q has no host", Redact(raw))
	}
	return p, nil
}

func isWindowsDrive(s string) bool {
	return len(s) >= 2 && s[1] == ':' && ((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z'))
}

// Secrets returns the values of the URL that are secrets, to be scrubbed
// from error messages: its password, and for http(s) its user name too (may
// be a token: "https://TOKEN@host/...").
func (u RemoteURL) Secrets() []string {
	var s []string
	if u.hasPwd {
		s = append(s, u.pass)
	}
	if u.Kind == KindHTTP && u.User != "" {
		s = append(s, u.User)
	}
	return s
}

var defaultPorts = map[string]string{"http": "80", "https": "443", "ssh": "22", "git": "9418"}

// NormalizeURL returns the repository identity of a remote URL, used to
// decide whether two URLs point at the same repository (and so share one
// branch worker and one local clone).
//
// For network URLs the identity is "host[:port]/path":
//   - the scheme is dropped, so https://, http://, ssh:// and the scp-like
//     form git@host:org/repo all map to the same identity (they reach the same
//     repository on the usual forges);
//   - user info (user names, passwords, tokens) is ignored entirely;
//   - the host is lower-cased (the path keeps its case); IPv6 hosts keep
//     their brackets;
//   - default ports are dropped (80 http, 443 https, 22 ssh, 9418 git);
//     other ports are kept;
//   - query and fragment are dropped; the path is cleaned, and trailing
//     slashes and one ".git" suffix are removed.
//
// Local repositories (file:// URLs and plain paths) normalize to
// "file://" + the cleaned absolute path; their ".git" suffix is kept because
// "repo" and "repo.git" are different directories.
//
// Example: "https://GitHub.com/a/b.git/", "git@github.com:a/b.git" and
// "ssh://git@github.com:22/a/b" all normalize to "github.com/a/b".
//
// Known limitation: forges that use different paths for SSH and HTTPS
// (e.g. Azure DevOps) do not normalize to the same identity.
func NormalizeURL(raw string) (string, error) {
	p, err := ParseRemoteURL(raw)
	if err != nil {
		return "", err
	}
	if p.Kind == KindFile {
		if p.path == "" {
			return "", errors.New("empty local repository path")
		}
		abs, err := filepath.Abs(filepath.FromSlash(p.path))
		if err != nil {
			return "", fmt.Errorf("invalid local repository path: %w", err)
		}
		return "file://" + filepath.ToSlash(abs), nil
	}
	repoPath := strings.TrimRight(p.path, "/")
	repoPath = strings.TrimSuffix(repoPath, ".git")
	repoPath = path.Clean("/" + strings.TrimRight(repoPath, "/"))
	if repoPath == "/" {
		return "", fmt.Errorf("repository URL %q has no repository path", Redact(raw))
	}
	host := p.Host
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if p.Port != "" && p.Port != defaultPorts[p.scheme] {
		host = net.JoinHostPort(strings.Trim(host, "[]"), p.Port)
	}
	return host + repoPath, nil
}

// HasCredentials reports whether a URL embeds a secret in its user info:
//   - any password ("user:secret@"), for every scheme including scp-like;
//   - for http(s), also a bare user name ("https://TOKEN@host/..."), because
//     tokens are commonly passed that way.
//
// An SSH user name alone (git@host:org/repo, ssh://git@host/org/repo) is not
// a credential. Unparseable input is checked textually.
func HasCredentials(raw string) bool {
	p, err := ParseRemoteURL(raw)
	if err != nil {
		return credInText.MatchString(raw)
	}
	if p.hasPwd {
		return true
	}
	return p.Kind == KindHTTP && p.User != ""
}

var credInText = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.\-]*://[^\s/?#]+@`)

// userinfoInText finds "scheme://userinfo@" anywhere in a string. The
// greedy userinfo stops at the last "@" before the first "/", "?", "#" or
// whitespace.
var userinfoInText = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.\-]*)://([^\s/?#]+)@`)

// Redact removes credentials from a URL or from any text containing URLs
// (log lines, error messages). User info is replaced with "***", except a
// password-less user name on an SSH URL (ssh://git@host), which is kept. A
// scp-like "user:password@host:path" is redacted as well.
func Redact(s string) string {
	s = userinfoInText.ReplaceAllStringFunc(s, func(m string) string {
		sub := userinfoInText.FindStringSubmatch(m)
		scheme, info := strings.ToLower(sub[1]), sub[2]
		isSSH := scheme == "ssh" || scheme == "git+ssh" || scheme == "ssh+git"
		if isSSH && !strings.Contains(info, ":") {
			return m
		}
		return sub[1] + "://***@"
	})
	if !strings.Contains(s, "://") {
		if m := scpLike.FindStringSubmatch(strings.TrimSpace(s)); m != nil && strings.Contains(m[1], ":") {
			return "***@" + m[2] + ":" + m[3]
		}
	}
	return s
}
