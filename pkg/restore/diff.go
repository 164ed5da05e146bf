package restore

import (
	"fmt"
	"reflect"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/configbutler/gitops-reverser/pkg/render"
)

// Masks of a Secret's values in diffs: a value the restore keeps, and one it
// changes (so that a diff shows which keys change without showing a value).
const (
	masked        = "***"
	maskedChanged = "*** (changed)"
)

// diffContext is the lines of context around a change.
const diffContext = 3

// maxLCSCells bounds the line comparison of a diff: past it, the changed
// middle of two files is shown as removed and added as a whole.
const maxLCSCells = 4 << 20

// objectDiff is a unified diff of an object now (nil: absent) against what
// the restore makes of it (nil: deleted), each as the mirror renders it (so
// without the fields the server owns), a Secret's values masked; at most
// limit bytes. "" when they render the same.
func objectDiff(from, to *unstructured.Unstructured, limit int) string {
	from, to = maskSecrets(from, to)
	a, b := renderLines(from), renderLines(to)
	d := unified(a, b, "current", "restored")
	if limit > 0 && len(d) > limit {
		cut := strings.LastIndexByte(d[:limit], '\n') + 1
		d = d[:cut] + fmt.Sprintf("... diff cut at %d bytes of %d\n", cut, len(d))
	}
	return d
}

func renderLines(u *unstructured.Unstructured) []string {
	if u == nil {
		return nil
	}
	b, err := render.Render(u)
	if err != nil {
		return []string{"# cannot render: " + err.Error()}
	}
	return splitLines(string(b))
}

// splitLines splits a text into lines, each with its "\n".
func splitLines(s string) []string {
	l := strings.SplitAfter(s, "\n")
	if l[len(l)-1] == "" {
		l = l[:len(l)-1]
	}
	return l
}

// sameRendering reports whether two objects render to the same file: all
// they differ in is what the server owns or the mirror drops.
func sameRendering(a, b *unstructured.Unstructured) bool {
	ra, err1 := render.Render(a)
	rb, err2 := render.Render(b)
	return err1 == nil && err2 == nil && string(ra) == string(rb)
}

// maskSecrets returns copies of a Secret's two sides with the values of
// data, stringData and metadata.annotations (the fields SOPS encrypts in the
// files) replaced: by maskedChanged on the to side where the value differs
// from the from side, else by masked. Other objects come back as they are.
func maskSecrets(from, to *unstructured.Unstructured) (*unstructured.Unstructured, *unstructured.Unstructured) {
	if !isSecret(from) && !isSecret(to) {
		return from, to
	}
	from, to = deepCopy(from), deepCopy(to)
	for _, p := range [][]string{{"data"}, {"stringData"}, {"metadata", "annotations"}} {
		var fm, tm map[string]any
		if from != nil {
			fm, _, _ = unstructured.NestedMap(from.Object, p...)
		}
		if to != nil {
			tm, _, _ = unstructured.NestedMap(to.Object, p...)
		}
		for k, v := range tm {
			if old, ok := fm[k]; ok && reflect.DeepEqual(old, v) {
				tm[k] = masked
			} else {
				tm[k] = maskedChanged
			}
		}
		for k := range fm {
			fm[k] = masked
		}
		if fm != nil {
			_ = unstructured.SetNestedMap(from.Object, fm, p...)
		}
		if tm != nil {
			_ = unstructured.SetNestedMap(to.Object, tm, p...)
		}
	}
	return from, to
}

func isSecret(u *unstructured.Unstructured) bool {
	return u != nil && u.GetKind() == "Secret" && u.GetAPIVersion() == "v1"
}

func deepCopy(u *unstructured.Unstructured) *unstructured.Unstructured {
	if u == nil {
		return nil
	}
	return u.DeepCopy()
}

// edit is one line of an edit script: ' ' kept, '-' removed, '+' added.
type edit struct {
	op   byte
	line string
}

// unified is the unified diff of two texts split into lines (each ending in
// "\n" but maybe the last); "" when they are equal.
func unified(a, b []string, nameA, nameB string) string {
	script := editScript(a, b)
	var out strings.Builder
	// ai, bi: lines of a and b before script[i].
	ai, bi := make([]int, len(script)+1), make([]int, len(script)+1)
	for i, e := range script {
		ai[i+1], bi[i+1] = ai[i], bi[i]
		if e.op != '+' {
			ai[i+1]++
		}
		if e.op != '-' {
			bi[i+1]++
		}
	}
	for i := 0; i < len(script); {
		if script[i].op == ' ' {
			i++
			continue
		}
		start := max(0, i-diffContext)
		end := i // end of the hunk: past the last change plus context
		for j := i; j < len(script); j++ {
			if script[j].op != ' ' {
				end = j + 1
			} else if j-end >= 2*diffContext {
				break
			}
		}
		end = min(len(script), end+diffContext)
		if out.Len() == 0 {
			fmt.Fprintf(&out, "--- %s\n+++ %s\n", nameA, nameB)
		}
		fmt.Fprintf(&out, "@@ -%s +%s @@\n", hunkRange(ai[start], ai[end]-ai[start]), hunkRange(bi[start], bi[end]-bi[start]))
		for _, e := range script[start:end] {
			out.WriteByte(e.op)
			out.WriteString(e.line)
			if !strings.HasSuffix(e.line, "\n") {
				out.WriteString("\n\\ No newline at end of file\n")
			}
		}
		i = end
	}
	return out.String()
}

func hunkRange(start, n int) string {
	if n == 0 {
		return fmt.Sprintf("%d,0", start)
	}
	if n == 1 {
		return fmt.Sprintf("%d", start+1)
	}
	return fmt.Sprintf("%d,%d", start+1, n)
}

// editScript is a shortest edit script from a to b: common ends kept, the
// middle by longest common subsequence (or, when too large to compare,
// replaced as a whole).
func editScript(a, b []string) []edit {
	p := 0
	for p < len(a) && p < len(b) && a[p] == b[p] {
		p++
	}
	s := 0
	for s < len(a)-p && s < len(b)-p && a[len(a)-1-s] == b[len(b)-1-s] {
		s++
	}
	var script []edit
	for _, l := range a[:p] {
		script = append(script, edit{' ', l})
	}
	ma, mb := a[p:len(a)-s], b[p:len(b)-s]
	if len(ma)*len(mb) > maxLCSCells {
		for _, l := range ma {
			script = append(script, edit{'-', l})
		}
		for _, l := range mb {
			script = append(script, edit{'+', l})
		}
	} else {
		script = append(script, lcsScript(ma, mb)...)
	}
	for _, l := range a[len(a)-s:] {
		script = append(script, edit{' ', l})
	}
	return script
}

// lcsScript is the edit script of a longest common subsequence of a and b,
// removals before additions within a change.
func lcsScript(a, b []string) []edit {
	n, m := len(a), len(b)
	// l[i][j]: length of an LCS of a[i:] and b[j:].
	l := make([][]int32, n+1)
	for i := range l {
		l[i] = make([]int32, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				l[i][j] = l[i+1][j+1] + 1
			} else {
				l[i][j] = max(l[i+1][j], l[i][j+1])
			}
		}
	}
	var script []edit
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && a[i] == b[j]:
			script = append(script, edit{' ', a[i]})
			i, j = i+1, j+1
		case j == m || (i < n && l[i+1][j] >= l[i][j+1]):
			script = append(script, edit{'-', a[i]})
			i++
		default:
			script = append(script, edit{'+', b[j]})
			j++
		}
	}
	return script
}
