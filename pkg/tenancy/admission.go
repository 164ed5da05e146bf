package tenancy

import (
	"context"
	"fmt"
	"slices"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler"
	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
	"github.com/configbutler/gitops-reverser/pkg/git"
	"github.com/configbutler/gitops-reverser/pkg/selection"
)

// Inherited is an object whose data flows through the object being written:
// a rule pointing at a GitTarget, or at a target of a GitProvider.
type Inherited struct {
	// Ref names it for messages ("WatchRule t1/config").
	Ref   string
	Rules []selection.Rule
}

// Admission authorizes the writes of our four kinds (see the package
// comment). Without an Authorizer (standalone mode, whose credential holders
// are its administrators) only the remote policy applies.
type Admission struct {
	Authorizer authorizer.UnconditionalAuthorizer
	// Resources are the source cluster's types (discovery, cached), to
	// resolve rules; Refresh (optional) makes sure the cache holds a read of
	// discovery begun at or after since (waiting for the next read allowed,
	// half a second and a read at most, or until ctx ends): a rule naming a type the cache
	// does not know (a CRD installed a moment ago) is resolved again after
	// it, so it is authorized, and warned of, for what it will select.
	Resources func() ([]selection.APIResource, error)
	Refresh   func(ctx context.Context, since time.Time)
	// Remotes is the policy for GitProvider URLs.
	Remotes git.RemotePolicy
	// SecretExists tells whether a Secret exists in the source cluster (for an
	// age key the server is to generate); nil: assume it does.
	SecretExists func(ctx context.Context, ns, name string) (bool, error)
	// RulesFor lists the rules pointing at a GitTarget; TargetsOf the
	// GitTargets using a GitProvider.
	RulesFor  func(ctx context.Context, ns, target string) ([]Inherited, error)
	TargetsOf func(ctx context.Context, ns, provider string) ([]string, error)
	// ProviderSecrets names the Secrets a GitProvider writes with (none when
	// the provider does not exist).
	ProviderSecrets func(ctx context.Context, ns, provider string) (ProviderSecrets, error)
	// FluxSecret names the credentials Secret of a Flux GitRepository in the
	// source cluster ("" for none, or when it does not exist).
	FluxSecret func(ctx context.Context, ns, name string) (string, error)
	// Server warns of rules selecting types the server may not read (nil:
	// no warnings).
	Server *ServerReads
}

// ProviderSecrets are the Secrets a GitProvider writes with ("" for none).
type ProviderSecrets struct {
	// Credentials push (spec.secretRef); Signing signs commits
	// (spec.commit.signingKeyRef).
	Credentials, Signing string
}

// Func is an admission check of one kind: old is nil on create. The registry
// calls it on creates and on updates that change the spec.
type Func func(ctx context.Context, obj, old runtime.Object) error

// WatchRuleRules are the rules of an internal WatchRule.
func WatchRuleRules(wr *configbutler.WatchRule) []selection.Rule {
	out := make([]selection.Rule, len(wr.Spec.Rules))
	for i, r := range wr.Spec.Rules {
		out[i] = selection.Rule{APIGroups: configbutler.GroupsOf(r.APIGroups), APIVersions: r.APIVersions, Resources: r.Resources, Namespace: wr.Namespace,
			IncludeDerived: r.IncludeDerived}
	}
	return out
}

// ClusterWatchRuleRules are the rules of an internal ClusterWatchRule.
func ClusterWatchRuleRules(cr *configbutler.ClusterWatchRule) []selection.Rule {
	out := make([]selection.Rule, len(cr.Spec.Rules))
	for i, r := range cr.Spec.Rules {
		// A namespaceSelector does not narrow the checks: it can match any
		// namespace later, so the user must read them all.
		out[i] = selection.Rule{APIGroups: configbutler.GroupsOf(r.APIGroups), APIVersions: r.APIVersions, Resources: r.Resources,
			Cluster: true, Scope: v1alpha1.ResourceScope(r.Scope), IncludeDerived: r.IncludeDerived}
	}
	return out
}

func (a *Admission) rulesChecks(ctx context.Context, rules []selection.Rule, field func(i int) string) ([]Check, error) {
	resources, err := a.Resources()
	if err == nil && a.Refresh != nil && namesUnknown(resources, rules) {
		// A read begun after the request arrived has seen every CRD
		// established before it; the other rules of this request, and the
		// targets of a provider, then need no read of their own.
		since, ok := genericapirequest.ReceivedTimestampFrom(ctx)
		if !ok {
			since = time.Now()
		}
		a.Refresh(ctx, since)
		resources, err = a.Resources()
	}
	if err != nil {
		return nil, apierrors.NewServiceUnavailable(fmt.Sprintf("cannot authorize the rules: the source cluster's resource types are unknown: %v", err))
	}
	var out []Check
	for i, r := range rules {
		out = append(out, RuleChecks(resources, r, field(i))...)
	}
	return out, nil
}

// namesUnknown reports whether a rule without "*" in its resources selects
// nothing among resources: it names a type they do not hold (yet).
func namesUnknown(resources []selection.APIResource, rules []selection.Rule) bool {
	for _, r := range rules {
		if !slices.Contains(r.Resources, "*") && len(r.Select(resources)) == 0 {
			return true
		}
	}
	return false
}

