package server

import (
	"context"
	"fmt"
	"sync"

	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
	"github.com/configbutler/gitops-reverser/pkg/clusterapi"
	"github.com/configbutler/gitops-reverser/pkg/git"
	"github.com/configbutler/gitops-reverser/pkg/lifecycle"
	"github.com/configbutler/gitops-reverser/pkg/tenancy"
)

// sourceCluster holds the clients of the cluster the server mirrors (all nil
// in standalone mode without --kubeconfig).
type sourceCluster struct {
	kube      kubernetes.Interface
	dynamic   dynamic.Interface
	raw       rest.Interface // LIST pages as bytes
	protoCore rest.Interface // core/v1 LIST pages as protobuf
	metadata  metadata.Interface
	discovery discovery.DiscoveryInterface
	// resources is discovery, cached, shared by admission and the lifecycle.
	resources *clusterapi.Resources
	// config reaches the source cluster (restores impersonate users over it).
	config *rest.Config
	// self is the server's user there (admission warns of rules for types
	// it may not read; the lifecycle's wildcards leave them out), and
	// selfReviewer reviews its reads for the lifecycle: without the
	// ServiceAccount lookup of recorded users (the server does not review
	// whether it exists itself, nor may a narrowed ClusterRole let it get
	// ServiceAccounts), its answers kept tenancy.ServerReadsTTL and
	// forgotten on RBAC changes.
	self         func(ctx context.Context) (*v1alpha1.AuthorizedIdentity, error)
	selfReviewer *tenancy.Reviewer
}

func newSourceCluster(c *rest.Config) (*sourceCluster, error) {
	if c == nil {
		return &sourceCluster{}, nil
	}
	cfg := rest.CopyConfig(c)
	// Snapshots list many objects; the default 5 QPS would throttle them.
	cfg.QPS, cfg.Burst = 100, 200
	var s sourceCluster
	var err error
	if s.kube, err = kubernetes.NewForConfig(cfg); err != nil {
		return nil, fmt.Errorf("source cluster client: %w", err)
	}
	s.self = selfIdentity(s.kube)
	s.selfReviewer = &tenancy.Reviewer{Authorizer: tenancy.SARAuthorizer{Client: s.kube.AuthorizationV1().SubjectAccessReviews()},
		TTL: tenancy.ServerReadsTTL}
	if s.dynamic, err = dynamic.NewForConfig(cfg); err != nil {
		return nil, err
	}
	// LIST pages read as bytes for snapshots (stream.rawPages): the dynamic
	// client's configuration, JSON only (it would accept CBOR where that
	// feature gate is on, and the pages are decoded as JSON).
	rawCfg := dynamic.ConfigFor(cfg)
	rawCfg.ContentType, rawCfg.AcceptContentTypes = "application/json", "application/json"
	if s.raw, err = rest.UnversionedRESTClientFor(rawCfg); err != nil {
		return nil, err
	}
	// ConfigMaps' and Secrets' LIST pages as protobuf (stream.protoPages):
	// a core/v1 client whose codecs also decode protobuf errors (a 410
	// must stay a 410).
	protoCfg := rest.CopyConfig(cfg)
	protoCfg.ContentType = "application/vnd.kubernetes.protobuf"
	protoCfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	// The core/v1 group alone: a whole clientset would build some fifty
	// group clients at start-up for this one.
	protoCore, err := corev1client.NewForConfig(protoCfg)
	if err != nil {
		return nil, err
	}
	s.protoCore = protoCore.RESTClient()
	if s.metadata, err = metadata.NewForConfig(cfg); err != nil {
		return nil, err
	}
	if s.discovery, err = discovery.NewDiscoveryClientForConfig(cfg); err != nil {
		return nil, err
	}
	s.resources = clusterapi.New(s.discovery)
	s.config = cfg
	return &s, nil
}

