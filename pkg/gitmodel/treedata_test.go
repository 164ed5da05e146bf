package gitmodel

import (
	"errors"
	"io"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// encodeTree is a tree's content as go-git writes it.
func encodeTree(t *testing.T, entries []object.TreeEntry) TreeData {
	t.Helper()
	obj := &plumbing.MemoryObject{}
	if err := (&object.Tree{Entries: entries}).Encode(obj); err != nil {
		t.Fatal(err)
	}
	rd, _ := obj.Reader()
	b, err := io.ReadAll(rd)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestTreeDataReadsWhatGitWrites: every kind of entry, in order, with its
// mode, name and hash.
func TestTreeDataReadsWhatGitWrites(t *testing.T) {
	want := []object.TreeEntry{
		{Name: "README.md", Mode: filemode.Regular, Hash: plumbing.NewHash("0123456789abcdef0123456789abcdef01234567")},
		{Name: "bin", Mode: filemode.Executable, Hash: plumbing.NewHash("1123456789abcdef0123456789abcdef01234567")},
		{Name: "clusters", Mode: filemode.Dir, Hash: plumbing.NewHash("2123456789abcdef0123456789abcdef01234567")},
		{Name: "link", Mode: filemode.Symlink, Hash: plumbing.NewHash("3123456789abcdef0123456789abcdef01234567")},
		{Name: "sub", Mode: filemode.Submodule, Hash: plumbing.NewHash("4123456789abcdef0123456789abcdef01234567")},
		{Name: "名前 with spaces", Mode: filemode.Regular, Hash: plumbing.NewHash("5123456789abcdef0123456789abcdef01234567")},
	}
	data := encodeTree(t, want)
	var e TreeEntry
	var got []object.TreeEntry
	for off, done, err := data.Next(0, &e); !done; off, done, err = data.Next(off, &e) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, object.TreeEntry{Name: string(e.Name), Mode: e.Mode, Hash: e.Hash})
	}
	if len(got) != len(want) {
		t.Fatalf("%d entries, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("entry %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	if _, done, err := TreeData(nil).Next(0, &e); !done || err != nil {
		t.Errorf("the empty tree: done %v err %v", done, err)
	}
}

// TestTreeDataRefusesMalformedData: a truncated or garbled tree is an error,
// never a panic or an entry made up.
func TestTreeDataRefusesMalformedData(t *testing.T) {
	good := encodeTree(t, []object.TreeEntry{{Name: "a", Mode: filemode.Regular, Hash: plumbing.NewHash("0123456789abcdef0123456789abcdef01234567")}})
	for name, data := range map[string]TreeData{
		"truncated hash":  good[:len(good)-1],
		"no name end":     TreeData("100644 a"),
		"empty name":      append(TreeData("100644 \x00"), make([]byte, 20)...),
		"mode not octal":  append(TreeData("100694 a\x00"), make([]byte, 20)...),
		"no mode":         append(TreeData(" a\x00"), make([]byte, 20)...),
		"mode too long":   append(TreeData("10064400 a\x00"), make([]byte, 20)...),
		"no space at all": TreeData("garbage"),
	} {
		var e TreeEntry
		if _, _, err := data.Next(0, &e); !errors.Is(err, ErrBadTree) {
			t.Errorf("%s: %v, want ErrBadTree", name, err)
		}
	}
}

// TestCompareEntries: Git's order, where a directory sorts as its name
// followed by '/'.
func TestCompareEntries(t *testing.T) {
	file := func(n string) *TreeEntry { return &TreeEntry{Name: []byte(n), Mode: filemode.Regular} }
	dir := func(n string) *TreeEntry { return &TreeEntry{Name: []byte(n), Mode: filemode.Dir} }
	for _, c := range []struct {
		a, b *TreeEntry
		want int
	}{
		{file("a"), file("b"), -1},
		{file("a"), file("a"), 0},
		{dir("a"), dir("a"), 0},
		{file("a"), dir("a"), -1},    // "a" < "a/"
		{dir("a"), file("a.b"), 1},   // "a/" > "a.b" ('/' > '.')
		{dir("a"), file("a0"), -1},   // "a/" < "a0" ('/' < '0')
		{file("ab"), dir("a"), 1},    // "ab" > "a/"
		{file("a-b"), file("a"), 1},  // longer, same prefix
		{dir("foo"), dir("foo-"), 1}, // "foo/" > "foo-/" ('/' > '-')
	} {
		if got := CompareEntries(c.a, c.b); got != c.want {
			t.Errorf("CompareEntries(%q%s, %q%s) = %d, want %d", c.a.Name, slash(c.a), c.b.Name, slash(c.b), got, c.want)
		}
	}
}

func slash(e *TreeEntry) string {
	if e.IsDir() {
		return "/"
	}
	return ""
}
