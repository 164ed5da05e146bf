// Package server wires the command line of gitops-reverser-apiserver: the generic
// apiserver's recommended options (etcd, serving, delegated authn/authz, priority
// and fairness, admission), the embedded etcd default, the standalone mode, and
// the lifecycle that runs inside the server.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apiserver/pkg/endpoints/openapi"
	genericapiserver "k8s.io/apiserver/pkg/server"
	genericoptions "k8s.io/apiserver/pkg/server/options"
	"k8s.io/apiserver/pkg/util/compatibility"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	netutils "k8s.io/utils/net"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
	"github.com/configbutler/gitops-reverser/pkg/apiserver"
	"github.com/configbutler/gitops-reverser/pkg/attribution"
	generatedopenapi "github.com/configbutler/gitops-reverser/pkg/generated/openapi"
	"github.com/configbutler/gitops-reverser/pkg/git"
	"github.com/configbutler/gitops-reverser/pkg/recovery"
)

// DefaultAttributionReporter is the user kube-apiserver's audit webhook
// authenticates as by default (the CN of its client certificate; see the
// README, "Who changed what").
const DefaultAttributionReporter = "system:kube-apiserver-audit"

// EtcdPathPrefix is where our objects live in etcd: its own prefix, apart from
// kube-apiserver's /registry when both share an etcd cluster.
const EtcdPathPrefix = "/registry/configbutler.ai"

// shutdownWatchGrace is how long a stopping server waits for the watches of
// its API to end once it has told them to (clients reconnect, to another
// replica): short, inside the pod's 30 s grace with the workers' last
// flush.
const shutdownWatchGrace = 2 * time.Second

// Options are the server's command-line options.
type Options struct {
	RecommendedOptions *genericoptions.RecommendedOptions

	// DataDir holds the embedded etcd (when --etcd-servers is empty), the
	// standalone PKI and, by default, the work dir.
	DataDir string
	// Standalone serves without kube-apiserver, on 127.0.0.1 with its own CA.
	Standalone bool
	// WriteKubeconfig is where standalone mode writes a kubeconfig for clients.
	WriteKubeconfig string
	// WorkDir holds the branch workers' git clones (default <data-dir>/work).
	WorkDir string
	// Lifecycle runs the GitTarget lifecycle inside the server.
	Lifecycle bool
	// ReplicaName identifies this replica among those sharing one etcd.
	ReplicaName string
	// LeaseTTL is the TTL of the etcd lease through which this replica owns its
	// branch workers; another replica takes them over within it.
	LeaseTTL time.Duration
	// AllowRemotes lists the remote kinds GitProviders may use beyond ordinary
	// network hosts: file, loopback, link-local (see git.RemotePolicy).
	AllowRemotes []string
	// MaxFetchSize bounds what one clone or fetch of a remote may download
	// (git.SetMaxFetchSize); 0: no limit.
	MaxFetchSize resource.QuantityValue
	// RecheckInterval is how often the users recorded on our objects are
	// reviewed again (pkg/tenancy).
	RecheckInterval time.Duration

	// AttributionReporters are the users whose audit reports name the authors
	// of live changes (kube-apiserver's audit webhook client identity); empty
	// turns attribution off. AttributionGrace is how long a change waits for
	// its report.
	AttributionReporters []string
	AttributionGrace     time.Duration

	// Ready, when set, is closed once the server serves (tests use it).
	Ready chan struct{}
	// OnStarted, when set, is called with the running server (tests use it to get
	// the status writers).
	OnStarted func(*apiserver.Server)

	Out, ErrOut io.Writer

	// source is the source cluster's clients, set by Config.
	source *sourceCluster
	// recovery and restores serve history and restores (addRecovery; nil
	// without the lifecycle or a source cluster).
	recovery *recovery.Service
	restores *recovery.Restores
}

