package gitmodel

import (
	"bytes"
	"strconv"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/utils/diff"
)

// The operations of go-git's line diff (diffmatchpatch's values; that module
// is not imported directly, it is go-git's dependency).
const (
	dmpDelete = -1
	dmpInsert = 1
)

// diffContext is the number of unchanged lines around a change (git's -U3).
const diffContext = 3

// diffTimeout bounds the time the line diff may take on two large files
// with many changes: past it the rest is shown as removed and added, which is
// still a correct diff.
const diffTimeout = 2 * time.Second

// maxDiffLines bounds the lines of the changed middle of two files given to
// the line diff, which encodes each distinct line as one rune (about 1.1
// million of them at most; more would panic): past it the middle is shown as
// removed and added.
const maxDiffLines = 500_000

// UnifiedDiff returns the unified diff that turns a into b, as
// `git diff -U3` prints it from its "---" line on (without the function name
// git adds after a hunk header): "--- nameA", "+++ nameB", then hunks
// "@@ -l,n +l,n @@" with 3 lines of context, hunks closer than 6 lines merged,
// and "\ No newline at end of file" after a last line without one. Callers
// name files "a/<path>" and "b/<path>", or "/dev/null" for a side that does
// not exist. Equal inputs give "".
func UnifiedDiff(a, b []byte, nameA, nameB string) string {
	if bytes.Equal(a, b) {
		return ""
	}
	ops := lineOps(string(a), string(b))
	var sb strings.Builder
	sb.Grow(len(a) + len(b) + 64)
	sb.WriteString("--- " + nameA + "\n+++ " + nameB + "\n")
	writeHunks(&sb, ops)
	return sb.String()
}

// lineOp is one line of a diff: ' ' kept, '-' removed, '+' added. line
// keeps its "\n" (the last line of a file may have none).
type lineOp struct {
	kind byte
	line string
}

// lineOps is the line diff of a and b, removals before additions within
// each change.
func lineOps(a, b string) []lineOp {
	la, lb := splitLines(a), splitLines(b)
	p := 0
	for p < len(la) && p < len(lb) && la[p] == lb[p] {
		p++
	}
	s := 0
	for s < len(la)-p && s < len(lb)-p && la[len(la)-1-s] == lb[len(lb)-1-s] {
		s++
	}
	ops := make([]lineOp, 0, len(la)+len(lb)-p-s)
	for _, l := range la[:p] {
		ops = append(ops, lineOp{' ', l})
	}
	ma, mb := la[p:len(la)-s], lb[p:len(lb)-s]
	var del, ins []lineOp
	flush := func() {
		ops = append(append(ops, del...), ins...)
		del, ins = del[:0], ins[:0]
	}
	ok := len(ma)+len(mb) <= maxDiffLines && lineDiff(strings.Join(ma, ""), strings.Join(mb, ""), func(kind byte, text string) {
		for _, l := range splitLines(text) {
			switch kind {
			case '-':
				del = append(del, lineOp{'-', l})
			case '+':
				ins = append(ins, lineOp{'+', l})
			default:
				flush()
				ops = append(ops, lineOp{' ', l})
			}
		}
	})
	if !ok { // too large, or the diff failed: all removed, all added
		ops, del, ins = ops[:p], del[:0], ins[:0]
		for _, l := range ma {
			ops = append(ops, lineOp{'-', l})
		}
		for _, l := range mb {
			ops = append(ops, lineOp{'+', l})
		}
	}
	flush()
	for _, l := range la[len(la)-s:] {
		ops = append(ops, lineOp{' ', l})
	}
	return ops
}

// lineDiff runs go-git's line diff and calls emit with each of its parts
// ('-', '+' or ' ', and its lines); false if it panicked.
func lineDiff(a, b string, emit func(kind byte, text string)) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	for _, d := range diff.DoWithTimeout(a, b, diffTimeout) {
		switch d.Type {
		case dmpDelete:
			emit('-', d.Text)
		case dmpInsert:
			emit('+', d.Text)
		default:
			emit(' ', d.Text)
		}
	}
	return true
}

// splitLines splits s after each "\n" (the last line may have none).
func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	out := strings.SplitAfter(s, "\n")
	if out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return out
}

// writeHunks writes the hunks of ops: each change with diffContext lines
// around it, changes at most 2*diffContext lines apart in one hunk.
func writeHunks(sb *strings.Builder, ops []lineOp) {
	aLine, bLine := 0, 0 // lines of a and b before ops[pos]
	pos := 0
	for i := 0; i < len(ops); {
		for i < len(ops) && ops[i].kind == ' ' {
			i++
		}
		if i == len(ops) {
			return
		}
		start := max(pos, i-diffContext)
		j := i
		for {
			for j < len(ops) && ops[j].kind != ' ' {
				j++
			}
			k := j
			for k < len(ops) && ops[k].kind == ' ' {
				k++
			}
			if k == len(ops) || k-j > 2*diffContext {
				break
			}
			j = k
		}
		end := min(len(ops), j+diffContext)
		for ; pos < start; pos++ {
			aLine, bLine = advance(ops[pos].kind, aLine, bLine)
		}
		aCount, bCount := 0, 0
		for _, op := range ops[start:end] {
			aCount, bCount = advance(op.kind, aCount, bCount)
		}
		sb.WriteString("@@ -" + hunkRange(aLine, aCount) + " +" + hunkRange(bLine, bCount) + " @@\n")
		for _, op := range ops[start:end] {
			sb.WriteByte(op.kind)
			sb.WriteString(op.line)
			if !strings.HasSuffix(op.line, "\n") {
				sb.WriteString("\n\\ No newline at end of file\n")
			}
		}
		i = end
	}
}

// advance counts one line of kind in the a and b line counts.
func advance(kind byte, a, b int) (int, int) {
	switch kind {
	case '-':
		return a + 1, b
	case '+':
		return a, b + 1
	}
	return a + 1, b + 1
}

// hunkRange is one side of a hunk header as git writes it: "l,n", "l" when
// n is 1, and for n of 0 the line before the hunk.
func hunkRange(before, n int) string {
	switch n {
	case 0:
		return strconv.Itoa(before) + ",0"
	case 1:
		return strconv.Itoa(before + 1)
	}
	return strconv.Itoa(before+1) + "," + strconv.Itoa(n)
}
