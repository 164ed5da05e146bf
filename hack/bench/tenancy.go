package main

import (
	"context"
	"fmt"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
	"github.com/configbutler/gitops-reverser/pkg/generated/clientset/versioned"
)

// benchTenancy times the creation of WatchRules through kube-apiserver by a
// tenant, whom our server authorizes for every type each rule selects
// (SubjectAccessReviews through the delegated authorizer), against the same
// creations by a cluster administrator (system:masters, authorized without a
// review).
func (e *env) benchTenancy(ctx context.Context) error {
	const ns, user = "bench-tenancy", "bench-tenant"
	n := e.opts.targets
	if err := e.ensureNamespace(ctx, ns); err != nil {
		return err
	}
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "tenant", Namespace: ns}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{v1alpha1.GroupName}, Resources: []string{"watchrules"}, Verbs: []string{"create", "get", "list", "delete"}},
	}}
	if _, err := e.kube.RbacV1().Roles(ns).Create(ctx, role, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "tenant", Namespace: ns},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "tenant"},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}}}
	if _, err := e.kube.RbacV1().RoleBindings(ns).Create(ctx, rb, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	tc := rest.CopyConfig(e.admin)
	tc.Impersonate = rest.ImpersonationConfig{UserName: user}
	tenant := versioned.NewForConfigOrDie(tc)
	// RBAC reaches kube-apiserver's authorizer a moment after the binding.
	if err := poll(ctx, 30*time.Second, func() error {
		_, err := tenant.ConfigbutlerV1alpha1().WatchRules(ns).List(ctx, metav1.ListOptions{Limit: 1})
		return err
	}); err != nil {
		return err
	}
	create := func(c versioned.Interface, prefix string) (time.Duration, error) {
		start := time.Now()
		err := parallel(n, 16, func(i int) error {
			r := &v1alpha1.WatchRule{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%04d", prefix, i), Namespace: ns},
				Spec: v1alpha1.WatchRuleSpec{TargetRef: v1alpha1.LocalTargetReference{Name: "none"},
					Rules: []v1alpha1.ResourceRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}}}}}
			_, err := c.ConfigbutlerV1alpha1().WatchRules(ns).Create(ctx, r, metav1.CreateOptions{})
			return err
		})
		return time.Since(start), err
	}
	admin, err := create(e.cb, "admin")
	if err != nil {
		return fmt.Errorf("as admin: %w", err)
	}
	reviewed, err := create(tenant, "tenant")
	if err != nil {
		return fmt.Errorf("as tenant: %w", err)
	}
	e.res.add(figure{Name: fmt.Sprintf("%d WatchRules created by a tenant (each authorized with SubjectAccessReviews)", n), Unit: "s",
		Ours: reviewed.Seconds(), Baseline: admin.Seconds(), BaselineName: "system:masters, no review"}, 0, 0)
	// A forbidden rule is refused with 403, storing nothing.
	bad := &v1alpha1.WatchRule{ObjectMeta: metav1.ObjectMeta{Name: "forbidden", Namespace: ns},
		Spec: v1alpha1.WatchRuleSpec{TargetRef: v1alpha1.LocalTargetReference{Name: "none"},
			Rules: []v1alpha1.ResourceRule{{APIGroups: []string{""}, Resources: []string{"secrets"}}}}}
	if _, err := tenant.ConfigbutlerV1alpha1().WatchRules(ns).Create(ctx, bad, metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		return fmt.Errorf("a tenant's rule for secrets: %v, want 403", err)
	}
	e.res.note("tenancy: %d WatchRules through kube-apiserver, 16 clients: tenant %s (%.0f/s), system:masters %s (%.0f/s)",
		n, reviewed.Round(time.Millisecond), float64(n)/reviewed.Seconds(), admin.Round(time.Millisecond), float64(n)/admin.Seconds())
	// Our kinds go with their namespace only where a namespace controller runs;
	// delete them here, so the phases after this one measure a server without
	// them.
	if err := e.cb.ConfigbutlerV1alpha1().WatchRules(ns).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
		return err
	}
	return e.kube.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{})
}
