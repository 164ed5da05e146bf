package restore

import (
	"fmt"
	"reflect"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/configbutler/gitops-reverser/pkg/gitmodel"
	"github.com/configbutler/gitops-reverser/pkg/render"
)

// Masks of a Secret's values in diffs: a value the restore keeps, and one it
// changes (so that a diff shows which keys change without showing a value).
const (
	masked        = "***"
	maskedChanged = "*** (changed)"
)

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

// unified is the unified diff of two texts split into lines (each ending in
// "\n" but maybe the last), as git prints it; "" when they are equal.
func unified(a, b []string, nameA, nameB string) string {
	return gitmodel.UnifiedDiff([]byte(strings.Join(a, "")), []byte(strings.Join(b, "")), nameA, nameB)
}
