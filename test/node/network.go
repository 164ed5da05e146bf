package node

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/configbutler/gitops-reverser/test/stack"
)

// network is how pods and Services reach each other: the sysctls that route
// and filter bridged traffic, the bridge CNI (one bridge, host-local
// addresses), and kube-proxy's iptables rules; remove takes them away again.
type network struct {
	n *Node
}

// sysctls: pods' traffic is routed through the host, and bridged traffic
// passes iptables so kube-proxy's Service rules apply between pods too.
func (w *network) sysctls(context.Context) error {
	if _, err := os.Stat("/proc/sys/net/bridge"); err != nil {
		if out, err := exec.Command("modprobe", "br_netfilter").CombinedOutput(); err != nil {
			return fmt.Errorf("bridged traffic must pass iptables: modprobe br_netfilter: %v %s", err, bytes.TrimSpace(out))
		}
	}
	for k, v := range map[string]string{"net/ipv4/ip_forward": "1", "net/bridge/bridge-nf-call-iptables": "1"} {
		if err := os.WriteFile("/proc/sys/"+k, []byte(v), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// cniConfig is one bridge with host-local addresses: pods reach each other, the
// host and (through kube-proxy's rules) Services. hairpinMode lets a pod reach
// itself through its own Service.
func (w *network) cniConfig() string {
	n := w.n
	return fmt.Sprintf(`{
  "cniVersion": "0.4.0",
  "name": "gitops-reverser-node",
  "plugins": [
    {
      "type": "bridge",
      "bridge": %[1]q,
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": %[2]q,
        "ranges": [[{"subnet": %[3]q}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
`, Bridge, n.path("cni/ipam"), PodCIDR)
}

// startKubeProxy runs kube-proxy in iptables mode; it is up when its health
// endpoint answers.
func (w *network) startKubeProxy(ctx context.Context) error {
	n := w.n
	if err := os.WriteFile(n.path("kube-proxy.yaml"), []byte(w.kubeProxyConfig()), 0o644); err != nil {
		return err
	}
	return n.start(ctx, "kube-proxy", []string{"--config=" + n.path("kube-proxy.yaml")}, 60*time.Second, func() error {
		return stack.HTTPGetOK("http://127.0.0.1:"+strconv.Itoa(n.Ports.ProxyHealthz)+"/healthz", nil)
	})
}

// kubeProxyConfig: iptables mode, the pod range for masquerading, and no
// conntrack sysctl changes (the defaults do here).
func (w *network) kubeProxyConfig() string {
	n := w.n
	return fmt.Sprintf(`apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: %[1]s
mode: iptables
hostnameOverride: %[2]s
clusterCIDR: %[3]s
bindAddress: %[4]s
healthzBindAddress: 127.0.0.1:%[5]d
metricsBindAddress: 127.0.0.1:%[6]d
conntrack:
  maxPerCore: 0
`, n.path("kube-proxy.kubeconfig"), NodeName, PodCIDR, n.opts.HostIP, n.Ports.ProxyHealthz, n.Ports.ProxyMetrics)
}

// remove deletes what the network left on the machine: the bridge, and the
// iptables chains of kube-proxy, the kubelet and the CNI plugins.
func (w *network) remove() {
	n := w.n
	if _, err := os.Stat("/sys/class/net/" + Bridge); err == nil {
		_ = exec.Command("ip", "link", "delete", Bridge).Run()
	}
	if _, err := os.Stat(n.bin("kube-proxy")); err == nil && n.opts.Dir != "" {
		_ = exec.Command(n.bin("kube-proxy"), "--cleanup").Run()
	}
	removeChains()
}

// removeChains deletes the KUBE-* and CNI-* chains (and the jumps to them) the
// node's kubelet, kube-proxy and CNI plugins added to every table.
func removeChains() {
	ours := func(chain string) bool { return strings.HasPrefix(chain, "KUBE-") || strings.HasPrefix(chain, "CNI-") }
	for _, table := range []string{"nat", "filter", "mangle"} {
		out, err := exec.Command("iptables", "-t", table, "-S").Output()
		if err != nil {
			continue
		}
		var chains, builtins []string
		for _, line := range strings.Split(string(out), "\n") {
			f := strings.Fields(line)
			switch {
			case len(f) >= 2 && f[0] == "-N" && ours(f[1]):
				chains = append(chains, f[1])
			case len(f) >= 2 && f[0] == "-P":
				builtins = append(builtins, f[1])
			}
		}
		// Jumps from the built-in chains, by rule number, last first (rule
		// specs carry quoted comments; numbers need no parsing of those).
		for _, b := range builtins {
			list, err := exec.Command("iptables", "-t", table, "-L", b, "-n", "--line-numbers").Output()
			if err != nil {
				continue
			}
			var nums []string
			for _, line := range strings.Split(string(list), "\n") {
				if f := strings.Fields(line); len(f) >= 2 && ours(f[1]) {
					nums = append(nums, f[0])
				}
			}
			for i := len(nums) - 1; i >= 0; i-- {
				_ = exec.Command("iptables", "-t", table, "-D", b, nums[i]).Run()
			}
		}
		for _, c := range chains {
			_ = exec.Command("iptables", "-t", table, "-F", c).Run()
		}
		for _, c := range chains {
			_ = exec.Command("iptables", "-t", table, "-X", c).Run()
		}
	}
}
