package git_test

import (
	"errors"
	"strings"
	"testing"

	gitpkg "github.com/configbutler/gitops-reverser/pkg/git"
)

// TestBlockedFindsWhatCommitRefuses: Blocked names exactly the writes that
// would make CommitAndPush refuse the change set, so leaving them out
// commits the rest.
func TestBlockedFindsWhatCommitRefuses(t *testing.T) {
	rm := newRemote(t)
	r := openRepo(t, rm, "main", "")
	commit(t, r, "foreign files", put("x", "file\n"), put("d/f.yaml/inner", "a directory where we write a file\n"), put("ok/a.yaml", "a\n"))

	changes := []gitpkg.Change{
		put("x/y.yaml", "below a file"),
		put("x/deeper/z.yaml", "further below a file"),
		put("d/f.yaml", "over a directory"),
		put("ok/a.yaml", "an update"),
		put("ok/new/b.yaml", "a create"),
		put("fresh/c.yaml", "a new directory"),
		del("d/f.yaml"), // deleting a directory path is a no-op, never blocked
	}
	blocked, err := r.Blocked(changes)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, strings.Join(blocked, " "), "x/y.yaml x/deeper/z.yaml d/f.yaml", "blocked")
	if _, err := r.CommitAndPush(testCtx(t), changes, "all"); !errors.Is(err, gitpkg.ErrInvalidChange) {
		t.Fatalf("CommitAndPush with the blocked changes: %v, want ErrInvalidChange", err)
	}
	var rest []gitpkg.Change
	for _, c := range changes {
		if !strings.Contains(" "+strings.Join(blocked, " ")+" ", " "+c.Path+" ") || c.Delete {
			rest = append(rest, c)
		}
	}
	commit(t, r, "the rest", rest...)
	equal(t, rm.git(t, "ls-tree", "-r", "--name-only", "main"), fmtLines("d/f.yaml/inner", "fresh/c.yaml", "ok/a.yaml", "ok/new/b.yaml", "x"), "tree")

	// A file deleted by the same change set does not block what goes below it.
	blocked, err = r.Blocked([]gitpkg.Change{del("x"), put("x/y.yaml", "y")})
	if err != nil || len(blocked) != 0 {
		t.Fatalf("Blocked with the file deleted: %v %v", blocked, err)
	}
}
