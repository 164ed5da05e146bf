package gates

import (
	"fmt"
	"path"
	"strings"
	"sync"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
	"github.com/configbutler/gitops-reverser/pkg/gitmodel"
	"github.com/configbutler/gitops-reverser/pkg/lifecycle/files"
	"github.com/configbutler/gitops-reverser/pkg/lifecycle/mirror"
)

// ProviderLookup finds what a target's providerRef names in namespace: a
// GitProvider, or the provider a Flux GitRepository stands for (its Kind
// says GitRepository). When there is none it says why, for Validated.
type ProviderLookup func(namespace string, ref v1alpha1.GitProviderReference) (*v1alpha1.GitProvider, string)

// ProviderID names a provider among all of a namespace's: a GitProvider by
// its name, a Flux GitRepository's by its kind and name (a GitProvider and a
// GitRepository of one name are two providers, with two workers).
func ProviderID(p *v1alpha1.GitProvider) string {
	if p.Kind == v1alpha1.KindGitRepository {
		return p.Namespace + "/" + v1alpha1.KindGitRepository + "/" + p.Name
	}
	return p.Namespace + "/" + p.Name
}

// Resolved is what a target passing validation writes to.
type Resolved struct {
	Provider *v1alpha1.GitProvider
	Key      mirror.BranchKey
}

// BranchKeyFor resolves a target's provider and branch key, without judging.
func BranchKeyFor(t *v1alpha1.GitTarget, providers ProviderLookup) (*v1alpha1.GitProvider, mirror.BranchKey, bool) {
	p, _ := providers(t.Namespace, t.Spec.ProviderRef)
	if p == nil {
		return nil, mirror.BranchKey{}, false
	}
	repo, err := normalizeURL(p.Spec.URL)
	if err != nil {
		return p, mirror.BranchKey{}, false
	}
	return p, mirror.BranchKey{Repo: repo, Branch: t.Spec.Branch, Provider: ProviderID(p)}, true
}

// SameValidationInputs reports whether two versions of a target agree on all
// that conflict resolution and rule selection read: when they do, the change
// cannot change another target's Validated gate.
func SameValidationInputs(a, b *v1alpha1.GitTarget) bool {
	return a.UID == b.UID && a.Spec.ProviderRef == b.Spec.ProviderRef && a.Spec.Branch == b.Spec.Branch &&
		a.Spec.Path == b.Spec.Path && (a.DeletionTimestamp == nil) == (b.DeletionTimestamp == nil) && SameStanding(a, b)
}

// normalizedURLs memoizes gitmodel.NormalizeURL, a pure function: a conflict check
// normalizes the provider URL of every other target, and URL parsing dominated
// reconciles with a thousand targets. Bounded: cleared when it grows past
// maxNormalizedURLs (providers are few; edits add entries).
var normalizedURLs struct {
	sync.Mutex
	m map[string]normalized
}

type normalized struct {
	url string
	err error
}

const maxNormalizedURLs = 4096

func normalizeURL(u string) (string, error) {
	normalizedURLs.Lock()
	defer normalizedURLs.Unlock()
	if n, ok := normalizedURLs.m[u]; ok {
		return n.url, n.err
	}
	if normalizedURLs.m == nil || len(normalizedURLs.m) >= maxNormalizedURLs {
		normalizedURLs.m = map[string]normalized{}
	}
	url, err := gitmodel.NormalizeURL(u)
	normalizedURLs.m[u] = normalized{url, err}
	return url, err
}

// branchAllowed reports whether branch matches one of the glob patterns.
func branchAllowed(branch string, patterns []string) bool {
	for _, p := range patterns {
		if ok, err := path.Match(p, branch); err == nil && ok {
			return true
		}
	}
	return false
}

// writable reports whether t passes the provider and branch checks, so it takes
// part in conflict resolution.
func writable(t *v1alpha1.GitTarget, providers ProviderLookup) (mirror.BranchKey, bool) {
	p, key, ok := BranchKeyFor(t, providers)
	if !ok || t.DeletionTimestamp != nil {
		return mirror.BranchKey{}, false
	}
	return key, branchAllowed(t.Spec.Branch, p.Spec.AllowedBranches)
}

// PathsOverlap reports whether two target paths are equal or one is inside the
// other ("" is the repository root and contains everything).
func PathsOverlap(a, b string) bool {
	if a == "" || b == "" || a == b {
		return true
	}
	return strings.HasPrefix(a, b+"/") || strings.HasPrefix(b, a+"/")
}

// Validated is the Validated gate: the provider exists, the branch is
// allowed, and no target that ranks before t (see claims.go) writes the same
// repository and branch at an equal or nested path.
func Validated(t *v1alpha1.GitTarget, providers ProviderLookup, all []*v1alpha1.GitTarget) (Outcome, *Resolved) {
	p, why := providers(t.Namespace, t.Spec.ProviderRef)
	if p == nil {
		return False(v1alpha1.ReasonProviderNotFound, why), nil
	}
	if !branchAllowed(t.Spec.Branch, p.Spec.AllowedBranches) {
		return False(v1alpha1.ReasonBranchNotAllowed,
			fmt.Sprintf("Branch %q is not allowed by GitProvider '%s/%s' (allowedBranches: %s)",
				t.Spec.Branch, p.Namespace, p.Name, strings.Join(p.Spec.AllowedBranches, ", "))), nil
	}
	key, ok := writable(t, providers)
	if !ok {
		return False(v1alpha1.ReasonProviderNotFound,
			fmt.Sprintf("GitProvider '%s/%s' has an unusable URL", p.Namespace, p.Name)), nil
	}
	var winner *v1alpha1.GitTarget
	var best standing
	mine := standingOf(t, key)
	for _, o := range all {
		if o.UID == t.UID || (o.Namespace == t.Namespace && o.Name == t.Name) {
			continue
		}
		// The cheap tests first: with a thousand targets on one branch, each
		// reconcile compares against all of them.
		if o.Spec.Branch != t.Spec.Branch || !PathsOverlap(o.Spec.Path, t.Spec.Path) {
			continue
		}
		okey, ok := writable(o, providers)
		if !ok || !okey.SameBranch(key) {
			continue
		}
		if so := standingOf(o, okey); so.counts && so.before(mine) && (winner == nil || so.before(best)) {
			winner, best = o, so
		}
	}
	if winner != nil {
		return False(v1alpha1.ReasonTargetConflict, conflictMessage(t, winner, key)), nil
	}
	return True(v1alpha1.ReasonOK, MsgValidatedOK), &Resolved{Provider: p, Key: key}
}

// conflictMessage says which target keeps the place. Another namespace's
// target is not named: its namespace, name and path are that team's business.
func conflictMessage(t, winner *v1alpha1.GitTarget, key mirror.BranchKey) string {
	if winner.Namespace == t.Namespace {
		return fmt.Sprintf("GitTarget '%s/%s' already writes branch %q of %s at path %q, which overlaps %q",
			winner.Namespace, winner.Name, key.Branch, key.Repo, files.DisplayPath(winner.Spec.Path), files.DisplayPath(t.Spec.Path))
	}
	return fmt.Sprintf("Another GitTarget already writes branch %q of %s at a path that overlaps %q", key.Branch, key.Repo, files.DisplayPath(t.Spec.Path))
}
