package commitstyle

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"text/template"
)

// errBudget is returned (wrapped) when a run would produce more than its
// output budget.
var errBudget = errors.New("output limit exceeded")

// budget is one run's output allowance. A run is one goroutine, so it needs
// no lock; every run gets its own.
type budget struct{ left int }

// take spends n bytes.
func (b *budget) take(n int) error {
	if n > b.left {
		b.left = 0
		return errBudget
	}
	b.left -= n
	return nil
}

// writer is where a run writes: it refuses the write that would pass the
// budget, and text/template stops at its first failed write.
type writer struct {
	out strings.Builder
	b   *budget
}

func (w *writer) Write(p []byte) (int, error) {
	if err := w.b.take(len(p)); err != nil {
		return 0, err
	}
	return w.out.Write(p)
}

// funcs replaces the builtins that build strings with versions that estimate
// their output before building it and draw it from the run's budget; call
// always fails (Data has no functions to call, and a function could do
// anything). and, or, not, len, index, slice and the comparisons build
// nothing and stay.
func (b *budget) funcs() template.FuncMap {
	return template.FuncMap{
		"print":    b.print,
		"println":  b.println,
		"printf":   b.printf,
		"html":     b.escaper(template.HTMLEscaper, 6), // " -> &#34;
		"js":       b.escaper(template.JSEscaper, 6),   // < -> \u003C
		"urlquery": b.escaper(template.URLQueryEscaper, 3),
		"call":     noCall,
	}
}

func noCall(...any) (string, error) { return "", errors.New("call is not allowed") }

// spend checks an estimate against what is left, builds, and charges what
// was built (or, if more, the values the estimate visited: formatting a
// large argument into a short output is work too).
func (b *budget) spend(s *sizer, build func() string) (string, error) {
	if s.bad != nil {
		return "", fmt.Errorf("values of type %s cannot be printed", s.bad)
	}
	if s.total > b.left {
		b.left = 0
		return "", errBudget
	}
	out := build()
	return out, b.take(max(len(out), s.walked))
}

func (b *budget) print(args ...any) (string, error) {
	s := b.sizer(0, false)
	s.args(args)
	return b.spend(s, func() string { return fmt.Sprint(args...) })
}

func (b *budget) println(args ...any) (string, error) {
	s := b.sizer(0, false)
	s.args(args)
	s.total++
	return b.spend(s, func() string { return fmt.Sprintln(args...) })
}

func (b *budget) printf(f string, args ...any) (string, error) {
	ff, err := scanFormat(f)
	if err != nil {
		return "", err
	}
	s := b.sizer(ff.pad, ff.expand)
	s.total = len(f) + ff.verbs*(ff.pad+leafOverhead)
	if ff.indexed {
		// Any verb may print any argument: count the largest once per verb.
		largest := 0
		for _, a := range args {
			before := s.total
			s.add(reflect.ValueOf(a), 0)
			largest = max(largest, s.total-before)
		}
		s.total += ff.verbs * largest
	} else {
		s.args(args)
	}
	return b.spend(s, func() string { return fmt.Sprintf(f, args...) })
}

// escaper bounds an escaping builtin, which prints its arguments as print
// does and then escapes every byte into at most grow bytes.
func (b *budget) escaper(escape func(...any) string, grow int) func(...any) (string, error) {
	return func(args ...any) (string, error) {
		s := b.sizer(0, false)
		s.args(args)
		s.total *= grow
		return b.spend(s, func() string { return escape(args...) })
	}
}

// Per-value estimates. They overestimate (a number is counted at its widest)
// rather than format anything twice.
const (
	// leafOverhead covers separators and fmt's error wrappers such as
	// %!d(string=...), which fmt writes per element of a slice.
	leafOverhead = 16
	// numberSize: a 64-bit integer in binary; floatSize: the largest
	// float64 with %f.
	numberSize = 66
	floatSize  = 330
	// maxDepth is as deep as fmt goes into our data (Data > []Line > Line >
	// string); deeper values are counted as pointers.
	maxDepth = 6
)

