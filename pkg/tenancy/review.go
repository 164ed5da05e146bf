package tenancy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
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
// interval; Invalidate forgets them all (RBAC changed). When a review fails
// (kube-apiserver away), the last verdict stands; with none, it is a denial:
// nothing is mirrored on a guess.
type Reviewer struct {
	Authorizer authorizer.UnconditionalAuthorizer
	// ServiceAccount returns the UID of a ServiceAccount (an error satisfying
	// apierrors.IsNotFound when it is gone). A recorded ServiceAccount user is
	// allowed nothing once its ServiceAccount is deleted (RoleBindings to it
	// outlive it) or replaced by another of the same name. Optional.
	ServiceAccount func(ctx context.Context, namespace, name string) (string, error)
	TTL            time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time

	mu    sync.Mutex
	cache map[string]verdict
	gen   uint64 // counts Invalidates
}

type verdict struct {
	allowed bool
	at      time.Time
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
	gen := r.gen
	r.mu.Unlock()
	if cached && now.Sub(v.at) < r.TTL {
		return v.allowed, nil
	}
	ok := cached
	if ok, err := r.accountExists(ctx, id); err != nil || !ok {
		if err != nil && !apierrors.IsNotFound(err) {
			if cached {
				return v.allowed, nil
			}
			return false, fmt.Errorf("reviewing ServiceAccount %q: %w", id.Username, err)
		}
		r.store(key, false, now)
		return false, nil
	}
	d, _, err := r.Authorizer.Authorize(ctx, c.Attributes(UserOf(id)))
	if err != nil && d != authorizer.DecisionAllow {
		if ok {
			return v.allowed, nil
		}
		return false, fmt.Errorf("reviewing %s for %q: %w", c.Permission(), id.Username, err)
	}
	r.storeAt(key, d == authorizer.DecisionAllow, now, gen)
	return d == authorizer.DecisionAllow, nil
}

func (r *Reviewer) store(key string, allowed bool, now time.Time) {
	r.mu.Lock()
	gen := r.gen
	r.mu.Unlock()
	r.storeAt(key, allowed, now, gen)
}

// storeAt caches a verdict asked for in generation gen; a verdict asked for
// before an Invalidate is not kept (it may predate the RBAC change).
func (r *Reviewer) storeAt(key string, allowed bool, now time.Time, gen uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if gen != r.gen {
		return
	}
	if r.cache == nil {
		r.cache = map[string]verdict{}
	}
	r.cache[key] = verdict{allowed: allowed, at: now}
}

// accountExists reports whether a recorded ServiceAccount user's account
// still exists as the one recorded (other users: true).
func (r *Reviewer) accountExists(ctx context.Context, id *v1alpha1.AuthorizedIdentity) (bool, error) {
	ns, name, err := serviceaccount.SplitUsername(id.Username)
	if err != nil || r.ServiceAccount == nil {
		return true, nil
	}
	uid, err := r.ServiceAccount(ctx, ns, name)
	if err != nil {
		return false, err
	}
	return id.UID == "" || id.UID == uid, nil
}

// Invalidate forgets every verdict.
func (r *Reviewer) Invalidate() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cache = nil
	r.gen++
}
