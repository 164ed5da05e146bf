package attribution

import (
	"strings"

	"github.com/configbutler/gitops-reverser/pkg/commitstyle"
)

// maxInterned bounds the interner: past it, it starts over (the reports
// already kept hold their strings either way).
const maxInterned = 4096

// interner holds each distinct author's strings once. A burst of writes
// comes from a handful of authors, yet each decoded report brought its own
// copies of the user, verb, field manager and groups: the 100,000 reports of
// the scale bench's creates held 44 MB, about 440 bytes each.
type interner struct {
	strs    map[string]string
	groups  map[string][]string
	authors map[authorKey]*commitstyle.Author
}

// authorKey is an author's fields, each apart (no separator to forge), the
// groups joined as group does.
type authorKey struct{ user, impersonator, verb, manager, groups string }

func (in *interner) str(s string) string {
	if s == "" {
		return ""
	}
	if held, ok := in.strs[s]; ok {
		return held
	}
	if in.strs == nil || len(in.strs) >= maxInterned {
		in.strs = map[string]string{}
	}
	in.strs[s] = s
	return s
}

func (in *interner) group(g []string) []string {
	if len(g) == 0 {
		return nil
	}
	key := strings.Join(g, "\n") // group names are cleaned: no newlines
	if held, ok := in.groups[key]; ok {
		return held
	}
	if in.groups == nil || len(in.groups) >= maxInterned {
		in.groups = map[string][]string{}
	}
	out := make([]string, len(g))
	for i, s := range g {
		out[i] = in.str(s)
	}
	in.groups[key] = out
	return out
}

// author is a, held once: every report of one author points at the same
// Author (104 bytes, instead of a copy per report), whose strings are held
// once too.
func (in *interner) author(a commitstyle.Author) *commitstyle.Author {
	key := authorKey{a.User, a.Impersonator, a.Verb, a.Manager, strings.Join(a.Groups, "\n")}
	if held, ok := in.authors[key]; ok {
		return held
	}
	if in.authors == nil || len(in.authors) >= maxInterned {
		in.authors = map[authorKey]*commitstyle.Author{}
	}
	held := &commitstyle.Author{User: in.str(a.User), Impersonator: in.str(a.Impersonator), Verb: in.str(a.Verb),
		Groups: in.group(a.Groups), Manager: in.str(a.Manager)}
	in.authors[key] = held
	return held
}
