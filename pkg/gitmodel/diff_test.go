package gitmodel

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/configbutler/gitops-reverser/test/gitcli"
)

func lines(from, to int, format string) string {
	var b strings.Builder
	for i := from; i <= to; i++ {
		fmt.Fprintf(&b, format+"\n", i)
	}
	return b.String()
}

// diffCases are inputs for UnifiedDiff, compared with git's output too.
var diffCases = []struct {
	name string
	a, b string
}{
	{"one line changed", "a: 1\n", "a: 2\n"},
	{"create", "", "apiVersion: v1\nkind: ConfigMap\n"},
	{"delete", "apiVersion: v1\nkind: ConfigMap\n", ""},
	{"middle of many", lines(1, 20, "line %d"), strings.Replace(lines(1, 20, "line %d"), "line 10\n", "line ten\n", 1)},
	{"two hunks", lines(1, 30, "l%d"), strings.NewReplacer("l3\n", "L3\n", "l25\n", "L25\n").Replace(lines(1, 30, "l%d"))},
	{"merged hunks (6 apart)", lines(1, 30, "l%d"), strings.NewReplacer("l10\n", "X\n", "l17\n", "Y\n").Replace(lines(1, 30, "l%d"))},
	{"split hunks (7 apart)", lines(1, 30, "l%d"), strings.NewReplacer("l10\n", "X\n", "l18\n", "Y\n").Replace(lines(1, 30, "l%d"))},
	{"insert at start", lines(1, 8, "l%d"), "new\n" + lines(1, 8, "l%d")},
	{"append at end", lines(1, 8, "l%d"), lines(1, 8, "l%d") + "new\n"},
	{"remove a block", lines(1, 15, "l%d"), lines(1, 5, "l%d") + lines(11, 15, "l%d")},
	{"no newline at end, added", "a\nb", "a\nb\n"},
	{"no newline at end, both", "a\nb\nc", "a\nB\nc"},
	{"no newline at end, last changed", "x\ny", "x\nz"},
	{"yaml edit", "apiVersion: v1\ndata:\n  key: old\n  other: same\nkind: ConfigMap\nmetadata:\n  name: cm\n  namespace: ns\n",
		"apiVersion: v1\ndata:\n  key: new\n  other: same\n  third: added\nkind: ConfigMap\nmetadata:\n  name: cm\n  namespace: ns\n"},
}

// TestUnifiedDiffExact: the exact text for small cases.
func TestUnifiedDiffExact(t *testing.T) {
	for _, tc := range []struct{ name, a, b, want string }{
		{"equal", "x\n", "x\n", ""},
		{"update", "a: 1\n", "a: 2\n", "--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a: 1\n+a: 2\n"},
		{"create", "", "x\ny\n", "--- a/f\n+++ b/f\n@@ -0,0 +1,2 @@\n+x\n+y\n"},
		{"delete", "x\n", "", "--- a/f\n+++ b/f\n@@ -1 +0,0 @@\n-x\n"},
		{"newline", "x", "x\n", "--- a/f\n+++ b/f\n@@ -1 +1 @@\n-x\n\\ No newline at end of file\n+x\n"},
		{"context", "1\n2\n3\n4\n5\n", "1\n2\nX\n4\n5\n", "--- a/f\n+++ b/f\n@@ -1,5 +1,5 @@\n 1\n 2\n-3\n+X\n 4\n 5\n"},
	} {
		if got := UnifiedDiff([]byte(tc.a), []byte(tc.b), "a/f", "b/f"); got != tc.want {
			t.Errorf("%s:\n%s\nwant:\n%s", tc.name, got, tc.want)
		}
	}
}

// hunkFunc is the function name git writes after a hunk header.
var hunkFunc = regexp.MustCompile(`(?m)^(@@ [^@]* @@).*$`)

// TestUnifiedDiffMatchesGit: UnifiedDiff prints what `git diff --no-index
// -U3` prints from its "---" line on (without git's function names).
func TestUnifiedDiffMatchesGit(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	dir := t.TempDir()
	for _, tc := range diffCases {
		fa, fb := filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml")
		nameA, nameB := "a/a.yaml", "b/b.yaml"
		args := []string{"diff", "--no-index", "--no-color", "-U3", "a.yaml", "b.yaml"}
		for _, f := range []struct{ path, content string }{{fa, tc.a}, {fb, tc.b}} {
			if err := os.WriteFile(f.path, []byte(f.content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = gitcli.Env(dir)
		out, err := cmd.Output()
		if ee, ok := err.(*exec.ExitError); err != nil && (!ok || ee.ExitCode() != 1) {
			t.Fatalf("%s: git diff: %v", tc.name, err)
		}
		want := string(out)
		if i := strings.Index(want, "--- "); i >= 0 {
			want = hunkFunc.ReplaceAllString(want[i:], "$1")
		}
		if got := UnifiedDiff([]byte(tc.a), []byte(tc.b), nameA, nameB); got != want {
			t.Errorf("%s:\n%s", tc.name, cmp.Diff(want, got))
		}
	}
}

// TestUnifiedDiffLarge: a diff of many distinct lines is still a diff that
// applies (checked with git apply), and a middle over maxDiffLines is shown
// as removed and added.
func TestUnifiedDiffLarge(t *testing.T) {
	a := lines(1, 3000, "line %d")
	b := strings.NewReplacer("line 7\n", "seven\n", "line 2999\n", "").Replace(a) + "tail\n"
	d := UnifiedDiff([]byte(a), []byte(b), "a/f", "b/f")
	if n := strings.Count(d, "\n@@ "); n != 2 {
		t.Errorf("%d hunks, want 3 (one at the start, two merged at the end):\n%s", n+1, d)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte(a), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "p.diff"), []byte(d), 0o644); err != nil {
		t.Fatal(err)
	}
	gitcli.Run(t, dir, nil, "apply", "p.diff")
	if got, _ := os.ReadFile(filepath.Join(dir, "f")); string(got) != b {
		t.Error("the diff does not apply to give b")
	}

	n := maxDiffLines/2 + 10
	ops := lineOps(lines(1, n, "%d"), "first\n"+lines(2, n-1, "%d")+"last\n")
	dels, adds := 0, 0
	for _, op := range ops {
		switch op.kind {
		case '-':
			dels++
		case '+':
			adds++
		}
	}
	if dels != n || adds != n {
		t.Errorf("over the bound: %d removed, %d added", dels, adds)
	}
}
