package tenancy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/serviceaccount"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	authzclient "k8s.io/client-go/kubernetes/typed/authorization/v1"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
	"github.com/configbutler/gitops-reverser/pkg/metrics"
)

// UserOf is the user a recorded identity names.
func UserOf(id *v1alpha1.AuthorizedIdentity) user.Info {
	return &user.DefaultInfo{Name: id.Username, UID: id.UID, Groups: id.Groups, Extra: id.Extra}
}

// SARAuthorizer asks kube-apiserver with a SubjectAccessReview per question,
// uncached (the Reviewer caches).
type SARAuthorizer struct {
	Client authzclient.SubjectAccessReviewInterface
}

var _ authorizer.UnconditionalAuthorizer = SARAuthorizer{}

// Authorize implements authorizer.UnconditionalAuthorizer.
func (s SARAuthorizer) Authorize(ctx context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
	u := a.GetUser()
	extra := map[string]authorizationv1.ExtraValue{}
	for k, v := range u.GetExtra() {
		extra[k] = v
	}
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: u.GetName(), UID: u.GetUID(), Groups: u.GetGroups(), Extra: extra,
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Namespace: a.GetNamespace(), Verb: a.GetVerb(), Group: a.GetAPIGroup(), Version: a.GetAPIVersion(),
			Resource: a.GetResource(), Subresource: a.GetSubresource(), Name: a.GetName(),
		},
	}}
	out, err := s.Client.Create(ctx, sar, metav1.CreateOptions{})
	if err != nil {
		return authorizer.DecisionNoOpinion, "", err
	}
	switch {
	case out.Status.Allowed:
		return authorizer.DecisionAllow, out.Status.Reason, nil
	case out.Status.Denied:
		return authorizer.DecisionDeny, out.Status.Reason, nil
	}
	return authorizer.DecisionNoOpinion, out.Status.Reason, nil
}

// Reviewer answers whether recorded identities may still do what their
// objects make the server do. Verdicts are cached for TTL, the re-check
// interval, per (identity, permission); Invalidate forgets those an RBAC or
// ServiceAccount change may have changed (a Scope). Identical questions asked
// at once share one SubjectAccessReview. When a review fails (kube-apiserver
// away), the last verdict stands; with none, it is a denial: nothing is
// mirrored on a guess.
type Reviewer struct {
	Authorizer authorizer.UnconditionalAuthorizer
	// ServiceAccount returns a ServiceAccount's UID and creation time (an
	// error satisfying apierrors.IsNotFound when it is gone). A recorded
	// ServiceAccount user is allowed nothing once its ServiceAccount is
	// deleted (RoleBindings to it outlive it) or replaced by another of the
	// same name. Optional.
	ServiceAccount func(ctx context.Context, namespace, name string) (Account, error)
	TTL            time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time

	mu    sync.Mutex
	cache map[string]verdict
	// asking are the reviews out, by key: a question asked again while its
	// review is out waits for that review's answer.
	asking map[string]*review
	swept  time.Time // when expired verdicts were last dropped
}

// verdict is a cached answer, with what scopes it falls in.
type verdict struct {
	allowed bool
	at      time.Time
	in      scoped
}

// scoped is what an Invalidate matches a verdict by: the namespace of the
// permission ("" for all namespaces or a cluster-scoped type) and the user.
type scoped struct {
	namespace, user string
}

// review is one question out to the authorizer; done is closed when its
// answer (allowed, err) is set.
type review struct {
	in      scoped
	done    chan struct{}
	allowed bool
	err     error
	// stale: an Invalidate matched it while it was out, so its answer may
	// predate the RBAC change and is not cached (guarded by Reviewer.mu).
	stale bool
}

