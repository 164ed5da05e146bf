package tenancy

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
	TTL        time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time

	mu    sync.Mutex
	cache map[string]verdict
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
func identityKey(id *v1alpha1.AuthorizedIdentity) string {
	groups := append([]string(nil), id.Groups...)
	sort.Strings(groups)
	keys := make([]string, 0, len(id.Extra))
	for k := range id.Extra {
		keys = append(keys, k+"="+strings.Join(id.Extra[k], ","))
	}
	sort.Strings(keys)
	return id.Username + "\x00" + id.UID + "\x00" + strings.Join(groups, ",") + "\x00" + strings.Join(keys, ";")
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
	v, ok := r.cache[key]
	r.mu.Unlock()
	if ok && now.Sub(v.at) < r.TTL {
		return v.allowed, nil
	}
	d, _, err := r.Authorizer.Authorize(ctx, c.Attributes(UserOf(id)))
	if err != nil && d != authorizer.DecisionAllow {
		if ok {
			return v.allowed, nil
		}
		return false, fmt.Errorf("reviewing %s for %q: %w", c.Permission(), id.Username, err)
	}
	r.mu.Lock()
	if r.cache == nil {
		r.cache = map[string]verdict{}
	}
	r.cache[key] = verdict{allowed: d == authorizer.DecisionAllow, at: now}
	r.mu.Unlock()
	return d == authorizer.DecisionAllow, nil
}

// Invalidate forgets every verdict.
func (r *Reviewer) Invalidate() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cache = nil
}
