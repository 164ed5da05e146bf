package structure

import (
	"bufio"
	"regexp"
	"strings"
)

// listedPackage matches a list item of the architecture document's package
// list: "- `pkg/...`" (a path, or one ending in "/...").
var listedPackage = regexp.MustCompile("^\\s*[-*] `((?:pkg|cmd)/[A-Za-z0-9_./-]*)`")

// DocPackages returns the packages the "## Packages" section of an
// architecture document lists.
func DocPackages(doc string) []string {
	var out []string
	in := false
	sc := bufio.NewScanner(strings.NewReader(doc))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "## ") {
			in = strings.TrimSpace(strings.TrimPrefix(line, "## ")) == "Packages"
			continue
		}
		if m := listedPackage.FindStringSubmatch(line); in && m != nil {
			out = append(out, m[1])
		}
	}
	return out
}

// PackageListDiff compares the listed packages with the real ones (module
// relative): packages no entry covers, and entries that cover none.
func PackageListDiff(listed, real []string) (unlisted, stale []string) {
	for _, p := range real {
		if !matchAny(listed, p) {
			unlisted = append(unlisted, p)
		}
	}
	for _, l := range listed {
		found := false
		for _, p := range real {
			if match(l, p) {
				found = true
				break
			}
		}
		if !found {
			stale = append(stale, l)
		}
	}
	return unlisted, stale
}
