package server

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"k8s.io/apimachinery/pkg/util/sets"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/klog/v2"

	"github.com/configbutler/gitops-reverser/pkg/apiserver"
	"github.com/configbutler/gitops-reverser/pkg/attribution"
	"github.com/configbutler/gitops-reverser/pkg/idlememory"
	"github.com/configbutler/gitops-reverser/pkg/ownership"
)

// Run starts etcd (when embedded), the API server and the lifecycle, and blocks
// until ctx is done. It reads top-down: storage, configuration, ownership of
// branch workers, the server, then what runs inside it.
func (o *Options) Run(ctx context.Context) error {
	// The collector's growth and limit first, so the start-up's heap is
	// sized by them.
	idlememory.ApplyGCPercent()
	idlememory.ApplyMemoryLimit()
	if o.embeddedEtcd() {
		stop, err := o.startEmbeddedEtcd(ctx)
		if err != nil {
			return err
		}
		defer stop()
	}
	config, err := o.Config()
	if err != nil {
		return err
	}
	// A quiet server gives back what its last burst of work needed.
	go idlememory.New(idlememory.Default).Run(ctx)
	var own *ownership.Manager
	var client *clientv3.Client // the storage etcd, for ownership and shared reports
	if o.Lifecycle {
		var stop func()
		if own, client, stop, err = o.startOwnership(ctx); err != nil {
			return err
		}
		defer stop()
		config.ExtraConfig.Liveness = own
	}
	server, err := config.Complete().New()
	if err != nil {
		return err
	}
	if err := o.writeStandaloneKubeconfig(); err != nil {
		return err
	}
	if err := o.addAuthReadyCheck(config, server); err != nil {
		return err
	}
	o.addStartedHook(server)
	reports, stopSharing := o.addAttribution(server, client)
	lifecycleStopped := func() {}
	if o.Lifecycle {
		if lifecycleStopped, err = o.addLifecycle(server, o.source, own, reports); err != nil {
			return err
		}
	}
	if f := config.GenericConfig.SharedInformerFactory; f != nil {
		server.GenericAPIServer.AddPostStartHookOrDie("start-core-informers", func(hookCtx genericapiserver.PostStartHookContext) error {
			f.Start(hookCtx.Done())
			return nil
		})
	}
	err = server.GenericAPIServer.PrepareRun().RunWithContext(ctx)
	// The branch workers push what they hold before the ownership lease is
	// revoked (the deferred stop): after it, another replica may take their
	// branches, and this one may no longer write.
	lifecycleStopped()
	stopSharing()
	return err
}

// startEmbeddedEtcd starts etcd under the data dir and points the storage at
// it; stop closes it.
func (o *Options) startEmbeddedEtcd(ctx context.Context) (stop func(), err error) {
	dir := filepath.Join(o.DataDir, "etcd")
	etcd, err := StartEmbeddedEtcd(ctx, dir)
	if err != nil {
		return nil, err
	}
	o.RecommendedOptions.Etcd.StorageConfig.Transport.ServerList = []string{etcd.ClientURL}
	klog.InfoS("Embedded etcd started", "dir", dir, "url", etcd.ClientURL)
	return etcd.Close, nil
}

// startOwnership runs this replica's ownership lease; stop revokes it, so
// other replicas take its branch workers over at once. Only stop ends it, not
// ctx: at shutdown the branch workers' last flush must still hold the lease
// (a lease ended with ctx aborted every worker first, and the changes they
// held were left to the next start's re-snapshot, without their authors).
func (o *Options) startOwnership(ctx context.Context) (*ownership.Manager, *clientv3.Client, func(), error) {
	own, client, err := o.newOwnership()
	if err != nil {
		return nil, nil, nil, err
	}
	ownCtx, ownCancel := context.WithCancel(context.WithoutCancel(ctx))
	ownDone := make(chan struct{})
	go func() { own.Run(ownCtx); close(ownDone) }()
	return own, client, func() { ownCancel(); <-ownDone; client.Close() }, nil
}

// writeStandaloneKubeconfig writes, in standalone mode, the kubeconfig its
// users reach the server with.
func (o *Options) writeStandaloneKubeconfig() error {
	if !o.Standalone || o.WriteKubeconfig == "" {
		return nil
	}
	port := o.RecommendedOptions.SecureServing.BindPort
	if l := o.RecommendedOptions.SecureServing.Listener; l != nil {
		port = l.Addr().(*net.TCPAddr).Port
	}
	pki, err := loadOrCreatePKI(filepath.Join(o.DataDir, "pki"))
	if err != nil {
		return err
	}
	if err := pki.writeKubeconfig(o.WriteKubeconfig, port); err != nil {
		return fmt.Errorf("writing kubeconfig: %w", err)
	}
	return nil
}

// addAuthReadyCheck makes /readyz wait for kube-apiserver's client and
// request-header CAs.
func (o *Options) addAuthReadyCheck(config *apiserver.Config, server *apiserver.Server) error {
	if config.GenericConfig.SecureServing == nil {
		return nil
	}
	check, err := o.authCACheck(config.GenericConfig.SecureServing.ClientCA)
	if err != nil || check == nil {
		return err
	}
	return server.GenericAPIServer.AddReadyzChecks(check)
}

// addStartedHook tells OnStarted and Ready (tests, make run) that the server
// serves.
func (o *Options) addStartedHook(server *apiserver.Server) {
	server.GenericAPIServer.AddPostStartHookOrDie("gitops-reverser-started", func(hookCtx genericapiserver.PostStartHookContext) error {
		if o.OnStarted != nil {
			o.OnStarted(server)
		}
		if o.Ready != nil {
			close(o.Ready)
		}
		return nil
	})
}

// addAttribution serves the audit webhook endpoint and keeps its reports
// (nil when attribution is off). The audit webhook reaches one replica; the
// branch worker a report is for may run in another: replicas share reports
// through etcd (client). stop ends the sharing: not when the server begins
// to stop, since the workers' last flush waits for reports another replica
// may receive.
func (o *Options) addAttribution(server *apiserver.Server, client *clientv3.Client) (reports *attribution.Store, stop func()) {
	if !o.attribution() {
		return nil, func() {}
	}
	reports = attribution.NewStore(attribution.DefaultTTL)
	sharing, stop := context.WithCancel(context.Background())
	var in attribution.Adder = reports
	var shared *attribution.Shared
	if client != nil {
		shared = attribution.NewShared(client, reports, o.ReplicaName)
		in = shared
	}
	server.GenericAPIServer.Handler.NonGoRestfulMux.Handle(attribution.Path,
		attribution.Handler(in, sets.New(o.AttributionReporters...)))
	server.GenericAPIServer.AddPostStartHookOrDie("gitops-reverser-attribution", func(hookCtx genericapiserver.PostStartHookContext) error {
		go reports.ExpireEvery(hookCtx.Done(), time.Minute)
		if shared != nil {
			go shared.Run(sharing)
		}
		return nil
	})
	return reports, stop
}