// sizer estimates how many bytes fmt prints for some values. It stops as
// soon as the estimate passes limit, so estimating is bounded too.
type sizer struct {
	pad, factor, limit int
	total              int
	// walked counts the values visited.
	walked int
	// bad is a type fmt would print with its own method (Formatter,
	// GoStringer), whose output cannot be estimated.
	bad reflect.Type
}

func (b *budget) sizer(pad int, expand bool) *sizer {
	s := &sizer{pad: pad, factor: 1, limit: b.left}
	if expand {
		s.factor = 5 // % #x prints "0x41 " per byte; %q up to \x00
	}
	return s
}

func (s *sizer) args(args []any) {
	for _, a := range args {
		s.add(reflect.ValueOf(a), 0)
		s.total++ // separator
	}
}

var (
	formatterType  = reflect.TypeFor[fmt.Formatter]()
	goStringerType = reflect.TypeFor[fmt.GoStringer]()
	stringerType   = reflect.TypeFor[fmt.Stringer]()
	errorType      = reflect.TypeFor[error]()
)

func (s *sizer) add(v reflect.Value, depth int) {
	if s.total > s.limit || s.bad != nil {
		return
	}
	s.walked++
	leaf := s.pad + leafOverhead
	if !v.IsValid() {
		s.total += leaf + len("<nil>")
		return
	}
	t := v.Type()
	if t.Implements(formatterType) || t.Implements(goStringerType) {
		s.bad = t
		return
	}
	// No type a template can reach has String or Error (Data and Line have
	// no methods); if one ever does, its text is what fmt prints.
	if v.CanInterface() && (t.Implements(stringerType) || t.Implements(errorType)) {
		if t.Kind() == reflect.Pointer && v.IsNil() {
			s.total += leaf + len("<nil>")
			return
		}
		var text string
		if e, ok := v.Interface().(error); ok {
			text = e.Error()
		} else {
			text = v.Interface().(fmt.Stringer).String()
		}
		s.total += leaf + len(text)*s.factor
		return
	}
	switch t.Kind() {
	case reflect.String:
		s.total += leaf + v.Len()*s.factor
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		s.total += leaf + numberSize
	case reflect.Float32, reflect.Float64:
		s.total += leaf + floatSize
	case reflect.Complex64, reflect.Complex128:
		s.total += leaf + 2*floatSize
	case reflect.Slice, reflect.Array:
		if depth >= maxDepth {
			s.total += leaf + numberSize
			return
		}
		s.total += len(t.String()) + 2
		if t.Elem().Kind() == reflect.Uint8 { // []byte prints like a string with %s, %x, %q
			s.total += v.Len() * max(s.factor, 4) // %v: "255 " per byte
			return
		}
		for i := 0; i < v.Len() && s.total <= s.limit; i++ {
			s.add(v.Index(i), depth+1)
		}
	case reflect.Map:
		if depth >= maxDepth {
			s.total += leaf + numberSize
			return
		}
		s.total += len(t.String()) + 2
		for it := v.MapRange(); it.Next() && s.total <= s.limit; {
			s.add(it.Key(), depth+1)
			s.add(it.Value(), depth+1)
		}
	case reflect.Struct:
		if depth >= maxDepth {
			s.total += leaf + numberSize
			return
		}
		s.total += len(t.String()) + 2
		for i := 0; i < v.NumField() && s.total <= s.limit; i++ {
			s.total += len(t.Field(i).Name) + 1
			s.add(v.Field(i), depth+1)
		}
	case reflect.Pointer:
		// fmt follows a pointer only at the top level (&{...}).
		if depth == 0 && !v.IsNil() {
			s.total++
			s.add(v.Elem(), depth+1)
			return
		}
		s.total += leaf + numberSize
	case reflect.Interface:
		if v.IsNil() {
			s.total += leaf + len("<nil>")
			return
		}
		s.add(v.Elem(), depth)
	default: // func, chan, unsafe pointer: an address
		s.total += leaf + numberSize
	}
}
