package yamlemit

import (
	"math/rand/v2"
	"strings"
	"testing"

	goyaml "go.yaml.in/yaml/v2"
)

// words are pieces of the strings the tests make: what changes go-yaml's
// choice of style (indicators, words that read as booleans, null or
// numbers, quotes, spaces that fold) and what it escapes or writes in
// other styles (tabs, line breaks, UTF-8), which the emitter leaves to it.
var words = []string{
	"", "a", "web", "nginx:1.25", "app.kubernetes.io/name", "object 1 version 0 ", " ", "  ", ":", ": ", "#", " #x", "-", "- ", "--- ",
	"...", "?", "? ", "'", `"`, `\`, "~", "<<", "<", "@", "|", ">", ",", "[", "{", "}", "*", "&", "!", "%", "`",
	"y", "Y", "yes", "no", "On", "off", "true", "False", "null", "NULL", "0", "7", "08", "8080", "00", "12345678901234567890123", "-1", "+3", "0x1F", "0o17", "0b101", "1e3",
	"1_000", ".5", ".inf", "-.Inf", ".nan", "1:20", "2001-12-14", "2001-12-14t21:59:43.10-05:00", "12:30:00", "1.0", "-", "x-y",
	"\t", "\n", "é", "\x7f", "a b c d e f g h i j", strings.Repeat("word ", 20), strings.Repeat("x", 90),
}

func randomString(r *rand.Rand) string {
	var b strings.Builder
	for n := r.IntN(6); n >= 0; n-- {
		b.WriteString(words[r.IntN(len(words))])
	}
	return b.String()
}

func randomYAMLValue(r *rand.Rand, depth int) interface{} {
	switch k := r.IntN(12); {
	case k == 0:
		// several lines: a literal block, or what go-yaml writes otherwise
		lines := make([]string, 1+r.IntN(4))
		for i := range lines {
			lines[i] = randomString(r)
		}
		return strings.Join(lines, "\n")
	case k < 5:
		return randomString(r)
	case k == 5:
		return r.Int64N(1<<40) - 1<<39
	case k == 6:
		return r.IntN(2) == 0
	case k == 7:
		if r.IntN(8) == 0 {
			return 1.5 // a float: go-yaml's
		}
		return nil
	case k < 10 && depth < 4:
		return randomMapping(r, depth+1)
	case depth < 4:
		n := r.IntN(4)
		s := make([]interface{}, n)
		for i := range s {
			s[i] = randomYAMLValue(r, depth+1)
		}
		return s
	}
	return randomString(r)
}

func randomMapping(r *rand.Rand, depth int) goyaml.MapSlice {
	n := r.IntN(5)
	m := make(goyaml.MapSlice, n)
	for i := range m {
		k := randomString(r)
		if r.IntN(3) > 0 {
			k = words[r.IntN(len(words))]
		}
		m[i] = goyaml.MapItem{Key: k, Value: randomYAMLValue(r, depth)}
	}
	return m
}

// TestEmitMatchesGoYAML: whatever the emitter writes, go-yaml writes the
// same bytes; and it writes most objects (those go-yaml does not escape).
func TestEmitMatchesGoYAML(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	written := 0
	const n = 100000
	for i := range n {
		m := randomMapping(r, 0)
		check(t, m, func(ok bool) {
			if ok {
				written++
			}
		})
		if t.Failed() {
			t.Fatalf("case %d", i)
		}
	}
	if written < n/5 {
		t.Errorf("the emitter wrote %d of %d objects: it leaves too many to go-yaml for this test to hold it", written, n)
	}
	t.Logf("the emitter wrote %d of %d random objects", written, n)
}

// check holds the emitter to go-yaml's bytes for m and tells written
// whether the emitter wrote it.
func check(t testing.TB, m goyaml.MapSlice, written func(bool)) {
	t.Helper()
	want, err := goyaml.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	got, ok := Emit(m)
	written(ok)
	if ok && string(got) != string(want) {
		t.Errorf("emitted\n%s\ngo-yaml writes\n%s\n(%#v)", got, want, m)
	}
	// Appended to a reused buffer: after what it held, whichever of the
	// two writes it (a mapping the emitter gives up on halfway leaves
	// nothing of its own).
	dst := append(make([]byte, 0, 64), "held\n"...)
	appended, err := AppendMarshal(dst, m)
	if err != nil || string(appended) != "held\n"+string(want) {
		t.Errorf("appended\n%s\nwant held and\n%s\n(%v)", appended, want, err)
	}
}

// FuzzEmit: for any string in any position, the emitter writes what
// go-yaml does or leaves it to go-yaml.
func FuzzEmit(f *testing.F) {
	for _, w := range words {
		f.Add(w, w, 0)
		f.Add(w, "a\n"+w+"\nb", 1)
	}
	f.Fuzz(func(t *testing.T, k, v string, shape int) {
		var m goyaml.MapSlice
		switch shape % 4 {
		case 0:
			m = goyaml.MapSlice{{Key: k, Value: v}}
		case 1:
			m = goyaml.MapSlice{{Key: "spec", Value: goyaml.MapSlice{{Key: k, Value: []interface{}{v, goyaml.MapSlice{{Key: k, Value: v}}}}}}}
		case 2:
			m = goyaml.MapSlice{{Key: "a", Value: []interface{}{[]interface{}{v, k}}}}
		default:
			m = goyaml.MapSlice{{Key: strings.Repeat("k", 60), Value: v}}
		}
		check(t, m, func(bool) {})
	})
}
