package integration

import (
	"context"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	acv1alpha1 "github.com/configbutler/gitops-reverser/pkg/generated/applyconfiguration/configbutler/v1alpha1"
)

// TestRemotePolicyDefaults: with the server's default flags (the in-cluster
// deployment's), file:// URLs, local paths, loopback and link-local hosts are
// refused at admission with the field path, and nothing is stored; ordinary
// hosts, private networks included, are admitted.
func TestRemotePolicyDefaults(t *testing.T) {
	ctx := context.Background()
	c := srv.Client.ConfigbutlerV1alpha1().GitProviders("remotes")
	for i, url := range []string{
		"file:///var/lib/gitops-reverser/work/other",
		"/srv/git/repo.git",
		"http://169.254.169.254/latest/meta-data/",
		"http://127.0.0.1:2379/v3/kv",
		"https://localhost/r.git",
		"ssh://git@[::1]/r.git",
	} {
		p := provider("remotes", "refused")
		p.Spec.URL = url
		_, err := c.Create(ctx, p, metav1.CreateOptions{})
		// A local path is not even a URL (422 from validation); the others are
		// refused by the policy.
		policy := i != 1
		if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec.url") ||
			(policy && !strings.Contains(err.Error(), "spec.url: Forbidden: remote refused by the server's policy")) {
			t.Errorf("%d %s: %v, want 422 Invalid at spec.url", i, url, err)
		}
		if _, err := c.Get(ctx, "refused", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("%s: stored after a refusal (%v)", url, err)
		}
	}
	for _, url := range []string{"https://git.example.com/org/repo.git", "http://10.1.2.3/r.git", "git@github.com:org/repo.git"} {
		p := provider("remotes", "allowed")
		p.Spec.URL = url
		if _, err := c.Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Errorf("%s: %v", url, err)
		}
		if err := c.Delete(ctx, "allowed", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// An update to a refused URL is refused too, and the stored URL stays.
	p := provider("remotes", "moving")
	if _, err := c.Create(ctx, p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	got, _ := c.Get(ctx, "moving", metav1.GetOptions{})
	got.Spec.URL = "http://169.254.169.254/r.git"
	if _, err := c.Update(ctx, got, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) {
		t.Errorf("update to a link-local host: %v", err)
	}
	if now, _ := c.Get(ctx, "moving", metav1.GetOptions{}); now.Spec.URL != p.Spec.URL {
		t.Errorf("stored URL %q after a refused update", now.Spec.URL)
	}
	// Standalone mode records no user: its users are not cluster users, and a
	// recorded one (system:masters) would be trusted by a server serving the
	// same data behind kube-apiserver later.
	if got.Status.AuthorizedBy != nil {
		t.Errorf("authorizedBy %+v in standalone mode", got.Status.AuthorizedBy)
	}
}

// TestAdmissionOnApply: server-side apply creates and changes go through the
// same admission: an apply that creates a provider with a refused URL, or
// changes a stored one to it, is refused and leaves what was stored.
func TestAdmissionOnApply(t *testing.T) {
	ctx := context.Background()
	c := srv.Client.ConfigbutlerV1alpha1().GitProviders("remotes-apply")
	apply := func(name, url string) error {
		_, err := c.Apply(ctx, acv1alpha1.GitProvider(name, "remotes-apply").WithSpec(acv1alpha1.GitProviderSpec().
			WithURL(url).WithAllowedBranches("main")), metav1.ApplyOptions{FieldManager: "it", Force: true})
		return err
	}
	if err := apply("created", "file:///srv/x.git"); !apierrors.IsInvalid(err) {
		t.Errorf("apply-create of a file URL: %v", err)
	}
	if _, err := c.Get(ctx, "created", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("stored after a refused apply: %v", err)
	}
	if err := apply("changed", "https://git.example.com/r.git"); err != nil {
		t.Fatal(err)
	}
	if err := apply("changed", "http://169.254.169.254/r.git"); !apierrors.IsInvalid(err) {
		t.Errorf("apply-change to a link-local host: %v", err)
	}
	if got, _ := c.Get(ctx, "changed", metav1.GetOptions{}); got.Spec.URL != "https://git.example.com/r.git" {
		t.Errorf("stored URL %q", got.Spec.URL)
	}
}
