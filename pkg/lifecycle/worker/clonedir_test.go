package worker

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/configbutler/gitops-reverser/pkg/lifecycle/mirror"
)

// TestCloneDirNameInjective: keys that a sanitized name would merge get
// their own clones, names stay short and safe, and the same key always
// names the same directory (a restart finds its clone).
func TestCloneDirNameInjective(t *testing.T) {
	long := strings.Repeat("r", 400)
	keys := []mirror.BranchKey{
		{Repo: "host/demo", Branch: "env/prod", Provider: "ns/p"},
		{Repo: "host/demo", Branch: "env_prod", Provider: "ns/p"},
		{Repo: "host/demo", Branch: "env:prod", Provider: "ns/p"},
		{Repo: "host/demo", Branch: "env@prod", Provider: "ns/p"},
		{Repo: "host/demo@env", Branch: "prod", Provider: "ns/p"},
		{Repo: "host/demo", Branch: "env/prod", Provider: "other/p"},
		{Repo: "host/demo", Branch: "env/prod", Provider: "ns/q"},
		{Repo: "host:22/demo", Branch: "main", Provider: "ns/p"},
		{Repo: "host_22/demo", Branch: "main", Provider: "ns/p"},
		{Repo: "host/a", Branch: "b#c", Provider: "ns/p"},
		{Repo: "host/a#b", Branch: "c", Provider: "ns/p"},
		{Repo: long, Branch: "main", Provider: "ns/p"},
		{Repo: long + "x", Branch: "main", Provider: "ns/p"},
		{Repo: "host/demo", Branch: "main", Provider: "ns/p-q"},
		{Repo: "host/demo", Branch: "main", Provider: "ns-p/q"},
	}
	seen := map[string]mirror.BranchKey{}
	for _, k := range keys {
		name := CloneDirName(k)
		if other, dup := seen[name]; dup {
			t.Fatalf("%+v and %+v share the clone %q", k, other, name)
		}
		seen[name] = k
		if len(name) > 160 || strings.ContainsAny(name, "/\\:\x00") || name == "." || name == ".." {
			t.Fatalf("CloneDirName(%+v) = %q: not a short, safe directory name", k, name)
		}
		if CloneDirName(k) != name {
			t.Fatal("CloneDirName is not stable")
		}
		if !currentCloneDir.MatchString(name) || isLegacyClone(name) && !currentCloneDir.MatchString(name) {
			t.Fatalf("CloneDirName(%+v) = %q is not recognised as current", k, name)
		}
	}
}

// TestRemoveLegacyClones: clones named without the key's hash go, current
// ones and other files stay.
func TestRemoveLegacyClones(t *testing.T) {
	dir := t.TempDir()
	current := CloneDirName(mirror.BranchKey{Repo: "127.0.0.1:1/demo", Branch: "main", Provider: "demo/p"})
	for _, d := range []string{"127.0.0.1_1_demo@env_prod", current, "not-a-clone"} {
		if err := os.MkdirAll(filepath.Join(dir, d, ".git"), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "file@x"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	removeLegacyClones(dir)
	for d, want := range map[string]bool{"127.0.0.1_1_demo@env_prod": false, current: true, "not-a-clone": true, "file@x": true} {
		_, err := os.Stat(filepath.Join(dir, d))
		if got := err == nil; got != want {
			t.Errorf("%s exists: %v, want %v", d, got, want)
		}
	}
}
