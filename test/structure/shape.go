package structure

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Bounds every hand-written file, function and type keeps: a newcomer reads a
// file in one sitting, a function on one screen, a type's job in its method
// list.
const (
	MaxFileLines     = 500
	MaxFuncLines     = 100
	MaxTypeMethods   = 20
	generatedMarker  = "Code generated"
	generatedDirName = "generated"
)

// File is a parsed hand-written Go file.
type File struct {
	Path  string // relative to the repository root
	Dir   string // module-relative package directory
	Lines int
	Test  bool
	AST   *ast.File
	Fset  *token.FileSet
}

// Parse reads every Go file under root that is not generated (pkg/generated,
// zz_generated.*, a "Code generated" header) nor in bin/, _output/, .git or
// testdata.
func Parse(root string) ([]File, error) {
	var files []File
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			switch name {
			case ".git", "bin", "_output", "testdata", ".local", ".bench", "node_modules":
				return filepath.SkipDir
			}
			if name == generatedDirName && strings.HasSuffix(filepath.Dir(p), "pkg") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") || strings.HasPrefix(name, "zz_generated") {
			return nil
		}
		src, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		f, err := parser.ParseFile(fset, p, src, parser.ParseComments)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		if ast.IsGenerated(f) {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		files = append(files, File{Path: rel, Dir: filepath.ToSlash(filepath.Dir(rel)), Lines: strings.Count(string(src), "\n"),
			Test: strings.HasSuffix(name, "_test.go"), AST: f, Fset: fset})
		return nil
	})
	return files, err
}

// LongFiles are hand-written files over MaxFileLines (tests included: a
// test file is read as often as the code).
func LongFiles(files []File) []string {
	var out []string
	for _, f := range files {
		if f.Lines > MaxFileLines {
			out = append(out, fmt.Sprintf("%s: %d lines", f.Path, f.Lines))
		}
	}
	return out
}

// LongFuncs are functions over MaxFuncLines outside tests.
func LongFuncs(files []File) []string {
	var out []string
	for _, f := range files {
		if f.Test {
			continue
		}
		for _, d := range f.AST.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Body == nil {
				continue
			}
			n := f.Fset.Position(fd.End()).Line - f.Fset.Position(fd.Pos()).Line + 1
			if n > MaxFuncLines {
				out = append(out, fmt.Sprintf("%s: %s is %d lines", f.Path, funcName(fd), n))
			}
		}
	}
	return out
}

// BigTypes are types with more than MaxTypeMethods methods outside tests.
func BigTypes(files []File) []string {
	count := map[string]int{}
	for _, f := range files {
		if f.Test {
			continue
		}
		for _, d := range f.AST.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv != nil {
				count[f.Dir+"."+receiver(fd)]++
			}
		}
	}
	var out []string
	for t, n := range count {
		if n > MaxTypeMethods {
			out = append(out, fmt.Sprintf("%s has %d methods", t, n))
		}
	}
	sort.Strings(out)
	return out
}

func receiver(fd *ast.FuncDecl) string {
	t := fd.Recv.List[0].Type
	if s, ok := t.(*ast.StarExpr); ok {
		t = s.X
	}
	if g, ok := t.(*ast.IndexExpr); ok {
		t = g.X
	}
	if id, ok := t.(*ast.Ident); ok {
		return id.Name
	}
	return "?"
}

func funcName(fd *ast.FuncDecl) string {
	if fd.Recv != nil && len(fd.Recv.List) > 0 {
		return receiver(fd) + "." + fd.Name.Name
	}
	return fd.Name.Name
}

// Imports is the import graph of the non-test files: module-relative package
// directory -> the paths it imports.
func Imports(files []File) map[string][]string {
	seen := map[string]map[string]bool{}
	for _, f := range files {
		if f.Test {
			continue
		}
		if seen[f.Dir] == nil {
			seen[f.Dir] = map[string]bool{}
		}
		for _, imp := range f.AST.Imports {
			seen[f.Dir][strings.Trim(imp.Path.Value, `"`)] = true
		}
	}
	out := map[string][]string{}
	for dir, imps := range seen {
		for imp := range imps {
			out[dir] = append(out[dir], imp)
		}
		sort.Strings(out[dir])
	}
	return out
}
