package node

import "fmt"

// containerdConfig is containerd's CRI setup for this machine (docs/testing.md,
// "The one-node cluster"): its own root, state and socket, so it never meets a system
// containerd; runc with cgroupfs (cgroup v1, no systemd); restrict_oom_score_adj
// because the machine lacks CAP_SYS_RESOURCE (runc otherwise fails with "can't
// get final child's PID from pipe"); the sandbox image we build and import, as
// no registry is reachable; CNI from Debian's containernetworking-plugins.
func (n *Node) containerdConfig() string {
	return fmt.Sprintf(`version = 2
root = %[1]q
state = %[2]q
[grpc]
  address = %[3]q
[ttrpc]
  address = %[4]q
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %[5]q
  restrict_oom_score_adj = true
  disable_apparmor = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %[6]q
    conf_dir = %[7]q
[plugins."io.containerd.internal.v1.opt"]
  path = %[8]q
`, n.path("containerd/root"), n.path("containerd/state"), n.containerdSock, n.containerdSock+".ttrpc",
		PauseImage, n.opts.CNIBinDir, n.path("cni/net.d"), n.path("containerd/opt"))
}

// cniConfig is one bridge with host-local addresses: pods reach each other, the
// host and (through kube-proxy's rules) Services. hairpinMode lets a pod reach
// itself through its own Service.
func (n *Node) cniConfig() string {
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

// kubeletConfig: cgroupfs and cgroup v1 accepted, swap tolerated, webhook
// authentication and authorization through kube-apiserver, no cluster DNS
// (none runs here; pods get the host's resolver), eviction thresholds that a
// test machine's disk does not trip.
func (n *Node) kubeletConfig() string {
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
`, n.containerdSock, n.opts.HostIP, n.Ports.Kubelet, n.Ports.KubeletHealthz,
		n.pki("kubelet-serving.crt"), n.pki("kubelet-serving.key"), n.pki("kube-ca.crt"))
}

// kubeProxyConfig: iptables mode, the pod range for masquerading, and no
// conntrack sysctl changes (the defaults do here).
func (n *Node) kubeProxyConfig() string {
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
