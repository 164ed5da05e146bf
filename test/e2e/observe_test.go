package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/configbutler/gitops-reverser/pkg/idlememory"
)

// scrape reads our server's /metrics directly, as the user of kubeconfig
// (whose certificate is used against our server's address), and returns the
// families, or the HTTP status when it is not 200.
func scrape(t *testing.T, userKubeconfig string) (map[string]*dto.MetricFamily, int) {
	t.Helper()
	direct, err := clientcmd.BuildConfigFromFlags("", st.DirectKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	user, err := clientcmd.BuildConfigFromFlags("", userKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	direct.TLSClientConfig.CertData, direct.TLSClientConfig.KeyData = user.TLSClientConfig.CertData, user.TLSClientConfig.KeyData
	hc, err := rest.HTTPClientFor(direct)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Get(direct.Host + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, resp.StatusCode
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fams, http.StatusOK
}

// value is a counter's or gauge's value, or a histogram's count, for the
// series with the given labels (summed over the rest).
func value(fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	f := fams[name]
	if f == nil {
		return 0
	}
	sum := 0.0
	for _, m := range f.GetMetric() {
		ok := true
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, l := range m.GetLabel() {
				if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
					found = true
				}
			}
			ok = ok && found
		}
		if !ok {
			continue
		}
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		}
	}
	return sum
}

// TestMetrics: after a snapshot and live changes, /metrics holds our series
// with the counts they caused; a user without RBAC on /metrics gets 403.
func TestMetrics(t *testing.T) {
	before, code := scrape(t, st.AdminKubeconfig)
	if code != http.StatusOK {
		t.Fatalf("admin reading /metrics: %d", code)
	}
	m := newMirror(t, "metrics", false, "")
	eventually(t, 30*time.Second, "the snapshot counted", func() error {
		now, _ := scrape(t, st.AdminKubeconfig)
		if d := value(now, "gitopsreverser_snapshots_total", "result", "ok") - value(before, "gitopsreverser_snapshots_total", "result", "ok"); d != 1 {
			return fmt.Errorf("%v snapshots counted", d)
		}
		return nil
	})
	afterSnapshot, _ := scrape(t, st.AdminKubeconfig)
	for _, name := range []string{"a", "b", "c"} {
		kubectl(t, "create", "configmap", name, "-n", m.ns, "--from-literal=k=v")
	}
	eventually(t, 30*time.Second, "three live changes pushed", func() error {
		for _, name := range []string{"a", "b", "c"} {
			if m.show(t, m.file("configmaps", name)) == "" {
				return fmt.Errorf("%s not in Git", name)
			}
		}
		return nil
	})
	now, _ := scrape(t, st.AdminKubeconfig)
	delta := func(name string, labels ...string) float64 {
		return value(now, name, labels...) - value(afterSnapshot, name, labels...)
	}
	if d := value(afterSnapshot, "gitopsreverser_snapshot_duration_seconds") - value(before, "gitopsreverser_snapshot_duration_seconds"); d != 1 {
		t.Errorf("snapshot durations observed: %v, want 1", d)
	}
	if d := value(afterSnapshot, "gitopsreverser_commits_total", "kind", "bootstrap") - value(before, "gitopsreverser_commits_total", "kind", "bootstrap"); d != 1 {
		t.Errorf("bootstrap commits: %v, want 1", d)
	}
	if d := delta("gitopsreverser_change_to_pushed_seconds"); d != 3 {
		t.Errorf("change -> pushed latencies observed: %v, want 3", d)
	}
	if d := delta("gitopsreverser_commits_total", "kind", "live"); d < 1 || d > 3 {
		t.Errorf("live commits: %v, want 1 to 3", d)
	}
	if d := delta("gitopsreverser_pushes_total", "result", "ok"); d < 1 {
		t.Errorf("pushes: %v", d)
	}
	if v := value(now, "gitopsreverser_targets", "gate", "Ready", "status", "True", "reason", "OK"); v < 1 {
		t.Errorf("Ready targets: %v", v)
	}
	if value(now, "gitopsreverser_branch_workers") < 1 || now["gitopsreverser_pending_changes"] == nil || now["gitopsreverser_oldest_pending_change_seconds"] == nil {
		t.Error("worker gauges missing")
	}
	if _, code := scrape(t, st.ReaderKubeconfig); code != http.StatusForbidden {
		t.Errorf("a user without RBAC on /metrics got %d, want 403", code)
	}
}

