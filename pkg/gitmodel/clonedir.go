package gitmodel

import (
	"crypto/sha256"
	"encoding/hex"
)

// CloneHashLen is the number of hex digits of the key's hash in a clone
// directory's name (128 bits).
const CloneHashLen = 32

// CloneDirName is the directory name of a clone of repo's branch for name
// (a worker's provider, a reader's key). It must be injective: two owners
// sharing a clone would share its files, its index and its credentials. A
// sanitized name alone is not (env/prod and env_prod both became env_prod),
// so the name is a readable part, bounded so the whole stays far below 255
// bytes, and the SHA-256 of the whole key. The parts hold no NUL (URLs,
// branch names and object names cannot), so NUL separates them
// unambiguously in what is hashed.
func CloneDirName(repo, branch, name string) string {
	sum := sha256.Sum256([]byte(repo + "\x00" + branch + "\x00" + name))
	return readable(repo, 80) + "@" + readable(branch, 40) + "-" + hex.EncodeToString(sum[:])[:CloneHashLen]
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
