package git

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

// urlKind classifies a Git remote URL by transport.
type urlKind int

const (
	kindHTTP urlKind = iota + 1 // http:// and https://
	kindSSH                     // ssh://, git+ssh://, ssh+git:// and scp-like user@host:path
	kindGit                     // git:// (unauthenticated git daemon)
	kindFile                    // file:// and local paths
)

// parsedURL is the transport-relevant view of a remote URL.
type parsedURL struct {
	kind   urlKind
	scheme string // lower-case; "ssh" for scp-like URLs, "file" for local paths
	user   string
	pass   string
	hasPwd bool
	host   string // lower-case, without brackets or port
	port   string // empty when absent
	path   string // as given (leading "/" for non-local URLs)
	scp    bool
}

// scpLike matches "[user@]host:path" where host contains no "/" (so local
// paths such as "./a:b" or "/tmp/x" are not mistaken for it). A bracketed
// IPv6 host is tried first: "[::1]:path" is not host "[" and path ":1]:path".
var scpLike = regexp.MustCompile(`^(?:([^@/]+)@)?(\[[^\]]+\]|[^@/:]+):(.*)$`)

func parseRemoteURL(raw string) (parsedURL, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return parsedURL{}, errors.New("empty repository URL")
	}
	if strings.Contains(raw, "://") {
		u, err := url.Parse(raw)
		if err != nil {
			// url.Error embeds the raw URL, which may contain credentials.
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err
			}
			return parsedURL{}, fmt.Errorf("invalid repository URL %q: %w", Redact(raw), err)
		}
		p := parsedURL{scheme: strings.ToLower(u.Scheme), host: strings.ToLower(u.Hostname()), port: u.Port(), path: u.Path}
		if u.User != nil {
			p.user = u.User.Username()
			p.pass, p.hasPwd = u.User.Password()
		}
		switch p.scheme {
		case "http", "https":
			p.kind = kindHTTP
		case "ssh", "git+ssh", "ssh+git":
			p.kind, p.scheme = kindSSH, "ssh"
		case "git":
			p.kind = kindGit
		case "file":
			p.kind = kindFile
			if u.Host != "" && u.Host != "localhost" {
				return parsedURL{}, fmt.Errorf("unsupported file URL %q: only local paths are supported", Redact(raw))
			}
			return p, nil
		default:
			return parsedURL{}, fmt.Errorf("unsupported repository URL scheme %q", u.Scheme)
		}
		if p.host == "" {
			return parsedURL{}, fmt.Errorf("repository URL %q has no host", Redact(raw))
		}
		return p, nil
	}
	if m := scpLike.FindStringSubmatch(raw); m != nil && !isWindowsDrive(raw) {
		user := m[1]
		p := parsedURL{kind: kindSSH, scheme: "ssh", scp: true, user: user,
			host: strings.ToLower(strings.Trim(m[2], "[]")), path: "/" + strings.TrimLeft(m[3], "/")}
		if i := strings.IndexByte(user, ':'); i >= 0 {
			p.user, p.pass, p.hasPwd = user[:i], user[i+1:], true
		}
		return p, nil
	}
	// Anything else is a local path (what go-git and git treat as file transport).
	return parsedURL{kind: kindFile, scheme: "file", path: raw}, nil
}

func isWindowsDrive(s string) bool {
	return len(s) >= 2 && s[1] == ':' && ((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z'))
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
	p, err := parseRemoteURL(raw)
	if err != nil {
		return "", err
	}
	if p.kind == kindFile {
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
	host := p.host
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if p.port != "" && p.port != defaultPorts[p.scheme] {
		host = net.JoinHostPort(strings.Trim(host, "[]"), p.port)
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
	p, err := parseRemoteURL(raw)
	if err != nil {
		return credInText.MatchString(raw)
	}
	if p.hasPwd {
		return true
	}
	return p.kind == kindHTTP && p.user != ""
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
