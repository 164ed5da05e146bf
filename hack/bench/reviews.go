package main

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
	"github.com/configbutler/gitops-reverser/pkg/generated/clientset/versioned"
)

const (
	reviewsNamespace = "bench-reviews"
	reviewsOther     = "bench-reviews-other"
	reviewsRepo      = "bench-reviews"
	reviewsTarget    = "reviews"
	// reviewsMetric counts the SubjectAccessReviews our server's Reviewer
	// issues (pkg/metrics).
	reviewsMetric = "gitopsreverser_access_reviews_total"
	// reviewsQuiet is how long the counter must stand still for the server
	// to count as quiet: longer than the gap between the two re-check passes
	// after an RBAC change (1 s and 5 s after it).
	reviewsQuiet = 7 * time.Second
)

// reviewsPhase counts the SubjectAccessReviews our server issues to review
// recorded identities when RBAC objects and ServiceAccounts change in a loop:
// 100 users each record a WatchRule on one GitTarget (so a pass over
// everything reviews 100 identities), then, one change every 100 ms (a
// kubectl loop), 100 ServiceAccounts are created in the rules' namespace, 100
// RoleBindings in it, and 100 RoleBindings in another namespace, each loop
// counted from a quiet server to the end of its re-check passes.
//
// A ClusterRole change, which re-reviews everything twice (the pass and its
// catch-up), is the yardstick. Before re-reviews were scoped and coalesced,
// every one of these changes re-reviewed everything: a loop like these cost
// about 8 such passes (1,738, 1,735 and 1,752 reviews on 2026-12-06).
type reviewsPhase struct {
	*env
	n     int
	users []string
	// perPass is what a pass over everything costs, in reviews.
	perPass float64
}

// benchReviews runs the reviews phase.
func (e *env) benchReviews(ctx context.Context) error {
	return (&reviewsPhase{env: e, n: 100}).run(ctx)
}

func (p *reviewsPhase) run(ctx context.Context) error {
	// Verdicts cached for 5 minutes: the periodic re-check (which re-asks
	// verdicts older than half its interval) stays out of the figures.
	if err := p.restartServerWith(ctx, "--tenancy-recheck-interval=10m"); err != nil {
		return err
	}
	if err := p.setup(ctx); err != nil {
		return err
	}
	if err := p.recordRules(ctx); err != nil {
		return err
	}
	if err := p.measurePass(ctx); err != nil {
		return err
	}
	if err := p.measureLoops(ctx); err != nil {
		return err
	}
	p.res.note("reviews: %d WatchRules on one GitTarget, each recorded by its own user allowed to list configmaps in %s; each loop makes a change every %s; "+
		"each figure counts %s on our server from a quiet server to the end of the loop's re-check passes; a pass over everything took %.0f reviews",
		p.n, reviewsNamespace, reviewsPace, reviewsMetric, p.perPass)
	if err := p.cleanup(ctx); err != nil {
		return err
	}
	return p.restartServerWith(ctx)
}

