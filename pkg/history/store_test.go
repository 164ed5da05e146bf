package history

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testStore returns a store over dir whose resolver counts its calls.
func testStore(t *testing.T, dir string, o StoreOptions) (*Store, *atomic.Int32) {
	t.Helper()
	var calls atomic.Int32
	o.Dir = dir
	if o.Resolve == nil {
		o.Resolve = func(ctx context.Context, key BranchKey) (Remote, error) {
			calls.Add(1)
			return Remote{}, nil
		}
	}
	s, err := NewStore(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, &calls
}

func keyOf(u *upstream) BranchKey {
	return BranchKey{URL: u.url(), Branch: "main", Name: "repo#main via ns/provider"}
}

// eventually polls cond for up to 10 seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// TestStoreQueriesContentAndRefresh: the first query waits for the clone;
// content and diffs of each operation; a new commit shows up after a
// background fetch.
func TestStoreQueriesContentAndRefresh(t *testing.T) {
	u := newUpstream(t)
	u.write(cmA, "a: 1\nb: 1\n")
	u.commit("create")
	u.write(cmA, "a: 2\nb: 1\n")
	u.commit("update")
	s, _ := testStore(t, t.TempDir(), StoreOptions{FreshFor: 20 * time.Millisecond})
	ctx := context.Background()
	key := keyOf(u)
	revs, err := s.Revisions(ctx, key, cmA)
	if err != nil || len(revs) != 2 {
		t.Fatalf("%v %v", revs, err)
	}
	content, diff, err := s.ContentAndDiff(ctx, key, revs[0])
	if err != nil || string(content) != "a: 2\nb: 1\n" {
		t.Fatalf("update content %q: %v", content, err)
	}
	if want := "--- a/" + cmA + "\n+++ b/" + cmA + "\n@@ -1,2 +1,2 @@\n-a: 1\n+a: 2\n b: 1\n"; diff != want {
		t.Errorf("update diff:\n%s\nwant:\n%s", diff, want)
	}
	if _, diff, _ := s.ContentAndDiff(ctx, key, revs[1]); diff != "--- /dev/null\n+++ b/"+cmA+"\n@@ -0,0 +1,2 @@\n+a: 1\n+b: 1\n" {
		t.Errorf("create diff:\n%s", diff)
	}

	u.rm(cmA)
	del := u.commit("delete")
	eventually(t, "the delete", func() bool {
		revs, err = s.Revisions(ctx, key, cmA)
		return err == nil && len(revs) == 3
	})
	if revs[0].Commit != del || revs[0].Operation != Delete {
		t.Fatalf("%+v", revs[0])
	}
	content, diff, err = s.ContentAndDiff(ctx, key, revs[0])
	if err != nil || string(content) != "a: 2\nb: 1\n" || diff != "--- a/"+cmA+"\n+++ /dev/null\n@@ -1,2 +0,0 @@\n-a: 2\n-b: 1\n" {
		t.Errorf("delete: %q %q %v", content, diff, err)
	}
	if c, err := s.Content(ctx, key, revs[1]); err != nil || string(c) != "a: 2\nb: 1\n" {
		t.Errorf("content: %q %v", c, err)
	}
	if _, err := s.Content(ctx, key, Revision{Blob: "nothex"}); err == nil {
		t.Error("a bad blob hash was read")
	}
	st, ok := s.Stats(key)
	if !ok || !st.Ready || st.Fetches == 0 || st.Walked != 3 || st.LastError != "" {
		t.Errorf("stats: %+v", st)
	}
	if filepath.Base(st.Dir) != CloneDirName(key) {
		t.Errorf("clone dir %s", st.Dir)
	}
}

// TestStoreReopenLoadsIndex: a new store on the same directory loads the
// saved index and walks only the commits made since; a corrupt index file
// is rebuilt from history.
func TestStoreReopenLoadsIndex(t *testing.T) {
	u := newUpstream(t)
	for i := range 5 {
		u.write(fmt.Sprintf("v1/configmaps/ns/cm%d.yaml", i), "x\n")
		u.commit("c")
	}
	dir := t.TempDir()
	ctx := context.Background()
	key := keyOf(u)
	s1, _ := testStore(t, dir, StoreOptions{})
	if _, err := s1.Revisions(ctx, key, "x"); err != nil {
		t.Fatal(err)
	}
	st, _ := s1.Stats(key)
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s1.Revisions(ctx, key, "x"); !errors.Is(err, ErrClosed) {
		t.Errorf("query after Close: %v", err)
	}

	u.write("v1/configmaps/ns/late.yaml", "x\n")
	late := u.commit("late")
	s2, _ := testStore(t, dir, StoreOptions{})
	revs, err := s2.Revisions(ctx, key, "v1/configmaps/ns/late.yaml")
	if err != nil || len(revs) != 1 || revs[0].Commit != late {
		t.Fatalf("%v %v", revs, err)
	}
	if st2, _ := s2.Stats(key); st2.Walked != 1 || st2.Entries != 6 {
		t.Errorf("after reopening: %+v (want 1 commit walked; the first store walked %d)", st2, st.Walked)
	}
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	s2b, _ := testStore(t, dir, StoreOptions{})
	if _, err := s2b.Revisions(ctx, key, "x"); err != nil {
		t.Fatal(err)
	}
	if st2b, _ := s2b.Stats(key); st2b.Walked != 0 || st2b.Entries != 6 || st2b.Tip != late {
		t.Errorf("reopened without new commits: %+v (want no walk)", st2b)
	}
	if err := s2b.Close(); err != nil {
		t.Fatal(err)
	}

	if err := os.WriteFile(filepath.Join(st.Dir, IndexFile), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	s3, _ := testStore(t, dir, StoreOptions{})
	if _, err := s3.Revisions(ctx, key, "x"); err != nil {
		t.Fatal(err)
	}
	if st3, _ := s3.Stats(key); st3.Walked != 6 || st3.Entries != 6 {
		t.Errorf("after a corrupt index: %+v (want a rebuild)", st3)
	}
}

// TestStoreConcurrentQueries: many queries at once while the branch moves
// (run with -race).
func TestStoreConcurrentQueries(t *testing.T) {
	u := newUpstream(t)
	u.write(cmA, "0\n")
	u.commit("c0")
	s, _ := testStore(t, t.TempDir(), StoreOptions{FreshFor: time.Millisecond})
	key := keyOf(u)
	ctx := context.Background()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var failed atomic.Value
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				var err error
				switch g % 3 {
				case 0:
					var revs []Revision
					if revs, err = s.Revisions(ctx, key, cmA); err == nil && len(revs) > 0 {
						_, _, err = s.ContentAndDiff(ctx, key, revs[0])
					}
				case 1:
					_, err = s.List(ctx, key, ListOptions{Prefix: "base", Limit: 2})
				default:
					_, _, err = s.Revision(ctx, key, "abcd", cmA)
				}
				if err != nil {
					failed.Store(err)
				}
			}
		}()
	}
	for i := 1; i <= 10; i++ {
		u.write(cmA, fmt.Sprintf("%d\n", i))
		u.commit("c")
	}
	eventually(t, "the last commit", func() bool {
		revs, err := s.Revisions(ctx, key, cmA)
		return err == nil && len(revs) == 11
	})
	close(stop)
	wg.Wait()
	if err := failed.Load(); err != nil {
		t.Fatal(err)
	}
}