// NewOptions returns the default options.
func NewOptions(out, errOut io.Writer) *Options {
	o := &Options{
		RecommendedOptions: genericoptions.NewRecommendedOptions(EtcdPathPrefix,
			apiserver.Codecs.LegacyCodec(v1alpha1.SchemeGroupVersion)),
		DataDir:              "gitops-reverser-data",
		Lifecycle:            true,
		ReplicaName:          defaultReplicaName(),
		LeaseTTL:             15 * time.Second,
		RecheckInterval:      time.Minute,
		AttributionReporters: []string{DefaultAttributionReporter},
		AttributionGrace:     3 * time.Second,
		MaxFetchSize:         resource.QuantityValue{Quantity: *resource.NewQuantity(git.DefaultMaxFetchSize, resource.BinarySI)},
		Out:                  out,
		ErrOut:               errOut,
	}
	o.RecommendedOptions.Etcd.StorageConfig.EncodeVersioner = runtime.NewMultiGroupVersioner(
		v1alpha1.SchemeGroupVersion, schema.GroupKind{Group: v1alpha1.GroupName})
	// Without --kubeconfig outside a cluster there is no core API to delegate to.
	o.RecommendedOptions.Authentication.RemoteKubeConfigFileOptional = true
	o.RecommendedOptions.Authorization.RemoteKubeConfigFileOptional = true
	return o
}

// AddFlags adds the options to a flag set.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	o.RecommendedOptions.AddFlags(fs)
	fs.StringVar(&o.DataDir, "data-dir", o.DataDir,
		"Directory for the embedded etcd (used when --etcd-servers is empty), the standalone PKI and git clones.")
	fs.BoolVar(&o.Standalone, "standalone", o.Standalone,
		"Serve without kube-apiserver: bind 127.0.0.1 only, authenticate clients with a generated client certificate or token (see --write-kubeconfig), no delegated authn/authz.")
	fs.StringVar(&o.WriteKubeconfig, "write-kubeconfig", o.WriteKubeconfig,
		"In standalone mode, write a kubeconfig for this server to this file.")
	fs.StringVar(&o.WorkDir, "work-dir", o.WorkDir,
		"Directory for the long-lived git clones of the branch workers (default <data-dir>/work).")
	fs.BoolVar(&o.Lifecycle, "lifecycle", o.Lifecycle,
		"Run the GitTarget lifecycle (gates, snapshot, event stream). The source cluster is --kubeconfig (or in-cluster).")
	fs.StringVar(&o.ReplicaName, "replica-name", o.ReplicaName,
		"Name of this replica among those sharing one etcd (default: $POD_NAME, else hostname and a random suffix).")
	fs.StringSliceVar(&o.AllowRemotes, "allow-remotes", o.AllowRemotes,
		"Remote kinds GitProviders may use besides network hosts, comma-separated: file (file:// URLs and local paths), loopback (127.0.0.0/8, ::1, localhost), link-local (169.254.0.0/16, fe80::/10: cloud metadata endpoints). Default: none; every other host, private networks included, is allowed.")
	fs.Var(&o.MaxFetchSize, "max-fetch-size",
		"Most bytes one clone, fetch or push of a GitProvider's repository may download (a quantity: 1Gi, 500Mi); each branch worker fetches only its branch, without tags. Past it the operation fails and the GitTarget shows RepositoryTooLarge. 0: no limit. HTTP(S) and SSH remotes are bounded, file:// and git:// are not.")
	fs.DurationVar(&o.RecheckInterval, "tenancy-recheck-interval", o.RecheckInterval,
		"How often the users recorded on GitProviders, GitTargets and rules are authorized again (RBAC changes are noticed within seconds; this catches the rest).")
	fs.StringSliceVar(&o.AttributionReporters, "attribution-reporters", o.AttributionReporters,
		"Users (kube-apiserver's audit webhook client identity) whose audit reports on "+attribution.Path+" name the Kubernetes user of each live change; a report from anyone else is refused. Empty: attribution off, commits are authored by the field manager of the last write. Not used with --standalone.")
	fs.DurationVar(&o.AttributionGrace, "attribution-grace", o.AttributionGrace,
		"How long a live change waits for its audit report before it is committed authored by its field manager (kube-apiserver's --audit-webhook-batch-max-wait must be well below it).")
	fs.DurationVar(&o.LeaseTTL, "lease-ttl", o.LeaseTTL,
		"TTL of the etcd lease through which a replica owns its branch workers: when a replica dies, another takes its branches over within it.")
}

