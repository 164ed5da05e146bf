package worker

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"

	"k8s.io/klog/v2"

	"github.com/configbutler/gitops-reverser/pkg/lifecycle/mirror"
)

// cloneHashLen is the number of hex digits of the key's hash in a clone
// directory's name (128 bits).
const cloneHashLen = 32

// CloneDirName is the directory of a worker's clone under the work dir. It
// must be injective: two workers sharing a clone would share its files, its
// index and its credentials. A sanitized name alone is not (env/prod and
// env_prod both became env_prod), so the name is a readable part, bounded so
// the whole stays far below 255 bytes, and the SHA-256 of the whole key.
// The key's parts hold no NUL (URLs, branch names and object names cannot),
// so NUL separates them unambiguously in what is hashed.
func CloneDirName(k mirror.BranchKey) string {
	sum := sha256.Sum256([]byte(k.Repo + "\x00" + k.Branch + "\x00" + k.Provider))
	return readable(k.Repo, 80) + "@" + readable(k.Branch, 40) + "-" + hex.EncodeToString(sum[:])[:cloneHashLen]
}

// readable keeps letters, digits, '.', '-' and '_' of s (others become '_'),
// at most max bytes of them.
func readable(s string, max int) string {
	b := make([]byte, 0, min(len(s), max))
	for i := 0; i < len(s) && len(b) < max; i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_' {
			b = append(b, c)
		} else {
			b = append(b, '_')
		}
	}
	return string(b)
}

// currentCloneDir matches the names CloneDirName makes.
var currentCloneDir = regexp.MustCompile(`@[A-Za-z0-9._-]*-[0-9a-f]{32}$`)

// removeLegacyClones removes clones named the way earlier versions named
// them (without the key's hash): they are never opened again, and a clone can
// be large. Losing one costs the worker a fresh clone and a full snapshot.
func removeLegacyClones(workDir string) {
	entries, err := os.ReadDir(workDir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !e.IsDir() || currentCloneDir.MatchString(e.Name()) || !isLegacyClone(e.Name()) {
			continue
		}
		if err := os.RemoveAll(filepath.Join(workDir, e.Name())); err != nil {
			klog.InfoS("Removing a clone of an earlier version failed", "dir", e.Name(), "err", err)
			continue
		}
		klog.InfoS("Removed a clone of an earlier version (its name did not identify one worker)", "dir", e.Name())
	}
}

// legacyCloneDir matches names of earlier versions: the sanitized repository
// and branch joined by '@' (no '/', ':', '#' or '\' in either part).
var legacyCloneDir = regexp.MustCompile(`^[^/:#\\@]+@[^/:#\\@]+$`)

func isLegacyClone(name string) bool { return legacyCloneDir.MatchString(name) }
