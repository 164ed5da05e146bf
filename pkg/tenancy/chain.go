package tenancy

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/util/sets"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
	"github.com/configbutler/gitops-reverser/pkg/selection"
)

// Link is one object on a rule's way into Git (the rule, its GitTarget, the
// target's GitProvider) and the identity recorded on it.
type Link struct {
	// Ref names the object ("WatchRule t1/config").
	Ref      string
	Identity *v1alpha1.AuthorizedIdentity
	// Requires are permissions the identity needs for the link to carry
	// anything at all (a ClusterWatchRule's user must still be allowed to
	// update the GitTarget it writes through, as at admission).
	Requires []Check
}

// Denial is a permission one link's identity lacks.
type Denial struct {
	Link  Link
	Check Check
}

func (d Denial) String() string {
	who := "no recorded user"
	if d.Link.Identity != nil {
		who = fmt.Sprintf("user %q", d.Link.Identity.Username)
	}
	return fmt.Sprintf("%s (%s) may not %s", who, d.Link.Ref, d.Check.Permission())
}

// Summary is the denials as one message, each permission once per link.
func Summary(ds []Denial) string {
	seen := sets.New[string]()
	var lines []string
	for _, d := range ds {
		if s := d.String(); !seen.Has(s) {
			seen.Insert(s)
			lines = append(lines, s)
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "; ")
}

// Filter returns the part of sel that every link's identity may list and
// watch, and the denials. A type keeps the namespaces allowed to all; it is
// dropped when none is. A link whose identity lacks one of its Requires
// carries nothing: the selection is empty. A review that fails with no
// verdict to fall back on is returned as an error, with what was decided so
// far.
func Filter(ctx context.Context, r *Reviewer, sel selection.Selection, links []Link) (selection.Selection, []Denial, error) {
	out := selection.Selection{}
	var denials []Denial
	var firstErr error
	// may records a denial (and the first failed review) and says whether
	// l's identity may.
	may := func(l Link, c Check) bool {
		yes, err := r.Allowed(ctx, l.Identity, c)
		if err != nil && firstErr == nil {
			firstErr = err
		}
		if !yes {
			denials = append(denials, Denial{Link: l, Check: c})
		}
		return yes
	}
	allowed := func(checks []Check) bool {
		ok := true
		for _, l := range links {
			for _, c := range checks {
				ok = may(l, c) && ok
			}
		}
		return ok
	}
	required := true
	for _, l := range links {
		for _, c := range l.Requires {
			required = may(l, c) && required
		}
	}
	if !required {
		return out, denials, firstErr
	}
	for _, gvr := range sel.GVRs() {
		ts := sel[gvr]
		if !ts.Resource.Namespaced || ts.AllNamespaces {
			if allowed(TypeChecks(gvr, ts.Resource.Namespaced, "", "")) {
				out[gvr] = ts
			}
			continue
		}
		keep := sets.New[string]()
		for _, ns := range sets.List(ts.Namespaces) {
			if allowed(TypeChecks(gvr, true, ns, "")) {
				keep.Insert(ns)
			}
		}
		if keep.Len() > 0 {
			out[gvr] = &selection.TypeSelection{Resource: ts.Resource, Namespaces: keep, Clauses: ts.Clauses}
		}
	}
	return out, denials, firstErr
}