// setup makes the namespaces, the users, a Role that lets them read
// ConfigMaps and manage WatchRules in the rules' namespace, and the GitTarget
// their rules record on.
func (p *reviewsPhase) setup(ctx context.Context) error {
	ns := reviewsNamespace
	for _, name := range []string{ns, reviewsOther} {
		if err := p.ensureNamespace(ctx, name); err != nil {
			return err
		}
	}
	if p.probe.metricSum(ctx, reviewsMetric) < 0 {
		return fmt.Errorf("our server's /metrics cannot be read")
	}
	p.users = make([]string, p.n)
	subjects := make([]rbacv1.Subject, p.n)
	for i := range p.users {
		p.users[i] = fmt.Sprintf("bench-reviewer-%03d", i)
		subjects[i] = rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: p.users[i]}
	}
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "reader", Namespace: ns}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{v1alpha1.GroupName}, Resources: []string{"watchrules"}, Verbs: []string{"create", "get", "list", "delete"}},
	}}
	if _, err := p.kube.RbacV1().Roles(ns).Create(ctx, role, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "readers", Namespace: ns},
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "reader"}, Subjects: subjects}
	if _, err := p.kube.RbacV1().RoleBindings(ns).Create(ctx, rb, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	if err := p.setupGitProvider(ctx, ns, reviewsRepo, reviewsRepo, ""); err != nil {
		return err
	}
	t := &v1alpha1.GitTarget{ObjectMeta: metav1.ObjectMeta{Name: reviewsTarget, Namespace: ns},
		Spec: v1alpha1.GitTargetSpec{ProviderRef: v1alpha1.GitProviderReference{Name: reviewsRepo}, Branch: "main", Path: "cluster"}}
	if _, err := p.cbDirect.ConfigbutlerV1alpha1().GitTargets(ns).Create(ctx, t, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return nil
}

// recordRules: each user records its own WatchRule, through kube-apiserver,
// and waits until all are Ready (each reviewed).
func (p *reviewsPhase) recordRules(ctx context.Context) error {
	ns, n := reviewsNamespace, p.n
	as := func(u string) versioned.Interface {
		c := rest.CopyConfig(p.admin)
		c.Impersonate = rest.ImpersonationConfig{UserName: u}
		return versioned.NewForConfigOrDie(c)
	}
	if err := poll(ctx, 30*time.Second, func() error { // RBAC reaches kube-apiserver's authorizer a moment later
		_, err := as(p.users[n-1]).ConfigbutlerV1alpha1().WatchRules(ns).List(ctx, metav1.ListOptions{Limit: 1})
		return err
	}); err != nil {
		return err
	}
	if err := parallel(n, 8, func(i int) error {
		r := &v1alpha1.WatchRule{ObjectMeta: metav1.ObjectMeta{Name: p.users[i], Namespace: ns},
			Spec: v1alpha1.WatchRuleSpec{TargetRef: v1alpha1.LocalTargetReference{Name: reviewsTarget},
				Rules: []v1alpha1.ResourceRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}}}}}
		_, err := as(p.users[i]).ConfigbutlerV1alpha1().WatchRules(ns).Create(ctx, r, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		return err
	}); err != nil {
		return fmt.Errorf("WatchRules as their users: %w", err)
	}
	return p.waitReady(ctx, n, 3*time.Minute)
}

// measurePass: one pass over everything, the yardstick. A ClusterRole change
// makes two (the change, the catch-up).
func (p *reviewsPhase) measurePass(ctx context.Context) error {
	before, err := p.waitQuiet(ctx)
	if err != nil {
		return err
	}
	cr := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "bench-reviews-all"}}
	if _, err := p.kube.RbacV1().ClusterRoles().Create(ctx, cr, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	after, err := p.waitQuiet(ctx)
	if err != nil {
		return err
	}
	p.perPass = (after - before) / 2
	p.res.add(figure{Name: fmt.Sprintf("SubjectAccessReviews after 1 ClusterRole created, %d identities recorded (2 passes over everything)", p.n),
		Unit: "reviews", Ours: after - before}, 0, 0)
	return nil
}

// measureLoops runs the three loops of changes, each from a quiet server to
// the end of its re-check passes.
func (p *reviewsPhase) measureLoops(ctx context.Context) error {
	ns, n := reviewsNamespace, p.n
	figures := []struct {
		what string
		max  float64
		loop func(i int) error
	}{
		{fmt.Sprintf("ServiceAccounts created in %s", ns), float64(n), func(i int) error {
			sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("bench-sa-%03d", i), Namespace: ns}}
			_, err := p.kube.CoreV1().ServiceAccounts(ns).Create(ctx, sa, metav1.CreateOptions{})
			return err
		}},
		// Every one may change every verdict in the namespace: the least is
		// each (identity, permission) there asked once per pass; the passes
		// are bounded below.
		{fmt.Sprintf("RoleBindings created in %s (the rules' namespace)", ns), 0, func(i int) error {
			return p.createBinding(ctx, ns, fmt.Sprintf("bench-rb-%03d", i))
		}},
		{fmt.Sprintf("RoleBindings created in %s (no rule's namespace)", reviewsOther), float64(n), func(i int) error {
			return p.createBinding(ctx, reviewsOther, fmt.Sprintf("bench-rb-%03d", i))
		}},
	}
	for _, f := range figures {
		before, err := p.waitQuiet(ctx)
		if err != nil {
			return err
		}
		start := time.Now()
		for i := 0; i < n; i++ {
			time.Sleep(time.Until(start.Add(time.Duration(i) * reviewsPace)))
			if err := f.loop(i); err != nil {
				return fmt.Errorf("%s: %w", f.what, err)
			}
		}
		took := time.Since(start)
		after, err := p.waitQuiet(ctx)
		if err != nil {
			return err
		}
		limit := f.max
		if limit == 0 {
			// A pass over the namespace every 5 s while the changes go on,
			// one when they settled, and a catch-up pass 5 s after the last:
			// at most a pass over everything each.
			limit = p.perPass * float64(int((took+5*time.Second-1)/(5*time.Second))+2)
		}
		p.res.add(figure{Name: fmt.Sprintf("SubjectAccessReviews after %d %s in %s, %d identities recorded", n, f.what, took.Round(100*time.Millisecond), n),
			Unit: "reviews", Ours: after - before}, 0, limit)
	}
	return nil
}

