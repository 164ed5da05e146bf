// Package apiserver assembles the configbutler.ai aggregated API server: the
// scheme and codecs, and Config -> CompletedConfig -> New, which installs the API
// group and hands the status writers to whoever runs the lifecycle. Responses
// are JSON or YAML (no protobuf); a GitTarget LIST is written from encodings
// of its items kept between requests (itemEncoder, listencoding.go).
package apiserver

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/rest"
	genericapiserver "k8s.io/apiserver/pkg/server"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler"
	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/install"
	"github.com/configbutler/gitops-reverser/pkg/registry"
	cwrstorage "github.com/configbutler/gitops-reverser/pkg/registry/configbutler/clusterwatchrule/storage"
	gpstorage "github.com/configbutler/gitops-reverser/pkg/registry/configbutler/gitprovider/storage"
	grstorage "github.com/configbutler/gitops-reverser/pkg/registry/configbutler/gitrestore/storage"
	"github.com/configbutler/gitops-reverser/pkg/registry/configbutler/gittarget"
	gtstorage "github.com/configbutler/gitops-reverser/pkg/registry/configbutler/gittarget/storage"
	"github.com/configbutler/gitops-reverser/pkg/registry/configbutler/objectrevision"
	wrstorage "github.com/configbutler/gitops-reverser/pkg/registry/configbutler/watchrule/storage"
	"github.com/configbutler/gitops-reverser/pkg/tenancy"
)

var (
	// Scheme holds the internal and v1alpha1 types of configbutler.ai.
	Scheme = runtime.NewScheme()
	// Codecs serializes them.
	Codecs = serializer.NewCodecFactory(Scheme)
)

func init() {
	install.Install(Scheme)
	// The generic server needs the meta types (options, status) in an empty
	// group; they are not part of our API.
	metav1.AddToGroupVersion(Scheme, schema.GroupVersion{Version: "v1"})
	unversioned := schema.GroupVersion{Group: "", Version: "v1"}
	Scheme.AddUnversionedTypes(unversioned,
		&metav1.Status{}, &metav1.APIVersions{}, &metav1.APIGroupList{},
		&metav1.APIGroup{}, &metav1.APIResourceList{},
	)
}

// Config is the server's configuration.
type Config struct {
	GenericConfig *genericapiserver.RecommendedConfig
	ExtraConfig   ExtraConfig
}

// ExtraConfig is our own configuration.
type ExtraConfig struct {
	// Liveness, when set, tells the GitTarget read path which replica leases are
	// alive (several replicas share one etcd).
	Liveness gittarget.Liveness
	// Tenancy authorizes writes of our kinds for the requesting user (see
	// pkg/tenancy); New fills in its lookups of our own objects. Nil admits
	// every write (tests of the API machinery alone).
	Tenancy *tenancy.Admission
	// NoIdentity records no status.authorizedBy (standalone mode: its users
	// are not cluster users).
	NoIdentity bool
	// Revisions serves ObjectRevisions from Git (nil: objectrevisions is not
	// served); RestorePlanner answers dry-run GitRestores (nil: no plan).
	// Both are wired by pkg/cmd/server (pkg/recovery).
	Revisions      objectrevision.Source
	RestorePlanner grstorage.Planner
}

type completedConfig struct {
	GenericConfig genericapiserver.CompletedConfig
	ExtraConfig   ExtraConfig
}

// CompletedConfig is a Config that went through Complete.
type CompletedConfig struct {
	*completedConfig
}

// Complete fills in defaults.
func (c *Config) Complete() CompletedConfig {
	return CompletedConfig{&completedConfig{GenericConfig: c.GenericConfig.Complete(), ExtraConfig: c.ExtraConfig}}
}

// StatusWriters are the internal status writers of the four kinds. They are
// never installed in the HTTP API.
type StatusWriters struct {
	GitProviders      *registry.StatusWriter
	GitTargets        *registry.StatusWriter
	WatchRules        *registry.StatusWriter
	ClusterWatchRules *registry.StatusWriter
	GitRestores       *registry.StatusWriter
}

