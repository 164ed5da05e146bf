package selection

import (
	"crypto/sha256"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/sets"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
)

// Ignore is a rule's ignoreChangesBy: the authors whose changes the rule
// does not mirror (a GitOps tool applying another repository). Made once per
// rule and shared by its clauses; never changed after.
type Ignore struct {
	Users, Groups, Managers sets.Set[string]
	digest                  string
}

// IgnoreOf compiles ignoreChangesBy (nil for none). ServiceAccounts become
// their usernames; one without a namespace is in ns (the WatchRule's).
func IgnoreOf(a *v1alpha1.ChangeAuthors, ns string) *Ignore {
	if a == nil {
		return nil
	}
	i := &Ignore{Users: sets.New(a.Users...), Groups: sets.New(a.Groups...), Managers: sets.New(a.FieldManagers...)}
	for _, sa := range a.ServiceAccounts {
		n := sa.Namespace
		if n == "" {
			n = ns
		}
		i.Users.Insert("system:serviceaccount:" + n + ":" + sa.Name)
	}
	h := sha256.New()
	for _, s := range []sets.Set[string]{i.Users, i.Groups, i.Managers} {
		writeStrings(h, sets.List(s))
	}
	i.digest = string(h.Sum(nil))
	return i
}

// ignores reports whether the rule leaves out a write by user (in groups)
// through field manager: any of them named.
func (i *Ignore) ignores(user string, groups []string, manager string) bool {
	if i.Users.Has(user) || manager != "" && i.Managers.Has(manager) {
		return true
	}
	for _, g := range groups {
		if i.Groups.Has(g) {
			return true
		}
	}
	return false
}

// Ignores are the ignoreChangesBy of every rule that takes an object (nil:
// some rule takes it whoever changed it).
type Ignores []*Ignore

// Ignore reports whether a write is left out: every rule that takes the
// object ignores its author (an object two rules take is mirrored when
// either wants it).
func (s Ignores) Ignore(user string, groups []string, manager string) bool {
	if len(s) == 0 {
		return false
	}
	for _, i := range s {
		if !i.ignores(user, groups, manager) {
			return false
		}
	}
	return true
}

// String names the sets, for logs.
func (i *Ignore) String() string {
	return "users=" + strings.Join(sets.List(i.Users), ",") + " groups=" + strings.Join(sets.List(i.Groups), ",") +
		" fieldManagers=" + strings.Join(sets.List(i.Managers), ",")
}

// IgnoresFor returns the ignoreChangesBy of the clauses that take u: nil
// when none takes it, or one that does ignores no one.
func (s *TypeSelection) IgnoresFor(u *unstructured.Unstructured) Ignores {
	var out Ignores
	for _, c := range s.Clauses {
		if !c.takes(s.Resource.GVR, u) {
			continue
		}
		if c.Ignore == nil {
			return nil
		}
		out = append(out, c.Ignore)
	}
	return out
}
