package history

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/configbutler/gitops-reverser/pkg/git"
)

const cmA = "base/v1/configmaps/ns/a.yaml"

// TestIndexCreateUpdateDeleteRecreate: a file's revisions, newest first, with
// their operations, previous commits and blobs, parents, authors, trailers
// and times.
func TestIndexCreateUpdateDeleteRecreate(t *testing.T) {
	u := newUpstream(t)
	u.write(cmA, "a: 1\n")
	u.write("base/v1/configmaps/ns/b.yaml", "b: 1\n")
	c1 := u.commitAs("alice", "alice@kubernetes.invalid", trailerMsg("create", "Kubernetes-User: alice", "Kubernetes-Verb: create", "Replica: r1"))
	u.write(cmA, "a: 2\n")
	c2 := u.commitAs("bob", "bob@kubernetes.invalid", trailerMsg("edit", "Kubernetes-Field-Manager: kubectl-edit", "Kubernetes-Verb: update"))
	u.rm(cmA)
	c3 := u.commitAs("carol", "carol@kubernetes.invalid", trailerMsg("delete", "Kubernetes-User: carol", "Kubernetes-Impersonator: admin", "Kubernetes-Verb: delete"))
	u.write("base/v1/configmaps/ns/b.yaml", "b: 2\n")
	c4 := u.commit("only b")
	u.write(cmA, "a: 3\n")
	c5 := u.commit("Kubernetes-User: not-a-trailer")

	repo, obj := u.clone()
	idx := NewIndex()
	if !syncIndex(t, repo, obj, idx) {
		t.Fatal("the index did not move")
	}
	revs := idx.Revisions(cmA)
	want := []string{"Create@" + c5[:7], "Delete@" + c3[:7], "Update@" + c2[:7], "Create@" + c1[:7]}
	if diff := cmp.Diff(want, ops(revs)); diff != "" {
		t.Fatalf("revisions (-want +got):\n%s", diff)
	}
	blob := func(s string) string { return git.BlobHash([]byte(s)).String() }
	r := revs[1] // the delete
	wantDel := Revision{
		Path: cmA, Operation: Delete, Commit: c3, Parent: c2, PreviousCommit: c2,
		Time: time.Unix(1_700_000_003, 0).UTC(), AuthorName: "carol", AuthorEmail: "carol@kubernetes.invalid",
		User: "carol", Impersonator: "admin", Verb: "delete", Blob: blob("a: 2\n"), PreviousBlob: blob("a: 2\n"),
	}
	if diff := cmp.Diff(wantDel, r); diff != "" {
		t.Errorf("delete (-want +got):\n%s", diff)
	}
	if r := revs[2]; r.FieldManager != "kubectl-edit" || r.User != "" || r.Blob != blob("a: 2\n") || r.PreviousBlob != blob("a: 1\n") {
		t.Errorf("update: %+v", r)
	}
	if r := revs[3]; r.Parent != "" || r.PreviousCommit != "" || r.PreviousBlob != "" || r.User != "alice" || r.Verb != "create" {
		t.Errorf("first create: %+v", r)
	}
	if r := revs[0]; r.PreviousCommit != c3 || r.PreviousBlob != "" || r.User != "" || r.Parent != c4 {
		t.Errorf("re-create (a one-paragraph message has no trailers): %+v", r)
	}
	if got := ops(idx.Revisions("base/v1/configmaps/ns/b.yaml")); !slices.Equal(got, []string{"Update@" + c4[:7], "Create@" + c1[:7]}) {
		t.Errorf("b: %v", got)
	}
	if st := idx.Stats(); st.Tip != c5 || st.Commits != 5 || st.Entries != 6 || st.Paths != 2 || st.Walked != 5 {
		t.Errorf("stats: %+v", st)
	}
}

// TestIndexMergeCommit: a merge commit's changes are what it brought to its
// first parent; the side branch's commits are not in the history.
func TestIndexMergeCommit(t *testing.T) {
	u := newUpstream(t)
	u.write("x/one.yaml", "1\n")
	u.write("x/two.yaml", "1\n")
	u.commit("base")
	u.git("checkout", "-q", "-b", "side")
	u.write("x/two.yaml", "side\n")
	u.write("x/three.yaml", "side\n")
	side := u.commit("side")
	u.git("checkout", "-q", "main")
	u.write("x/one.yaml", "main\n")
	m1 := u.commit("main")
	u.git("merge", "-q", "--no-ff", "-m", "merge side", "side")
	merge := u.git("rev-parse", "HEAD")

	repo, obj := u.clone()
	idx := NewIndex()
	syncIndex(t, repo, obj, idx)
	revs, found, err := idx.InCommit(merge[:8], nil)
	if err != nil || !found {
		t.Fatal(found, err)
	}
	if len(revs) != 2 || revs[0].Path != "x/three.yaml" || revs[0].Operation != Create || revs[1].Path != "x/two.yaml" || revs[1].Operation != Update || revs[0].Parent != m1 {
		t.Fatalf("merge revisions: %+v", revs)
	}
	if _, found, _ := idx.InCommit(side[:8], nil); found {
		t.Error("the side branch's commit is in the first-parent history")
	}
	if got := len(idx.Revisions("x/one.yaml")); got != 2 {
		t.Errorf("x/one.yaml has %d revisions, want 2", got)
	}
}

