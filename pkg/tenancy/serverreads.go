package tenancy

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"k8s.io/apiserver/pkg/warning"
	"k8s.io/klog/v2"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
	"github.com/configbutler/gitops-reverser/pkg/selection"
)

// ServerReads is what admission knows of the server's own reads in the source
// cluster. The server lists and watches each type a rule selects in every
// namespace (its feeds watch the whole cluster's type), with its own
// ServiceAccount, whose ClusterRole a platform team may narrow (the chart's
// rbac.readRules). A rule for a type it may not read is admitted (the
// ClusterRole may grant it later) with a warning naming the field: without
// it, the rule's author would learn only from the target's status, once its
// snapshot failed.
type ServerReads struct {
	// Reviewer answers for the source cluster (SubjectAccessReviews), its
	// verdicts kept for its TTL: writing rules in a loop must not cost
	// kube-apiserver two reviews per named type per write.
	Reviewer *Reviewer
	// Identity is the server's user in the source cluster.
	Identity func(ctx context.Context) (*v1alpha1.AuthorizedIdentity, error)
}

// ServerReadsTTL is how long an answer about the server's own reads is used
// again: a ClusterRole change shows in warnings within it.
const ServerReadsTTL = 30 * time.Second

// warnUnreadable adds a warning to the request for each type the rules
// name that the server may not list and watch in every namespace; checks
// are the rules' checks (their Field is field(i)). Only types a rule names
// count: a wildcard would ask about every type of the cluster on each write
// (and slow the rule's admission enough that its target, made in the same
// apply, could take its first snapshot without it). Best effort: a failed
// review warns of nothing.
func (a *Admission) warnUnreadable(ctx context.Context, rules []selection.Rule, field func(i int) string, checks []Check) {
	s := a.Server
	if s == nil || s.Reviewer == nil || s.Identity == nil {
		return
	}
	named := map[string]bool{}
	for i, r := range rules {
		if r.Named() {
			named[field(i)] = true
		}
	}
	checks = slices.DeleteFunc(slices.Clone(checks), func(c Check) bool { return !named[c.Field] })
	if len(checks) == 0 {
		return
	}
	id, err := s.Identity(ctx)
	if err != nil {
		klog.V(2).InfoS("Cannot tell who the server is in the source cluster; no warning of types it may not read", "err", err)
		return
	}
	var denied []Check
	for _, c := range serverChecks(checks) {
		ok, err := s.Reviewer.Allowed(ctx, id, c)
		if err != nil {
			klog.V(2).InfoS("Cannot review the server's own reads; no warning of types it may not read", "err", err)
			return
		}
		if !ok {
			denied = append(denied, c)
		}
	}
	for _, msg := range unreadableWarnings(denied) {
		warning.AddWarning(ctx, "", msg)
	}
}

// serverChecks are the reads the server needs for the types a rule's checks
// name: list and watch of each, in every namespace, once per type (the
// first field asking for it named).
func serverChecks(checks []Check) []Check {
	var out []Check
	seen := map[string]bool{}
	for _, c := range checks {
		if c.Verb != "list" && c.Verb != "watch" {
			continue // a Secret to get, a target to update: the user's, not a read the server makes
		}
		for _, verb := range []string{"list", "watch"} {
			k := verb + " " + c.Resource + "." + c.Group
			if seen[k] {
				continue
			}
			seen[k] = true
			out = append(out, Check{Verb: verb, Group: c.Group, Resource: c.Resource, Namespaced: c.Namespaced, Field: c.Field})
		}
	}
	return out
}

// unreadableWarnings is one warning per type with a denied read, sorted.
func unreadableWarnings(denied []Check) []string {
	verbs := map[string][]string{}
	field := map[string]string{}
	for _, c := range denied {
		res := c.Resource
		if c.Group != "" {
			res += "." + c.Group
		}
		if _, ok := field[res]; !ok {
			field[res] = c.Field
		}
		verbs[res] = append(verbs[res], c.Verb)
	}
	out := make([]string, 0, len(verbs))
	for res, vs := range verbs {
		out = append(out, fmt.Sprintf("%s: the server may not %s %s in every namespace (its ClusterRole; the chart's rbac.readRules): nothing of that type is mirrored until it may",
			field[res], strings.Join(vs, " or "), res))
	}
	sort.Strings(out)
	return out
}
