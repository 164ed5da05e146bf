package server

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// EmbeddedEtcd is a single-member etcd run inside the server process: the default
// storage on one machine, so `gitops-reverser-apiserver` needs nothing else.
// Several replicas share an external etcd cluster instead (--etcd-servers).
type EmbeddedEtcd struct {
	etcd *embed.Etcd
	// ClientURL is where the apiserver's storage connects.
	ClientURL string
}

// StartEmbeddedEtcd starts etcd with its data under dir, listening on loopback
// ports chosen by the kernel: plain http, which checkEtcdServers accepts on
// loopback only (nothing off the machine can reach it). A restart on the same dir keeps the data: the
// member identity is stored there, the ports are not part of it.
func StartEmbeddedEtcd(ctx context.Context, dir string) (*EmbeddedEtcd, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("embedded etcd data dir: %w", err)
	}
	cfg := embed.NewConfig()
	cfg.Name = "gitops-reverser"
	cfg.Dir = filepath.Join(dir, "member-data")
	loopback := url.URL{Scheme: "http", Host: "127.0.0.1:0"}
	cfg.ListenClientUrls = []url.URL{loopback}
	cfg.AdvertiseClientUrls = []url.URL{loopback}
	cfg.ListenPeerUrls = []url.URL{loopback}
	cfg.AdvertisePeerUrls = []url.URL{loopback}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.ListenMetricsUrls = nil
	// etcd's own info logs would drown the server's; warnings and errors still show.
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.New(zapcore.NewCore(
		zapcore.NewConsoleEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(os.Stderr), zapcore.WarnLevel,
	)).Named("etcd"))
	// One member, so compaction here is ours to schedule: keep an hour of history.
	cfg.AutoCompactionMode = "periodic"
	cfg.AutoCompactionRetention = "1h"

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("starting embedded etcd in %s: %w", dir, err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("embedded etcd failed: %w", err)
	case <-time.After(60 * time.Second):
		e.Close()
		return nil, fmt.Errorf("embedded etcd in %s did not become ready within 60s", dir)
	case <-ctx.Done():
		e.Close()
		return nil, ctx.Err()
	}
	return &EmbeddedEtcd{etcd: e, ClientURL: "http://" + e.Clients[0].Addr().String()}, nil
}

// Close stops etcd.
func (e *EmbeddedEtcd) Close() {
	e.etcd.Close()
}
