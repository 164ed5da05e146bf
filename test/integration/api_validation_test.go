package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
)

// TestValidationErrorsCarryFieldPaths: every rejection names the field, and
// nothing is stored.
func TestValidationErrorsCarryFieldPaths(t *testing.T) {
	c, ns := srv.Client.ConfigbutlerV1alpha1(), namespace()
	ctx := testContext(t)
	type tc struct {
		field  string
		create func() error
	}
	mutTarget := func(f func(*v1alpha1.GitTarget)) func() error {
		return func() error {
			tg := target(ns, "bad", "p", "main", "x")
			f(tg)
			_, err := c.GitTargets(ns).Create(ctx, tg, metav1.CreateOptions{})
			return err
		}
	}
	cases := []tc{
		{"spec.path", mutTarget(func(t *v1alpha1.GitTarget) { t.Spec.Path = "/etc" })},
		{"spec.path", mutTarget(func(t *v1alpha1.GitTarget) { t.Spec.Path = "a/../../b" })},
		{"spec.path", mutTarget(func(t *v1alpha1.GitTarget) { t.Spec.Path = `a\b` })},
		// Non-canonical spellings are refused, not cleaned: the path stored is the
		// path the git engine writes under.
		{"spec.path", mutTarget(func(t *v1alpha1.GitTarget) { t.Spec.Path = "clusters/prod/" })},
		{"spec.path", mutTarget(func(t *v1alpha1.GitTarget) { t.Spec.Path = "a/./b" })},
		{"spec.path", mutTarget(func(t *v1alpha1.GitTarget) { t.Spec.Path = "x/.Git/hooks" })},
		{"spec.branch", mutTarget(func(t *v1alpha1.GitTarget) { t.Spec.Branch = "feat..x" })},
		{"spec.branch", mutTarget(func(t *v1alpha1.GitTarget) { t.Spec.Branch = "" })},
		{"spec.encryption.provider", mutTarget(func(t *v1alpha1.GitTarget) {
			t.Spec.Encryption = &v1alpha1.EncryptionSpec{Provider: "pgp", SecretRef: v1alpha1.LocalSecretReference{Name: "k"}}
		})},
		{"spec.url", func() error {
			p := provider(ns, "bad")
			p.Spec.URL = "not a url"
			_, err := c.GitProviders(ns).Create(ctx, p, metav1.CreateOptions{})
			return err
		}},
		{"spec.url", func() error {
			p := provider(ns, "bad")
			p.Spec.URL = "https://user:secret@example.com/r.git"
			_, err := c.GitProviders(ns).Create(ctx, p, metav1.CreateOptions{})
			return err
		}},
		{"spec.rules", func() error {
			_, err := c.WatchRules(ns).Create(ctx, &v1alpha1.WatchRule{ObjectMeta: metav1.ObjectMeta{Name: "bad"},
				Spec: v1alpha1.WatchRuleSpec{TargetRef: v1alpha1.LocalTargetReference{Name: "t"}}}, metav1.CreateOptions{})
			return err
		}},
		{"spec.rules", func() error {
			_, err := c.ClusterWatchRules().Create(ctx, &v1alpha1.ClusterWatchRule{ObjectMeta: metav1.ObjectMeta{Name: "bad-" + ns},
				Spec: v1alpha1.ClusterWatchRuleSpec{TargetRef: v1alpha1.NamespacedTargetReference{Name: "t", Namespace: ns}}}, metav1.CreateOptions{})
			return err
		}},
	}
	// Bounds on what a tenant writes ("Hostile tenants"): one over each is
	// refused at admission, named by its field.
	mutProvider := func(f func(*v1alpha1.GitProvider)) func() error {
		return func() error {
			p := provider(ns, "bad")
			f(p)
			_, err := c.GitProviders(ns).Create(ctx, p, metav1.CreateOptions{})
			return err
		}
	}
	wildcard := []v1alpha1.ResourceRule{{APIGroups: []string{"*"}, Resources: []string{"*"}}}
	cases = append(cases,
		tc{"spec.push.interval", mutProvider(func(p *v1alpha1.GitProvider) { p.Spec.Push.Interval = metav1.Duration{Duration: time.Nanosecond} })},
		tc{"spec.push.interval", mutProvider(func(p *v1alpha1.GitProvider) { p.Spec.Push.Interval = metav1.Duration{Duration: 2 * time.Hour} })},
		tc{"spec.push.maxChanges", mutProvider(func(p *v1alpha1.GitProvider) { p.Spec.Push.MaxChanges = 10001 })},
		tc{"spec.allowedBranches", mutProvider(func(p *v1alpha1.GitProvider) {
			p.Spec.AllowedBranches = nil
			for i := range 33 {
				p.Spec.AllowedBranches = append(p.Spec.AllowedBranches, fmt.Sprintf("env/%d", i))
			}
		})},
		tc{"spec.allowedBranches[0]", mutProvider(func(p *v1alpha1.GitProvider) { p.Spec.AllowedBranches = []string{strings.Repeat("b", 256)} })},
		tc{"spec.ignoreFields[0].paths[0]", mutTarget(func(t *v1alpha1.GitTarget) {
			t.Spec.IgnoreFields = []v1alpha1.IgnoreFields{{Paths: []string{"spec" + strings.Repeat(".l[*]", 5)}}}
		})},
		tc{"spec.ignoreFields", mutTarget(func(t *v1alpha1.GitTarget) {
			for i := range 33 {
				t.Spec.IgnoreFields = append(t.Spec.IgnoreFields, v1alpha1.IgnoreFields{Paths: []string{fmt.Sprintf("spec.f%d", i)}})
			}
		})},
		tc{"spec.rules", func() error {
			r := &v1alpha1.WatchRule{ObjectMeta: metav1.ObjectMeta{Name: "bad"}, Spec: v1alpha1.WatchRuleSpec{TargetRef: v1alpha1.LocalTargetReference{Name: "t"}}}
			for range 65 {
				r.Spec.Rules = append(r.Spec.Rules, wildcard[0])
			}
			_, err := c.WatchRules(ns).Create(ctx, r, metav1.CreateOptions{})
			return err
		}},
		tc{"spec.exclude[0].names", func() error {
			names := make([]string, 33)
			for i := range names {
				names[i] = fmt.Sprintf("n%d-*", i)
			}
			_, err := c.WatchRules(ns).Create(ctx, &v1alpha1.WatchRule{ObjectMeta: metav1.ObjectMeta{Name: "bad"}, Spec: v1alpha1.WatchRuleSpec{
				TargetRef: v1alpha1.LocalTargetReference{Name: "t"}, Rules: wildcard, Exclude: []v1alpha1.Exclusion{{Names: names}}}}, metav1.CreateOptions{})
			return err
		}},
		tc{"spec.rules[0].namespaceSelector.matchExpressions", func() error {
			exprs := make([]metav1.LabelSelectorRequirement, 33)
			for i := range exprs {
				exprs[i] = metav1.LabelSelectorRequirement{Key: fmt.Sprintf("k%d", i), Operator: metav1.LabelSelectorOpExists}
			}
			_, err := c.ClusterWatchRules().Create(ctx, &v1alpha1.ClusterWatchRule{ObjectMeta: metav1.ObjectMeta{Name: "bad-" + ns},
				Spec: v1alpha1.ClusterWatchRuleSpec{TargetRef: v1alpha1.NamespacedTargetReference{Name: "t", Namespace: ns}, Rules: []v1alpha1.ClusterResourceRule{{
					APIGroups: []string{""}, Resources: []string{"configmaps"}, Scope: v1alpha1.NamespacedScope,
					NamespaceSelector: &metav1.LabelSelector{MatchExpressions: exprs}}}}}, metav1.CreateOptions{})
			return err
		}},
	)
	for _, tc := range cases {
		err := tc.create()
		if !apierrors.IsInvalid(err) {
			t.Errorf("want Invalid at %s, got %v", tc.field, err)
			continue
		}
		status := err.(apierrors.APIStatus).Status()
		found := false
		for _, cause := range status.Details.Causes {
			if cause.Field == tc.field {
				found = true
			}
		}
		if !found {
			t.Errorf("error %v does not name field %s", err, tc.field)
		}
		if strings.Contains(err.Error(), "secret@") {
			t.Errorf("error echoes credentials: %v", err)
		}
	}
	if l, _ := c.GitTargets(ns).List(ctx, metav1.ListOptions{}); len(l.Items) != 0 {
		t.Errorf("invalid objects were stored: %d", len(l.Items))
	}
	if l, _ := c.GitProviders(ns).List(ctx, metav1.ListOptions{}); len(l.Items) != 0 {
		t.Errorf("invalid providers were stored: %d", len(l.Items))
	}
	if l, _ := c.WatchRules(ns).List(ctx, metav1.ListOptions{}); len(l.Items) != 0 {
		t.Errorf("invalid rules were stored: %d", len(l.Items))
	}
	if _, err := c.ClusterWatchRules().Get(ctx, "bad-"+ns, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("an invalid cluster rule was stored: %v", err)
	}
}
