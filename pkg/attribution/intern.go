package attribution

import (
	"strings"

	"github.com/configbutler/gitops-reverser/pkg/commitstyle"
	"github.com/configbutler/gitops-reverser/pkg/intern"
)

// interner holds each distinct author's strings once. A burst of writes
// comes from a handful of authors, yet each decoded report brought its own
// copies of the user, verb, field manager and groups: the 100,000 reports of
// the scale bench's creates held 44 MB, about 440 bytes each. Its tables are
// bounded (intern.DefaultMax each); the reports already kept hold their
// strings when one starts over.
type interner struct {
	strs    intern.Table[string, string]
	groups  intern.Table[string, []string]
	authors intern.Table[authorKey, *commitstyle.Author]
	placed  intern.Table[placed, *placed]
}

// placed is an author in a namespace, what a kept report points at: the
// namespace decides whose reports go first when the store is full (evict.go),
// and a tenant's burst comes from few authors in few namespaces, so it costs
// the report nothing.
type placed struct {
	author *commitstyle.Author
	ns     string
}

// place is a, written in namespace ns, held once (its own key: the namespace
// interned first, so the table holds no string of the report's).
func (in *interner) place(a commitstyle.Author, ns string) *placed {
	p := placed{author: in.author(a), ns: in.str(ns)}
	return in.placed.Get(p, func() *placed { return &p })
}

// authorKey is an author's fields, each apart (no separator to forge), the
// groups joined as group does.
type authorKey struct{ user, impersonator, verb, manager, groups string }

func (in *interner) str(s string) string {
	if s == "" {
		return ""
	}
	return in.strs.Get(s, func() string { return s })
}

func (in *interner) group(g []string) []string {
	if len(g) == 0 {
		return nil
	}
	key := strings.Join(g, "\n") // group names are cleaned: no newlines
	return in.groups.Get(key, func() []string {
		out := make([]string, len(g))
		for i, s := range g {
			out[i] = in.str(s)
		}
		return out
	})
}

// author is a, held once: every report of one author points at the same
// Author (104 bytes, instead of a copy per report), whose strings are held
// once too.
func (in *interner) author(a commitstyle.Author) *commitstyle.Author {
	key := authorKey{a.User, a.Impersonator, a.Verb, a.Manager, strings.Join(a.Groups, "\n")}
	return in.authors.Get(key, func() *commitstyle.Author {
		return &commitstyle.Author{User: in.str(a.User), Impersonator: in.str(a.Impersonator), Verb: in.str(a.Verb),
			Groups: in.group(a.Groups), Manager: in.str(a.Manager)}
	})
}