// NewCommand returns the cobra command of gitops-reverser-apiserver.
func NewCommand(ctx context.Context, o *Options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "gitops-reverser-apiserver",
		Short: "Serve configbutler.ai/v1alpha1 and mirror cluster resources into Git",
		Long: `gitops-reverser-apiserver is a Kubernetes aggregated API server for
configbutler.ai/v1alpha1 (GitProvider, GitTarget, WatchRule, ClusterWatchRule).
Its lifecycle workers mirror the selected resources of the cluster into Git.`,
		SilenceUsage: true,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := o.Complete(); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(c.Context())
		},
	}
	cmd.SetContext(ctx)
	o.AddFlags(cmd.Flags())
	return cmd
}

// attribution reports whether live changes are attributed from audit
// reports: with reporters, the lifecycle and kube-apiserver in front.
func (o *Options) attribution() bool {
	return len(o.AttributionReporters) > 0 && o.Lifecycle && !o.Standalone
}

// embeddedEtcd reports whether the server runs its own etcd.
func (o *Options) embeddedEtcd() bool {
	return len(o.RecommendedOptions.Etcd.StorageConfig.Transport.ServerList) == 0
}

// Complete fills in derived defaults.
func (o *Options) Complete() error {
	if o.DataDir != "" {
		abs, err := filepath.Abs(o.DataDir)
		if err != nil {
			return err
		}
		o.DataDir = abs
	}
	if o.WorkDir == "" && o.DataDir != "" {
		o.WorkDir = filepath.Join(o.DataDir, "work")
	}
	ro := o.RecommendedOptions
	if o.attribution() && ro.Authorization != nil {
		// The endpoint authorizes its callers itself (the reporters), without
		// a SubjectAccessReview per batch.
		ro.Authorization.AlwaysAllowPaths = append(ro.Authorization.AlwaysAllowPaths, attribution.Path)
	}
	if o.Standalone {
		ro.SecureServing.BindAddress = netutils.ParseIPSloppy("127.0.0.1")
		// Our own authenticator and authorizer replace the delegating ones.
		ro.Authentication = nil
		ro.Authorization = nil
		// Admission plugins and priority & fairness read kube-apiserver's objects.
		ro.Admission = nil
		ro.Features.EnablePriorityAndFairness = false
		if ro.CoreAPI != nil && ro.CoreAPI.CoreAPIKubeconfigPath == "" {
			ro.CoreAPI = nil
		}
	}
	return nil
}

// Validate checks the options.
func (o *Options) Validate() error {
	var errs []error
	ro := o.RecommendedOptions
	if o.embeddedEtcd() {
		if o.DataDir == "" {
			errs = append(errs, errors.New("--data-dir is required for the embedded etcd (or set --etcd-servers)"))
		}
		// The embedded etcd fills in --etcd-servers when it starts.
		saved := ro.Etcd.StorageConfig.Transport.ServerList
		ro.Etcd.StorageConfig.Transport.ServerList = []string{"embedded"}
		errs = append(errs, ro.Validate()...)
		ro.Etcd.StorageConfig.Transport.ServerList = saved
	} else {
		errs = append(errs, ro.Validate()...)
		if err := checkEtcdServers(ro.Etcd.StorageConfig.Transport.ServerList); err != nil {
			errs = append(errs, err)
		}
	}
	if o.WriteKubeconfig != "" && !o.Standalone {
		errs = append(errs, errors.New("--write-kubeconfig is only valid with --standalone"))
	}
	if o.LeaseTTL < 3*time.Second {
		errs = append(errs, errors.New("--lease-ttl must be at least 3s"))
	}
	if _, err := git.ParseRemotePolicy(o.AllowRemotes); err != nil {
		errs = append(errs, fmt.Errorf("--allow-remotes: %w", err))
	}
	if o.MaxFetchSize.Sign() < 0 {
		errs = append(errs, errors.New("--max-fetch-size must not be negative"))
	}
	if o.RecheckInterval < time.Second {
		errs = append(errs, errors.New("--tenancy-recheck-interval must be at least 1s"))
	}
	if o.AttributionGrace < 0 || o.AttributionGrace > time.Minute {
		errs = append(errs, errors.New("--attribution-grace must be between 0 and 1m"))
	}
	if o.ReplicaName == "" {
		errs = append(errs, errors.New("--replica-name must not be empty"))
	}
	if o.Standalone && o.DataDir == "" {
		errs = append(errs, errors.New("--standalone needs --data-dir for its certificates"))
	}
	return utilerrors.NewAggregate(errs)
}

