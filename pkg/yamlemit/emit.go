// Package yamlemit writes YAML byte for byte as go-yaml v2 (go.yaml.in/yaml/v2)
// writes it, without go-yaml for the values it knows how go-yaml writes.
//
// Why: go-yaml's reflection and event machinery were a third of a
// snapshot's CPU (some 40 µs for a ConfigMap of 1 KiB), and every file we
// write is go-yaml's bytes (pkg/render's manifests, pkg/sops's encrypted
// files): they must stay the same bytes, or every mirrored file would
// change once. What is written here is a small part of YAML: block mappings
// and sequences, "{}" and "[]", integers, booleans, null, and strings of
// printable ASCII, plain, single- or double-quoted exactly as go-yaml's
// emitter chooses and folds them, or in literal blocks when they have
// several lines (libyaml's analyze_scalar, select_scalar_style and
// write_*_scalar, with go-yaml's defaults: indent 2, width 80). Anything else
// (a float, a tab, a byte outside ASCII, a string go-yaml would escape or
// fold in double quotes, a literal block with hints, a key over 128 bytes)
// makes the whole document go to go-yaml. TestEmitMatchesGoYAML and FuzzEmit
// hold the two to the same bytes.
package yamlemit

import (
	"strconv"
	"strings"

	goyaml "go.yaml.in/yaml/v2"
)

// Marshal is goyaml.Marshal(m): the emitter's bytes when it knows every
// value of m, go-yaml's otherwise.
func Marshal(m goyaml.MapSlice) ([]byte, error) {
	if b, ok := Emit(m); ok {
		return b, nil
	}
	return goyaml.Marshal(m)
}

// AppendMarshal is Marshal appending to dst: a caller that renders many
// documents and keeps none (a snapshot compresses each at once) reuses one
// buffer instead of growing a new one per document.
func AppendMarshal(dst []byte, m goyaml.MapSlice) ([]byte, error) {
	if b, ok := appendEmit(dst, m); ok {
		return b, nil
	}
	b, err := goyaml.Marshal(m)
	return append(dst, b...), err
}

// Emit writes m (a mapping at the top of a document) as go-yaml does; ok is
// false when it meets a value it does not know how go-yaml writes.
func Emit(m goyaml.MapSlice) ([]byte, bool) {
	return appendEmit(make([]byte, 0, 1024), m)
}

func appendEmit(dst []byte, m goyaml.MapSlice) ([]byte, bool) {
	if len(m) == 0 {
		return append(dst, "{}\n"...), true
	}
	e := emitter{buf: dst}
	if !e.mapping(m, 0) {
		return dst, false
	}
	return e.buf, true
}

// emitter is the output and its current column.
type emitter struct {
	buf []byte
	col int
}

// bestWidth is go-yaml's line width: a scalar is folded at a space past it.
const bestWidth = 80

func (e *emitter) put(s string) {
	e.buf = append(e.buf, s...)
	e.col += len(s)
}

func (e *emitter) newline() {
	e.buf = append(e.buf, '\n')
	e.col = 0
}

func (e *emitter) indent(n int) {
	for e.col < n {
		e.buf = append(e.buf, ' ')
		e.col++
	}
}

// mapping writes m's entries with their keys at column indent; the cursor is
// there already for the first.
func (e *emitter) mapping(m goyaml.MapSlice, indent int) bool {
	for i, item := range m {
		if i > 0 {
			e.indent(indent)
		}
		k, ok := item.Key.(string)
		if !ok || !e.key(k) {
			return false
		}
		e.put(":")
		if !e.value(item.Value, indent, true) {
			return false
		}
	}
	return true
}

// sequence writes s's items with their dashes at column indent; the cursor
// is there already for the first.
func (e *emitter) sequence(s []interface{}, indent int) bool {
	for i, item := range s {
		if i > 0 {
			e.indent(indent)
		}
		e.put("-")
		if !e.value(item, indent, false) {
			return false
		}
	}
	return true
}