// tenancyAdmission authorizes writes of our kinds for the requesting user with
// the delegated authorizer (SubjectAccessReviews against kube-apiserver), and
// applies the remote policy to GitProvider URLs. In standalone mode holders of
// the server's credentials are its administrators: only the remote policy
// applies.
func (o *Options) tenancyAdmission(cfg *genericapiserver.RecommendedConfig, src *sourceCluster) (*tenancy.Admission, error) {
	policy, err := git.ParseRemotePolicy(o.AllowRemotes)
	if err != nil {
		return nil, err
	}
	// go-git's transports are process-wide, so is the policy every clone,
	// fetch and push obeys.
	git.SetRemotePolicy(policy)
	a := &tenancy.Admission{Remotes: policy, Resources: src.resources.Get, Refresh: src.resources.RefreshSince}
	if o.Standalone {
		return a, nil
	}
	a.Authorizer = cfg.Authorization.Authorizer
	if src.kube != nil {
		kube := src.kube
		a.SecretExists = func(ctx context.Context, ns, name string) (bool, error) {
			_, err := kube.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return false, nil
			}
			return err == nil, err
		}
		// A reviewer of its own: the lifecycle's (selfReviewer) forgets its
		// verdicts on an RBAC change only once its watch has settled (a
		// second or more), and a rule written right after a ClusterRole
		// change must be warned of by the new one.
		a.Server = &tenancy.ServerReads{
			Reviewer: &tenancy.Reviewer{Authorizer: tenancy.SARAuthorizer{Client: kube.AuthorizationV1().SubjectAccessReviews()},
				TTL: tenancy.ServerReadsTTL},
			Identity: src.self,
		}
	}
	if src.dynamic != nil {
		a.FluxSecret = fluxSecret(src)
	}
	return a, nil
}

// fluxSecret reads the secretRef of a Flux GitRepository, in the version
// the cluster prefers ("" when the kind is not served or the object does
// not exist: the lifecycle says so in Validated).
func fluxSecret(src *sourceCluster) func(ctx context.Context, ns, name string) (string, error) {
	return func(ctx context.Context, ns, name string) (string, error) {
		resources, err := src.resources.Get()
		if err != nil {
			return "", err
		}
		gvr, ok := lifecycle.FluxGVR(resources)
		if !ok {
			return "", nil
		}
		u, err := src.dynamic.Resource(gvr).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return "", nil
		}
		if err != nil {
			return "", err
		}
		return lifecycle.FluxSecretName(u), nil
	}
}

// reviewer reviews the users recorded on our objects, with
// SubjectAccessReviews against the source cluster (nil in standalone mode).
func (o *Options) reviewer(src *sourceCluster) *tenancy.Reviewer {
	if o.Standalone || src.kube == nil {
		return nil
	}
	kube := src.kube
	return &tenancy.Reviewer{
		Authorizer: tenancy.SARAuthorizer{Client: kube.AuthorizationV1().SubjectAccessReviews()},
		ServiceAccount: func(ctx context.Context, ns, name string) (tenancy.Account, error) {
			sa, err := kube.CoreV1().ServiceAccounts(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return tenancy.Account{}, err
			}
			return tenancy.Account{UID: string(sa.UID), Created: sa.CreationTimestamp.Time}, nil
		},
		// Half the interval: a re-check never finds a verdict older than it.
		TTL: o.RecheckInterval / 2,
	}
}

// selfIdentity is the server's user in the source cluster, asked once
// (SelfSubjectReview) and kept; after a failure it is asked again.
func selfIdentity(kube kubernetes.Interface) func(ctx context.Context) (*v1alpha1.AuthorizedIdentity, error) {
	var mu sync.Mutex
	var known *v1alpha1.AuthorizedIdentity
	return func(ctx context.Context) (*v1alpha1.AuthorizedIdentity, error) {
		mu.Lock()
		defer mu.Unlock()
		if known != nil {
			return known, nil
		}
		r, err := kube.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
		if err != nil {
			return nil, err
		}
		ui := r.Status.UserInfo
		extra := make(map[string][]string, len(ui.Extra))
		for k, v := range ui.Extra {
			extra[k] = v
		}
		known = &v1alpha1.AuthorizedIdentity{Username: ui.Username, UID: ui.UID, Groups: ui.Groups, Extra: extra}
		return known, nil
	}
}
