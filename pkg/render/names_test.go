package render

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/configbutler/gitops-reverser/pkg/repopath"
)

func TestFileStemTable(t *testing.T) {
	long := strings.Repeat("a", 253)
	for _, tc := range []struct {
		name, ext, want string
	}{
		{"hello", Ext, "hello"},
		{"system:controller:job", Ext, "system:controller:job"},
		{`a\b`, Ext, "a%5Cb"},
		{".git", Ext, "%2Egit"},
		{".GIT", Ext, "%2EGIT"},
		{"a.git", Ext, "a.git"},
		{"tab\there", Ext, "tab%09here"},
		{"nl\n", Ext, "nl%0A"},
		{"del\x7f", Ext, "del%7F"},
		{"ünïcode", Ext, "ünïcode"},
		{"bad\xffutf8", Ext, "bad%FFutf8"},
		{strings.Repeat("a", 250), Ext, strings.Repeat("a", 250)},
		{strings.Repeat("a", 245), SecretExt, strings.Repeat("a", 245)},
	} {
		if got := FileStem(tc.name, tc.ext); got != tc.want {
			t.Errorf("FileStem(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
	for _, ext := range []string{Ext, SecretExt} {
		got := FileStem(long, ext)
		if len(got)+len(ext) != MaxFileName || !strings.HasPrefix(got, "aaaa") || !strings.Contains(got, shortMark) {
			t.Errorf("FileStem(253 a's, %s) = %q (%d bytes with the extension), want a shortened name of %d bytes", ext, got, len(got)+len(ext), MaxFileName)
		}
	}
}

// TestFileStemRoundTripsEveryByte: each byte value, alone, inside a name and
// leading it, makes a valid repository file name that parses back to the name.
func TestFileStemRoundTripsEveryByte(t *testing.T) {
	for c := 0; c < 256; c++ {
		for _, name := range []string{string(rune(c)), string([]byte{byte(c)}), "a" + string([]byte{byte(c)}) + "b", string([]byte{byte(c)}) + "x"} {
			if !validObjectName(name) {
				continue // '/', '%', "." and ".." are not object names
			}
			for _, ext := range []string{Ext, SecretExt} {
				stem := FileStem(name, ext)
				if err := repopath.Validate("d/" + stem + ext); err != nil {
					t.Fatalf("FileStem(%q) = %q: %v", name, stem, err)
				}
				if strings.HasPrefix(stem, ".") {
					t.Fatalf("FileStem(%q) = %q starts with a dot", name, stem)
				}
				got, short, ok := ParseStem(stem, ext)
				if !ok || short || got != name {
					t.Fatalf("ParseStem(FileStem(%q) = %q) = %q, %v, %v", name, stem, got, short, ok)
				}
			}
		}
	}
}

// TestFileStemShortensDistinctly: long names stay within 255 bytes, keep a
// readable prefix, are told apart when they share it, and never cut an
// escape or a UTF-8 sequence.
func TestFileStemShortensDistinctly(t *testing.T) {
	seen := map[string]string{}
	prefix := strings.Repeat("x", 240)
	names := []string{
		prefix + "-one-of-two-long-names",
		prefix + "-two-of-two-long-names",
		strings.Repeat("é", 126),            // 252 bytes of two-byte runes
		strings.Repeat(`\`, 90),             // 270 bytes once encoded
		strings.Repeat("a", 243) + `\\\\\\`, // an escape right at the cut
		strings.Repeat("ab", 126) + "c",
	}
	for _, name := range names {
		for _, ext := range []string{Ext, SecretExt} {
			stem := FileStem(name, ext)
			if len(stem)+len(ext) > MaxFileName {
				t.Fatalf("FileStem(%q) is %d bytes with %s", name, len(stem)+len(ext), ext)
			}
			if err := repopath.Validate(stem + ext); err != nil {
				t.Fatalf("FileStem(%q) = %q: %v", name, stem, err)
			}
			got, short, ok := ParseStem(stem, ext)
			if !ok {
				t.Fatalf("ParseStem(%q) not ok", stem)
			}
			if short && got != "" || !short && got != name {
				t.Fatalf("ParseStem(%q) = %q, short %v", stem, got, short)
			}
			if other, dup := seen[stem+ext]; dup && other != name {
				t.Fatalf("%q and %q share the file %q", name, other, stem+ext)
			}
			seen[stem+ext] = name
		}
	}
}

func TestParseStemRefuses(t *testing.T) {
	for _, stem := range []string{"", "%", "a%4", "a%zz", "a%4g", "a%2e", ".", "..", "a%2Fb", "x%~" + strings.Repeat("0", 32)} {
		if name, short, ok := ParseStem(stem, Ext); ok {
			t.Errorf("ParseStem(%q) = %q, %v, true; want refused", stem, name, short)
		}
	}
	// Spellings written before the encoding still parse (to be cleaned up).
	for stem, want := range map[string]string{".git": ".git", strings.Repeat("b", 253): strings.Repeat("b", 253)} {
		if name, _, ok := ParseStem(stem, Ext); !ok || name != want {
			t.Errorf("ParseStem(%q) = %q, %v", stem, name, ok)
		}
	}
}

func TestPathOfHostileNames(t *testing.T) {
	roles := schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "roles"}
	for name, want := range map[string]string{
		`a\b`:                   "base/rbac.authorization.k8s.io/v1/roles/demo/a%5Cb.yaml",
		".git":                  "base/rbac.authorization.k8s.io/v1/roles/demo/%2Egit.yaml",
		strings.Repeat("r", 10): "base/rbac.authorization.k8s.io/v1/roles/demo/rrrrrrrrrr.yaml",
	} {
		got := Path("base", roles, "demo", name)
		if got != want {
			t.Errorf("Path(%q) = %q, want %q", name, got, want)
		}
		ns, parsed, ok := ParsePath("base", roles, true, got)
		if !ok || ns != "demo" || parsed != name {
			t.Errorf("ParsePath(%q) = %q %q %v", got, ns, parsed, ok)
		}
	}
	long := strings.Repeat("c", 253)
	got := Path("", schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}, "demo", long)
	if base := got[strings.LastIndex(got, "/")+1:]; len(base) > MaxFileName {
		t.Fatalf("file name of a 253-character name is %d bytes", len(base))
	}
	ns, name, ok := ParsePath("", schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}, true, got)
	if !ok || ns != "demo" || name != "" {
		t.Fatalf("ParsePath(shortened) = %q %q %v, want demo, \"\" (the name is in the file), true", ns, name, ok)
	}
}