// TestStoreIdleAndFailures: an idle clone is closed and opened again on
// demand; a failed open is retried after FreshFor; a failed fetch leaves the
// index answering and the next refresh resolves the remote again.
func TestStoreIdleAndFailures(t *testing.T) {
	u := newUpstream(t)
	u.write(cmA, "0\n")
	u.commit("c0")
	ctx := context.Background()
	key := keyOf(u)
	s, calls := testStore(t, t.TempDir(), StoreOptions{FreshFor: 20 * time.Millisecond, IdleAfter: 50 * time.Millisecond})
	if _, err := s.Revisions(ctx, key, cmA); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the idle clone to close", func() bool { _, open := s.Stats(key); return !open })
	if revs, err := s.Revisions(ctx, key, cmA); err != nil || len(revs) != 1 {
		t.Fatalf("after closing: %v %v", revs, err)
	}

	moved := u.dir + ".moved"
	if err := os.Rename(u.dir, moved); err != nil {
		t.Fatal(err)
	}
	before := calls.Load()
	eventually(t, "a failed fetch", func() bool {
		revs, err := s.Revisions(ctx, key, cmA)
		if err != nil || len(revs) != 1 {
			t.Fatalf("a failing remote broke queries: %v %v", revs, err)
		}
		st, _ := s.Stats(key)
		return st.LastError != ""
	})
	if err := os.Rename(moved, u.dir); err != nil {
		t.Fatal(err)
	}
	u.write(cmA, "1\n")
	u.commit("c1")
	eventually(t, "recovery", func() bool {
		revs, err := s.Revisions(ctx, key, cmA)
		return err == nil && len(revs) == 2
	})
	if calls.Load() == before {
		t.Error("the remote was not resolved again after a failed fetch")
	}

	s2, calls2 := testStore(t, t.TempDir(), StoreOptions{FreshFor: 500 * time.Millisecond})
	bad := BranchKey{URL: "file:///nonexistent/repo", Branch: "main", Name: "bad"}
	if _, err := s2.Revisions(ctx, bad, "x"); err == nil {
		t.Fatal("a missing repository opened")
	}
	if _, err := s2.Revisions(ctx, bad, "x"); err == nil || calls2.Load() != 1 {
		t.Errorf("a failed open was retried at once (%v)", err)
	}
	time.Sleep(600 * time.Millisecond)
	if _, err := s2.Revisions(ctx, bad, "x"); err == nil || calls2.Load() != 2 {
		t.Errorf("a failed open was not retried after FreshFor (%v)", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Revisions(cctx, BranchKey{URL: u.url(), Branch: "main", Name: "other"}, "x"); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled query: %v", err)
	}
}

// TestStoreQueryWaitsBoundedForAnOpen: a query of a branch still being
// cloned and indexed fails with ErrOpening after WaitOpen, the open goes
// on, and a query after it answers.
func TestStoreQueryWaitsBoundedForAnOpen(t *testing.T) {
	u := newUpstream(t)
	u.write(cmA, "0\n")
	u.commit("c0")
	slow := make(chan struct{})
	s, _ := testStore(t, t.TempDir(), StoreOptions{WaitOpen: 50 * time.Millisecond, Resolve: func(ctx context.Context, key BranchKey) (Remote, error) {
		<-slow // the clone is slow to come
		return Remote{}, nil
	}})
	ctx := context.Background()
	start := time.Now()
	if _, err := s.Revisions(ctx, keyOf(u), cmA); !errors.Is(err, ErrOpening) {
		t.Fatalf("a query during the open: %v, want ErrOpening", err)
	}
	if waited := time.Since(start); waited > 5*time.Second {
		t.Fatalf("the query waited %s", waited)
	}
	close(slow)
	eventually(t, "the open to finish", func() bool {
		revs, err := s.Revisions(ctx, keyOf(u), cmA)
		return err == nil && len(revs) == 1
	})
}
