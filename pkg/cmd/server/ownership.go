package server

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"k8s.io/apimachinery/pkg/util/rand"

	"github.com/configbutler/gitops-reverser/pkg/ownership"
)

// defaultReplicaName is the pod name in a cluster (HOSTNAME), else host-random.
func defaultReplicaName() string {
	if h := os.Getenv("POD_NAME"); h != "" {
		return h
	}
	h, err := os.Hostname()
	if err != nil {
		h = "replica"
	}
	return h + "-" + rand.String(5)
}

// newOwnership connects to the storage etcd and returns this replica's
// ownership manager (started by the caller).
func (o *Options) newOwnership() (*ownership.Manager, *clientv3.Client, error) {
	t := o.RecommendedOptions.Etcd.StorageConfig.Transport
	var tlsConfig *tls.Config
	if t.CertFile != "" || t.KeyFile != "" || t.TrustedCAFile != "" {
		info := transport.TLSInfo{CertFile: t.CertFile, KeyFile: t.KeyFile, TrustedCAFile: t.TrustedCAFile}
		var err error
		if tlsConfig, err = info.ClientConfig(); err != nil {
			return nil, nil, fmt.Errorf("etcd TLS for ownership: %w", err)
		}
	}
	client, err := clientv3.New(clientv3.Config{
		Endpoints:   t.ServerList,
		TLS:         tlsConfig,
		DialTimeout: 10 * time.Second,
		Context:     context.Background(),
	})
	if err != nil {
		return nil, nil, fmt.Errorf("etcd client for ownership: %w", err)
	}
	return ownership.New(client, o.ReplicaName, o.LeaseTTL), client, nil
}
