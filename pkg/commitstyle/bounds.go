package commitstyle

import (
	"fmt"
	"strings"
	"text/template"
	"text/template/parse"
	"unicode/utf8"
)

// Bounds. They are far above what a useful commit template needs and far
// below what hurts the server.
const (
	// MaxSource bounds a template's source (validation reports it as
	// TooLong before parsing).
	MaxSource = 4096
	// maxNodes bounds the elements (parse nodes: text, actions, pipelines,
	// commands, arguments...) of one template. The default message has 56.
	maxNodes = 512
	// maxSteps bounds the elements a run evaluates, counting a range body
	// once per element of the largest slice it can see (see shape): ranges
	// are never nested, so a run costs at most
	// fixed + perItem*len(Changes) element evaluations. With the sample
	// commit of SampleChanges files this leaves a range body 65 steps (the
	// default message's has 11), and a run a few milliseconds.
	maxSteps = 1 << 15
	// callSteps is what a function call costs on top of its elements: a
	// call through reflect costs as much as evaluating several fields.
	callSteps = 6
	// maxWidth bounds a printf width or precision: padding is the one way a
	// short argument becomes a long output.
	maxWidth = 100
	// maxMessage bounds a rendered message, maxAuthor an author name or
	// email (Clean keeps 256 bytes of those anyway). The budget counts every
	// byte a run writes and every byte print, printf, println, html, js and
	// urlquery build, so a variable that doubles itself stops too.
	maxMessage = 64 << 10
	maxAuthor  = 1 << 10
)

// shape is what the static checks learn about a template: the steps a run
// costs outside any range (fixed) and per element iterated (perItem).
type shape struct {
	nodes, fixed, perItem int
}

// steps is the evaluation cost of a run over a commit of n files (a commit
// has at most as many targets as files).
func (s shape) steps(n int) int { return s.fixed + s.perItem*n }

// check walks the parse tree of a freshly parsed template and refuses what
// could make a run do unbounded work. Each refusal says what to change.
func check(t *template.Template) (shape, error) {
	if len(t.Templates()) > 1 || t.Tree == nil {
		return shape{}, fmt.Errorf("define, template and block are not allowed")
	}
	c := checker{}
	err := c.list(t.Tree.Root)
	return c.shape, err
}

type checker struct {
	shape
	inRange bool
}

func (c *checker) list(l *parse.ListNode) error {
	if l == nil { // a branch without {{else}}
		return nil
	}
	if err := c.count(); err != nil {
		return err
	}
	for _, n := range l.Nodes {
		if err := c.node(n); err != nil {
			return err
		}
	}
	return nil
}

// count charges one element: to the fixed cost, or, inside a range body, to
// the cost per element iterated.
func (c *checker) count() error {
	c.nodes++
	if c.nodes > maxNodes {
		return fmt.Errorf("template has more than %d elements (actions, arguments, text)", maxNodes)
	}
	c.step(1)
	return nil
}

// step charges evaluation steps to the fixed cost or, inside a range body,
// to the cost per element iterated.
func (c *checker) step(n int) {
	if c.inRange {
		c.perItem += n
	} else {
		c.fixed += n
	}
}

func (c *checker) node(n parse.Node) error {
	if err := c.count(); err != nil {
		return err
	}
	switch n := n.(type) {
	case *parse.ActionNode:
		return c.pipe(n.Pipe)
	case *parse.IfNode:
		return c.branch(&n.BranchNode)
	case *parse.WithNode:
		return c.branch(&n.BranchNode)
	case *parse.RangeNode:
		if c.inRange {
			return fmt.Errorf("range may not be nested")
		}
		if !overField(n.Pipe) {
			return fmt.Errorf("range must iterate over a field such as .Changes or .Targets, not %s", n.Pipe)
		}
		// The pipeline runs once; the body (and, conservatively, the
		// else branch) once per element.
		if err := c.pipe(n.Pipe); err != nil {
			return err
		}
		c.inRange = true
		defer func() { c.inRange = false }()
		if err := c.list(n.List); err != nil {
			return err
		}
		return c.list(n.ElseList)
	case *parse.TemplateNode:
		return fmt.Errorf("define, template and block are not allowed")
	case *parse.ListNode:
		return c.list(n)
	case *parse.PipeNode:
		return c.pipe(n)
	case *parse.ChainNode:
		return c.node(n.Node)
	case *parse.IdentifierNode:
		if n.Ident == "call" {
			return fmt.Errorf("call is not allowed")
		}
		return nil
	case *parse.TextNode, *parse.FieldNode, *parse.VariableNode, *parse.DotNode, *parse.NilNode,
		*parse.BoolNode, *parse.NumberNode, *parse.StringNode, *parse.CommentNode,
		*parse.BreakNode, *parse.ContinueNode:
		return nil
	}
	// A node kind a later Go adds is refused until it is understood.
	return fmt.Errorf("%s is not allowed", n)
}