// Server is a running configbutler.ai API server.
type Server struct {
	GenericAPIServer *genericapiserver.GenericAPIServer
	StatusWriters    StatusWriters
}

// New builds the server and installs configbutler.ai/v1alpha1.
func (c CompletedConfig) New() (*Server, error) {
	generic, err := c.GenericConfig.New("gitops-reverser-apiserver", genericapiserver.NewEmptyDelegate())
	if err != nil {
		return nil, err
	}
	optsGetter := c.GenericConfig.RESTOptionsGetter

	var wProvider, wTarget, wRule, wClusterRule, wRestore registry.Writes
	if a := c.ExtraConfig.Tenancy; a != nil {
		wProvider.Admit, wTarget.Admit, wRule.Admit, wClusterRule.Admit = a.GitProvider, a.GitTarget, a.WatchRule, a.ClusterWatchRule
		wRestore.Admit = a.GitRestore
	}
	if c.ExtraConfig.NoIdentity {
		wProvider.NoIdentity, wTarget.NoIdentity, wRule.NoIdentity, wClusterRule.NoIdentity = true, true, true, true
		wRestore.NoIdentity = true
	}
	providers, err := gpstorage.NewStorage(Scheme, optsGetter, wProvider)
	if err != nil {
		return nil, err
	}
	targets, err := gtstorage.NewStorage(Scheme, optsGetter, c.ExtraConfig.Liveness, wTarget)
	if err != nil {
		return nil, err
	}
	rules, err := wrstorage.NewStorage(Scheme, optsGetter, wRule)
	if err != nil {
		return nil, err
	}
	clusterRules, err := cwrstorage.NewStorage(Scheme, optsGetter, wClusterRule)
	if err != nil {
		return nil, err
	}
	restores, err := grstorage.NewStorage(Scheme, optsGetter, wRestore, c.ExtraConfig.RestorePlanner)
	if err != nil {
		return nil, err
	}
	if a := c.ExtraConfig.Tenancy; a != nil {
		a.RulesFor = func(ctx context.Context, ns, target string) ([]tenancy.Inherited, error) {
			return rulesFor(ctx, rules.Main, clusterRules.Main, ns, target)
		}
		a.TargetsOf = func(ctx context.Context, ns, provider string) ([]string, error) {
			return targetsOf(ctx, targets.GitTarget.Store, ns, provider)
		}
		a.ProviderSecrets = func(ctx context.Context, ns, name string) (tenancy.ProviderSecrets, error) {
			var out tenancy.ProviderSecrets
			obj, err := providers.Main.Get(genericapirequest.WithNamespace(ctx, ns), name, &metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return out, nil
			}
			if err != nil {
				return out, err
			}
			p := obj.(*configbutler.GitProvider)
			if ref := p.Spec.SecretRef; ref != nil {
				out.Credentials = ref.Name
			}
			if c := p.Spec.Commit; c != nil && c.SigningKeyRef != nil {
				out.Signing = c.SigningKeyRef.Name
			}
			return out, nil
		}
	}

	apiGroupInfo := genericapiserver.NewDefaultAPIGroupInfo(configbutler.GroupName, Scheme, metav1.ParameterCodec, Codecs)
	apiGroupInfo.NegotiatedSerializer = newWithoutProtobuf(Codecs)
	apiGroupInfo.VersionedResourcesStorageMap["v1alpha1"] = map[string]rest.Storage{
		"gitproviders":             providers.Main,
		"gitproviders/status":      providers.Status,
		"gittargets":               targets.GitTarget,
		"gittargets/status":        targets.Status,
		"gittargets/gates":         targets.Gates,
		"gittargets/snapshot":      targets.Snapshot,
		"watchrules":               rules.Main,
		"watchrules/status":        rules.Status,
		"clusterwatchrules":        clusterRules.Main,
		"clusterwatchrules/status": clusterRules.Status,
		"gitrestores":              restores.Main,
		"gitrestores/status":       restores.Status,
	}
	if src := c.ExtraConfig.Revisions; src != nil {
		apiGroupInfo.VersionedResourcesStorageMap["v1alpha1"]["objectrevisions"] = objectrevision.NewREST(src, c.GenericConfig.Authorization.Authorizer)
	}
	if err := generic.InstallAPIGroup(&apiGroupInfo); err != nil {
		return nil, fmt.Errorf("installing %s: %w", configbutler.GroupName, err)
	}
	return &Server{
		GenericAPIServer: generic,
		StatusWriters: StatusWriters{
			GitProviders:      providers.StatusWriter,
			GitTargets:        targets.StatusWriter,
			WatchRules:        rules.StatusWriter,
			ClusterWatchRules: clusterRules.StatusWriter,
			GitRestores:       restores.StatusWriter,
		},
	}, nil
}

