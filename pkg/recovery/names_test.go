package recovery

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"
)

// TestRevisionNames: a revision's name is a valid object name derived from
// its commit and path alone, parses back, and differs for another path or
// commit.
func TestRevisionNames(t *testing.T) {
	commit := "9a7f31042c1e55d3b2a4c6e8f0a1b2c3d4e5f607"
	seen := map[string]bool{}
	for _, path := range []string{"a/v1/configmaps/demo/hello.yaml", "a/v1/configmaps/demo/hello2.yaml", "a/rbac.authorization.k8s.io/v1/roles/demo/a%5Cb.yaml"} {
		for _, c := range []string{commit, "0" + commit[1:]} {
			name := RevisionName(c, path)
			if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
				t.Fatalf("%s: %v", name, errs)
			}
			if seen[name] {
				t.Fatalf("two revisions named %s", name)
			}
			seen[name] = true
			gotCommit, gotHash, ok := parseName(name)
			if !ok || !strings.HasPrefix(c, gotCommit) || gotHash != pathHash(path) {
				t.Fatalf("parseName(%s) = %s %s %v", name, gotCommit, gotHash, ok)
			}
			if RevisionName(c, path) != name {
				t.Fatal("not stable")
			}
		}
	}
	for _, bad := range []string{"", "x", "9a7f31042c1e", "9a7f31042c1e-", "9a7f31042c1e-0b5e61d2a9f", "9A7F31042C1E-0b5e61d2a9f3", "9a7f31042c1e-0b5e61d2a9f3-x", "zz7f31042c1e-0b5e61d2a9f3"} {
		if _, _, ok := parseName(bad); ok {
			t.Errorf("parseName(%q) accepted", bad)
		}
	}
}
