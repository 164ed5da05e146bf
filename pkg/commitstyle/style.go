package commitstyle

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"text/template"
)

// program is one parsed, checked template with its output limit. It is
// immutable: runs clone the template, so one program serves every branch
// worker at once.
type program struct {
	t     *template.Template
	shape shape
	limit int
}

// compile parses and checks a template. The bounded functions are bound to
// a throwaway budget here only so Parse knows their names; every run binds
// its own.
func compile(name, src string, limit int) (*program, error) {
	if len(src) > MaxSource {
		return nil, fmt.Errorf("template is longer than %d bytes", MaxSource)
	}
	t, err := template.New(name).Option("missingkey=error").Funcs((&budget{}).funcs()).Parse(src)
	if err != nil {
		return nil, err
	}
	sh, err := check(t)
	if err != nil {
		return nil, err
	}
	return &program{t: t, shape: sh, limit: limit}, nil
}

// stepsError: a commit is too large for the template's range bodies.
type stepsError struct{ steps, n int }

func (e *stepsError) Error() string {
	return fmt.Sprintf("range body too long for a commit of %d changes: %d evaluation steps, at most %d", e.n, e.steps, maxSteps)
}

// run executes the program on d under its bounds: the steps d's size implies
// are checked first, then the run writes into its own budget.
func (p *program) run(d Data) (string, error) {
	n := max(len(d.Changes), len(d.Targets))
	if steps := p.shape.steps(n); steps > maxSteps {
		return "", &stepsError{steps: steps, n: n}
	}
	b := &budget{left: p.limit}
	t, err := p.t.Clone()
	if err != nil {
		return "", err
	}
	w := &writer{b: b}
	if err := t.Funcs(b.funcs()).Execute(w, d); err != nil {
		if errors.Is(err, errBudget) {
			return "", &limitError{limit: p.limit}
		}
		return "", err
	}
	return w.out.String(), nil
}

// limitError: a run produced more than its budget.
type limitError struct{ limit, sample int }

func (e *limitError) Error() string {
	on := ""
	if e.sample > 0 {
		on = fmt.Sprintf(" on a sample commit of %d changes", e.sample)
	}
	return fmt.Sprintf("output exceeds %d KiB%s (the limit counts what the template writes and what print, printf, println, html, js and urlquery build)", e.limit>>10, on)
}

func (e *limitError) Unwrap() error { return errBudget }

// Style is a parsed set of commit templates.
type Style struct {
	authorName, authorEmail, message *program
}

var (
	styles sync.Map // [3]string -> *Style
	cached atomic.Int32
)

// maxCached bounds the cache of parsed styles: admission parses whatever
// tenants send (dry runs included), and the cache must not grow with it (a
// style of three 512-element templates holds about 120 KiB). When full it is
// emptied; workers parse their style again once.
const maxCached = 64

// SampleChanges is the size of the sample commit ParseStyle runs templates
// on: the default push.maxChanges, with long paths, targets and user names,
// so a template that fails only on a full commit is refused at admission.
// (push.maxChanges has no upper bound; a larger commit that passes a bound
// renders the fallback text, see Render.)
const SampleChanges = 500

// samples are the data ParseStyle runs templates on: a full commit, and the
// two-file commit earlier versions ran templates on (so {{index .Changes 5}}
// is still refused, and {{index .Changes 1}} still accepted).
var samples = sync.OnceValue(func() []Data {
	lines := make([]Line, SampleChanges)
	verbs := []string{"create", "update", "delete"}
	for i := range lines {
		// 81-byte paths, 28-byte targets, each change in its own target: a
		// message listing verb, path and target of every change still fits
		// a full commit in maxMessage.
		lines[i] = Line{
			Verb:     verbs[i%3],
			Path:     fmt.Sprintf("apps/v1/deployments/tenant-namespace-%04d/a-deployment-with-a-long-name-%04d.yaml", i, i),
			Target:   fmt.Sprintf("tenant-namespace-%04d/mirror", i),
			Reported: []string{"create", "patch", "apply", "delete", ""}[i%5],
		}
	}
	user := "system:serviceaccount:tenant-namespace-0000:a-controller-with-a-long-name"
	return []Data{
		NewData(Author{User: user, Impersonator: "oidc:administrator@example.com", Verb: "update"}, false, lines),
		NewData(Author{User: "system:serviceaccount:ns:sa", Impersonator: "admin", Verb: "update"}, false,
			[]Line{{Verb: "update", Path: "v1/configmaps/ns/a.yaml", Target: "ns/t", Reported: "patch"}, {Verb: "create", Path: "v1/configmaps/ns/b.yaml", Target: "ns/t"}}),
	}
})

