package gates

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
	"github.com/configbutler/gitops-reverser/pkg/conditions"
	"github.com/configbutler/gitops-reverser/pkg/lifecycle/mirror"
)

// Path claims: who keeps a place (repository, branch, path) when two targets'
// places overlap. Age is not the answer: a target created long ago and later
// patched onto another team's path would evict it. The answer is the claim:
// a target claims its place once its branch worker proved it can write there
// (Bootstrapped=True: the bootstrap pushed, or the remote accepted a push
// session with the target's credentials), and the server records the claim in
// status.claim with its time. So:
//
//   - a target holding a claim on its current place ranks before every target
//     that does not, the earlier claim first: a target that moves (a new path,
//     branch or repository) has no claim on the new place and conflicts with
//     the one already writing there, whatever their ages;
//   - targets without a claim rank by creation (the older proceeds to its
//     bootstrap, so two new targets never write one place at once), except
//     that a target whose bootstrap failed for the spec it has now does not
//     count at all: a target naming another team's repository without
//     credentials that work there never holds a place against anyone.

// standing is how a target ranks for its place.
type standing struct {
	claimed bool
	since   time.Time // of the claim, or the target's creation
	key     string    // namespace/name, the last tie-break
	counts  bool      // false: it takes no part in conflicts
}

// standingOf ranks target t, whose place has branch key k.
func standingOf(t *v1alpha1.GitTarget, k mirror.BranchKey) standing {
	key := t.Namespace + "/" + t.Name
	if ClaimHolds(t.Status.Claim, k, t.Spec.Path) {
		return standing{claimed: true, since: t.Status.Claim.Since.Time, key: key, counts: true}
	}
	return standing{since: t.CreationTimestamp.Time, key: key, counts: !BootstrapFailed(t)}
}

// before reports whether a keeps a place over b.
func (a standing) before(b standing) bool {
	if a.claimed != b.claimed {
		return a.claimed
	}
	if !a.since.Equal(b.since) {
		return a.since.Before(b.since)
	}
	return a.key < b.key
}

// ClaimHolds reports whether claim c is a claim on the place (k, path).
func ClaimHolds(c *v1alpha1.PlaceClaim, k mirror.BranchKey, path string) bool {
	return c != nil && c.Repository == k.Repo && c.Branch == k.Branch && c.Path == path
}

// BootstrapFailed reports whether t's bootstrap failed for its current spec
// (its Bootstrapped condition is False for the generation it has now).
func BootstrapFailed(t *v1alpha1.GitTarget) bool {
	c := conditions.Find(t.Status.Conditions, v1alpha1.ConditionBootstrapped)
	return c != nil && c.Status == metav1.ConditionFalse && c.ObservedGeneration == t.Generation
}

// SameStanding reports whether two versions of a target rank alike for any
// place: when they do, a status change of one target cannot change another's
// Validated gate.
func SameStanding(a, b *v1alpha1.GitTarget) bool {
	ca, cb := a.Status.Claim, b.Status.Claim
	sameClaim := (ca == nil) == (cb == nil) && (ca == nil || ca.Repository == cb.Repository && ca.Branch == cb.Branch &&
		ca.Path == cb.Path && ca.Since.Equal(&cb.Since))
	return sameClaim && BootstrapFailed(a) == BootstrapFailed(b)
}

// claim updates st.Claim for a target at place (k, path) ("" k.Repo: the
// place is not known, the provider is missing): a claim on another place is
// dropped (a target that moved has none, and must not regain a stale one by
// moving back), and a target whose bootstrap passed claims its place now.
func claim(st *v1alpha1.GitTargetStatus, place *mirror.BranchKey, path string, bootstrapped bool, now time.Time) bool {
	if place == nil {
		return false // unknown (no provider): keep what was claimed
	}
	if st.Claim != nil && !ClaimHolds(st.Claim, *place, path) {
		st.Claim = nil
		if !bootstrapped {
			return true
		}
	}
	if bootstrapped && st.Claim == nil {
		st.Claim = &v1alpha1.PlaceClaim{Repository: place.Repo, Branch: place.Branch, Path: path, Since: metav1.NewTime(now.UTC().Truncate(time.Second))}
		return true
	}
	return false
}
