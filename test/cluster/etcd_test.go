//go:build cluster

package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/configbutler/gitops-reverser/test/node"
)

const (
	etcdName      = release + "-etcd"
	etcdClientKey = release + "-etcd-client" // the server's client certificate
	probeKey      = "/registry/configbutler.ai/probe"
)

type probeBuild struct {
	ref, tarball string
	err          error
}

// buildProbeImage builds test/cluster/etcdprobe into an image the way
// hack/image.sh builds the pause image: a static binary, one layer, imported
// with ctr, never pulled.
func buildProbeImage(root, dir string) probeBuild {
	b := probeBuild{ref: "ghcr.io/configbutler/gitops-reverser-etcdprobe:test", tarball: filepath.Join(dir, "etcdprobe.tar")}
	bin := filepath.Join(dir, "etcdprobe")
	for _, args := range [][]string{
		{"build", "-trimpath", "-ldflags", "-s -w", "-o", bin, "./test/cluster/etcdprobe"},
		{"run", "./hack/image", "-binary", bin, "-path", "/etcdprobe", "-ref", b.ref, "-out", b.tarball},
	} {
		cmd := exec.Command("go", args...)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
			return b
		}
	}
	return b
}

// probeAttempt and probeResult are what etcdprobe prints (its Attempt and Result).
type probeAttempt struct {
	OK         bool    `json:"ok"`
	Status     int     `json:"status"`
	Body       string  `json:"body"`
	Error      string  `json:"error"`
	Handshake  bool    `json:"handshake"`
	TLSRefused bool    `json:"tlsRefused"`
	Detail     string  `json:"detail"`
	Timeout    bool    `json:"timeout"`
	Seconds    float64 `json:"seconds"`
}

type probeResult struct {
	PlainHTTPPut   probeAttempt `json:"plainHTTPPut"`
	PlainHTTPRange probeAttempt `json:"plainHTTPRange"`
	TLSNoCert      probeAttempt `json:"tlsNoCert"`
	ClientPut      probeAttempt `json:"clientPut"`
	ClientGet      probeAttempt `json:"clientGet"`
	PlainClientPut probeAttempt `json:"plainClientPut"`
	MetricsReadyz  probeAttempt `json:"metricsReadyz"`
	MetricsRange   probeAttempt `json:"metricsRange"`
}

