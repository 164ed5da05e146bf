package history

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/configbutler/gitops-reverser/pkg/git"
)

// TestObjectReaderFollowsPacks: a reader opened before fetches reads the
// objects they bring, also after the clone merged its packs (MaxPacks 1)
// and deleted the ones the reader had open or indexed.
func TestObjectReaderFollowsPacks(t *testing.T) {
	u := newUpstream(t)
	u.write("f0.yaml", "0\n")
	u.commit("c0")
	repo, err := git.Open(context.Background(), git.Options{URL: u.url(), Branch: "main", Dir: filepath.Join(t.TempDir(), "clone"), MaxPacks: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	obj := git.OpenObjectReader(repo.Dir(), 0)
	defer obj.Close()
	packs := map[string]bool{}
	for i := 1; i <= 6; i++ {
		u.write(fmt.Sprintf("f%d.yaml", i), fmt.Sprintf("%d\n", i))
		u.commit("c")
		if err := repo.Fetch(context.Background()); err != nil {
			t.Fatal(err)
		}
		names, _ := filepath.Glob(filepath.Join(repo.Dir(), "objects", "pack", "*.pack"))
		for _, n := range names {
			packs[n] = true
		}
		for k := 0; k <= i; k++ {
			want := fmt.Sprintf("%d\n", k)
			got, err := obj.ReadBlob(git.BlobHash([]byte(want)))
			if err != nil || string(got) != want {
				t.Fatalf("after fetch %d, blob %d: %q %v", i, k, got, err)
			}
		}
		c, err := obj.Commit(repo.Head())
		if err != nil || !strings.HasPrefix(c.Message, "c") {
			t.Fatalf("commit: %+v %v", c, err)
		}
	}
	now, _ := filepath.Glob(filepath.Join(repo.Dir(), "objects", "pack", "*.pack"))
	if len(now) >= len(packs) {
		t.Errorf("no pack was merged away (%d packs seen, %d now): the test tests nothing", len(packs), len(now))
	}
}

// TestContentTooLarge: a file over git.MaxFileSize is not read.
func TestContentTooLarge(t *testing.T) {
	u := newUpstream(t)
	u.write("big.yaml", strings.Repeat("x", git.MaxFileSize+1))
	u.commit("big")
	s, _ := testStore(t, t.TempDir(), StoreOptions{})
	key := keyOf(u)
	revs, err := s.Revisions(context.Background(), key, "big.yaml")
	if err != nil || len(revs) != 1 {
		t.Fatal(revs, err)
	}
	if _, err := s.Content(context.Background(), key, revs[0]); !errors.Is(err, git.ErrFileTooLarge) {
		t.Errorf("content of a large file: %v", err)
	}
	if _, _, err := s.ContentAndDiff(context.Background(), key, revs[0]); !errors.Is(err, git.ErrFileTooLarge) {
		t.Errorf("diff of a large file: %v", err)
	}
	_ = os.Remove(filepath.Join(u.dir, "big.yaml"))
}
