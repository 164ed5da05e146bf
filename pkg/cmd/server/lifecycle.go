package server

import (
	"context"
	"sync/atomic"
	"time"

	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"

	"github.com/configbutler/gitops-reverser/pkg/apiserver"
	"github.com/configbutler/gitops-reverser/pkg/attribution"
	"github.com/configbutler/gitops-reverser/pkg/generated/clientset/versioned"
	"github.com/configbutler/gitops-reverser/pkg/lifecycle"
	"github.com/configbutler/gitops-reverser/pkg/ownership"
	"github.com/configbutler/gitops-reverser/pkg/recovery"
)

// lifecycleStopTimeout bounds how long a shutdown waits for the branch
// workers' last flushes (each is bounded too, and they run at once),
// counted from the moment the server began to stop: within the chart's 30 s
// grace.
const lifecycleStopTimeout = 25 * time.Second

// addLifecycle starts the lifecycle once the server serves: it watches our API
// through the loopback client and the source cluster through source (nil in
// standalone mode without --kubeconfig: then only Validated can be evaluated).
// stopped waits, once the server stops, for the lifecycle to stop (its
// workers' last flush; lifecycleStopTimeout at most).
func (o *Options) addLifecycle(server *apiserver.Server, src *sourceCluster, own *ownership.Manager, reports *attribution.Store) (stopped func(), err error) {
	opts := lifecycle.Options{
		WorkDir: o.WorkDir,
		Writers: lifecycle.Writers{
			GitProviders:      server.StatusWriters.GitProviders,
			GitTargets:        server.StatusWriters.GitTargets,
			WatchRules:        server.StatusWriters.WatchRules,
			ClusterWatchRules: server.StatusWriters.ClusterWatchRules,
		},
		Kube: src.kube, Dynamic: src.dynamic, RawSource: src.raw, ProtoSource: src.protoCore, Metadata: src.metadata, Discovery: src.discovery,
		Resources:       src.resources,
		Reviewer:        o.reviewer(src),
		ServerIdentity:  src.self,
		ServerReviewer:  src.selfReviewer,
		RecheckInterval: o.RecheckInterval,
	}
	if own != nil {
		opts.Ownership = own
	}
	if reports != nil {
		opts.Attribution, opts.AttributionGrace = reports, o.AttributionGrace
	}
	if src.kube == nil {
		klog.InfoS("No source cluster (--kubeconfig): the lifecycle evaluates Validated only; later gates report why they cannot proceed")
	}
	done := make(chan struct{})
	expired := make(chan struct{}) // lifecycleStopTimeout after the server began to stop
	var started atomic.Bool
	stopped = func() {
		if !started.Load() {
			return
		}
		select {
		case <-done:
		case <-expired:
			klog.InfoS("The lifecycle did not stop in time; what its workers held is left to the next start's snapshot", "timeout", lifecycleStopTimeout)
		}
	}
	server.GenericAPIServer.AddPostStartHookOrDie("gitops-reverser-lifecycle", func(ctx genericapiserver.PostStartHookContext) error {
		loop := rest.CopyConfig(ctx.LoopbackClientConfig)
		loop.QPS, loop.Burst = 200, 400
		client, err := versioned.NewForConfig(loop)
		if err != nil {
			return err
		}
		opts.Client = client
		c, err := lifecycle.New(opts)
		if err != nil {
			return err
		}
		started.Store(true)
		go func() { c.Run(ctx); close(done) }()
		context.AfterFunc(ctx, func() { time.AfterFunc(lifecycleStopTimeout, func() { close(expired) }) })
		if o.recovery != nil {
			o.recovery.SetBackend(c)
			runner := &recovery.Runner{Restores: o.restores, Client: client, Writer: server.StatusWriters.GitRestores, Prefers: c.Prefers}
			go runner.Run(ctx)
			go func() { <-ctx.Done(); o.recovery.Close() }()
		}
		return nil
	})
	return stopped, nil
}
