package worker

import (
	"fmt"
	"sort"
	"time"

	"k8s.io/klog/v2"

	"github.com/configbutler/gitops-reverser/pkg/attribution"
	"github.com/configbutler/gitops-reverser/pkg/commitstyle"
	"github.com/configbutler/gitops-reverser/pkg/git"
	"github.com/configbutler/gitops-reverser/pkg/lifecycle/mirror"
	"github.com/configbutler/gitops-reverser/pkg/render"
)

// Attributor finds the author of a change (pkg/attribution).
type Attributor interface {
	Lookup(q attribution.Query) (attribution.Author, bool)
}

// authorChunk is one commit's worth of one author's changes.
type authorChunk struct {
	author attribution.Author
	// fieldManager: no report explained the changes; the author is the field
	// manager of the object's last write (or the default).
	fieldManager bool
	changes      []*mirror.Change
	// verbs are the reported verbs of the changes ("" when no report).
	verbs map[*mirror.Change]string
}

// DefaultAuthor authors changes nothing else names.
const DefaultAuthor = "gitops-reverser"

// authors decides who authored each live change and how its commit reads:
// the reported user (pkg/attribution), else the field manager of its last
// write, and the provider's commit templates. It holds no mutable state (a
// report found is kept on its change): every field is set at construction.
type authors struct {
	key      mirror.BranchKey // for logs
	settings *settings
	// attribution finds reported authors (nil: every change is authored by
	// its field manager); grace is how long a change waits for its report.
	attribution Attributor
	grace       time.Duration
	// replica names this server in commit trailers ("" for none).
	replica string
}

// byAuthor splits a batch into commits: per author, in the order of each
// author's first change, at most max changes each, paths sorted. Changes no
// report explains wait (held) while their latest event is younger than the
// grace, unless this is the final flush.
//
// A change every write of which is by an author its rules' ignoreChangesBy
// names is left out (ignored): not committed, not learned by the index.
func (a *authors) byAuthor(batch map[string]*mirror.Change, max int, now time.Time, final bool) (chunks []authorChunk, held, ignored []*mirror.Change) {
	type group struct {
		chunk authorChunk
		first time.Time
	}
	groups := map[string]*group{}
	for _, c := range batch {
		who, ok := a.lookup(c)
		if !ok && !final && a.attribution != nil && now.Sub(c.Last) < a.grace {
			held = append(held, c)
			continue
		}
		if c.Ignore != nil && !c.Mirrored && a.ignored(c, who, ok) {
			ignored = append(ignored, c)
			continue
		}
		if !ok {
			who = fallbackAuthor(c)
		}
		key := who.User + "\x00" + who.Impersonator + "\x00" + fmt.Sprint(!ok)
		g, exists := groups[key]
		if !exists {
			g = &group{chunk: authorChunk{author: who, fieldManager: !ok, verbs: map[*mirror.Change]string{}}, first: c.Since}
			groups[key] = g
		}
		if c.Since.Before(g.first) {
			g.first = c.Since
		}
		if ok {
			g.chunk.verbs[c] = who.Verb
		}
		g.chunk.changes = append(g.chunk.changes, c)
	}
	ordered := make([]*group, 0, len(groups))
	for _, g := range groups {
		sort.Slice(g.chunk.changes, func(i, j int) bool { return g.chunk.changes[i].Path < g.chunk.changes[j].Path })
		ordered = append(ordered, g)
	}
	sort.SliceStable(ordered, func(i, j int) bool {
		if !ordered[i].first.Equal(ordered[j].first) {
			return ordered[i].first.Before(ordered[j].first)
		}
		return ordered[i].chunk.author.User < ordered[j].chunk.author.User
	})
	for _, g := range ordered {
		for start := 0; start < len(g.chunk.changes); start += max {
			end := min(start+max, len(g.chunk.changes))
			ch := g.chunk
			ch.changes = g.chunk.changes[start:end]
			chunks = append(chunks, ch)
		}
	}
	return chunks, held, ignored
}