func (a *Admission) inherited(ctx context.Context, from []Inherited, via string) ([]Check, error) {
	var out []Check
	for _, in := range from {
		cs, err := a.rulesChecks(ctx, in.Rules, func(i int) string {
			return fmt.Sprintf("%s: %s spec.rules[%d] writes through it", via, in.Ref, i)
		})
		if err != nil {
			return nil, err
		}
		out = append(out, cs...)
	}
	return out, nil
}

// authorize runs checks for the requesting user and refuses with 403.
func (a *Admission) authorize(ctx context.Context, obj runtime.Object, checks []Check) error {
	if a.Authorizer == nil || len(checks) == 0 {
		return nil
	}
	u, ok := genericapirequest.UserFrom(ctx)
	if !ok {
		return apierrors.NewForbidden(resourceOf(obj), nameOf(obj), ErrNoUser)
	}
	denied, err := Authorize(ctx, a.Authorizer, u, checks)
	if err != nil {
		return apierrors.NewServiceUnavailable(err.Error())
	}
	if len(denied) > 0 {
		return Forbidden(resourceOf(obj), nameOf(obj), u, denied)
	}
	return nil
}

// WatchRule: list and watch of every type the rules select, in the rule's
// namespace.
func (a *Admission) WatchRule(ctx context.Context, obj, _ runtime.Object) error {
	if a.Authorizer == nil {
		return nil
	}
	wr := obj.(*configbutler.WatchRule)
	rules, field := WatchRuleRules(wr), func(i int) string { return fmt.Sprintf("spec.rules[%d]", i) }
	checks, err := a.rulesChecks(ctx, rules, field)
	if err != nil {
		return err
	}
	if err := a.authorize(ctx, obj, checks); err != nil {
		return err
	}
	a.warnUnreadable(ctx, rules, field, checks)
	return nil
}

// ClusterWatchRule: list and watch of every type the rules select, in all
// namespaces, or cluster-scoped; and update of the GitTarget it points at
// (it pushes through another namespace's target and credentials).
func (a *Admission) ClusterWatchRule(ctx context.Context, obj, _ runtime.Object) error {
	if a.Authorizer == nil {
		return nil
	}
	cr := obj.(*configbutler.ClusterWatchRule)
	rules, field := ClusterWatchRuleRules(cr), func(i int) string { return fmt.Sprintf("spec.rules[%d]", i) }
	checks, err := a.rulesChecks(ctx, rules, field)
	if err != nil {
		return err
	}
	ref := cr.Spec.TargetRef
	checks = append(checks, TargetUpdate(ref.Namespace, ref.Name, "spec.targetRef"))
	if err := a.authorize(ctx, obj, checks); err != nil {
		return err
	}
	a.warnUnreadable(ctx, rules, field, checks)
	return nil
}

// GitProvider: its URL must pass the remote policy; the user must get the
// credentials Secret it names, and read what the rules of the targets using
// it send through it (changing a provider redirects their data).
func (a *Admission) GitProvider(ctx context.Context, obj, _ runtime.Object) error {
	p := obj.(*configbutler.GitProvider)
	if err := a.Remotes.CheckURL(p.Spec.URL); err != nil {
		return apierrors.NewInvalid(configbutler.Kind("GitProvider"), p.Name, field.ErrorList{
			field.Forbidden(field.NewPath("spec", "url"), git.Describe(err))})
	}
	if a.Authorizer == nil {
		return nil
	}
	var checks []Check
	if ref := p.Spec.SecretRef; ref != nil {
		checks = append(checks, SecretGet(p.Namespace, ref.Name, "spec.secretRef.name"))
	}
	if c := p.Spec.Commit; c != nil && c.SigningKeyRef != nil {
		checks = append(checks, SecretGet(p.Namespace, c.SigningKeyRef.Name, "spec.commit.signingKeyRef.name"))
	}
	if a.TargetsOf != nil && a.RulesFor != nil {
		targets, err := a.TargetsOf(ctx, p.Namespace, p.Name)
		if err != nil {
			return apierrors.NewServiceUnavailable(fmt.Sprintf("cannot list the GitTargets of this provider: %v", err))
		}
		for _, t := range targets {
			in, err := a.RulesFor(ctx, p.Namespace, t)
			if err != nil {
				return apierrors.NewServiceUnavailable(fmt.Sprintf("cannot list the rules of GitTarget %s/%s: %v", p.Namespace, t, err))
			}
			cs, err := a.inherited(ctx, in, fmt.Sprintf("spec (GitTarget %s/%s uses this provider)", p.Namespace, t))
			if err != nil {
				return err
			}
			checks = append(checks, cs...)
		}
	}
	return a.authorize(ctx, obj, checks)
}

