// Package repopath is the single definition of a repository-relative path.
// Admission (GitTarget.spec.path, pkg/apis/configbutler/validation) and the git
// engine (every path pkg/git reads or writes) apply this one rule, so a path the
// API accepts is never refused later by a branch worker, and a path the engine
// refuses can never be admitted.
//
// A repository path is slash-separated, relative to the repository root and
// canonical, that is written in exactly one way:
//   - no leading "/" (absolute), and no empty segment: no trailing or double "/";
//   - no "." or ".." segment;
//   - no ".git" segment in any letter case (".GIT" is the repository's own
//     directory on a case-insensitive checkout);
//   - no backslash (a separator on Windows checkouts), no control character
//     (U+0000 to U+001F, including NUL, tab and newline, and DEL), and valid UTF-8.
//
// The package is pure (no I/O) and depends on neither go-git nor Kubernetes.
package repopath

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Error says why a path is not a repository path.
type Error struct {
	// Path is the offending path.
	Path string
	// Reason is why, phrased to follow the path or a field name, such as
	// "must not contain a '.' or '..' segment".
	Reason string
}

func (e *Error) Error() string { return fmt.Sprintf("path %q: %s", e.Path, e.Reason) }

// Validate checks a repository-relative file path such as "ns/kind/name.yaml".
// The empty path is refused. The error, if any, is an *Error.
func Validate(p string) error {
	if p == "" {
		return &Error{Path: p, Reason: "must not be empty"}
	}
	if reason := check(p); reason != "" {
		return &Error{Path: p, Reason: reason}
	}
	return nil
}

// ValidateDir checks a repository-relative directory such as a target's
// "clusters/prod". The empty path is the repository root and is valid; a
// trailing "/" is not (the canonical form has none). The error, if any, is an
// *Error.
func ValidateDir(p string) error {
	if p == "" {
		return nil
	}
	return Validate(p)
}

// check returns why the non-empty path p is not a repository path, or "".
func check(p string) string {
	if strings.HasPrefix(p, "/") {
		return "must be relative to the repository root (no leading '/')"
	}
	if !utf8.ValidString(p) {
		return "must be valid UTF-8"
	}
	for i := 0; i < len(p); i++ {
		if p[i] < 0x20 || p[i] == 0x7f {
			return "must not contain control characters (such as NUL, tab, newline or DEL)"
		}
	}
	if strings.ContainsRune(p, '\\') {
		return `must not contain '\'; use '/' as the separator`
	}
	for _, seg := range strings.Split(p, "/") {
		switch {
		case seg == "":
			return "must not contain an empty segment (a trailing or double '/')"
		case seg == "." || seg == "..":
			return "must not contain a '.' or '..' segment"
		case strings.EqualFold(seg, ".git"):
			return "must not contain a '.git' segment (in any letter case)"
		}
	}
	return ""
}
