package git

import (
	"bytes"
	"errors"
	"io"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/configbutler/gitops-reverser/pkg/gitmodel"
)

// contentBlob is a blob over a change's content as the caller gave it: no
// copy. plumbing.MemoryObject copies what is written into it, so a snapshot
// of 100,000 files held every rendered file twice until the push (the
// caller's change and the pack's object). Callers hand their content over
// (they do not write to it afterwards), which is what makes sharing it safe.
type contentBlob struct {
	hash    plumbing.Hash
	content []byte
}

func newContentBlob(content []byte) *contentBlob {
	return &contentBlob{hash: plumbing.ComputeHash(plumbing.BlobObject, content), content: content}
}

func (b *contentBlob) Hash() plumbing.Hash         { return b.hash }
func (b *contentBlob) Type() plumbing.ObjectType   { return plumbing.BlobObject }
func (b *contentBlob) SetType(plumbing.ObjectType) {}
func (b *contentBlob) Size() int64                 { return int64(len(b.content)) }
func (b *contentBlob) SetSize(int64)               {}
func (b *contentBlob) Reader() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(b.content)), nil
}

// Writer is never used: a contentBlob is complete when it is made.
func (b *contentBlob) Writer() (io.WriteCloser, error) { return nil, errReadOnlyBlob }

var errReadOnlyBlob = errors.New("git: a change's blob is read-only")

// storedBlob is a blob over content a caller already compressed
// (gitmodel.Hold): the pack writer copies its zlib stream as it is
// (writeObject), and Reader inflates it for anyone who reads the content.
type storedBlob struct{ sb *gitmodel.StoredBlob }

func (b storedBlob) Hash() plumbing.Hash             { return b.sb.Hash }
func (b storedBlob) Type() plumbing.ObjectType       { return plumbing.BlobObject }
func (b storedBlob) SetType(plumbing.ObjectType)     {}
func (b storedBlob) Size() int64                     { return b.sb.Size }
func (b storedBlob) SetSize(int64)                   {}
func (b storedBlob) Reader() (io.ReadCloser, error)  { return b.sb.Open() }
func (b storedBlob) Writer() (io.WriteCloser, error) { return nil, errReadOnlyBlob }

// deflated is the object's content as a pack entry's zlib stream.
func (b storedBlob) deflated() (io.Reader, int64, error) {
	r, err := b.sb.Deflated()
	return r, b.sb.DeflatedLen(), err
}
