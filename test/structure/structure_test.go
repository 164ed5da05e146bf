package structure

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"sigs.k8s.io/yaml"
)

var (
	parseOnce sync.Once
	parsed    []File
	parseErr  error
)

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func repoFiles(t *testing.T) []File {
	t.Helper()
	parseOnce.Do(func() { parsed, parseErr = Parse(repoRoot(t)) })
	if parseErr != nil {
		t.Fatal(parseErr)
	}
	return parsed
}

func loadRules(t *testing.T) []Rule {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "hack", "import-restrictions.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var rules []Rule
	if err := yaml.UnmarshalStrict(b, &rules); err != nil {
		t.Fatalf("hack/import-restrictions.yaml: %v", err)
	}
	if len(rules) == 0 {
		t.Fatal("no import rules")
	}
	return rules
}

// TestImportBoundaries: no package imports what hack/import-restrictions.yaml
// forbids it.
func TestImportBoundaries(t *testing.T) {
	for _, v := range CheckImports(loadRules(t), Imports(repoFiles(t))) {
		t.Error(v)
	}
}

// TestImportCheckCatchesAViolation: the check refuses API validation
// importing the audit webhook package, and a decision package importing
// os, with the repository's own rules.
func TestImportCheckCatchesAViolation(t *testing.T) {
	rules := loadRules(t)
	graph := map[string][]string{
		"pkg/apis/configbutler/validation": {"fmt", Module + "/pkg/apis/configbutler", Module + "/pkg/attribution"},
		"pkg/lifecycle/gates":              {"os", Module + "/pkg/conditions"},
		"pkg/lifecycle/worker":             {Module + "/pkg/lifecycle/stream"},
		"pkg/render":                       {"strings", "k8s.io/apimachinery/pkg/runtime/schema"},
	}
	var got []string
	for _, v := range CheckImports(rules, graph) {
		got = append(got, v.Package+" -> "+v.Import)
	}
	want := []string{
		"pkg/apis/configbutler/validation -> " + Module + "/pkg/attribution",
		"pkg/lifecycle/gates -> os",
		"pkg/lifecycle/worker -> " + Module + "/pkg/lifecycle/stream",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("violations:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestShape: no hand-written file over MaxFileLines, no function outside
// tests over MaxFuncLines, no type over MaxTypeMethods methods.
func TestShape(t *testing.T) {
	files := repoFiles(t)
	for _, s := range LongFiles(files) {
		t.Errorf("file over %d lines: %s", MaxFileLines, s)
	}
	for _, s := range LongFuncs(files) {
		t.Errorf("function over %d lines: %s", MaxFuncLines, s)
	}
	for _, s := range BigTypes(files) {
		t.Errorf("type with more than %d methods: %s", MaxTypeMethods, s)
	}
}

// TestArchitectureListsEveryPackage: docs/architecture.md's package list
// covers exactly the packages `go list ./pkg/... ./cmd/...` reports.
func TestArchitectureListsEveryPackage(t *testing.T) {
	root := repoRoot(t)
	doc, err := os.ReadFile(filepath.Join(root, "docs", "architecture.md"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "list", "./pkg/...", "./cmd/...")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var real []string
	for _, p := range strings.Fields(string(out)) {
		rel, _ := relative(p)
		real = append(real, rel)
	}
	sort.Strings(real)
	listed := DocPackages(string(doc))
	if len(listed) == 0 {
		t.Fatal("docs/architecture.md has no '## Packages' list")
	}
	unlisted, stale := PackageListDiff(listed, real)
	for _, p := range unlisted {
		t.Errorf("package %s is not in docs/architecture.md's package list", p)
	}
	for _, p := range stale {
		t.Errorf("docs/architecture.md lists %s, which is no package", p)
	}
}

// TestPackageListDiff: the comparison itself.
func TestPackageListDiff(t *testing.T) {
	unlisted, stale := PackageListDiff([]string{"pkg/a", "pkg/gen/...", "pkg/gone"}, []string{"pkg/a", "pkg/b", "pkg/gen/x", "pkg/gen/x/y"})
	if strings.Join(unlisted, ",") != "pkg/b" || strings.Join(stale, ",") != "pkg/gone" {
		t.Fatalf("unlisted %v, stale %v", unlisted, stale)
	}
	doc := "# A\n\n## Packages\n\n- `pkg/a`: one\n- `pkg/gen/...`: generated\n\n## Other\n\n- `pkg/not-counted`\n"
	if got := strings.Join(DocPackages(doc), ","); got != "pkg/a,pkg/gen/..." {
		t.Fatalf("DocPackages = %s", got)
	}
}

// TestNothingPointsOutside: no file of the repository (but CI's entry point,
// which runs beside the shared folder) refers to that folder beside the
// clone: a clone is all a newcomer has. The pattern is built here, so this
// file does not hold it either.
func TestNothingPointsOutside(t *testing.T) {
	root := repoRoot(t)
	outside := ".." + "/" + "shared"
	cmd := exec.Command("git", "grep", "-n", "-I", "--fixed-strings", outside, "--", ".", ":!.ci")
	cmd.Dir = root
	out, err := cmd.Output()
	if err == nil && len(out) > 0 {
		t.Errorf("references outside the repository:\n%s", out)
	}
}
