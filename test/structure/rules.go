// Package structure checks the shape of the repository: the import
// boundaries of hack/import-restrictions.yaml, the size bounds every
// hand-written file, function and type keeps, and that the architecture
// document lists exactly the packages there are. The checks are functions of
// what they are given (parsed files, an import graph), so each is tested on a
// made-up input that breaks it, besides running on the repository.
package structure

import (
	"fmt"
	"sort"
	"strings"
)

// Module is the module path of the repository.
const Module = "github.com/configbutler/gitops-reverser"

// Rule is one import restriction.
type Rule struct {
	Name           string   `json:"name"`
	Packages       []string `json:"packages"`
	Forbid         []string `json:"forbid"`
	AllowedProject []string `json:"allowedProject"`
}

// Violation is one import a rule forbids.
type Violation struct {
	Rule, Package, Import string
}

func (v Violation) String() string {
	return fmt.Sprintf("%s imports %s: %s", v.Package, v.Import, v.Rule)
}

// match reports whether the module-relative or full path p matches pattern
// (a path, or one ending in "/..." for it and everything below it).
func match(pattern, p string) bool {
	if prefix, ok := strings.CutSuffix(pattern, "/..."); ok {
		return p == prefix || strings.HasPrefix(p, prefix+"/")
	}
	return p == pattern
}

func matchAny(patterns []string, p string) bool {
	for _, pat := range patterns {
		if match(pat, p) {
			return true
		}
	}
	return false
}

// relative returns the module-relative path of a project import ("" and
// false for any other import).
func relative(imp string) (string, bool) {
	if imp == Module {
		return ".", true
	}
	return strings.CutPrefix(imp, Module+"/")
}

// CheckImports applies rules to an import graph (module-relative package ->
// the full import paths it imports directly) and returns every violation,
// sorted.
func CheckImports(rules []Rule, graph map[string][]string) []Violation {
	var out []Violation
	for pkg, imports := range graph {
		for _, r := range rules {
			if !matchAny(r.Packages, pkg) {
				continue
			}
			for _, imp := range imports {
				rel, project := relative(imp)
				forbidden := matchAny(r.Forbid, imp) || (project && matchAny(r.Forbid, rel))
				if project && r.AllowedProject != nil && !matchAny(r.AllowedProject, rel) && rel != pkg {
					forbidden = true
				}
				if forbidden {
					out = append(out, Violation{Rule: r.Name, Package: pkg, Import: imp})
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}
