package attribution

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"text/template"
)

// Line is one changed file as a commit message lists it.
type Line struct {
	// Verb says what happened to the file: create, update or delete.
	Verb string
	// Path is the file; Target the GitTarget (namespace/name) it belongs to.
	Path, Target string
	// Reported is the verb of the write as kube-apiserver reported it
	// (create, update, patch, apply, delete; "" when no report named it).
	Reported string
}

// Data is what the author and message templates of GitProvider.spec.commit
// see.
type Data struct {
	// User is the author's Kubernetes username (or, with FieldManager, the
	// field manager of the last write); SafeUser the same, usable as the
	// local part of an email address.
	User, SafeUser string
	// Impersonator is who impersonated User ("" if nobody).
	Impersonator string
	// FieldManager: no report named the user.
	FieldManager bool
	// Verbs are the distinct reported verbs (or file verbs), comma separated.
	Verbs string
	// Changes are the files of the commit; Targets their GitTargets.
	Changes []Line
	Targets []string
}

// NewData fills in the derived fields.
func NewData(a Author, fieldManager bool, lines []Line) Data {
	d := Data{User: a.User, SafeUser: SafeUser(a.User), Impersonator: a.Impersonator, FieldManager: fieldManager, Changes: lines}
	var verbs []string
	for _, l := range lines {
		if !slices.Contains(d.Targets, l.Target) {
			d.Targets = append(d.Targets, l.Target)
		}
		v := l.Reported
		if v == "" {
			v = l.Verb
		}
		if !slices.Contains(verbs, v) {
			verbs = append(verbs, v)
		}
	}
	d.Verbs = strings.Join(verbs, ", ")
	return d
}

// Default templates.
const (
	DefaultAuthorName  = "{{.User}}"
	DefaultAuthorEmail = "{{.SafeUser}}@kubernetes.invalid"
	DefaultMessage     = `{{if eq (len .Changes) 1}}{{with index .Changes 0}}{{.Verb}} {{.Path}}{{end}}{{else}}{{len .Changes}} changes{{end}} by {{.User}}

{{range .Changes}}{{.Verb}} {{.Path}}
{{end}}`
)

// Style is a parsed set of commit templates.
type Style struct {
	authorName, authorEmail, message *template.Template
}

var styles sync.Map // [3]string -> *Style

// ParseStyle parses the templates ("" for a default). A template that does
// not parse, or fails on sample data (an unknown field), is an error naming
// it; validation refuses such a GitProvider, so the worker always has a
// working style.
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
	var s Style
	sample := NewData(Author{User: "system:serviceaccount:ns:sa", Impersonator: "admin", Verb: "update"}, false,
		[]Line{{Verb: "update", Path: "v1/configmaps/ns/a.yaml", Target: "ns/t", Reported: "patch"}, {Verb: "create", Path: "v1/configmaps/ns/b.yaml", Target: "ns/t"}})
	for i, t := range []**template.Template{&s.authorName, &s.authorEmail, &s.message} {
		name := [3]string{"authorName", "authorEmail", "message"}[i]
		parsed, err := template.New(name).Option("missingkey=error").Parse(src[i])
		if err != nil {
			return nil, &TemplateError{Field: name, Err: err}
		}
		if err := parsed.Execute(&strings.Builder{}, sample); err != nil {
			return nil, &TemplateError{Field: name, Err: err}
		}
		*t = parsed
	}
	if len(src[0])+len(src[1])+len(src[2]) < 4096 { // keep the cache small
		styles.Store(src, &s)
	}
	return &s, nil
}

// TemplateError names the template that failed.
type TemplateError struct {
	Field string
	Err   error
}

func (e *TemplateError) Error() string { return fmt.Sprintf("%s: %v", e.Field, e.Err) }

// maxMessage bounds a rendered message (a template can loop).
const maxMessage = 64 << 10

func execute(t *template.Template, d Data, fallback string) string {
	var b strings.Builder
	if err := t.Execute(&b, d); err != nil || strings.TrimSpace(b.String()) == "" || b.Len() > maxMessage {
		return fallback
	}
	return b.String()
}

// Render returns a commit's message, with the attribution trailers
// (Kubernetes-User, Kubernetes-Verb, Kubernetes-Impersonator,
// Kubernetes-Attribution: field-manager) and extra trailers appended in one
// block (git reads trailers from the last paragraph only), and its author.
func (s *Style) Render(d Data, extra ...string) (message, name, email string) {
	msg := strings.TrimRight(execute(s.message, d, fmt.Sprintf("%d changes by %s\n", len(d.Changes), d.User)), "\n")
	trailers := []string{"Kubernetes-User: " + d.User}
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