// rulesFor lists, from our own storage, the rules pointing at a GitTarget.
func rulesFor(ctx context.Context, rules, clusterRules *registry.Store, ns, target string) ([]tenancy.Inherited, error) {
	var out []tenancy.Inherited
	l, err := rules.List(genericapirequest.WithNamespace(ctx, ns), &metainternalversion.ListOptions{})
	if err != nil {
		return nil, err
	}
	for i := range l.(*configbutler.WatchRuleList).Items {
		r := &l.(*configbutler.WatchRuleList).Items[i]
		if r.Spec.TargetRef.Name == target && r.DeletionTimestamp == nil {
			out = append(out, tenancy.Inherited{Ref: "WatchRule " + r.Namespace + "/" + r.Name, Rules: tenancy.WatchRuleRules(r)})
		}
	}
	cl, err := clusterRules.List(genericapirequest.WithNamespace(ctx, metav1.NamespaceNone), &metainternalversion.ListOptions{})
	if err != nil {
		return nil, err
	}
	for i := range cl.(*configbutler.ClusterWatchRuleList).Items {
		r := &cl.(*configbutler.ClusterWatchRuleList).Items[i]
		if r.Spec.TargetRef.Namespace == ns && r.Spec.TargetRef.Name == target && r.DeletionTimestamp == nil {
			out = append(out, tenancy.Inherited{Ref: "ClusterWatchRule " + r.Name, Rules: tenancy.ClusterWatchRuleRules(r)})
		}
	}
	return out, nil
}

// targetsOf lists, from our own storage, the GitTargets using a GitProvider.
func targetsOf(ctx context.Context, targets *registry.Store, ns, provider string) ([]string, error) {
	l, err := targets.List(genericapirequest.WithNamespace(ctx, ns), &metainternalversion.ListOptions{})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, t := range l.(*configbutler.GitTargetList).Items {
		if t.Spec.ProviderRef.Name == provider && !t.Spec.ProviderRef.IsFlux() && t.DeletionTimestamp == nil {
			out = append(out, t.Name)
		}
	}
	return out, nil
}

// withoutProtobuf serves our kinds as JSON and YAML only. They have no
// protobuf encoding, and offering it fails every client that asks for it
// first: kube-controller-manager's namespace controller deletes a namespace's
// objects with a DeleteCollection that accepts protobuf, and its namespaces
// never finished deleting. Clients that accept JSON too get JSON. JSON is
// written by itemEncoder, which keeps GitTargets' encodings between LISTs.
type withoutProtobuf struct {
	runtime.NegotiatedSerializer
	types []runtime.SerializerInfo
}

func newWithoutProtobuf(s runtime.NegotiatedSerializer) withoutProtobuf {
	items := newItemCache()
	var out []runtime.SerializerInfo
	for _, info := range s.SupportedMediaTypes() {
		switch info.MediaType {
		case runtime.ContentTypeProtobuf:
			continue
		case runtime.ContentTypeJSON:
			info.Serializer = itemEncoder{Serializer: info.Serializer, cache: items}
		}
		out = append(out, info)
	}
	return withoutProtobuf{NegotiatedSerializer: s, types: out}
}

func (n withoutProtobuf) SupportedMediaTypes() []runtime.SerializerInfo { return n.types }
