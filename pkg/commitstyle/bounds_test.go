package commitstyle

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// bomb8 is the template of the report: eight nested ranges around a
// megabyte of zeros.
var bomb8 = strings.Repeat("{{range $.Changes}}", 8) + `{{printf "%01000000d" 0}}` + strings.Repeat("{{end}}", 8)

// TestBombsRefused: every known way to make a template do unbounded work is
// refused by ParseStyle, in each of the three fields, with an error that
// says what to change.
func TestBombsRefused(t *testing.T) {
	doubling := func(fn string) string {
		return `{{$x := "aaaaaaaaaa"}}{{range .Changes}}{{$x = ` + fn + ` $x $x}}{{end}}{{len $x}}`
	}
	for _, tc := range []struct{ name, src, why string }{
		{"nested ranges (the report's bomb)", bomb8, "range may not be nested"},
		{"two nested ranges", "{{range .Changes}}{{range .Targets}}x{{end}}{{end}}", "range may not be nested"},
		{"range in a range's else", "{{range .Changes}}{{else}}{{range .Targets}}x{{end}}{{end}}", "range may not be nested"},
		{"range over a number", "{{range 1000000000}}{{end}}", "range must iterate over a field"},
		{"range over a variable", "{{$c := .Changes}}{{range $c}}{{end}}", "range must iterate over a field"},
		{"range over a function", "{{range slice .Changes 0}}{{end}}", "range must iterate over a field"},
		{"range over a pipeline", "{{range .Changes | len}}{{end}}", "range must iterate over a field"},
		{"range over the dot", "{{with .Changes}}{{range .}}{{end}}{{end}}", "range must iterate over a field"},
		{"doubling with printf", `{{$x := "a"}}{{range .Changes}}{{$x = printf "%s%s" $x $x}}{{end}}`, "output exceeds 64 KiB"},
		{"doubling with print", doubling("print"), "output exceeds 64 KiB"},
		{"doubling with println", doubling("println"), "output exceeds 64 KiB"},
		{"doubling with html", doubling("html"), "output exceeds 64 KiB"},
		{"doubling with js", doubling("js"), "output exceeds 64 KiB"},
		{"doubling with urlquery", doubling("urlquery"), "output exceeds 64 KiB"},
		{"dynamic width", `{{printf "%0*d" 100000000 0}}`, "printf width must be a number, not '*'"},
		{"dynamic precision", `{{printf "%.*f" 100000000 1.0}}`, "printf precision must be a number, not '*'"},
		{"indexed dynamic width", `{{printf "%[1]*d" 100000000 0}}`, "printf width must be a number, not '*'"},
		{"large width", `{{printf "%01000000d" 0}}`, "printf width may be at most 100"},
		{"large precision", `{{printf "%.1000000f" 1.0}}`, "printf precision may be at most 100"},
		{"large width in a built format", `{{printf (print "%0" "1000000d") 0}}`, "printf width may be at most 100"},
		{"star in a variable format", `{{$f := "%0*d"}}{{printf $f 100000000 0}}`, "printf width must be a number, not '*'"},
		{"format repeating an argument", `{{$x := printf "%100s" "a"}}{{$f := printf "%s%s" "%[1]s" "%[1]s"}}{{range .Changes}}{{$f = printf "%s%s" $f $f}}{{end}}`, "output exceeds 64 KiB"},
		{"recursion", `{{define "a"}}{{template "a" .}}{{end}}{{template "a" .}}`, "define, template and block are not allowed"},
		{"define", `{{define "a"}}x{{end}}{{.User}}`, "define, template and block are not allowed"},
		{"block", `{{block "a" .}}{{.User}}{{end}}`, "define, template and block are not allowed"},
		{"call", `{{call .User}}`, "call is not allowed"},
		{"call in a pipeline", `{{.User | call}}`, "call is not allowed"},
		{"many elements", strings.Repeat("{{1}}", 200), "more than 512 elements"},
		{"long range body", "{{range .Changes}}" + strings.Repeat(`{{if eq .Verb "x"}}{{end}}`, 10) + "{{end}}", "range body too long for a commit of 500 changes"},
		{"padding a full commit", `{{range .Changes}}{{printf "%100s" .Path}}{{end}}`, "output exceeds 64 KiB on a sample commit of 500 changes"},
		{"a full commit, twice", `{{range .Changes}}{{$.Changes}}{{end}}`, "output exceeds 64 KiB"},
		{"too long", strings.Repeat("x", MaxSource+1), "longer than 4096 bytes"},
	} {
		for field := range 3 {
			src := [3]string{}
			src[field] = tc.src
			_, err := ParseStyle(src[0], src[1], src[2])
			var te *TemplateError
			if !errors.As(err, &te) || te.Field != [3]string{"authorName", "authorEmail", "message"}[field] {
				t.Errorf("%s in field %d: got %v, want a TemplateError naming the field", tc.name, field, err)
				continue
			}
			// The author fields have a smaller budget: a bomb may hit it
			// where the message hits another bound.
			if field == 2 && !strings.Contains(err.Error(), tc.why) {
				t.Errorf("%s: %v, want it to say %q", tc.name, err, tc.why)
			}
		}
	}
}