func (r *Reviewer) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// identityKey identifies a recorded identity for the cache.
// It hashes a JSON encoding, so no name, group or extra value can make two
// identities collide by containing a separator.
func identityKey(id *v1alpha1.AuthorizedIdentity) string {
	groups := append([]string(nil), id.Groups...)
	sort.Strings(groups)
	b, _ := json.Marshal(struct {
		U, UID string
		G      []string
		E      map[string][]string
	}{id.Username, id.UID, groups, id.Extra}) // map keys are sorted by encoding/json
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// Allowed reports whether id may do c. A nil identity (an object no server
// authorized: written before tenancy checks, or in standalone mode) may do
// nothing.
func (r *Reviewer) Allowed(ctx context.Context, id *v1alpha1.AuthorizedIdentity, c Check) (bool, error) {
	if id == nil {
		return false, nil
	}
	key := identityKey(id) + "\x01" + c.key()
	now := r.now()
	r.mu.Lock()
	v, cached := r.cache[key]
	if cached && now.Sub(v.at) < r.TTL {
		r.mu.Unlock()
		return v.allowed, nil
	}
	if q, out := r.asking[key]; out {
		r.mu.Unlock()
		select {
		case <-q.done:
			return q.allowed, q.err
		case <-ctx.Done():
			if cached {
				return v.allowed, nil
			}
			return false, fmt.Errorf("reviewing %s for %q: %w", c.Permission(), id.Username, ctx.Err())
		}
	}
	q := &review{in: scoped{namespace: c.Namespace, user: id.Username}, done: make(chan struct{})}
	if r.asking == nil {
		r.asking = map[string]*review{}
	}
	r.asking[key] = q
	r.mu.Unlock()

	allowed, keep, err := false, false, errors.New("review not answered")
	defer func() { // also when the authorizer panics: nobody waits forever
		r.mu.Lock()
		if r.asking[key] == q {
			delete(r.asking, key)
		}
		if keep && !q.stale {
			r.storeLocked(key, verdict{allowed: allowed, at: now, in: q.in}, now)
		}
		q.allowed, q.err = allowed, err
		r.mu.Unlock()
		close(q.done)
	}()
	allowed, keep, err = r.ask(ctx, id, c)
	if err != nil && cached {
		allowed, err = v.allowed, nil // the last verdict stands
	}
	return allowed, err
}

// ask reviews id for c: whether its ServiceAccount (if it is one) still
// exists as recorded, then a SubjectAccessReview. keep says the answer is a
// verdict to cache (not a failure).
func (r *Reviewer) ask(ctx context.Context, id *v1alpha1.AuthorizedIdentity, c Check) (allowed, keep bool, err error) {
	if ok, err := r.accountExists(ctx, id); err != nil || !ok {
		if err != nil && !apierrors.IsNotFound(err) {
			return false, false, fmt.Errorf("reviewing ServiceAccount %q: %w", id.Username, err)
		}
		return false, true, nil
	}
	d, _, err := r.Authorizer.Authorize(ctx, c.Attributes(UserOf(id)))
	countReview(d, err)
	if err != nil && d != authorizer.DecisionAllow {
		return false, false, fmt.Errorf("reviewing %s for %q: %w", c.Permission(), id.Username, err)
	}
	return d == authorizer.DecisionAllow, true, nil
}

// storeLocked caches a verdict, and now and then drops verdicts long expired
// (of identities or permissions no longer asked about), which are kept
// otherwise as the last verdict should kube-apiserver be away.
func (r *Reviewer) storeLocked(key string, v verdict, now time.Time) {
	if r.cache == nil {
		r.cache = map[string]verdict{}
	}
	r.cache[key] = v
	if r.TTL <= 0 || now.Sub(r.swept) < r.TTL {
		return
	}
	r.swept = now
	for k, old := range r.cache {
		if now.Sub(old.at) > verdictKept*r.TTL {
			delete(r.cache, k)
		}
	}
}

// verdictKept is how many TTLs an expired verdict is kept as the fallback of
// a failed review.
const verdictKept = 10

// accountExists reports whether a recorded ServiceAccount user's account
// still exists as the one recorded (other users: true).
func (r *Reviewer) accountExists(ctx context.Context, id *v1alpha1.AuthorizedIdentity) (bool, error) {
	ns, name, err := serviceaccount.SplitUsername(id.Username)
	if err != nil || r.ServiceAccount == nil {
		return true, nil
	}
	acct, err := r.ServiceAccount(ctx, ns, name)
	if err != nil {
		return false, err
	}
	return sameAccount(id, acct), nil
}

// Account is what identifies a ServiceAccount over time.
type Account struct {
	UID     string
	Created time.Time
}

// sameAccount reports whether the recorded identity id names the account
// that exists now. Without a recorded UID (an impersonated ServiceAccount
// user carries none unless --as-uid was given), an account created after the
// identity was recorded is another one of the same name.
func sameAccount(id *v1alpha1.AuthorizedIdentity, acct Account) bool {
	if id.UID != "" {
		return id.UID == acct.UID
	}
	return id.Time == nil || !acct.Created.After(id.Time.Time)
}

func countReview(d authorizer.Decision, err error) {
	switch {
	case d == authorizer.DecisionAllow:
		metrics.AccessReviews.WithLabelValues("allowed").Inc()
	case err != nil:
		metrics.AccessReviews.WithLabelValues("error").Inc()
	default:
		metrics.AccessReviews.WithLabelValues("denied").Inc()
	}
}

// Scope is what a change of RBAC objects or ServiceAccounts may have changed:
// the verdicts it invalidates. The zero Scope invalidates nothing.
type Scope struct {
	// All: every verdict (a ClusterRole or ClusterRoleBinding changed, which
	// may grant or revoke anything anywhere).
	All bool
	// Namespace: the verdicts of permissions in this namespace (a Role or
	// RoleBinding in it changed; it grants nothing across namespaces, nor on
	// cluster-scoped types).
	Namespace string
	// User: the verdicts of this user (its ServiceAccount was deleted or
	// created).
	User string
}

// AllScope invalidates every verdict.
var AllScope = Scope{All: true}

// Invalidate forgets the verdicts in any of scopes (with none, every
// verdict); a review out in them is not cached when it is answered (it may
// predate the change). It reports whether anything was in them: when
// nothing was, no decision rests on a verdict the change may have changed.
func (r *Reviewer) Invalidate(scopes ...Scope) bool {
	all := len(scopes) == 0
	namespaces, users := map[string]bool{}, map[string]bool{}
	for _, s := range scopes {
		all = all || s.All
		if s.Namespace != "" {
			namespaces[s.Namespace] = true
		}
		if s.User != "" {
			users[s.User] = true
		}
	}
	in := func(s scoped) bool { return all || (s.namespace != "" && namespaces[s.namespace]) || users[s.user] }
	r.mu.Lock()
	defer r.mu.Unlock()
	hit := false
	for k, v := range r.cache {
		if in(v.in) {
			delete(r.cache, k)
			hit = true
		}
	}
	for k, q := range r.asking {
		if in(q.in) {
			q.stale = true
			delete(r.asking, k) // a question asked from now on is asked anew
			hit = true
		}
	}
	return hit
}
