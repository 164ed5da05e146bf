package integration

import (
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
	acv1alpha1 "github.com/configbutler/gitops-reverser/pkg/generated/applyconfiguration/configbutler/v1alpha1"
)

func TestCRUDAllKinds(t *testing.T) {
	c, ns := srv.Client.ConfigbutlerV1alpha1(), namespace()
	ctx := testContext(t)

	p, err := c.GitProviders(ns).Create(ctx, provider(ns, "p"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Spec.Push.Interval.Duration != 5*time.Second || p.Spec.Push.MaxChanges != 500 || p.Generation != 1 {
		t.Errorf("defaults not applied: push=%+v generation=%d", p.Spec.Push, p.Generation)
	}
	p.Spec.AllowedBranches = append(p.Spec.AllowedBranches, "release-*")
	if p, err = c.GitProviders(ns).Update(ctx, p, metav1.UpdateOptions{}); err != nil || p.Generation != 2 {
		t.Fatalf("update: err=%v generation=%d", err, p.Generation)
	}
	p.Labels = map[string]string{"team": "a"}
	if p, err = c.GitProviders(ns).Update(ctx, p, metav1.UpdateOptions{}); err != nil || p.Generation != 2 {
		t.Fatalf("metadata-only update bumped the generation: err=%v generation=%d", err, p.Generation)
	}

	tg, err := c.GitTargets(ns).Create(ctx, target(ns, "t", "p", "main", "clusters/prod"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if tg.Spec.ProviderRef.Group != "configbutler.ai" || tg.Spec.ProviderRef.Kind != "GitProvider" || tg.Spec.Path != "clusters/prod" {
		t.Errorf("providerRef defaults missing or path changed: %+v path=%q", tg.Spec.ProviderRef, tg.Spec.Path)
	}

	wr, err := c.WatchRules(ns).Create(ctx, &v1alpha1.WatchRule{
		ObjectMeta: metav1.ObjectMeta{Name: "w"},
		Spec: v1alpha1.WatchRuleSpec{TargetRef: v1alpha1.LocalTargetReference{Name: "t"},
			Rules: []v1alpha1.ResourceRule{{APIGroups: []string{""}, Resources: []string{"configmaps", "secrets"}}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cwr, err := c.ClusterWatchRules().Create(ctx, &v1alpha1.ClusterWatchRule{
		ObjectMeta: metav1.ObjectMeta{Name: "cw-" + ns},
		Spec: v1alpha1.ClusterWatchRuleSpec{TargetRef: v1alpha1.NamespacedTargetReference{Name: "t", Namespace: ns},
			Rules: []v1alpha1.ClusterResourceRule{{APIGroups: []string{"rbac.authorization.k8s.io"}, Resources: []string{"clusterroles"}, Scope: v1alpha1.ClusterScope}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cwr.Namespace != "" {
		t.Errorf("ClusterWatchRule got a namespace %q", cwr.Namespace)
	}

	if l, err := c.GitProviders(ns).List(ctx, metav1.ListOptions{}); err != nil || len(l.Items) != 1 {
		t.Errorf("list gitproviders: %v", err)
	}
	if l, err := c.GitTargets(ns).List(ctx, metav1.ListOptions{}); err != nil || len(l.Items) != 1 {
		t.Errorf("list gittargets: %v", err)
	}
	if l, err := c.WatchRules(ns).List(ctx, metav1.ListOptions{}); err != nil || len(l.Items) != 1 {
		t.Errorf("list watchrules: %v", err)
	}
	if l, err := c.ClusterWatchRules().List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + cwr.Name}); err != nil || len(l.Items) != 1 {
		t.Errorf("list clusterwatchrules: %v", err)
	}

	if _, err := c.GitTargets(ns).Get(ctx, tg.Name, metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, del := range []func() error{
		func() error { return c.WatchRules(ns).Delete(ctx, wr.Name, metav1.DeleteOptions{}) },
		func() error { return c.ClusterWatchRules().Delete(ctx, cwr.Name, metav1.DeleteOptions{}) },
		func() error { return c.GitTargets(ns).Delete(ctx, tg.Name, metav1.DeleteOptions{}) },
		func() error { return c.GitProviders(ns).Delete(ctx, p.Name, metav1.DeleteOptions{}) },
	} {
		if err := del(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.GitTargets(ns).Get(ctx, tg.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("get after delete: %v", err)
	}
}

func TestServerSideApply(t *testing.T) {
	c, ns := srv.Client.ConfigbutlerV1alpha1(), namespace()
	ctx := testContext(t)
	apply := func() *v1alpha1.GitTarget {
		t.Helper()
		ac := acv1alpha1.GitTarget("ssa", ns).WithSpec(acv1alpha1.GitTargetSpec().
			WithProviderRef(acv1alpha1.GitProviderReference().WithName("p")).
			WithBranch("main").WithPath("apps"))
		out, err := c.GitTargets(ns).Apply(ctx, ac, metav1.ApplyOptions{FieldManager: "it", Force: true})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	first := apply()
	second := apply()
	if first.ResourceVersion != second.ResourceVersion {
		t.Errorf("second apply was not a no-op: rv %s -> %s", first.ResourceVersion, second.ResourceVersion)
	}
	if len(second.ManagedFields) == 0 || second.ManagedFields[0].Manager != "it" {
		t.Errorf("managedFields: %+v", second.ManagedFields)
	}
	for _, f := range second.ManagedFields {
		if strings.Contains(string(f.FieldsV1.Raw), "f:status") {
			t.Errorf("a client manager owns status fields: %s", f.FieldsV1.Raw)
		}
	}
	for name, fn := range map[string]func() error{
		"gitprovider": func() error {
			_, err := c.GitProviders(ns).Apply(ctx, acv1alpha1.GitProvider("p", ns).WithSpec(acv1alpha1.GitProviderSpec().
				WithURL("git@github.com:o/r.git").WithAllowedBranches("main")), metav1.ApplyOptions{FieldManager: "it"})
			return err
		},
		"watchrule": func() error {
			_, err := c.WatchRules(ns).Apply(ctx, acv1alpha1.WatchRule("w", ns).WithSpec(acv1alpha1.WatchRuleSpec().
				WithTargetRef(acv1alpha1.LocalTargetReference().WithName("ssa")).
				WithRules(acv1alpha1.ResourceRule().WithAPIGroups("").WithResources("configmaps"))), metav1.ApplyOptions{FieldManager: "it"})
			return err
		},
		"clusterwatchrule": func() error {
			_, err := c.ClusterWatchRules().Apply(ctx, acv1alpha1.ClusterWatchRule("ssa-"+ns).WithSpec(acv1alpha1.ClusterWatchRuleSpec().
				WithTargetRef(acv1alpha1.NamespacedTargetReference().WithName("ssa").WithNamespace(ns)).
				WithRules(acv1alpha1.ClusterResourceRule().WithAPIGroups("").WithResources("namespaces").WithScope(v1alpha1.ClusterScope))), metav1.ApplyOptions{FieldManager: "it"})
			return err
		},
	} {
		if err := fn(); err != nil {
			t.Errorf("apply %s: %v", name, err)
		}
	}
}