// ignored reports whether every write coalesced into c is by an author its
// rules ignore: the latest (who, when a report found it; else only its field
// manager is known) and the earlier ones, by their reports. A write whose
// author cannot be told is not ignored, nor are a Secret's earlier writes
// (its reports are kept by name, the latest only).
func (a *authors) ignored(c *mirror.Change, who attribution.Author, found bool) bool {
	switch {
	case found:
		if !c.Ignore.Ignore(who.User, who.Groups, who.Manager) {
			return false
		}
	case c.Object == nil:
		return false // a delete no report explains: who is unknown
	default:
		if manager, _ := render.LastManager(c.Object); !c.Ignore.Ignore("", nil, manager) {
			return false
		}
	}
	if render.IsSecret(c.GVR) {
		// A Secret's reports are kept by name, the latest only: earlier
		// writes cannot be told, so with any the change is committed.
		return len(c.Earlier) == 0
	}
	if len(c.Earlier) > 0 && a.attribution == nil {
		return false
	}
	for _, rv := range c.Earlier {
		e, ok := a.attribution.Lookup(attribution.Query{Resource: c.GVR.GroupResource(), Namespace: c.Namespace, Name: nameOf(c), UID: c.UID, ResourceVersion: rv})
		if !ok || !c.Ignore.Ignore(e.User, e.Groups, e.Manager) {
			return false
		}
	}
	return true
}

// lookup finds the author of a change once and keeps it on the change (a
// report is used up; a change that goes back after a failed push keeps it).
func (a *authors) lookup(c *mirror.Change) (attribution.Author, bool) {
	if c.Author != nil {
		return *c.Author, true
	}
	if a.attribution == nil {
		return attribution.Author{}, false
	}
	who, ok := a.attribution.Lookup(attribution.Query{
		Resource: c.GVR.GroupResource(), Namespace: c.Namespace, Name: nameOf(c), UID: c.UID,
		ResourceVersion: c.ResourceVersion, Deleted: c.Object == nil,
	})
	if ok {
		c.Author = &who
	}
	return who, ok
}

// nameOf is the object name of a change (the path may hold it encoded or
// shortened: see render.FileStem).
func nameOf(c *mirror.Change) string {
	if c.Object != nil {
		return c.Object.GetName()
	}
	return c.Name
}

// fallbackAuthor is the field manager of the object's last write, or the
// default for a delete (the deleted object names only who wrote it last).
func fallbackAuthor(c *mirror.Change) attribution.Author {
	if c.Object == nil {
		return attribution.Author{User: DefaultAuthor, Verb: "delete"}
	}
	manager, op := render.LastManager(c.Object)
	manager = commitstyle.Clean(manager) // chosen by the writer: no forged trailers
	if manager == "" {
		manager = DefaultAuthor
	}
	verb := "update"
	if op == "Apply" {
		verb = "apply"
	}
	return attribution.Author{User: manager, Verb: verb}
}

// style returns the worker's parsed commit templates (the defaults if the
// provider's do not parse or break commitstyle's bounds: validation refuses
// those, so only an object stored before a validation change, such as one
// holding a template bomb from before the bounds, gets here). ParseStyle
// checks the bounds before running anything, and caches the result.
func (a *authors) style() *commitstyle.Style {
	c := a.settings.get().Commit
	s, err := commitstyle.ParseStyle(c.AuthorName, c.AuthorEmail, c.Message)
	if err != nil {
		klog.InfoS("The provider's commit templates fail; the defaults are used", "worker", a.key, "err", err)
		s, _ = commitstyle.ParseStyle("", "", "")
	}
	return s
}

// renderCommit renders one chunk's commit message and author. Render never
// fails: a template that breaks a bound on this commit renders the default
// text.
func (a *authors) renderCommit(s *commitstyle.Style, ch authorChunk, lines []commitstyle.Line) (string, *git.Signature) {
	var extra []string
	if a.replica != "" {
		extra = append(extra, "Replica: "+a.replica)
	}
	msg, name, email := s.Render(commitstyle.NewData(ch.author, ch.fieldManager, lines), extra...)
	return msg, &git.Signature{Name: name, Email: email}
}