// ParseStyle parses the templates ("" for a default), checks them against
// the bounds, and runs them on the samples under those bounds. A template
// that does not parse, breaks a bound, or fails on sample data (an unknown
// field) is an error naming it; validation refuses such a GitProvider, so the
// worker always has a working style.
func ParseStyle(authorName, authorEmail, message string) (*Style, error) {
	or := func(v, def string) string {
		if v == "" {
			return def
		}
		return v
	}
	src := [3]string{or(authorName, DefaultAuthorName), or(authorEmail, DefaultAuthorEmail), or(message, DefaultMessage)}
	if s, ok := styles.Load(src); ok {
		return s.(*Style), nil
	}
	s, err := parseStyle(src)
	if err != nil {
		return nil, err
	}
	if cached.Add(1) > maxCached {
		styles.Clear()
		cached.Store(0)
	}
	styles.Store(src, s)
	return s, nil
}

// parseStyle is ParseStyle without the cache.
func parseStyle(src [3]string) (*Style, error) {
	var s Style
	for i, p := range []**program{&s.authorName, &s.authorEmail, &s.message} {
		name := [3]string{"authorName", "authorEmail", "message"}[i]
		limit := [3]int{maxAuthor, maxAuthor, maxMessage}[i]
		prog, err := compile(name, src[i], limit)
		if err != nil {
			return nil, &TemplateError{Field: name, Err: err}
		}
		for _, d := range samples() {
			if _, err := prog.run(d); err != nil {
				if le, ok := errors.AsType[*limitError](err); ok {
					le.sample = len(d.Changes)
				}
				return nil, &TemplateError{Field: name, Err: err}
			}
		}
		*p = prog
	}
	return &s, nil
}

// TemplateError names the template that failed.
type TemplateError struct {
	Field string
	Err   error
}

func (e *TemplateError) Error() string { return fmt.Sprintf("%s: %v", e.Field, e.Err) }

func (e *TemplateError) Unwrap() error { return e.Err }

// execute runs a template; a run that fails, breaks a bound or renders only
// space gives the fallback: a commit is never blocked by its message.
func execute(p *program, d Data, fallback string) string {
	out, err := p.run(d)
	if err != nil || strings.TrimSpace(out) == "" {
		return fallback
	}
	return out
}

// Render returns a commit's message, with the attribution trailers
// (Kubernetes-User, or Kubernetes-Field-Manager when no report named the
// user, Kubernetes-Verb, Kubernetes-Impersonator, Kubernetes-Attribution:
// field-manager) and extra trailers appended in one block (git reads
// trailers from the last paragraph only), and its author.
//
// A field manager is chosen by the writer (kubectl --field-manager=alice),
// so it is never presented as the Kubernetes user: only kube-apiserver's
// report names a user.
func (s *Style) Render(d Data, extra ...string) (message, name, email string) {
	msg := strings.TrimRight(execute(s.message, d, fmt.Sprintf("%d changes by %s\n", len(d.Changes), d.User)), "\n")
	who := "Kubernetes-User: "
	if d.FieldManager {
		who = "Kubernetes-Field-Manager: "
	}
	trailers := []string{who + d.User}
	if d.Verbs != "" {
		trailers = append(trailers, "Kubernetes-Verb: "+d.Verbs)
	}
	if d.Impersonator != "" {
		trailers = append(trailers, "Kubernetes-Impersonator: "+d.Impersonator)
	}
	if d.FieldManager {
		trailers = append(trailers, "Kubernetes-Attribution: field-manager")
	}
	trailers = append(trailers, extra...)
	msg += "\n\n" + strings.Join(trailers, "\n") + "\n"
	name = Clean(execute(s.authorName, d, d.User))
	email = Clean(execute(s.authorEmail, d, d.SafeUser+"@kubernetes.invalid"))
	return msg, name, email
}
