package gitmodel

import (
	"errors"

	"github.com/go-git/go-git/v5/plumbing"
)

// Change is one entry of a change set: write Content (or Stored) at Path, or delete the
// file at Path when Delete is set. Paths are slash-separated and relative to
// the repository root ("ns/kind/name.yaml"), and must be valid by
// repopath.Validate: "", ".", "..", empty segments, a leading "/",
// backslashes, control characters and ".git" segments are rejected.
type Change struct {
	Path    string
	Content []byte
	Delete  bool
	// Stored, when set, is the content already compressed (Hold or a
	// BlobSpool), and Content is nil: what a snapshot holds for each file
	// until its commit. A spilled one reads only until its spool is closed.
	Stored *StoredBlob
}

// ErrInvalidChange is returned (wrapped) for an invalid change set: a bad
// path, or a change that would replace a directory by a file (or a file by a
// directory) in the tree it is applied to.
var ErrInvalidChange = errors.New("invalid change")

// BlobHash returns the git blob hash of content (what `git hash-object`
// prints), so callers can compare desired content with the hashes a listing
// of the tree gives without writing anything.
func BlobHash(content []byte) plumbing.Hash {
	return plumbing.ComputeHash(plumbing.BlobObject, content)
}

// MaxFileSize bounds the blobs the git engine reads (8 MiB). The server only
// reads files it may have written itself: a Kubernetes object is at most
// about 1.5 MiB in etcd, and its SOPS-encrypted manifest (base64 of each
// value, a MAC and the recipients) stays well under twice that. Anyone who
// can push to the repository can put a larger blob where the server reads (a
// 2 GiB file of zeros is 2 MB compressed); its size is read from the object
// header and the blob is never inflated. The bound is on bytes: what callers
// parse out of up to MaxFileSize bytes is theirs to bound.
const MaxFileSize = 8 << 20

// ErrFileTooLarge is returned (wrapped, with found true) for a file larger
// than MaxFileSize. Such a file cannot be one the server wrote: callers treat
// it as a foreign file, which is never decrypted, parsed or deleted (see
// pkg/lifecycle/files).
var ErrFileTooLarge = errors.New("file too large")
