package lifecycle

import (
	"context"
	"fmt"

	"github.com/go-git/go-git/v5/plumbing/transport"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"

	"github.com/configbutler/gitops-reverser/pkg/lifecycle/gates"
	"github.com/configbutler/gitops-reverser/pkg/lifecycle/mirror"
	"github.com/configbutler/gitops-reverser/pkg/sops"
	"github.com/configbutler/gitops-reverser/pkg/tenancy"
)

// Remote is what reading a GitTarget's branch takes: where it is, how to
// reach it, and the identities that decrypt its Secrets.
type Remote struct {
	Key  mirror.BranchKey
	URL  string
	Auth transport.AuthMethod
	// Path is the target's directory in the branch.
	Path string
	// Keys decrypt the target's Secrets (nil without encryption).
	Keys *mirror.Keys
}

// TargetRemote resolves a target's branch, credentials and keys now, with the
// reviews its lifecycle makes: the users recorded on the target and its
// provider must still be allowed to get the Secrets used. History and
// restores read Git through it (pkg/recovery).
func (c *Controller) TargetRemote(ctx context.Context, ns, name string) (*Remote, error) {
	t, err := c.listers.targets.GitTargets(ns).Get(name)
	if err != nil {
		return nil, err
	}
	p, key, ok := gates.BranchKeyFor(t, c.listers.provider)
	if !ok {
		return nil, fmt.Errorf("GitTarget %s/%s has no usable GitProvider", ns, name)
	}
	if c.source.kube == nil {
		return nil, fmt.Errorf("the server has no source cluster (--kubeconfig): GitTarget %s/%s's credentials cannot be read", ns, name)
	}
	creds := c.source.credentials(ctx, p, t)
	if creds.Err != nil {
		return nil, creds.Err
	}
	r := &Remote{Key: key, URL: creds.Config.URL, Auth: creds.Config.Auth, Path: t.Spec.Path}
	if enc := t.Spec.Encryption; enc.On() {
		if err := c.source.mayUse(ctx, t.Status.AuthorizedBy, "GitTarget "+ns+"/"+name, tenancy.SecretGet(ns, enc.SecretRef.Name, "")); err != nil {
			return nil, err
		}
		ks := c.source.keySecret(ctx, ns, enc.SecretRef.Name)
		if ks.Err != nil {
			return nil, ks.Err
		}
		if !ks.Found {
			return nil, fmt.Errorf("the age key Secret %s/%s of GitTarget %s/%s is missing", ns, enc.SecretRef.Name, ns, name)
		}
		ids, recipients, err := sops.ParseIdentities(ks.Data)
		if err != nil {
			return nil, fmt.Errorf("the age key Secret %s/%s: %w", ns, enc.SecretRef.Name, err)
		}
		r.Keys = &mirror.Keys{Recipients: recipients, Identities: ids, Hash: sops.RecipientsHash(recipients)}
	}
	return r, nil
}

// TargetsFor returns the GitTargets that may mirror objects of namespace ns:
// the targets in ns (WatchRules select only their own namespace, and
// cluster-scoped objects mirrored by a target are listed in its namespace)
// and the targets any ClusterWatchRule points at.
func (c *Controller) TargetsFor(ns string) []*v1alpha1.GitTarget {
	seen := map[string]bool{}
	var out []*v1alpha1.GitTarget
	add := func(t *v1alpha1.GitTarget) {
		if k := t.Namespace + "/" + t.Name; !seen[k] && t.DeletionTimestamp == nil {
			seen[k] = true
			out = append(out, t)
		}
	}
	local, _ := c.listers.targets.GitTargets(ns).List(labels.Everything())
	for _, t := range local {
		add(t)
	}
	crs, _ := c.listers.crules.List(labels.Everything())
	for _, r := range crs {
		if t, err := c.listers.targets.GitTargets(r.Spec.TargetRef.Namespace).Get(r.Spec.TargetRef.Name); err == nil {
			add(t)
		}
	}
	return out
}

// Target returns a GitTarget from the lifecycle's cache.
func (c *Controller) Target(ns, name string) (*v1alpha1.GitTarget, error) {
	return c.listers.targets.GitTargets(ns).Get(name)
}

// BranchOf returns the branch a target writes and its provider's URL,
// without reading any Secret (false: its provider is missing or unusable).
func (c *Controller) BranchOf(t *v1alpha1.GitTarget) (key mirror.BranchKey, url string, ok bool) {
	p, key, ok := gates.BranchKeyFor(t, c.listers.provider)
	if !ok {
		return key, "", false
	}
	return key, p.Spec.URL, true
}

// Prefers reports whether this replica does the work keyed so that belongs
// to no branch worker (of several replicas, one says yes).
func (c *Controller) Prefers(key string) bool { return c.prefers(key) }
