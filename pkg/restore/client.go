package restore

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apiserver/pkg/authentication/serviceaccount"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
)

// FieldManager is the field manager of every write of a restore.
const FieldManager = "gitops-reverser-restore"

// listPageSize is the page size of a List; maxListItems bounds one List.
const (
	listPageSize = 500
	maxListItems = 100000
)

// Client is what a restore asks of the source cluster. NewClient's makes
// every request as the user who asked for the restore; tests use a fake.
// Implementations are safe for concurrent use.
type Client interface {
	// Get reads one object (namespace "" for a cluster-scoped one).
	Get(ctx context.Context, gvr schema.GroupVersionResource, namespace, name string) (*unstructured.Unstructured, error)
	// List reads every object of a type in a namespace ("" for a
	// cluster-scoped type), all pages.
	List(ctx context.Context, gvr schema.GroupVersionResource, namespace string) ([]unstructured.Unstructured, error)
	// Apply server-side applies obj (FieldManager, forced), or with dryRun
	// returns what it would store.
	Apply(ctx context.Context, gvr schema.GroupVersionResource, obj *unstructured.Unstructured, dryRun bool) (*unstructured.Unstructured, error)
	// Delete deletes an object, only while its uid is uid ("" for any).
	Delete(ctx context.Context, gvr schema.GroupVersionResource, namespace, name string, uid types.UID, dryRun bool) error
}

// NewClient returns a Client that makes every request as id, over the
// server's own configuration for the source cluster (cfg is not modified).
//
// The requests carry rest.ImpersonationConfig{UserName, UID, Groups, Extra}
// of the recorded identity: kube-apiserver authorizes, admits and audits each
// of them as that user, so a restore can do nothing its creator could not do
// with kubectl, and the server needs no write right of its own. With
// Kubernetes' constrained impersonation (KEP-5284, on by default since 1.36)
// its ServiceAccount needs impersonate:user-info on users, groups, uids and
// userextras (group authentication.k8s.io), impersonate:serviceaccount on
// serviceaccounts, and impersonate-on:<mode>:<verb> for the verbs a restore
// uses: nothing lets it bind, escalate or impersonate further as the user. A
// ServiceAccount user is impersonated by its username alone (the
// serviceaccount mode takes no groups, uid or extra; kube-apiserver adds the
// ServiceAccount's own groups). Build one Client per restore and use it for
// all of its requests.
//
// It refuses an identity without a username: a restore never writes as the
// server.
func NewClient(cfg *rest.Config, id *v1alpha1.AuthorizedIdentity) (Client, error) {
	if cfg == nil {
		return nil, errors.New("the server has no source cluster to restore to")
	}
	if id == nil || id.Username == "" {
		return nil, errors.New("no user to write as: a restore writes only as the user who created it")
	}
	c := rest.CopyConfig(cfg)
	c.Impersonate = impersonation(id)
	// No client-side rate limit (and not the server's own limiter, which
	// CopyConfig shares): a restore writes at most Workers requests at a
	// time, as the user, and kube-apiserver's priority and fairness judges
	// them as that user's, as it judges kubectl's. 100 QPS made a restore
	// of 1,000 objects take 8 s where `kubectl apply` takes 3 (make bench).
	c.RateLimiter, c.QPS, c.Burst = nil, -1, 0
	d, err := dynamic.NewForConfig(c)
	if err != nil {
		return nil, fmt.Errorf("source cluster client: %w", err)
	}
	return dynamicClient{d}, nil
}

// impersonation is how a recorded identity is impersonated: a ServiceAccount
// by its username (the mode that may impersonate ServiceAccounts takes
// nothing else), any other user with everything recorded except the
// system:masters group. kube-apiserver refuses to let anyone impersonate
// system:masters, so a restore by a member writes with the user's other
// groups: never more than the user may do, possibly less (bind the user to
// cluster-admin instead, as kubeadm does since Kubernetes 1.29).
func impersonation(id *v1alpha1.AuthorizedIdentity) rest.ImpersonationConfig {
	if _, _, err := serviceaccount.SplitUsername(id.Username); err == nil {
		return rest.ImpersonationConfig{UserName: id.Username}
	}
	groups := slices.DeleteFunc(slices.Clone(id.Groups), func(g string) bool { return g == user.SystemPrivilegedGroup })
	return rest.ImpersonationConfig{UserName: id.Username, UID: id.UID, Groups: groups, Extra: maps.Clone(id.Extra)}
}

// NewMapper returns the RESTMapper of the source cluster: discovery, cached
// in memory, read when first needed and again after Reset (a restore resets
// it when it starts, and while it waits for a kind whose
// CustomResourceDefinition it created). Discovery is read with the server's
// own credentials (every authenticated user may read it). Build it once and
// share it between restores; it is safe for concurrent use.
func NewMapper(d discovery.DiscoveryInterface) meta.ResettableRESTMapper {
	return restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(d))
}

// dynamicClient is the Client over a dynamic client.
type dynamicClient struct{ d dynamic.Interface }

func (c dynamicClient) Get(ctx context.Context, gvr schema.GroupVersionResource, namespace, name string) (*unstructured.Unstructured, error) {
	return c.d.Resource(gvr).Namespace(namespace).Get(ctx, name, metav1.GetOptions{})
}

func (c dynamicClient) List(ctx context.Context, gvr schema.GroupVersionResource, namespace string) ([]unstructured.Unstructured, error) {
	var out []unstructured.Unstructured
	opts := metav1.ListOptions{Limit: listPageSize}
	for {
		l, err := c.d.Resource(gvr).Namespace(namespace).List(ctx, opts)
		if err != nil {
			return nil, err
		}
		out = append(out, l.Items...)
		if len(out) > maxListItems {
			return nil, fmt.Errorf("more than %d %s in %q", maxListItems, gvr.Resource, namespace)
		}
		if opts.Continue = l.GetContinue(); opts.Continue == "" {
			return out, nil
		}
	}
}

func (c dynamicClient) Apply(ctx context.Context, gvr schema.GroupVersionResource, obj *unstructured.Unstructured, dryRun bool) (*unstructured.Unstructured, error) {
	opts := metav1.ApplyOptions{FieldManager: FieldManager, Force: true, DryRun: dryRunOpt(dryRun)}
	return c.d.Resource(gvr).Namespace(obj.GetNamespace()).Apply(ctx, obj.GetName(), obj, opts)
}

func (c dynamicClient) Delete(ctx context.Context, gvr schema.GroupVersionResource, namespace, name string, uid types.UID, dryRun bool) error {
	bg := metav1.DeletePropagationBackground
	opts := metav1.DeleteOptions{DryRun: dryRunOpt(dryRun), PropagationPolicy: &bg}
	if uid != "" {
		opts.Preconditions = &metav1.Preconditions{UID: &uid}
	}
	return c.d.Resource(gvr).Namespace(namespace).Delete(ctx, name, opts)
}

func dryRunOpt(dryRun bool) []string {
	if dryRun {
		return []string{metav1.DryRunAll}
	}
	return nil
}