func (c *checker) branch(b *parse.BranchNode) error {
	if err := c.pipe(b.Pipe); err != nil {
		return err
	}
	if err := c.list(b.List); err != nil {
		return err
	}
	return c.list(b.ElseList)
}

func (c *checker) pipe(p *parse.PipeNode) error {
	if p == nil {
		return nil
	}
	if err := c.count(); err != nil {
		return err
	}
	for _, v := range p.Decl {
		if err := c.node(v); err != nil {
			return err
		}
	}
	for _, cmd := range p.Cmds {
		if err := c.count(); err != nil {
			return err
		}
		if id, ok := cmd.Args[0].(*parse.IdentifierNode); ok {
			c.step(callSteps)
			// A constant printf format is checked here, so admission names
			// the bad verb even on a branch the sample data does not reach.
			if s, ok := cmd.Args[min(1, len(cmd.Args)-1)].(*parse.StringNode); ok && id.Ident == "printf" {
				if _, err := scanFormat(s.Text); err != nil {
					return err
				}
			}
		}
		for _, a := range cmd.Args {
			if err := c.node(a); err != nil {
				return err
			}
		}
	}
	return nil
}

// overField: the range iterates over a field chain of the data (.Changes,
// $.Targets, or a field of the dot), never over a number, a variable, a
// function's result or a pipeline. Data's only slices are Changes and
// Targets, so a range iterates at most len(Changes) times.
func overField(p *parse.PipeNode) bool {
	if len(p.Cmds) != 1 || len(p.Cmds[0].Args) != 1 {
		return false
	}
	switch a := p.Cmds[0].Args[0].(type) {
	case *parse.FieldNode:
		return true
	case *parse.VariableNode:
		return len(a.Ident) > 1 && a.Ident[0] == "$"
	}
	return false
}

// format is what scanFormat learns about a printf format.
type format struct {
	verbs int
	// pad is the largest width plus precision of a verb: fmt applies it to
	// every element of a slice or struct it prints.
	pad int
	// expand: a verb (%x, %q, %U, %#v) can print several bytes per byte.
	expand bool
	// indexed: an explicit argument index (%[1]s) can print an argument
	// more than once.
	indexed bool
}

// scanFormat reads a printf format as fmt does, as far as bounding its
// output needs, and refuses '*' and widths or precisions above maxWidth.
func scanFormat(f string) (format, error) {
	var r format
	for i := 0; i < len(f); {
		if f[i] != '%' {
			i++
			continue
		}
		i++
		sharp := false
		for i < len(f) && strings.IndexByte("+-# 0", f[i]) >= 0 {
			sharp = sharp || f[i] == '#'
			i++
		}
		var width, prec int
		var err error
		i = r.index(f, i)
		if width, i, err = number(f, i, "width"); err != nil {
			return r, err
		}
		if i < len(f) && f[i] == '.' {
			i = r.index(f, i+1)
			if prec, i, err = number(f, i, "precision"); err != nil {
				return r, err
			}
		}
		i = r.index(f, i)
		if i >= len(f) {
			break // %!(NOVERB)
		}
		verb, size := utf8.DecodeRuneInString(f[i:])
		i += size
		if verb == '%' {
			continue
		}
		r.verbs++
		r.pad = max(r.pad, width+prec)
		r.expand = r.expand || strings.ContainsRune("xXqU", verb) || sharp && verb == 'v'
	}
	return r, nil
}

// index skips an explicit argument index ([n]).
func (r *format) index(f string, i int) int {
	if i < len(f) && f[i] == '[' {
		r.indexed = true
		if j := strings.IndexByte(f[i:], ']'); j >= 0 {
			return i + j + 1
		}
	}
	return i
}

// number reads a width or precision.
func number(f string, i int, what string) (int, int, error) {
	if i < len(f) && f[i] == '*' {
		return 0, i, fmt.Errorf("printf %s must be a number, not '*'", what)
	}
	n := 0
	for ; i < len(f) && f[i] >= '0' && f[i] <= '9'; i++ {
		if n <= maxWidth { // stop accumulating: no overflow
			n = n*10 + int(f[i]-'0')
		}
	}
	if n > maxWidth {
		return 0, i, fmt.Errorf("printf %s may be at most %d", what, maxWidth)
	}
	return n, i, nil
}