// value writes v after a key's ":" or an item's "-" at column indent, and
// ends its line. A sequence in a mapping is not indented; one in a sequence
// is, like a mapping.
func (e *emitter) value(v interface{}, indent int, inMapping bool) bool {
	switch t := v.(type) {
	case goyaml.MapSlice:
		if len(t) == 0 {
			return e.flowEmpty("{}")
		}
		if inMapping {
			e.newline()
			e.indent(indent + 2)
		} else {
			e.put(" ")
		}
		return e.mapping(t, indent+2)
	case []interface{}:
		if len(t) == 0 {
			return e.flowEmpty("[]")
		}
		if inMapping {
			e.newline()
			e.indent(indent)
			return e.sequence(t, indent)
		}
		e.put(" ")
		return e.sequence(t, indent+2)
	}
	if !e.scalar(v, indent+2) {
		return false
	}
	e.newline()
	return true
}

// flowEmpty writes an empty mapping or sequence as go-yaml does, in flow
// style ("{}", "[]"), and ends the line.
func (e *emitter) flowEmpty(s string) bool {
	e.put(" ")
	e.put(s)
	e.newline()
	return true
}

// scalar writes a scalar value after a space; a folded line goes on at
// column indent.
func (e *emitter) scalar(v interface{}, indent int) bool {
	var s string
	switch t := v.(type) {
	case nil:
		s = "null"
	case bool:
		s = strconv.FormatBool(t)
	case int64:
		s = strconv.FormatInt(t, 10)
	case int:
		s = strconv.Itoa(t)
	case uint64:
		s = strconv.FormatUint(t, 10)
	case string:
		return e.str(t, " ", indent, true)
	default:
		return false
	}
	e.put(" ")
	e.put(s)
	return true
}

// key writes a mapping key (a simple key: never folded).
func (e *emitter) key(k string) bool {
	if len(k) > 128 {
		return false // go-yaml writes a complex key ("? ")
	}
	return e.str(k, "", 0, false)
}

// str writes lead and a string in the style go-yaml picks for it, folded at
// spaces past the line width when breaks are allowed (values, not keys).
func (e *emitter) str(s, lead string, indent int, breaks bool) bool {
	lines := false
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			lines = true
		} else if s[i] < 0x20 || s[i] > 0x7e {
			return false // escapes, tabs, carriage returns, UTF-8: go-yaml's
		}
	}
	switch {
	case lines && !breaks:
		return false // a key: double-quoted, with escapes
	case lines:
		return e.literal(s, lead, indent)
	case !plainResolvable(s):
		return e.doubleQuoted(s, lead, breaks)
	case blockPlainAllowed(s):
		e.put(lead)
		e.fold(s, indent, breaks, false)
	default:
		e.put(lead)
		e.put("'")
		e.fold(s, indent, breaks, true)
		e.put("'")
	}
	return true
}

// literal writes a string of several lines as go-yaml does, in a literal
// block ("|", or "|-" without a final line break), its lines at column
// indent; the caller ends its last line. Those go-yaml writes otherwise are
// left to it: a space before a line break or at the end (double-quoted), a
// first line that starts with a space or is empty (an indentation hint),
// line breaks at the end kept ("|+").
func (e *emitter) literal(s, lead string, indent int) bool {
	if s[0] == ' ' || s[0] == '\n' || s[len(s)-1] == ' ' || strings.Contains(s, " \n") || strings.HasSuffix(s, "\n\n") {
		return false
	}
	e.put(lead)
	if strings.HasSuffix(s, "\n") {
		e.put("|")
		s = s[:len(s)-1]
	} else {
		e.put("|-")
	}
	for line := range strings.SplitSeq(s, "\n") {
		e.newline()
		if line != "" {
			e.indent(indent)
			e.put(line)
		}
	}
	return true
}

// fold writes s (after its opening quote, if quoted), breaking the line at
// a single space past the line width as go-yaml's write_plain_scalar and
// write_single_quoted_scalar do, and doubling single quotes when quoted.
func (e *emitter) fold(s string, indent int, breaks, quoted bool) {
	spaces := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ' ' {
			next := i+1 < len(s) && s[i+1] == ' '
			if breaks && !spaces && e.col > bestWidth && !next && (!quoted || (i > 0 && i < len(s)-1)) {
				e.newline()
				e.indent(indent)
			} else {
				e.buf = append(e.buf, ' ')
				e.col++
			}
			spaces = true
			continue
		}
		if quoted && c == '\'' {
			e.buf = append(e.buf, '\'')
			e.col++
		}
		e.buf = append(e.buf, c)
		e.col++
		spaces = false
	}
}

