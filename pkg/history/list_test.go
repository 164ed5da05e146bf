package history

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// listAll pages through List with limit and returns "op path@commit" items.
func listAll(t *testing.T, idx *Index, o ListOptions) []string {
	t.Helper()
	var out []string
	for pages := 0; ; pages++ {
		p, err := idx.List(o)
		if err != nil {
			t.Fatal(err)
		}
		if o.Limit > 0 && len(p.Items) > o.Limit {
			t.Fatalf("page of %d items, limit %d", len(p.Items), o.Limit)
		}
		for _, r := range p.Items {
			out = append(out, r.Path+"@"+r.Commit[:7])
		}
		if p.Continue == "" {
			return out
		}
		o.Continue = p.Continue
		if pages > 1000 {
			t.Fatal("too many pages")
		}
	}
}

// paginationRepo commits to two namespaces and two types, one file a commit,
// and returns its clone's index.
func paginationRepo(t *testing.T) (*upstream, *Index, func()) {
	u := newUpstream(t)
	for i := range 12 {
		ns := []string{"team-a", "team-b"}[i%2]
		res := []string{"v1/configmaps", "apps/v1/deployments"}[i%3%2]
		u.write(fmt.Sprintf("clusters/prod/%s/%s/obj%d.yaml", res, ns, i%5), fmt.Sprintf("v: %d\n", i))
		u.commit(fmt.Sprintf("c%d", i))
	}
	repo, obj := u.clone()
	idx := NewIndex()
	syncIndex(t, repo, obj, idx)
	return u, idx, func() { syncIndex(t, repo, obj, idx) }
}

// TestListPagination: pages of every size put together are the whole list,
// newest first; prefixes and filters select; a token stays valid (and its
// later pages unchanged) while commits are added.
func TestListPagination(t *testing.T) {
	u, idx, sync := paginationRepo(t)
	all := listAll(t, idx, ListOptions{})
	if len(all) != 12 {
		t.Fatalf("%d revisions, want 12", len(all))
	}
	for _, limit := range []int{1, 2, 5, 11, 12, 13} {
		if diff := cmp.Diff(all, listAll(t, idx, ListOptions{Limit: limit})); diff != "" {
			t.Errorf("limit %d (-whole +paged):\n%s", limit, diff)
		}
	}
	teamA := func(p string) bool {
		o, ok := ParsePath("clusters/prod", p)
		return ok && o.Namespace == "team-a"
	}
	var wantA []string
	for _, item := range all {
		if strings.Contains(item, "/team-a/") {
			wantA = append(wantA, item)
		}
	}
	for _, limit := range []int{0, 1, 4} {
		if diff := cmp.Diff(wantA, listAll(t, idx, ListOptions{Prefix: "clusters/prod", Filter: teamA, Limit: limit})); diff != "" {
			t.Errorf("namespace team-a, limit %d (-want +got):\n%s", limit, diff)
		}
	}
	for _, limit := range []int{0, 1, 4} {
		if diff := cmp.Diff(wantA, listAll(t, idx, ListOptions{Prefix: "clusters/prod", Namespaces: []string{"team-a", "team-a"}, Limit: limit})); diff != "" {
			t.Errorf("Namespaces team-a, limit %d (-want +got):\n%s", limit, diff)
		}
	}
	if got := listAll(t, idx, ListOptions{Prefix: "clusters/prod/apps/"}); len(got) != 4 {
		t.Errorf("deployments: %v", got)
	}
	if got := listAll(t, idx, ListOptions{Prefix: "clusters/pro"}); len(got) != 0 {
		t.Errorf("a prefix is a directory, not a string prefix: %v", got)
	}

	first, err := idx.List(ListOptions{Limit: 5})
	if err != nil {
		t.Fatal(err)
	}
	u.write("clusters/prod/v1/configmaps/team-a/late.yaml", "late\n")
	u.commit("late")
	sync()
	rest := listAll(t, idx, ListOptions{Limit: 5, Continue: first.Continue})
	var got []string
	for _, r := range first.Items {
		got = append(got, r.Path+"@"+r.Commit[:7])
	}
	if diff := cmp.Diff(all, append(got, rest...)); diff != "" {
		t.Errorf("pages across an update (-want +got):\n%s", diff)
	}
	if len(listAll(t, idx, ListOptions{})) != 13 {
		t.Error("a new first page does not see the new commit")
	}
	if got := listAll(t, idx, ListOptions{Prefix: "clusters/prod", Namespaces: []string{"team-a"}}); len(got) != len(wantA)+1 {
		t.Errorf("the namespace view missed a path added after it was built: %v", got)
	}
	u.write("clusters/prod/v1/namespaces/team-a.yaml", "ns\n")
	u.write("clusters/prod/README.md", "hello\n")
	u.write("clusters/prod/v1/configmaps/team-a/notes.txt", "not an object\n")
	ns := u.commit("cluster-scoped")
	sync()
	got = listAll(t, idx, ListOptions{Prefix: "clusters/prod", Namespaces: []string{""}})
	if diff := cmp.Diff([]string{"clusters/prod/v1/namespaces/team-a.yaml@" + ns[:7]}, got); diff != "" {
		t.Errorf("cluster-scoped (-want +got):\n%s", diff)
	}
	if got := listAll(t, idx, ListOptions{Prefix: "clusters/prod", Namespaces: []string{"team-a", ""}}); len(got) != len(wantA)+2 {
		t.Errorf("team-a and cluster-scoped: %v", got)
	}
	for _, bad := range []string{"x", "3", "99.0011223344556677", "3.0000000000000000"} {
		if _, err := idx.List(ListOptions{Continue: bad}); !errors.Is(err, ErrExpired) {
			t.Errorf("token %q: %v", bad, err)
		}
	}
}

