// Package replicas tests scale-out: three gitops-reverser-apiserver replicas on
// one etcd (a separate process), branch workers owned through etcd leases,
// takeover after kill -9, fencing under an etcd partition, and Ready agreeing on
// every replica. The APIService points at replica r1; the test reaches every
// replica directly.
package replicas

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/configbutler/gitops-reverser/test/stack"
)

const ttl = 8 * time.Second

var (
	st       *stack.Stack
	kube     kubernetes.Interface
	replicas = map[string]*stack.Replica{}
	proxy    *etcdProxy
	root     string
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	root, _ = filepath.Abs("../..")
	dir, err := os.MkdirTemp("", "gitops-reverser-replicas-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	leaseFlag := "--lease-ttl=" + ttl.String()
	st, err = stack.Start(ctx, stack.Options{Dir: dir, RepoRoot: root, FastEtcd: true, Progress: os.Stderr,
		ServerArgs: []string{"--replica-name=r1", leaseFlag}})
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting the stack:", err)
		return 1
	}
	defer st.Stop()
	replicas["r1"] = &stack.Replica{Name: "r1", Process: st.Server, URL: st.ServerURL, Kubeconfig: st.DirectKubeconfig}
	if proxy, err = newEtcdProxy(strings.TrimPrefix(st.EtcdURL, "http://")); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer proxy.Close()
	for name, etcd := range map[string]string{"r2": "", "r3": "http://" + proxy.Addr()} {
		r, err := st.StartReplica(ctx, name, etcd, leaseFlag)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer r.Process.Stop(15 * time.Second)
		replicas[name] = r
	}
	if err := st.WaitAPIServiceAvailable(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", st.AdminKubeconfig)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cfg.QPS, cfg.Burst = 200, 400
	kube = kubernetes.NewForConfigOrDie(cfg)
	code := m.Run()
	if code != 0 {
		for name, r := range replicas {
			fmt.Fprintf(os.Stderr, "--- replica %s log tail ---\n%s\n", name, r.Process.TailLog(3000))
		}
	}
	return code
}