// checkEtcdPrivate checks the issue "Hostile tenants": the bundled etcd
// serves clients only over mutual TLS, with certificates the chart made.
//
// What it proves: a pod in the release namespace, without the client
// certificate, gets etcd's TLS refusal: plain http and gRPC fail, a TLS
// connection completes its handshake and then gets the alert "certificate
// required" (not a timeout: the address is alive), and a Put and a Get with
// go.etcd.io/etcd/client/v3 fail; the health port answers /readyz and no
// key-value API. The server, meanwhile, works (the caller's checks), through
// https and its client certificate (its arguments, and a read here with that
// certificate of the objects it wrote, over the client Service's address as
// the server dials it, verifying etcd's certificate for that address).
//
// What it cannot prove: the NetworkPolicy dropping the probe. The node's
// bridge CNI does not enforce NetworkPolicy, so the probe reaches etcd and the
// refusal is TLS's; only the policy object and its selectors are checked.
func checkEtcdPrivate(t *testing.T, n *node.Node, probeRef string) {
	t.Helper()
	// The chart's wiring: https, the client certificate, certificates required.
	args := must(t, n, "get", "deployment", release, "-n", ns, "-o", "jsonpath={.spec.template.spec.containers[0].args}")
	for _, want := range []string{"--etcd-servers=https://", "--etcd-cafile=", "--etcd-certfile=", "--etcd-keyfile="} {
		if !strings.Contains(args, want) {
			t.Errorf("the server's arguments lack %s: %s", want, args)
		}
	}
	cmd := must(t, n, "get", "statefulset", etcdName, "-n", ns, "-o", "jsonpath={.spec.template.spec.containers[0].command}")
	for _, want := range []string{"--client-cert-auth", "--peer-client-cert-auth", "--listen-client-urls=https://", "--listen-peer-urls=https://"} {
		if !strings.Contains(cmd, want) {
			t.Errorf("etcd's command lacks %s: %s", want, cmd)
		}
	}
	if strings.Contains(cmd, "--listen-client-urls=http://") {
		t.Errorf("etcd serves clients over plain http: %s", cmd)
	}
	// The NetworkPolicy exists and selects what it should (not enforced here).
	pol := must(t, n, "get", "networkpolicy", etcdName, "-n", ns, "-o",
		`jsonpath={.spec.podSelector.matchLabels}|{.spec.ingress[0].from[0].podSelector.matchLabels}|{.spec.ingress[0].ports[0].port}|{.spec.ingress[1].from[0].podSelector.matchLabels}|{.spec.ingress[1].ports[0].port}`)
	if want := `{"app.kubernetes.io/name":"gitops-reverser-etcd"}|{"app.kubernetes.io/name":"gitops-reverser"}|2379|{"app.kubernetes.io/name":"gitops-reverser-etcd"}|2380`; pol != want {
		t.Errorf("NetworkPolicy %s: %s, want %s", etcdName, pol, want)
	}

	// The hostile tenant.
	ip := must(t, n, "get", "pod", etcdName+"-0", "-n", ns, "-o", "jsonpath={.status.podIP}")
	if ip == "" {
		t.Fatal("etcd has no pod IP")
	}
	pod := fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: etcdprobe
  namespace: %s
  labels: {app.kubernetes.io/name: etcdprobe}
spec:
  restartPolicy: Never
  automountServiceAccountToken: false
  securityContext:
    runAsNonRoot: true
    runAsUser: 65532
    runAsGroup: 65532
    seccompProfile: {type: RuntimeDefault}
  containers:
  - name: probe
    image: %s
    imagePullPolicy: Never
    args: ["-addr", "%s:2379", "-metrics", "%s:2381", "-timeout", "4s"]
    securityContext:
      allowPrivilegeEscalation: false
      readOnlyRootFilesystem: true
      capabilities: {drop: ["ALL"]}
`, ns, probeRef, ip, ip)
	if out, err := n.KubectlStdin([]byte(pod), "apply", "-f", "-"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	start := time.Now()
	eventually(t, 2*time.Minute, "the etcd probe pod done", func() error {
		phase, err := n.Kubectl("get", "pod", "etcdprobe", "-n", ns, "-o", "jsonpath={.status.phase}")
		if err != nil {
			return err
		}
		if phase != "Succeeded" && phase != "Failed" {
			return fmt.Errorf("phase %q", phase)
		}
		return nil
	})
	logs := must(t, n, "logs", "etcdprobe", "-n", ns)
	// The server's pods are counted by namespace later: the probe goes.
	must(t, n, "delete", "pod", "etcdprobe", "-n", ns, "--wait=true")
	progress(t, "etcd probe (%.1fs, etcd at %s):\n%s", time.Since(start).Seconds(), ip, logs)
	var r probeResult
	line := logs[strings.LastIndex(logs, "\n")+1:]
	if err := json.Unmarshal([]byte(line), &r); err != nil {
		t.Fatalf("the probe's output: %v\n%s", err, logs)
	}
	for name, a := range map[string]probeAttempt{
		"plain http put": r.PlainHTTPPut, "plain http range": r.PlainHTTPRange,
		"TLS without a client certificate":                   r.TLSNoCert,
		"clientv3 put over TLS without a client certificate": r.ClientPut,
		"clientv3 get over TLS without a client certificate": r.ClientGet,
		"clientv3 put over plain http":                       r.PlainClientPut,
		"the key-value API on the health port":               r.MetricsRange,
	} {
		if a.OK {
			t.Errorf("%s succeeded: %+v", name, a)
		}
	}
	// The refusal is TLS's, from a live etcd: the handshake completed, the
	// request got the alert, fast.
	if tn := r.TLSNoCert; !tn.Handshake || !tn.TLSRefused || tn.Timeout || !strings.Contains(tn.Error, "certificate") {
		t.Errorf("TLS without a client certificate: want a completed handshake then a TLS certificate alert, not a timeout: %+v", tn)
	}
	if !r.MetricsReadyz.OK || r.MetricsRange.Status != 404 {
		t.Errorf("the health port: /readyz %+v, /v3/kv/range %+v; want 200 and 404", r.MetricsReadyz, r.MetricsRange)
	}

	// With the server's client certificate (from its Secret), through the
	// client Service's address as the server dials it: etcd holds the
	// server's objects, and nothing the probe tried to plant.
	c := etcdClient(t, n)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	objs, err := c.Get(ctx, "/registry/configbutler.ai/", clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		t.Fatalf("reading etcd with the server's client certificate: %v", err)
	}
	planted, err := c.Get(ctx, probeKey)
	if err != nil {
		t.Fatal(err)
	}
	if objs.Count == 0 || planted.Count != 0 {
		t.Fatalf("etcd holds %d keys under /registry/configbutler.ai/ (want some) and %d probe keys (want 0)", objs.Count, planted.Count)
	}
	progress(t, "etcd over mutual TLS at https://%s:2379: %d keys under /registry/configbutler.ai/, none planted", etcdClientIP, objs.Count)
}

// etcdClient connects to the bundled etcd as the server does: the client
// Service's ClusterIP, the client Secret's certificate and CA.
func etcdClient(t *testing.T, n *node.Node) *clientv3.Client {
	t.Helper()
	var data map[string]string
	if err := json.Unmarshal([]byte(must(t, n, "get", "secret", etcdClientKey, "-n", ns, "-o", "jsonpath={.data}")), &data); err != nil {
		t.Fatal(err)
	}
	pem := map[string][]byte{}
	for _, k := range []string{"ca.crt", "tls.crt", "tls.key"} {
		b, err := base64.StdEncoding.DecodeString(data[k])
		if err != nil || len(b) == 0 {
			t.Fatalf("Secret %s: no %s (%v)", etcdClientKey, k, err)
		}
		pem[k] = b
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem["ca.crt"]) {
		t.Fatal("ca.crt holds no certificate")
	}
	pair, err := tls.X509KeyPair(pem["tls.crt"], pem["tls.key"])
	if err != nil {
		t.Fatal(err)
	}
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{"https://" + etcdClientIP + ":2379"},
		TLS:         &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{pair}},
		DialTimeout: 10 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// checkUpgradeKeepsEtcdCerts runs helm upgrade with the same values: the
// chart finds its etcd certificates in the cluster and keeps them, so the
// Secrets, the pods' checksum annotations and the etcd pods stay as they are
// (an upgrade never rotates by accident; etcd.bundled.tls.rotation does).
// The server's pods roll when the new chart changed their template (93cdb6a
// added an environment variable), never for the certificates: their
// checksum annotation is in state.
func checkUpgradeKeepsEtcdCerts(t *testing.T, root string, n *node.Node, during func()) {
	t.Helper()
	state := func() string {
		return must(t, n, "get", "secret/"+etcdName+"-tls", "secret/"+etcdClientKey, "statefulset/"+etcdName, "deployment/"+release, "-n", ns, "-o",
			`jsonpath={range .items[*]}{.metadata.name} {.data.tls\.crt} {.spec.template.metadata.annotations}{"\n"}{end}`)
	}
	// The etcd pods not being deleted (the one the test deleted may linger).
	pods := func() string {
		var etcd []string
		for _, p := range livePods(t, n) {
			if strings.HasPrefix(p, etcdName+"-") {
				etcd = append(etcd, p)
			}
		}
		return strings.Join(etcd, ", ")
	}
	before, podsBefore := state(), pods()
	// Two Secrets with a certificate (base64 "-----" is "LS0t"), two pod
	// templates with the checksum.
	if strings.Count(before, " LS0t") != 2 || strings.Count(before, "checksum/etcd-tls") != 2 {
		t.Fatalf("the etcd Secrets and the pods' checksum annotations:\n%s", before)
	}
	start := time.Now()
	// --reuse-values, as users upgrade: values the new chart added are
	// absent from the reused ones, and its templates must bear that.
	// Changes keep being made while helm upgrades (during).
	upgraded := make(chan struct{})
	go func() {
		defer close(upgraded)
		during()
	}()
	helm(t, root, n, "upgrade", release, filepath.Join(root, "charts", "gitops-reverser"), "-n", ns, "--reuse-values", "--wait", "--timeout=2m")
	<-upgraded
	if after := state(); after != before {
		t.Fatalf("helm upgrade changed the etcd certificates:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if after := pods(); after != podsBefore {
		t.Errorf("helm upgrade restarted etcd pods: %s, then %s", podsBefore, after)
	}
	progress(t, "helm upgrade (%.1fs) kept the etcd certificates and the etcd pods", time.Since(start).Seconds())
}