// TestListByFileName: FileNames selects one object's files (with the
// prefix and namespaces), is the same as a filter on the file name, and
// sees paths added after its view was built.
func TestListByFileName(t *testing.T) {
	u, idx, sync := paginationRepo(t)
	named := func(names ...string) func(string) bool {
		return func(p string) bool {
			for _, n := range names {
				if strings.HasSuffix(p, "/"+n) {
					return true
				}
			}
			return false
		}
	}
	for _, c := range []struct {
		name  string
		o     ListOptions
		names []string
	}{
		{"one name", ListOptions{Prefix: "clusters/prod"}, []string{"obj1.yaml"}},
		{"two names, a repeat", ListOptions{Prefix: "clusters/prod"}, []string{"obj1.yaml", "obj3.yaml", "obj1.yaml"}},
		{"with a namespace", ListOptions{Prefix: "clusters/prod", Namespaces: []string{"team-b"}}, []string{"obj1.yaml", "obj2.yaml"}},
		{"no prefix", ListOptions{}, []string{"obj0.yaml"}},
		{"another prefix", ListOptions{Prefix: "clusters/other"}, []string{"obj0.yaml"}},
		{"no such file", ListOptions{Prefix: "clusters/prod"}, []string{"nothing.yaml"}},
		{"paged", ListOptions{Prefix: "clusters/prod", Limit: 1}, []string{"obj2.yaml", "obj4.yaml"}},
	} {
		byFilter := c.o
		byFilter.Filter = named(c.names...)
		byName := c.o
		byName.FileNames = c.names
		want := listAll(t, idx, byFilter)
		if diff := cmp.Diff(want, listAll(t, idx, byName)); diff != "" {
			t.Errorf("%s (-filter +file names):\n%s", c.name, diff)
		}
		if c.name == "one name" && len(want) == 0 {
			t.Fatal("the fixture has no obj1.yaml")
		}
	}
	u.write("clusters/prod/v1/configmaps/team-a/obj1.yaml", "later\n")
	u.write("clusters/prod/v1/configmaps/team-c/obj1.yaml", "new namespace\n")
	u.commit("later")
	sync()
	want := listAll(t, idx, ListOptions{Prefix: "clusters/prod", Filter: named("obj1.yaml")})
	if diff := cmp.Diff(want, listAll(t, idx, ListOptions{Prefix: "clusters/prod", FileNames: []string{"obj1.yaml"}})); diff != "" || !strings.Contains(strings.Join(want, " "), "team-c") {
		t.Errorf("after a commit (-filter +file names):\n%s", diff)
	}
}

// TestPersistence: a saved index loads to the same content without a walk;
// a corrupt, truncated or other-version file is refused.
func TestPersistence(t *testing.T) {
	u, idx, _ := paginationRepo(t)
	file := filepath.Join(t.TempDir(), IndexFile)
	if err := idx.Save(file); err != nil {
		t.Fatal(err)
	}
	loaded, err := LoadIndex(file)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(listAll(t, idx, ListOptions{}), listAll(t, loaded, ListOptions{})); diff != "" {
		t.Errorf("loaded list (-saved +loaded):\n%s", diff)
	}
	want, _ := idx.List(ListOptions{})
	got, _ := loaded.List(ListOptions{})
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("loaded revisions (-saved +loaded):\n%s", diff)
	}
	st := loaded.Stats()
	if st.Walked != 0 || st.Tip != idx.Stats().Tip || st.Paths != idx.Stats().Paths {
		t.Errorf("loaded stats: %+v", st)
	}
	u.write("clusters/prod/v1/configmaps/team-a/new.yaml", "x\n")
	u.commit("one more")
	repo, obj := u.clone()
	syncIndex(t, repo, obj, loaded)
	if st := loaded.Stats(); st.Walked != 1 || st.Rebuilds != 0 || st.Entries != 13 {
		t.Errorf("update of a loaded index: %+v (want one commit walked)", st)
	}

	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	flip := append([]byte(nil), b...)
	flip[len(flip)/2] ^= 1
	version := append([]byte(nil), b...)
	version[len(fileMagic)] = 2
	for name, content := range map[string][]byte{"flipped": flip, "truncated": b[:len(b)-9], "version": version, "empty": nil} {
		bad := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(bad, content, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadIndex(bad); err == nil {
			t.Errorf("%s file loaded", name)
		}
	}
	if _, err := LoadIndex(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	empty := filepath.Join(t.TempDir(), "empty-index")
	if err := NewIndex().Save(empty); err != nil {
		t.Fatal(err)
	}
	if x, err := LoadIndex(empty); err != nil || x.Stats().Commits != 0 {
		t.Errorf("empty index: %v", err)
	}
}