// doubleQuoted writes lead and s in double quotes when go-yaml would write
// it as it is: nothing to escape, and no space where the line could fold.
func (e *emitter) doubleQuoted(s, lead string, breaks bool) bool {
	start := e.col + len(lead) + 1 // the column of s[0]
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' || (breaks && s[i] == ' ' && start+i > bestWidth) {
			return false
		}
	}
	e.put(lead)
	e.put(`"`)
	e.put(s)
	e.put(`"`)
	return true
}

// plainResolvable reports whether go-yaml's encoder lets s be written
// without double quotes: s does not read back as anything but a string
// (resolve and isBase60Float). Strings that could be numbers or
// timestamps are asked of go-yaml itself.
func plainResolvable(s string) bool {
	if s == "" {
		return false // null
	}
	switch c := s[0]; {
	case c == '+' || c == '-' || c == '.' || (c >= '0' && c <= '9'):
		if strings.IndexFunc(s, notInNumbers) >= 0 {
			return true // no number, timestamp or .inf/.nan has that character
		}
		if allDigits(s) {
			// An integer (or, with a leading 0 that is no octal, a float
			// by yamlStyleFloat), never a string. Asking go-yaml was 0.16 s
			// of a 10,000-ConfigMap snapshot's profile (about 16 µs each),
			// and such values ("0", "8080") are in most objects.
			return false
		}
		b, err := goyaml.Marshal(s)
		return err == nil && len(b) > 0 && b[0] != '"'
	case c == '~' || c == 'y' || c == 'Y' || c == 'n' || c == 'N' || c == 't' || c == 'T' || c == 'f' || c == 'F' || c == 'o' || c == 'O':
		return !resolvesInMap[s]
	}
	return true
}

// allDigits reports whether s is ASCII decimal digits only.
func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// notInNumbers reports a character none of the non-strings go-yaml reads a
// plain scalar starting with a digit, a sign or a dot as can hold: integers
// (decimal, 0x, 0o, 0b, with "_"), floats, base 60, timestamps, .inf, .nan.
func notInNumbers(r rune) bool {
	return !strings.ContainsRune("0123456789+-._: abcdefABCDEFxXoOtTzZiInN", r)
}

// resolvesInMap are the plain words go-yaml reads as booleans or null (its
// resolve table, for the first characters above).
var resolvesInMap = map[string]bool{
	"y": true, "Y": true, "yes": true, "Yes": true, "YES": true,
	"true": true, "True": true, "TRUE": true,
	"on": true, "On": true, "ON": true,
	"n": true, "N": true, "no": true, "No": true, "NO": true,
	"false": true, "False": true, "FALSE": true,
	"off": true, "Off": true, "OFF": true,
	"~": true, "null": true, "Null": true, "NULL": true,
}

// blockPlainAllowed is libyaml's analyze_scalar for a non-empty string of
// printable ASCII in block context: no leading or trailing space, no
// document marker, no indicator where it would be read as one.
func blockPlainAllowed(s string) bool {
	if s[0] == ' ' || s[len(s)-1] == ' ' {
		return false
	}
	if len(s) >= 3 && (s[:3] == "---" || s[:3] == "...") {
		return false
	}
	followedBySpace := func(i int) bool { return i+1 >= len(s) || s[i+1] == ' ' }
	switch s[0] {
	case '#', ',', '[', ']', '{', '}', '&', '*', '!', '|', '>', '\'', '"', '%', '@', '`':
		return false
	case '?', ':', '-':
		if followedBySpace(0) {
			return false
		}
	}
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case ':':
			if followedBySpace(i) {
				return false
			}
		case '#':
			if s[i-1] == ' ' {
				return false
			}
		}
	}
	return true
}
