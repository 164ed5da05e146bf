package lifecycle

import (
	"fmt"
	"path"
	"strings"
	"sync"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
	"github.com/configbutler/gitops-reverser/pkg/git"
)

// BranchKey identifies what one branch worker writes: a repository (normalized
// URL, so https and scp forms of one repo are one key) and a branch.
type BranchKey struct {
	Repo   string
	Branch string
}

func (k BranchKey) String() string { return k.Repo + "#" + k.Branch }

// providerLookup finds a GitProvider by namespace and name (nil when absent).
type providerLookup func(namespace, name string) *v1alpha1.GitProvider

// resolved is what a target passing validation writes to.
type resolved struct {
	Provider *v1alpha1.GitProvider
	Key      BranchKey
}

// branchKeyFor resolves a target's provider and branch key, without judging.
func branchKeyFor(t *v1alpha1.GitTarget, providers providerLookup) (*v1alpha1.GitProvider, BranchKey, bool) {
	p := providers(t.Namespace, t.Spec.ProviderRef.Name)
	if p == nil {
		return nil, BranchKey{}, false
	}
	repo, err := normalizeURL(p.Spec.URL)
	if err != nil {
		return p, BranchKey{}, false
	}
	return p, BranchKey{Repo: repo, Branch: t.Spec.Branch}, true
}

// normalizedURLs memoizes git.NormalizeURL, a pure function: a conflict check
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
	url, err := git.NormalizeURL(u)
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
func writable(t *v1alpha1.GitTarget, providers providerLookup) (BranchKey, bool) {
	p, key, ok := branchKeyFor(t, providers)
	if !ok || t.DeletionTimestamp != nil {
		return BranchKey{}, false
	}
	return key, branchAllowed(t.Spec.Branch, p.Spec.AllowedBranches)
}

// pathsOverlap reports whether two target paths are equal or one is inside the
// other ("" is the repository root and contains everything).
func pathsOverlap(a, b string) bool {
	if a == "" || b == "" || a == b {
		return true
	}
	return strings.HasPrefix(a, b+"/") || strings.HasPrefix(b, a+"/")
}

// olderThan orders targets for conflict resolution: the older one wins, then
// namespace/name order.
func olderThan(a, b *v1alpha1.GitTarget) bool {
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	return a.Namespace+"/"+a.Name < b.Namespace+"/"+b.Name
}

// evaluateValidated is the Validated gate: the provider exists, the branch is
// allowed, and no older target writes the same repository and branch at an equal
// or nested path.
func evaluateValidated(t *v1alpha1.GitTarget, providers providerLookup, all []*v1alpha1.GitTarget) (gateResult, *resolved) {
	p := providers(t.Namespace, t.Spec.ProviderRef.Name)
	if p == nil {
		return falseGate(v1alpha1.ReasonProviderNotFound,
			fmt.Sprintf("Referenced GitProvider '%s/%s' not found", t.Namespace, t.Spec.ProviderRef.Name)), nil
	}
	if !branchAllowed(t.Spec.Branch, p.Spec.AllowedBranches) {
		return falseGate(v1alpha1.ReasonBranchNotAllowed,
			fmt.Sprintf("Branch %q is not allowed by GitProvider '%s/%s' (allowedBranches: %s)",
				t.Spec.Branch, p.Namespace, p.Name, strings.Join(p.Spec.AllowedBranches, ", "))), nil
	}
	key, ok := writable(t, providers)
	if !ok {
		return falseGate(v1alpha1.ReasonProviderNotFound,
			fmt.Sprintf("GitProvider '%s/%s' has an unusable URL", p.Namespace, p.Name)), nil
	}
	var winner *v1alpha1.GitTarget
	for _, o := range all {
		if o.UID == t.UID || (o.Namespace == t.Namespace && o.Name == t.Name) {
			continue
		}
		// The cheap tests first: with a thousand targets on one branch, each
		// reconcile compares against all of them.
		if o.Spec.Branch != t.Spec.Branch || !pathsOverlap(o.Spec.Path, t.Spec.Path) || !olderThan(o, t) {
			continue
		}
		if okey, ok := writable(o, providers); !ok || okey != key {
			continue
		}
		if winner == nil || olderThan(o, winner) {
			winner = o
		}
	}
	if winner != nil {
		return falseGate(v1alpha1.ReasonTargetConflict,
			fmt.Sprintf("GitTarget '%s/%s' already writes branch %q of %s at path %q, which overlaps %q",
				winner.Namespace, winner.Name, key.Branch, key.Repo, displayPath(winner.Spec.Path), displayPath(t.Spec.Path))), nil
	}
	return trueGate(v1alpha1.ReasonOK, msgValidatedOK), &resolved{Provider: p, Key: key}
}

func displayPath(p string) string {
	if p == "" {
		return "/"
	}
	return p
}
