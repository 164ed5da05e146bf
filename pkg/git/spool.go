package git

import (
	"fmt"
	"os"

	"github.com/configbutler/gitops-reverser/pkg/gitmodel"
)

// NewBlobSpool returns a spool for a plan's files (gitmodel.BlobSpool) that
// spills into the clone's own directory: the disk its packs go to. The file
// is unlinked as soon as it is made, so it is the spool's alone and a crash
// leaves nothing behind to clean up.
func (r *Repo) NewBlobSpool() *gitmodel.BlobSpool {
	dir := r.db.dir
	return gitmodel.NewBlobSpool(func() (gitmodel.SpillFile, error) { return unlinkedFile(dir) })
}

// unlinkedFile makes a file in dir and removes its name.
func unlinkedFile(dir string) (*os.File, error) {
	f, err := os.CreateTemp(dir, "tmp_spool_")
	if err != nil {
		return nil, err
	}
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, fmt.Errorf("unlink %s: %w", f.Name(), err)
	}
	return f, nil
}
