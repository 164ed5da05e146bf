// Package commitstyle renders commit messages and authors from the text/template
// sources tenants write in GitProvider.spec.commit (authorName, authorEmail,
// message).
//
// The templates are written by tenants and run inside the server, at admission
// (on sample data) and on every live commit, so every way text/template has to
// do unbounded work is closed (bounds.go, funcs.go):
//
//   - statically, on the parse tree: no define/template/block (no recursion),
//     ranges only over a field of the data and never nested (work linear in
//     the commit's size), a bounded number of elements, printf formats with
//     bounded widths, no call;
//   - at run time: every execution has its own output budget, drawn by what it
//     writes and by what print, printf, println, html, js and urlquery build,
//     and the evaluation steps a commit's size implies are bounded before the
//     template runs.
//
// The package imports only the standard library: API validation uses it
// without pulling in the attribution machinery (and its etcd client).
package commitstyle

import (
	"strings"
	"unicode"
)

// Author is who made a write, and how.
type Author struct {
	// User is the Kubernetes username (an impersonated request's is the
	// impersonated user's).
	User string
	// Impersonator is the user who impersonated User, if any.
	Impersonator string
	// Verb is create, update, patch, apply or delete.
	Verb string
	// Groups are the user's groups (of the impersonated user when
	// impersonated), at most MaxGroups; Manager is the write's field
	// manager. Only ignoreChangesBy reads them: no template sees them.
	Groups  []string
	Manager string
}

// MaxGroups bounds the groups kept of one author: a report is kept per
// change for minutes, and a user can be in any number of groups. An author
// with more is matched on the first MaxGroups only.
const MaxGroups = 32

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
// see. It has no methods on purpose: a template can reach only these fields,
// so the static checks know every slice a range can iterate over.
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

// NewData fills in the derived fields. Duplicates are found with sets, not
// by scanning, so a commit of many files in many targets stays linear.
func NewData(a Author, fieldManager bool, lines []Line) Data {
	d := Data{User: a.User, SafeUser: SafeUser(a.User), Impersonator: a.Impersonator, FieldManager: fieldManager, Changes: lines}
	var verbs []string
	seenTarget, seenVerb := map[string]bool{}, map[string]bool{}
	for _, l := range lines {
		if !seenTarget[l.Target] {
			seenTarget[l.Target] = true
			d.Targets = append(d.Targets, l.Target)
		}
		v := l.Reported
		if v == "" {
			v = l.Verb
		}
		if !seenVerb[v] {
			seenVerb[v] = true
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

// Clean makes a username safe to write into a commit header or trailer:
// control characters (a newline would start a forged trailer or header) and
// the angle brackets that delimit an email address are dropped, length is
// bounded.
func Clean(u string) string {
	u = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '<' || r == '>' {
			return -1
		}
		return r
	}, u)
	if len(u) > 256 {
		u = u[:256]
	}
	return strings.TrimSpace(u)
}

// SafeUser makes a username usable as an email address local part.
func SafeUser(u string) string {
	u = strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune("._+-", r):
			return r
		case r == ':' || r == '@' || r == '/':
			return '.'
		}
		return '_'
	}, Clean(u))
	return strings.Trim(u, ".")
}