// GitTarget: the user must get the age key Secret it names (or create Secrets
// when it is missing and the server is to generate it), get the credentials
// Secret of the provider it writes through (a target pushes with them: using
// a colleague's provider must not lend their token), and read what the rules
// pointing at it send through it.
func (a *Admission) GitTarget(ctx context.Context, obj, _ runtime.Object) error {
	if a.Authorizer == nil {
		return nil
	}
	t := obj.(*configbutler.GitTarget)
	var checks []Check
	if e := t.Spec.Encryption; e.On() {
		fld := "spec.encryption.secretRef.name"
		check := SecretGet(t.Namespace, e.SecretRef.Name, fld)
		if e.Generates() && a.SecretExists != nil {
			exists, err := a.SecretExists(ctx, t.Namespace, e.SecretRef.Name)
			if err == nil && !exists {
				check = SecretCreate(t.Namespace, fld+" (missing; generateWhenMissing)")
			}
		}
		checks = append(checks, check)
	}
	if ref := t.Spec.ProviderRef; ref.IsFlux() {
		// The GitRepository first, alone: a user who may not read it is not
		// told the name of its Secret.
		repo := GitRepositoryGet(t.Namespace, ref.Name, fmt.Sprintf("spec.providerRef.name (Flux GitRepository %s/%s)", t.Namespace, ref.Name))
		if err := a.authorize(ctx, obj, []Check{repo}); err != nil {
			return err
		}
		cs, err := a.fluxChecks(ctx, t.Namespace, ref.Name)
		if err != nil {
			return err
		}
		checks = append(checks, cs...)
	} else if a.ProviderSecrets != nil {
		secrets, err := a.ProviderSecrets(ctx, t.Namespace, t.Spec.ProviderRef.Name)
		if err != nil {
			return apierrors.NewServiceUnavailable(fmt.Sprintf("cannot read GitProvider %s/%s: %v", t.Namespace, t.Spec.ProviderRef.Name, err))
		}
		if secrets.Credentials != "" {
			checks = append(checks, SecretGet(t.Namespace, secrets.Credentials, fmt.Sprintf("spec.providerRef.name (GitProvider %s/%s pushes with it)", t.Namespace, t.Spec.ProviderRef.Name)))
		}
		if secrets.Signing != "" {
			checks = append(checks, SecretGet(t.Namespace, secrets.Signing, fmt.Sprintf("spec.providerRef.name (GitProvider %s/%s signs commits with it)", t.Namespace, t.Spec.ProviderRef.Name)))
		}
	}
	if a.RulesFor != nil {
		in, err := a.RulesFor(ctx, t.Namespace, t.Name)
		if err != nil {
			return apierrors.NewServiceUnavailable(fmt.Sprintf("cannot list the rules of this GitTarget: %v", err))
		}
		cs, err := a.inherited(ctx, in, "spec")
		if err != nil {
			return err
		}
		checks = append(checks, cs...)
	}
	return a.authorize(ctx, obj, checks)
}

// fluxChecks: a target pushing through a Flux GitRepository uses its URL and
// credentials, so its user must get its Secret too (the GitRepository is
// checked before, alone; a Secret not named yet is checked when the server
// uses it).
func (a *Admission) fluxChecks(ctx context.Context, ns, name string) ([]Check, error) {
	fld := fmt.Sprintf("spec.providerRef.name (Flux GitRepository %s/%s", ns, name)
	var checks []Check
	if a.FluxSecret == nil {
		return checks, nil
	}
	secret, err := a.FluxSecret(ctx, ns, name)
	if err != nil {
		return nil, apierrors.NewServiceUnavailable(fmt.Sprintf("cannot read Flux GitRepository %s/%s: %v", ns, name, err))
	}
	if secret != "" {
		checks = append(checks, SecretGet(ns, secret, fld+" pushes with it)"))
	}
	return checks, nil
}

// GitRestore: restoring from a GitTarget's branch reads what that target
// mirrored: the user must be allowed to get the GitTarget. (The writes
// themselves are made as the user, so RBAC decides each of them; a restore of
// one revision needs nothing more here: the revision is read as the user.)
func (a *Admission) GitRestore(ctx context.Context, obj, _ runtime.Object) error {
	if a.Authorizer == nil {
		return nil
	}
	r := obj.(*configbutler.GitRestore)
	t := r.Spec.Target
	if t == nil {
		return nil
	}
	ns := t.Namespace
	if ns == "" {
		ns = r.Namespace
	}
	return a.authorize(ctx, obj, []Check{{Verb: "get", Group: "configbutler.ai", Resource: "gittargets", Name: t.Name, Namespace: ns, Namespaced: true, Field: "spec.target"}})
}

func resourceOf(obj runtime.Object) schema.GroupResource {
	switch obj.(type) {
	case *configbutler.GitProvider:
		return configbutler.Resource("gitproviders")
	case *configbutler.GitTarget:
		return configbutler.Resource("gittargets")
	case *configbutler.WatchRule:
		return configbutler.Resource("watchrules")
	case *configbutler.ClusterWatchRule:
		return configbutler.Resource("clusterwatchrules")
	case *configbutler.GitRestore:
		return configbutler.Resource("gitrestores")
	}
	return schema.GroupResource{}
}

func nameOf(obj runtime.Object) string {
	if m, ok := obj.(metav1.Object); ok {
		return m.GetName()
	}
	return ""
}
