package repopath

import (
	"errors"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		path string
		want string // a substring of the reason; "" means valid
	}{
		{path: "clusters/prod"},
		{path: "a.b/c-d_e"},
		{path: "a"},
		{path: "ns/v1/configmaps/x.yaml"},
		{path: ".github/workflows"},
		{path: "a/.gitignore"},
		{path: "a/git/b"},
		{path: "a/..b/c."},
		{path: "ü/日本"},
		{path: "a b"},
		{path: "", want: "must not be empty"}, // ValidateDir: the root, see below
		{path: "/abs", want: "no leading '/'"},
		{path: "/", want: "no leading '/'"},
		{path: "a//b", want: "empty segment"},
		{path: "a/", want: "empty segment"},
		{path: "clusters/prod/", want: "empty segment"},
		{path: ".", want: "'.' or '..'"},
		{path: "./a", want: "'.' or '..'"},
		{path: "a/./b", want: "'.' or '..'"},
		{path: "..", want: "'.' or '..'"},
		{path: "a/../b", want: "'.' or '..'"},
		{path: "a/..", want: "'.' or '..'"},
		{path: ".git", want: "'.git'"},
		{path: ".GIT", want: "'.git'"},
		{path: "x/.Git/hooks", want: "'.git'"},
		{path: "a/.git", want: "'.git'"},
		{path: `a\b`, want: `'\'`},
		{path: `\abs`, want: `'\'`},
		{path: "a\tb", want: "control characters"},
		{path: "a\nb", want: "control characters"},
		{path: "a\rb", want: "control characters"},
		{path: "a\x00b", want: "control characters"},
		{path: "a\x7fb", want: "control characters"},
		{path: "a\x1b[0m", want: "control characters"},
		{path: "a/\xff", want: "valid UTF-8"},
		{path: "\xc3", want: "valid UTF-8"},
	} {
		check := func(name string, err error, want string) {
			t.Helper()
			if want == "" {
				if err != nil {
					t.Errorf("%s(%q) = %v, want valid", name, tc.path, err)
				}
				return
			}
			var pe *Error
			if !errors.As(err, &pe) {
				t.Errorf("%s(%q) = %v, want an *Error mentioning %q", name, tc.path, err, want)
				return
			}
			if pe.Path != tc.path || !strings.Contains(pe.Reason, want) || !strings.Contains(err.Error(), pe.Reason) {
				t.Errorf("%s(%q) = %q (path %q, reason %q), want reason mentioning %q", name, tc.path, err, pe.Path, pe.Reason, want)
			}
		}
		check("Validate", Validate(tc.path), tc.want)
		if tc.path != "" {
			check("ValidateDir", ValidateDir(tc.path), tc.want)
		}
	}
	// For a directory, "" is the repository root.
	if err := ValidateDir(""); err != nil {
		t.Errorf(`ValidateDir("") = %v, want valid (the repository root)`, err)
	}
}
