package gitmodel

import (
	"bytes"
	"compress/zlib"
	"io"
	"strings"
	"testing"
)

// TestStoreBlob: a stored blob inflates to its content, with the content's
// blob hash and size, and is smaller than a manifest it holds.
func TestStoreBlob(t *testing.T) {
	for _, content := range [][]byte{nil, []byte("x"), []byte(strings.Repeat("apiVersion: v1\nkind: ConfigMap\n", 40))} {
		sb := StoreBlob(content)
		zr, err := zlib.NewReader(bytes.NewReader(sb.Deflated))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(zr)
		if err != nil || !bytes.Equal(got, content) {
			t.Errorf("inflated %q (%v), want %q", got, err, content)
		}
		if sb.Hash != BlobHash(content) || sb.Size != int64(len(content)) {
			t.Errorf("hash %s size %d, want %s %d", sb.Hash, sb.Size, BlobHash(content), len(content))
		}
		if len(content) > 1000 && len(sb.Deflated) > len(content)/4 {
			t.Errorf("%d bytes stored as %d", len(content), len(sb.Deflated))
		}
	}
}