// TestServerGCPercent: with GOGC unset the server runs its collector at
// idlememory.DefaultGCPercent (the chart's goGC "" relies on it); a GOGC in
// the environment, which the stack's server inherits, is Go's to apply.
func TestServerGCPercent(t *testing.T) {
	fams, code := scrape(t, st.AdminKubeconfig)
	if code != http.StatusOK {
		t.Fatalf("admin reading /metrics: %d", code)
	}
	if fams["go_gc_gogc_percent"] == nil {
		t.Fatal("go_gc_gogc_percent not served")
	}
	env, set := os.LookupEnv("GOGC")
	percent, apply := idlememory.GCPercent(env, set)
	if !apply {
		n, err := strconv.Atoi(env)
		if err != nil {
			t.Fatalf("GOGC=%q in the tests' environment", env)
		}
		percent = n
	}
	want := float64(percent)
	if got := value(fams, "go_gc_gogc_percent"); got != want {
		t.Errorf("the server's GOGC is %v, want %v", got, want)
	}
}

// cutProxy forwards TCP to a backend and can be cut (every connection
// closed, new ones refused) and restored on the same port.
type cutProxy struct {
	addr, backend string
	mu            sync.Mutex
	l             net.Listener
	conns         map[net.Conn]bool
}

func newCutProxy(t *testing.T, backend string) *cutProxy {
	p := &cutProxy{backend: backend, conns: map[net.Conn]bool{}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = l.Addr().String()
	p.serve(l)
	t.Cleanup(p.cut)
	return p
}

func (p *cutProxy) serve(l net.Listener) {
	p.mu.Lock()
	p.l = l
	p.mu.Unlock()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			b, err := net.Dial("tcp", p.backend)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns[c], p.conns[b] = true, true
			p.mu.Unlock()
			go func() { io.Copy(b, c); b.Close() }()
			go func() { io.Copy(c, b); c.Close() }()
		}
	}()
}

func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.l != nil {
		p.l.Close()
		p.l = nil
	}
	for c := range p.conns {
		c.Close()
	}
	p.conns = map[net.Conn]bool{}
}