// allocated returns the bytes f allocates.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestBombsAreCheap: refusing the report's bomb, or a bomb that is refused
// only when it runs, allocates little (it took 1 GiB before the bounds).
func TestBombsAreCheap(t *testing.T) {
	for _, src := range []string{
		bomb8,
		`{{$x := "a"}}{{range .Changes}}{{$x = printf "%s%s" $x $x}}{{end}}`,
		`{{range .Changes}}{{$.Changes}}{{end}}`,
		`{{range .Changes}}{{printf "%v" $}}{{end}}`,
		`{{range .Changes}}{{printf "%[1]v%[1]v%[1]v%[1]v%[1]v" $.Changes}}{{end}}`,
	} {
		n := allocated(func() {
			if _, err := ParseStyle("", "", src); err == nil {
				t.Errorf("%s: accepted", src)
			}
		})
		if n > 10<<20 {
			t.Errorf("%s: refusing it allocated %d bytes", src, n)
		}
	}
}

// bigCommit is a commit larger than the sample: with the default message it
// renders more than 64 KiB.
func bigCommit(n int) Data {
	lines := make([]Line, n)
	for i := range lines {
		lines[i] = Line{Verb: "update", Path: fmt.Sprintf("apps/v1/deployments/ns/a-deployment-with-a-long-name-%06d.yaml", i), Target: "ns/t"}
	}
	return NewData(Author{User: "alice"}, false, lines)
}

// TestRenderFallsBack: a template accepted at admission that breaks a bound
// on a larger live commit renders the fallback text, never an error.
func TestRenderFallsBack(t *testing.T) {
	s, err := ParseStyle("", "", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{2000, 100_000} { // over the output budget; over the steps
		msg, name, email := s.Render(bigCommit(n))
		want := fmt.Sprintf("%d changes by alice\n\nKubernetes-User: alice\nKubernetes-Verb: update\n", n)
		if msg != want || name != "alice" || email != "alice@kubernetes.invalid" {
			t.Errorf("%d changes: got %q (%d bytes), %q, %q", n, msg[:min(len(msg), 200)], len(msg), name, email)
		}
	}
	// Just under the budget still renders.
	msg, _, _ := s.Render(bigCommit(900))
	if !strings.HasPrefix(msg, "900 changes by alice\n\nupdate apps/v1/deployments/ns/") || len(msg) < 60_000 {
		t.Errorf("900 changes: %d bytes: %.100q", len(msg), msg)
	}
}

// TestRenderConcurrently: one Style renders for many workers at once, each
// run with its own budget (run with -race).
func TestRenderConcurrently(t *testing.T) {
	s, err := ParseStyle(`{{printf "%.20s" .User}}`, "", `{{range .Changes}}{{printf "%-20s" .Verb}}{{end}}`)
	if err != nil {
		t.Fatal(err)
	}
	commits := []Data{bigCommit(1), bigCommit(1001), bigCommit(2001)}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 20 {
				// Every third run is too large and falls back: a run's
				// exhausted budget must not leak into another's.
				d := commits[(g+i)%3]
				n := len(d.Changes)
				msg, name, _ := s.Render(d)
				wantMsg := strings.Repeat("update              ", n)
				if n*40 > maxMessage { // printf charges what it builds, the write again
					wantMsg = fmt.Sprintf("%d changes by alice", n)
				}
				if !strings.HasPrefix(msg, wantMsg+"\n\n") || name != "alice" {
					t.Errorf("%d changes: %.80q %q", n, msg, name)
					return
				}
			}
		})
	}
	wg.Wait()
}

// largest returns the largest template (most range body per change, most
// output) each field accepts: the worst case admission runs.
func largest(t testing.TB) [3]string {
	var src [3]string
	for i, write := range []string{"x", "x", "{{.Path}}\n"} {
		for k := 40; k > 0; k-- {
			s := "{{range .Changes}}" + write + strings.Repeat("{{if eq .Path $.User}}{{end}}", k) + "{{end}}"
			try := [3]string{DefaultAuthorName, DefaultAuthorEmail, DefaultMessage}
			try[i] = s
			if _, err := parseStyle(try); err == nil {
				src[i] = s
				break
			}
		}
		if src[i] == "" {
			t.Fatal("no template accepted")
		}
	}
	if _, err := parseStyle(src); err != nil {
		t.Fatal(err)
	}
	return src
}

func TestLargestIsCheap(t *testing.T) {
	src := largest(t)
	if n := allocated(func() { _, _ = parseStyle(src) }); n > 4<<20 {
		t.Errorf("parsing the largest accepted templates allocated %d bytes", n)
	}
}

func BenchmarkParseStyleBomb(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseStyle("", "", bomb8); err == nil {
			b.Fatal("accepted")
		}
	}
}

func BenchmarkParseStyleDoubling(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseStyle("", "", `{{$x := "a"}}{{range .Changes}}{{$x = printf "%s%s" $x $x}}{{end}}`); err == nil {
			b.Fatal("accepted")
		}
	}
}

func BenchmarkParseStyleLargest(b *testing.B) {
	src := largest(b)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := parseStyle(src); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseStyleDefault(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseStyle([3]string{DefaultAuthorName, DefaultAuthorEmail, DefaultMessage}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRenderDefault(b *testing.B) {
	s, _ := ParseStyle("", "", "")
	d := samples()[0]
	b.ReportAllocs()
	for b.Loop() {
		s.Render(d)
	}
}
