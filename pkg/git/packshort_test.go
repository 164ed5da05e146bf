package git

import (
	"io"
	"strings"
	"testing"

	"github.com/configbutler/gitops-reverser/pkg/gitmodel"
)

// shortBlob is a planned file whose zlib stream reads back shorter than it
// was stored (a spill file cut under the spool).
type shortBlob struct{ storedBlob }

func (shortBlob) deflated() (io.Reader, int64, error) {
	return strings.NewReader("short"), 10, nil
}

// TestPackRefusesAShortPlannedFile: a planned file that reads back shorter
// than stored fails the pack instead of cutting the object in a pack whose
// checksum would be right.
func TestPackRefusesAShortPlannedFile(t *testing.T) {
	p := newPackWriter(io.Discard)
	err := p.writeObject(shortBlob{storedBlob{gitmodel.Hold(gitmodel.Compress([]byte("0123456789")))}})
	if err == nil || !strings.Contains(err.Error(), "10 bytes, 5 read back") {
		t.Errorf("writeObject: %v, want the short read named", err)
	}
}