// reviewsPace is the time between two changes of a loop (about a kubectl
// loop's).
const reviewsPace = 100 * time.Millisecond

// createBinding binds the Role "reader" (a ClusterRole "view" elsewhere) to
// a user no rule records.
func (p *reviewsPhase) createBinding(ctx context.Context, ns, name string) error {
	ref := rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "reader"}
	if ns != reviewsNamespace {
		ref = rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"}
	}
	rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, RoleRef: ref,
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: name}}}
	_, err := p.kube.RbacV1().RoleBindings(ns).Create(ctx, rb, metav1.CreateOptions{})
	return err
}

// waitReady waits until the n WatchRules are Ready (each reviewed).
func (p *reviewsPhase) waitReady(ctx context.Context, n int, timeout time.Duration) error {
	return poll(ctx, timeout, func() error {
		l, err := p.cbDirect.ConfigbutlerV1alpha1().WatchRules(reviewsNamespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		ready, reasons := 0, map[string]int{}
		for _, r := range l.Items {
			for _, c := range r.Status.Conditions {
				if c.Type == v1alpha1.ConditionReady {
					reasons[c.Reason]++
					if c.Status == metav1.ConditionTrue {
						ready++
					}
				}
			}
		}
		if ready < n {
			return fmt.Errorf("%d of %d WatchRules Ready: %v", ready, n, reasons)
		}
		return nil
	})
}

// waitQuiet waits until the review counter stood still for reviewsQuiet and
// returns it.
func (p *reviewsPhase) waitQuiet(ctx context.Context) (float64, error) {
	deadline := time.Now().Add(3 * time.Minute)
	last, since := p.probe.metricSum(ctx, reviewsMetric), time.Now()
	for time.Since(since) < reviewsQuiet {
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("%s still moving after 3 minutes", reviewsMetric)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
		if v := p.probe.metricSum(ctx, reviewsMetric); v != last {
			last, since = v, time.Now()
		}
	}
	if last < 0 {
		return 0, fmt.Errorf("%s cannot be read", reviewsMetric)
	}
	return last, nil
}

// cleanup deletes what the phase created (our kinds explicitly: no
// namespace controller runs).
func (p *reviewsPhase) cleanup(ctx context.Context) error {
	ns := reviewsNamespace
	if err := p.cbDirect.ConfigbutlerV1alpha1().WatchRules(ns).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
		return err
	}
	if err := p.cbDirect.ConfigbutlerV1alpha1().GitTargets(ns).Delete(ctx, reviewsTarget, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	if err := p.cbDirect.ConfigbutlerV1alpha1().GitProviders(ns).Delete(ctx, reviewsRepo, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	if err := p.kube.RbacV1().ClusterRoles().Delete(ctx, "bench-reviews-all", metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	for _, name := range []string{ns, reviewsOther} {
		_ = p.kube.RbacV1().RoleBindings(name).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{})
		_ = p.kube.CoreV1().ServiceAccounts(name).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{})
		if err := p.kube.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	return nil
}