func (p *cutProxy) restore(t *testing.T) {
	var l net.Listener
	var err error
	for i := 0; i < 50; i++ {
		if l, err = net.Listen("tcp", p.addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	p.serve(l)
}

// TestRemoteCutTellsTheTruth: with the Git remote cut (a proxy in front of
// the git server, stopped) during live creates, updates and deletes, the
// target turns Ready=False with EventStreamLive=False/Disconnected within the
// grace, the status showing what waits and why; once the proxy is back the
// backlog is pushed, the target is Ready again and Git equals the cluster.
func TestRemoteCutTellsTheTruth(t *testing.T) {
	ns := newNamespace(t, "cut")
	newRepo(t, ns)
	backend := strings.TrimPrefix(st.Git.BaseURL(), "http://")
	proxy := newCutProxy(t, backend)
	url := "http://" + proxy.addr + "/" + ns + ".git"
	apply(t, credentials(ns)+fmt.Sprintf(`---
apiVersion: v1
kind: ConfigMap
metadata: {name: keep, namespace: %[1]s}
data: {v: "1"}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: doomed, namespace: %[1]s}
data: {v: "1"}
---
apiVersion: configbutler.ai/v1alpha1
kind: GitProvider
metadata: {name: origin, namespace: %[1]s}
spec: {url: %[2]q, secretRef: {name: git-credentials}, allowedBranches: [main], push: {interval: 1s}}
---
apiVersion: configbutler.ai/v1alpha1
kind: GitTarget
metadata: {name: mirror, namespace: %[1]s}
spec: {providerRef: {name: origin}, branch: main, path: cut}
---
apiVersion: configbutler.ai/v1alpha1
kind: WatchRule
metadata: {name: config, namespace: %[1]s}
spec: {targetRef: {name: mirror}, rules: [{apiGroups: [""], resources: [configmaps]}]}
`, ns, url))
	m := &mirror{ns: ns, repo: ns, path: "cut"}
	m.waitReady(t)

	proxy.cut()
	cutAt := time.Now()
	kubectl(t, "create", "configmap", "born", "-n", ns, "--from-literal=v=1")
	kubectl(t, "patch", "configmap", "keep", "-n", ns, "-p", `{"data":{"v":"2"}}`)
	kubectl(t, "delete", "configmap", "doomed", "-n", ns)
	// The grace is three push intervals, at least 10 s.
	eventually(t, 30*time.Second, "Ready=False, EventStreamLive=False/Disconnected", func() error {
		tg, cs := targetConditions(t, ns, "mirror")
		var stream, ready condView
		for _, c := range cs {
			switch c.Type {
			case "EventStreamLive":
				stream = c
			case "Ready":
				ready = c
			}
		}
		if stream.Status != "False" || stream.Reason != "Disconnected" || !strings.Contains(stream.Message, "change(s) waiting") ||
			ready.Status != "False" || ready.Reason != "StreamNotLive" {
			return fmt.Errorf("stream %+v ready %+v", stream, ready)
		}
		if s := tg.Status.Stream; s == nil || s.PendingChanges < 1 || s.LastPushError == "" || s.PushFailingSince == nil {
			return fmt.Errorf("stream status %+v", tg.Status.Stream)
		}
		return nil
	})
	t.Logf("Disconnected %.1fs after the remote was cut", time.Since(cutAt).Seconds())
	kubectl(t, "create", "configmap", "late", "-n", ns, "--from-literal=v=1") // while cut

	proxy.restore(t)
	out, err := st.Kubectl("wait", "--for=condition=Ready", "gittarget/mirror", "-n", ns, "--timeout=120s")
	if err != nil {
		_, cs := targetConditions(t, ns, "mirror")
		t.Fatalf("not Ready after the remote came back: %v %s %+v", err, out, cs)
	}
	tg, _ := targetConditions(t, ns, "mirror")
	if s := tg.Status.Stream; s == nil || s.PendingChanges != 0 || s.LastPushError != "" || s.PushFailingSince != nil {
		t.Errorf("stream status after the backlog: %+v", tg.Status.Stream)
	}
	// Git equals the cluster.
	eventually(t, 30*time.Second, "Git equals the cluster", func() error {
		cms, err := kube.CoreV1().ConfigMaps(ns).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return err
		}
		var want []string
		for _, c := range cms.Items {
			if c.Name != "kube-root-ca.crt" {
				want = append(want, m.file("configmaps", c.Name))
			}
		}
		sort.Strings(want)
		dir := clone(t, ns)
		var got []string
		filepath.Walk(filepath.Join(dir, "cut"), func(p string, info os.FileInfo, err error) error {
			if err == nil && !info.IsDir() && strings.HasSuffix(p, ".yaml") && !strings.HasSuffix(p, ".sops.yaml") {
				rel, _ := filepath.Rel(dir, p)
				got = append(got, rel)
			}
			return nil
		})
		sort.Strings(got)
		if strings.Join(got, ",") != strings.Join(want, ",") {
			return fmt.Errorf("Git %v, cluster %v", got, want)
		}
		if b, _ := os.ReadFile(filepath.Join(dir, m.file("configmaps", "keep"))); !strings.Contains(string(b), `v: "2"`) {
			return fmt.Errorf("keep in Git:\n%s", b)
		}
		return nil
	})
}

// TestServiceMonitorMatchesTheService: the ServiceMonitor scrapes the
// Service's named port, and the role it binds exists in the deploy RBAC.
func TestServiceMonitorMatchesTheService(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "artifacts", "monitoring", "servicemonitor.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	svc, _ := os.ReadFile(filepath.Join(root, "artifacts", "deploy", "05-service.yaml"))
	rbac, _ := os.ReadFile(filepath.Join(root, "artifacts", "deploy", "02-rbac.yaml"))
	for _, want := range []string{"kind: ServiceMonitor", "port: https", "path: /metrics", "name: gitops-reverser:metrics-reader"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("servicemonitor.yaml lacks %q", want)
		}
	}
	if !strings.Contains(string(svc), "name: https") || !strings.Contains(string(rbac), "name: gitops-reverser:metrics-reader") ||
		!strings.Contains(string(rbac), `nonResourceURLs: ["/metrics"]`) {
		t.Error("the Service's port or the metrics-reader role is missing")
	}
	// The role works: a user bound to it reads /metrics.
	apply(t, `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: reader-metrics}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: gitops-reverser:metrics-reader}
subjects: [{kind: User, apiGroup: rbac.authorization.k8s.io, name: reader}]
`)
	t.Cleanup(func() { st.Kubectl("delete", "clusterrolebinding", "reader-metrics") })
	eventually(t, 30*time.Second, "reader bound to metrics-reader reads /metrics", func() error {
		if _, code := scrape(t, st.ReaderKubeconfig); code != http.StatusOK {
			return fmt.Errorf("%d", code)
		}
		return nil
	})
}

// TestMonitoredMetricsAreServed: every metric the shipped alerts and
// dashboard name (charts/gitops-reverser/files) is served by /metrics, with
// a target mirroring (an alert on a series nobody exports never fires).
func TestMonitoredMetricsAreServed(t *testing.T) {
	newMirror(t, "monitored", false, "")
	fams, code := scrape(t, st.AdminKubeconfig)
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	named := map[string]bool{}
	for _, f := range []string{"prometheus-rules.yaml", "dashboard.json"} {
		b, err := os.ReadFile(filepath.Join(root, "charts", "gitops-reverser", "files", f))
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range regexp.MustCompile(`gitopsreverser_[a-z_]+`).FindAllString(string(b), -1) {
			named[n] = true
		}
	}
	if len(named) < 10 {
		t.Fatalf("the alerts and dashboard name %d metrics", len(named))
	}
	for n := range named {
		base := n
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if f, ok := fams[strings.TrimSuffix(n, suffix)]; ok && strings.HasSuffix(n, suffix) && f.GetType() == dto.MetricType_HISTOGRAM {
				base = strings.TrimSuffix(n, suffix)
			}
		}
		if f, ok := fams[base]; !ok || len(f.GetMetric()) == 0 {
			t.Errorf("%s is named by the alerts or the dashboard but not served", n)
		}
	}
}
