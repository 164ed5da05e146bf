// Package tenancy keeps the server from being a confused deputy. The server
// reads the source cluster with its own ServiceAccount, which can read all it
// mirrors; whoever writes a rule must never get through Git what RBAC denies
// them. So every object on the way from the cluster into Git (a WatchRule or
// ClusterWatchRule, its GitTarget, the target's GitProvider) records the user
// who created it or last changed its spec (status.authorizedBy, set by the
// server), and:
//
//   - at admission, that user is authorized, with the server's delegated
//     authorizer (SubjectAccessReviews against kube-apiserver), for what the
//     object makes the server do on their behalf: list and watch every type a
//     rule selects, in its scope; get the Secrets it names (create, for an age
//     key the server is to generate). A write that fails is refused with 403
//     Forbidden naming each missing permission and its field, and stores
//     nothing.
//   - while mirroring, a type is mirrored for a rule only while every recorded
//     user on its way into Git may list and watch it; the lifecycle re-checks
//     them periodically and when RBAC objects change.
//
// This file maps objects to the checks (pure); admission.go and review.go ask
// an authorizer.
package tenancy

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"

	"github.com/configbutler/gitops-reverser/pkg/selection"
)

// Check is one permission the server exercises on a user's behalf.
type Check struct {
	Verb     string
	Group    string
	Resource string
	// Name is one object (a Secret), or "" for the whole type.
	Name string
	// Namespace is "" for all namespaces (or a cluster-scoped type).
	Namespace  string
	Namespaced bool
	// Field says what asks for it (a field path, and for checks inherited from
	// another object, which one).
	Field string
}

// Permission names the permission alone: "list configmaps in namespace t1".
func (c Check) Permission() string {
	res := c.Resource
	if c.Group != "" {
		res += "." + c.Group
	}
	if c.Name != "" {
		res += " " + c.Name
	}
	switch {
	case c.Namespace != "":
		return fmt.Sprintf("%s %s in namespace %s", c.Verb, res, c.Namespace)
	case c.Namespaced:
		return fmt.Sprintf("%s %s in all namespaces", c.Verb, res)
	}
	return fmt.Sprintf("%s %s", c.Verb, res)
}

// String is the permission and what asks for it.
func (c Check) String() string {
	if c.Field == "" {
		return c.Permission()
	}
	return c.Permission() + " (" + c.Field + ")"
}

// key identifies the permission, for asking once per distinct permission.
func (c Check) key() string {
	return strings.Join([]string{c.Verb, c.Group, c.Resource, c.Name, c.Namespace}, "\x00")
}

// Attributes are the authorization attributes of the check for u.
func (c Check) Attributes(u user.Info) authorizer.AttributesRecord {
	return authorizer.AttributesRecord{
		User: u, Verb: c.Verb, APIGroup: c.Group, APIVersion: "*", Resource: c.Resource,
		Name: c.Name, Namespace: c.Namespace, ResourceRequest: true,
	}
}

// RuleChecks are the checks of one rule: list and watch of every type it
// selects among resources, in its scope. field names the rule.
func RuleChecks(resources []selection.APIResource, rule selection.Rule, field string) []Check {
	var out []Check
	sel := rule.Select(resources)
	for _, gvr := range sel.GVRs() {
		ts := sel[gvr]
		out = append(out, TypeChecks(gvr, ts.Resource.Namespaced, rule.Namespace, field)...)
	}
	return out
}

// TypeChecks are list and watch of one type in namespace ns ("" for all
// namespaces or a cluster-scoped type).
func TypeChecks(gvr schema.GroupVersionResource, namespaced bool, ns, field string) []Check {
	var out []Check
	for _, verb := range []string{"list", "watch"} {
		out = append(out, Check{Verb: verb, Group: gvr.Group, Resource: gvr.Resource, Namespace: ns, Namespaced: namespaced, Field: field})
	}
	return out
}

// SecretGet is get of one Secret.
func SecretGet(ns, name, field string) Check {
	return Check{Verb: "get", Resource: "secrets", Name: name, Namespace: ns, Namespaced: true, Field: field}
}

// TargetUpdate is update of one GitTarget: a ClusterWatchRule pointing at a
// target writes into that target's repository with its provider's
// credentials, which only who may change the target may decide.
func TargetUpdate(ns, name, field string) Check {
	return Check{Verb: "update", Group: "configbutler.ai", Resource: "gittargets", Name: name, Namespace: ns, Namespaced: true, Field: field}
}

// GitRepositoryGet is get of one Flux GitRepository: a target pushing
// through one uses its URL and credentials.
func GitRepositoryGet(ns, name, field string) Check {
	return Check{Verb: "get", Group: "source.toolkit.fluxcd.io", Resource: "gitrepositories", Name: name, Namespace: ns, Namespaced: true, Field: field}
}

// SecretCreate is create of Secrets in a namespace.
func SecretCreate(ns, field string) Check {
	return Check{Verb: "create", Resource: "secrets", Namespace: ns, Namespaced: true, Field: field}
}

// Authorize asks az whether u may do each check, each distinct permission
// once, and returns the checks denied. An authorizer that cannot decide (the
// SubjectAccessReview failed) is an error: nothing is allowed on a guess.
func Authorize(ctx context.Context, az authorizer.UnconditionalAuthorizer, u user.Info, checks []Check) ([]Check, error) {
	verdict := map[string]bool{}
	var denied []Check
	for _, c := range checks {
		ok, asked := verdict[c.key()]
		if !asked {
			d, _, err := az.Authorize(ctx, c.Attributes(u))
			if err != nil && d != authorizer.DecisionAllow {
				return nil, fmt.Errorf("authorizing %s for %q: %w", c.Permission(), u.GetName(), err)
			}
			ok = d == authorizer.DecisionAllow
			verdict[c.key()] = ok
		}
		if !ok {
			denied = append(denied, c)
		}
	}
	return denied, nil
}

// Forbidden is the 403 refusing a write of gr/name by u, naming each denied
// permission and what asked for it.
func Forbidden(gr schema.GroupResource, name string, u user.Info, denied []Check) error {
	lines := make([]string, 0, len(denied))
	seen := map[string]bool{}
	for _, c := range denied {
		if s := c.String(); !seen[s] {
			seen[s] = true
			lines = append(lines, s)
		}
	}
	sort.Strings(lines)
	return apierrors.NewForbidden(gr, name, fmt.Errorf(
		"user %q may not %s: the server would do it on the user's behalf (see status.authorizedBy)",
		u.GetName(), strings.Join(lines, "; may not ")))
}

// ErrNoUser: a write without an authenticated user (never from kube-apiserver).
var ErrNoUser = errors.New("no user in the request")
