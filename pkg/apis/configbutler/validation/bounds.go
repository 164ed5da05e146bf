package validation

import (
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Bounds on what a tenant writes: every list and string the server evaluates
// is bounded, so that no object costs more than a bounded amount to admit
// (these checks run before the tenancy review), to resolve, and to apply to
// every object the server mirrors. A list over its bound is refused whole,
// with one error, its entries unchecked. Each bound is generous for real use
// and documented on its field (kubectl explain).
const (
	// maxRules bounds spec.rules of a WatchRule or ClusterWatchRule.
	maxRules = 64
	// maxExclusions bounds spec.exclude.
	maxExclusions = 64
	// maxListEntries bounds every string list of a rule, an exclusion or an
	// ignoreFields entry (apiGroups, apiVersions, resources, namespaces,
	// names, kinds, paths), and each part of a label selector (matchLabels,
	// matchExpressions, the values of one expression).
	maxListEntries = 32
	// maxGlobLength bounds an exclusion's namespace or name pattern (an
	// object name is at most 253 characters).
	maxGlobLength = 253
	// maxKindLength bounds an ignoreFields kind (a kind is a DNS label).
	maxKindLength = 63
	// maxIgnoreFields bounds GitTarget.spec.ignoreFields.
	maxIgnoreFields = 32
	// maxFieldPathLength bounds one ignoreFields path.
	maxFieldPathLength = 512
	// maxPathWildcards bounds the [*] (every list element) of one path.
	maxPathWildcards = 4
	// maxAllowedBranches and maxBranchLength bound GitProvider.spec.allowedBranches
	// and each pattern; maxBranchLength also bounds GitTarget.spec.branch
	// (most file systems hold at most 255 bytes in a name).
	maxAllowedBranches = 32
	maxBranchLength    = 255
	// maxURLLength bounds GitProvider.spec.url.
	maxURLLength = 2048
	// maxIdentityLength bounds the committer name and email.
	maxIdentityLength = 255
	// maxPushChanges bounds push.maxChanges: the worker holds that many
	// pending changes (each a rendered object) in memory before it commits,
	// and builds and pushes one commit of that many files at once. 10000 is
	// 20 times the default, more than any real burst needs in one commit.
	maxPushChanges = 10000
	// minPushInterval and maxPushInterval bound push.interval: below a second
	// every change would make its own commit and push (a remote round trip
	// per change, the batching defeated); past an hour changes wait in memory,
	// not in Git, for longer than anyone expects a mirror to lag.
	minPushInterval = time.Second
	maxPushInterval = time.Hour
)

// tooMany is a TooMany error for a list of n entries over max (nil within).
func tooMany(fld *field.Path, n, max int) field.ErrorList {
	if n > max {
		return field.ErrorList{field.TooMany(fld, n, max)}
	}
	return nil
}