// TestIndexIncrementalAndForcePush: after a fetch only the new commits are
// walked; when the recorded tip is no longer on the history, the index is
// rebuilt.
func TestIndexIncrementalAndForcePush(t *testing.T) {
	u := newUpstream(t)
	u.write("f.yaml", "0\n")
	c1 := u.commit("c1")
	u.write("f.yaml", "1\n")
	u.commit("c2")
	repo, obj := u.clone()
	idx := NewIndex()
	syncIndex(t, repo, obj, idx)
	if syncIndex(t, repo, obj, idx) {
		t.Error("an update without new commits moved the index")
	}
	for i := range 3 {
		u.write("f.yaml", string(rune('a'+i))+"\n")
		u.commit("more")
	}
	syncIndex(t, repo, obj, idx)
	if st := idx.Stats(); st.Walked != 5 || st.Rebuilds != 0 || st.Entries != 5 {
		t.Fatalf("after 3 more commits: %+v (want 5 walked in all)", st)
	}
	u.git("reset", "-q", "--hard", c1)
	u.write("g.yaml", "new\n")
	c2b := u.commit("rewritten")
	syncIndex(t, repo, obj, idx)
	st := idx.Stats()
	if st.Rebuilds != 1 || st.Tip != c2b || st.Commits != 2 || st.Entries != 2 {
		t.Fatalf("after a force push: %+v", st)
	}
	if got := ops(idx.Revisions("f.yaml")); !slices.Equal(got, []string{"Create@" + c1[:7]}) {
		t.Errorf("f.yaml after the rewrite: %v", got)
	}
}

// TestRevisionByPrefix: lookups by commit prefix, and their errors.
func TestRevisionByPrefix(t *testing.T) {
	u := newUpstream(t)
	u.write("f.yaml", "0\n")
	c1 := u.commit("c1")
	u.write("f.yaml", "1\n")
	c2 := u.commit("c2")
	repo, obj := u.clone()
	idx := NewIndex()
	syncIndex(t, repo, obj, idx)
	if r, ok, err := idx.Revision(c2[:7], "f.yaml"); err != nil || !ok || r.Commit != c2 || r.Operation != Update {
		t.Errorf("c2: %+v %v %v", r, ok, err)
	}
	if r, ok, err := idx.Revision(c1, "f.yaml"); err != nil || !ok || r.Commit != c1 {
		t.Errorf("c1: %+v %v %v", r, ok, err)
	}
	if _, ok, err := idx.Revision(c1[:7], "g.yaml"); err != nil || ok {
		t.Errorf("another path: %v %v", ok, err)
	}
	for _, bad := range []string{"abc", "ABCD", "xyz1", c1 + "0"} {
		if _, _, err := idx.Revision(bad, "f.yaml"); !errors.Is(err, ErrBadPrefix) {
			t.Errorf("prefix %q: %v", bad, err)
		}
	}
	if _, found, err := idx.InCommit("0000000", nil); found || err != nil {
		t.Errorf("unknown commit: %v %v", found, err)
	}
}

// TestTreeOrder: a file and a directory of one name, and names that sort
// differently with the directory's '/', are diffed right.
func TestTreeOrder(t *testing.T) {
	u := newUpstream(t)
	u.write("a", "file\n")
	u.write("a.b", "1\n")
	u.write("a-c/x", "1\n")
	u.commit("c1")
	u.rm("a")
	u.write("a/inner", "dir\n")
	u.write("a.b", "2\n")
	c2 := u.commit("c2")
	repo, obj := u.clone()
	idx := NewIndex()
	syncIndex(t, repo, obj, idx)
	revs, _, err := idx.InCommit(c2[:10], nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range revs {
		got = append(got, string(r.Operation)+" "+r.Path)
	}
	want := []string{"Delete a", "Update a.b", "Create a/inner"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
