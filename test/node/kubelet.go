package node

import (
	"context"
	"fmt"
	"os"
	"time"
)

// kubelet runs the node's kubelet on containerd's socket, registering the
// node; it is up when the node is Ready.
type kubelet struct {
	n *Node
}

// start runs the kubelet and returns once the node is Ready.
func (k *kubelet) start(ctx context.Context) error {
	n := k.n
	if err := os.WriteFile(n.path("kubelet.yaml"), []byte(k.config()), 0o644); err != nil {
		return err
	}
	return n.start(ctx, "kubelet", []string{
		"--config=" + n.path("kubelet.yaml"),
		"--kubeconfig=" + n.path("kubelet.kubeconfig"),
		"--root-dir=" + n.path("kubelet"),
		"--cert-dir=" + n.path("kubelet-certs"),
		"--hostname-override=" + NodeName,
		"--node-ip=" + n.opts.HostIP,
	}, 120*time.Second, func() error {
		out, err := n.Kubectl("get", "node", NodeName, "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}`)
		if err != nil {
			return err
		}
		if out != "True" {
			return fmt.Errorf("node Ready=%q", out)
		}
		return nil
	})
}

// kubeletConfig: cgroupfs and cgroup v1 accepted, swap tolerated, webhook
// authentication and authorization through kube-apiserver, no cluster DNS
// (none runs here; pods get the host's resolver), eviction thresholds that a
// test machine's disk does not trip.
func (k *kubelet) config() string {
	n := k.n
	return fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: cgroupfs
failSwapOn: false
failCgroupV1: false
containerRuntimeEndpoint: unix://%[1]s
address: %[2]s
port: %[3]d
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: %[4]d
tlsCertFile: %[5]s
tlsPrivateKeyFile: %[6]s
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: %[7]s
authorization:
  mode: Webhook
clusterDomain: cluster.local
resolvConf: /etc/resolv.conf
evictionHard:
  memory.available: 100Mi
  nodefs.available: 1%%
  imagefs.available: 1%%
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
registerNode: true
maxPods: 50
`, n.containerd.sock, n.opts.HostIP, n.Ports.Kubelet, n.Ports.KubeletHealthz,
		n.pki("kubelet-serving.crt"), n.pki("kubelet-serving.key"), n.pki("kube-ca.crt"))
}