// Config builds the server configuration.
func (o *Options) Config() (*apiserver.Config, error) {
	ro := o.RecommendedOptions
	var pki *standalonePKI
	if o.Standalone {
		var err error
		if pki, err = loadOrCreatePKI(filepath.Join(o.DataDir, "pki")); err != nil {
			return nil, err
		}
		ro.SecureServing.ServerCert.CertKey.CertFile = pki.servingCert
		ro.SecureServing.ServerCert.CertKey.KeyFile = pki.servingKey
	}
	if o.DataDir != "" && ro.SecureServing.ServerCert.CertDirectory == "apiserver.local.config/certificates" {
		ro.SecureServing.ServerCert.CertDirectory = filepath.Join(o.DataDir, "serving-certs")
	}
	if err := ro.SecureServing.MaybeDefaultWithSelfSignedCerts("localhost", nil,
		[]net.IP{netutils.ParseIPSloppy("127.0.0.1")}); err != nil {
		return nil, fmt.Errorf("creating self-signed certificates: %w", err)
	}

	cfg := genericapiserver.NewRecommendedConfig(apiserver.Codecs)
	namer := openapi.NewDefinitionNamer(apiserver.Scheme)
	cfg.OpenAPIConfig = genericapiserver.DefaultOpenAPIConfig(generatedopenapi.GetOpenAPIDefinitions, namer)
	cfg.OpenAPIConfig.Info.Title = "gitops-reverser"
	cfg.OpenAPIConfig.Info.Version = "v1alpha1"
	cfg.OpenAPIV3Config = genericapiserver.DefaultOpenAPIV3Config(generatedopenapi.GetOpenAPIDefinitions, namer)
	cfg.OpenAPIV3Config.Info.Title = "gitops-reverser"
	cfg.OpenAPIV3Config.Info.Version = "v1alpha1"
	cfg.FeatureGate = utilfeature.DefaultFeatureGate
	cfg.EffectiveVersion = productVersion{compatibility.DefaultBuildEffectiveVersion()}

	if err := ro.ApplyTo(cfg); err != nil {
		return nil, err
	}
	// Watches of our API (kube-controller-manager's, users', through
	// kube-apiserver) are told to end when the server stops, and waited for
	// this long. With no grace the apiserver does not tell them, and its
	// HTTP server waits for them until the kubelet's SIGKILL: the ownership
	// lease is then never revoked, and the branches wait out its TTL.
	cfg.ShutdownWatchTerminationGracePeriod = shutdownWatchGrace
	if pki != nil {
		if err := pki.applyTo(&cfg.Config); err != nil {
			return nil, err
		}
	}
	src, err := newSourceCluster(cfg.ClientConfig)
	if err != nil {
		return nil, err
	}
	o.source = src
	// Process-wide like the remote policy (go-git's transports are), set
	// next to it.
	git.SetMaxFetchSize(o.MaxFetchSize.Value())
	adm, err := o.tenancyAdmission(cfg, src)
	if err != nil {
		return nil, err
	}
	extra := apiserver.ExtraConfig{Tenancy: adm, NoIdentity: o.Standalone}
	if err := o.addRecovery(&extra, src); err != nil {
		return nil, err
	}
	return &apiserver.Config{GenericConfig: cfg, ExtraConfig: extra}, nil
}
