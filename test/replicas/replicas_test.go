// Package replicas tests scale-out: three gitops-reverser-apiserver replicas on
// one etcd (a separate process), branch workers owned through etcd leases,
// takeover after kill -9, fencing under an etcd partition, and Ready agreeing on
// every replica. The APIService points at replica r1; the test reaches every
// replica directly.
package replicas

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/configbutler/gitops-reverser/pkg/ownership"
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

// etcdProxy forwards TCP to etcd until Cut, which drops every connection and
// refuses new ones (a network partition of the replica behind it).
type etcdProxy struct {
	l      net.Listener
	target string
	mu     sync.Mutex
	cut    bool
	conns  []net.Conn
}

func newEtcdProxy(target string) (*etcdProxy, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &etcdProxy{l: l, target: target}
	go p.serve()
	return p, nil
}

func (p *etcdProxy) Addr() string { return p.l.Addr().String() }
func (p *etcdProxy) Close()       { p.l.Close(); p.Cut() }

func (p *etcdProxy) serve() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.cut {
			p.mu.Unlock()
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		go func() { _, _ = io.Copy(up, c); up.Close() }()
		go func() { _, _ = io.Copy(c, up); c.Close() }()
	}
}

// Cut partitions the replica behind the proxy from etcd.
func (p *etcdProxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// Heal lets it reconnect.
func (p *etcdProxy) Heal() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = false
}

func kubectl(t *testing.T, kubeconfig string, args ...string) (string, error) {
	t.Helper()
	return st.KubectlAs(kubeconfig, args...)
}

// targetView is what a replica serves about a target.
type targetView struct {
	Ready, Owner, Lease string
}

func readTarget(kubeconfig, ns string) (targetView, error) {
	out, err := st.KubectlAs(kubeconfig, "get", "gittarget", "mirror", "-n", ns, "-o",
		`jsonpath={.status.conditions[?(@.type=="Ready")].status}/{.status.conditions[?(@.type=="Ready")].reason} {.status.workerRef.replica} {.status.workerRef.lease}`)
	if err != nil {
		return targetView{}, fmt.Errorf("%v: %s", err, out)
	}
	f := strings.Fields(out)
	for len(f) < 3 {
		f = append(f, "")
	}
	return targetView{f[0], f[1], f[2]}, nil
}

func eventually(t *testing.T, timeout time.Duration, what string, cond func() error) time.Duration {
	t.Helper()
	start := time.Now()
	var err error
	for time.Since(start) < timeout {
		if err = cond(); err == nil {
			return time.Since(start)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s: not within %s: %v", what, timeout, err)
	return 0
}

// setup creates a repository, a target on it and a WatchRule for ConfigMaps, in
// a namespace whose branch key the given replica is the preferred owner of
// among all three (rendezvous hashing), and waits until it is Ready.
func setup(t *testing.T, prefix, preferred string) (ns, repo string) {
	t.Helper()
	for i := 0; ; i++ {
		ns = fmt.Sprintf("%s-%d", prefix, i)
		key := fmt.Sprintf("127.0.0.1:%d/%s#main", st.Ports.Git, ns)
		if ownership.PreferredOf([]string{"r1", "r2", "r3"}, key) == preferred {
			break
		}
	}
	repo = ns
	dir, err := st.Git.CreateBareRepo(repo)
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range [][2]string{{"receive.denyNonFastForwards", "true"}, {"core.logAllRefUpdates", "always"}} {
		if out, err := exec.Command("git", "-C", dir, "config", kv[0], kv[1]).CombinedOutput(); err != nil {
			t.Fatalf("%v %s", err, out)
		}
	}
	manifest := fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata: {name: %[1]s}
---
apiVersion: v1
kind: Secret
metadata: {name: git-credentials, namespace: %[1]s}
stringData: {username: %[2]s, password: %[3]s}
---
apiVersion: configbutler.ai/v1alpha1
kind: GitProvider
metadata: {name: origin, namespace: %[1]s}
spec: {url: %[4]q, secretRef: {name: git-credentials}, allowedBranches: ["main"], push: {interval: 1s}}
---
apiVersion: configbutler.ai/v1alpha1
kind: GitTarget
metadata: {name: mirror, namespace: %[1]s}
spec: {providerRef: {name: origin}, branch: main, path: live}
---
apiVersion: configbutler.ai/v1alpha1
kind: WatchRule
metadata: {name: config, namespace: %[1]s}
spec:
  targetRef: {name: mirror}
  rules: [{apiGroups: [""], resources: ["configmaps"]}]
`, ns, stack.GitUser, st.GitPassword, st.Git.URL(repo))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := st.Apply(ctx, []byte(manifest)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 90*time.Second, "target Ready", func() error {
		v, err := readTarget(replicas[preferred].Kubeconfig, ns)
		if err != nil || v.Ready != "True/OK" {
			return fmt.Errorf("%+v %v", v, err)
		}
		return nil
	})
	return ns, repo
}

// streamer keeps updating ConfigMaps cm-0..cm-(n-1) and remembers the last
// value written to each.
type streamer struct {
	ns    string
	n     int
	stop  chan struct{}
	done  chan struct{}
	mu    sync.Mutex
	last  map[string]string
	count atomic.Int64
}

func startStreamer(t *testing.T, ns string, n int) *streamer {
	s := &streamer{ns: ns, n: n, stop: make(chan struct{}), done: make(chan struct{}), last: map[string]string{}}
	ctx := context.Background()
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("cm-%d", i)
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Data: map[string]string{"v": "0"}}
		if _, err := kube.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		s.last[name] = "0"
	}
	go func() {
		defer close(s.done)
		for i := 1; ; i++ {
			select {
			case <-s.stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			name := fmt.Sprintf("cm-%d", i%n)
			v := fmt.Sprint(i)
			patch := fmt.Sprintf(`{"data":{"v":%q}}`, v)
			if _, err := kube.CoreV1().ConfigMaps(ns).Patch(ctx, name, "application/merge-patch+json", []byte(patch), metav1.PatchOptions{}); err == nil {
				s.mu.Lock()
				s.last[name] = v
				s.mu.Unlock()
				s.count.Add(1)
			}
		}
	}()
	return s
}

func (s *streamer) Stop() map[string]string {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]string{}
	for k, v := range s.last {
		out[k] = v
	}
	return out
}

// verifyGit checks the final state of every ConfigMap in the remote, a linear
// history without force pushes, and that writers never interleave: the
// Replica trailers, oldest first, switch owners at most `switches` times.
func verifyGit(t *testing.T, repo, ns string, final map[string]string, switches int) []string {
	t.Helper()
	gitDir := st.Git.RepoPath(repo)
	eventually(t, 60*time.Second, "final state in git", func() error {
		for name, v := range final {
			out, err := exec.Command("git", "--git-dir", gitDir, "show", fmt.Sprintf("main:live/v1/configmaps/%s/%s.yaml", ns, name)).CombinedOutput()
			if err != nil || !strings.Contains(string(out), fmt.Sprintf("v: %q", v)) {
				return fmt.Errorf("%s: want v=%s, have:\n%s", name, v, out)
			}
		}
		return nil
	})
	if out, _ := exec.Command("git", "--git-dir", gitDir, "rev-list", "--merges", "main").CombinedOutput(); strings.TrimSpace(string(out)) != "" {
		t.Errorf("merge commits: %s", out)
	}
	reflog, err := os.ReadFile(filepath.Join(gitDir, "logs", "refs", "heads", "main"))
	if err != nil {
		t.Fatalf("reflog: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(reflog)), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || strings.Trim(f[0], "0") == "" {
			continue
		}
		if err := exec.Command("git", "--git-dir", gitDir, "merge-base", "--is-ancestor", f[0], f[1]).Run(); err != nil {
			t.Errorf("branch moved from %s to %s without a fast-forward (a force push)", f[0], f[1])
		}
	}
	out, err := exec.Command("git", "--git-dir", gitDir, "log", "--reverse", "--format=%(trailers:key=Replica,valueonly)", "main").CombinedOutput()
	if err != nil {
		t.Fatal(err)
	}
	var seq []string
	for _, r := range strings.Fields(string(out)) {
		if len(seq) == 0 || seq[len(seq)-1] != r {
			seq = append(seq, r)
		}
	}
	if len(seq) > switches+1 {
		t.Errorf("writers interleaved: %v", seq)
	}
	return seq
}

// agreement samples Ready on every live replica until stopped and reports
// readings where they disagreed while the target's state held still.
type agreement struct {
	stop     chan struct{}
	done     chan struct{}
	problems []string
	samples  int
	// stable counts samples whose two sweeps agreed (the conclusive ones).
	stable int
}

func watchAgreement(ns string, live func() []string) *agreement {
	a := &agreement{stop: make(chan struct{}), done: make(chan struct{})}
	// read reads Ready on each live replica, in name order (a replica that
	// does not answer, just killed, has no say).
	read := func(names []string) []string {
		var out []string
		for _, name := range names {
			if v, err := readTarget(replicas[name].Kubeconfig, ns); err == nil {
				out = append(out, name+"="+v.Ready)
			}
		}
		return out
	}
	differ := func(r []string) bool {
		if len(r) == 0 {
			return false
		}
		for _, v := range r[1:] {
			if strings.SplitN(v, "=", 2)[1] != strings.SplitN(r[0], "=", 2)[1] {
				return true
			}
		}
		return false
	}
	go func() {
		defer close(a.done)
		for {
			select {
			case <-a.stop:
				return
			case <-time.After(300 * time.Millisecond):
			}
			names := live()
			sort.Strings(names)
			// One kubectl read takes ~100 ms, and during a takeover the gates
			// pass in a few ms each: replicas read one after the other can see
			// different moments. Two identical sweeps mean the state held still
			// for the whole sample; only then is a difference a disagreement.
			r1 := read(names)
			r2 := read(names)
			a.samples++
			if !slices.Equal(r1, r2) {
				continue
			}
			a.stable++
			if differ(r1) {
				a.problems = append(a.problems, fmt.Sprint(r1))
			}
		}
	}()
	return a
}

func (a *agreement) Stop() []string { close(a.stop); <-a.done; return a.problems }

// TestOwnerKilledAnotherTakesOver: kill -9 the owner of a busy branch; another
// replica takes it over within the lease TTL; every object ends in Git in its
// final state; no interleaved writers, no force push; Ready agrees everywhere.
func TestOwnerKilledAnotherTakesOver(t *testing.T) {
	ns, repo := setup(t, "kill", "r2")
	v, _ := readTarget(replicas["r2"].Kubeconfig, ns)
	if v.Owner != "r2" || v.Lease == "" {
		t.Fatalf("owner %+v, want r2 with a lease", v)
	}
	alive := map[string]bool{"r1": true, "r2": true, "r3": true}
	var mu sync.Mutex
	live := func() []string {
		mu.Lock()
		defer mu.Unlock()
		var out []string
		for n, ok := range alive {
			if ok {
				out = append(out, n)
			}
		}
		return out
	}
	agree := watchAgreement(ns, live)
	s := startStreamer(t, ns, 20)
	time.Sleep(3 * time.Second)

	mu.Lock()
	alive["r2"] = false
	mu.Unlock()
	replicas["r2"].Process.Kill()
	killed := time.Now()

	// While the lease lives the dead owner's stream still reads as live; once it
	// expires every replica reads Ready=False/StreamNotLive until the new owner
	// has re-run the gates.
	took := eventually(t, ttl+20*time.Second, "another replica takes over", func() error {
		v, err := readTarget(replicas["r1"].Kubeconfig, ns)
		if err != nil || v.Owner == "r2" || v.Owner == "" || v.Ready != "True/OK" {
			return fmt.Errorf("%+v %v", v, err)
		}
		return nil
	})
	t.Logf("owner r2 killed; new owner Ready after %s (lease TTL %s)", time.Since(killed).Round(100*time.Millisecond), ttl)
	if took > ttl+5*time.Second {
		t.Errorf("takeover took %s, want within the TTL (%s) plus the re-run of the gates", took, ttl)
	}
	time.Sleep(3 * time.Second)
	final := s.Stop()
	t.Logf("%d updates streamed", s.count.Load())
	seq := verifyGit(t, repo, ns, final, 1)
	t.Logf("writers, oldest first: %v", seq)
	if seq[0] != "r2" || len(seq) != 2 {
		t.Errorf("writers %v, want r2 then the new owner", seq)
	}
	problems := agree.Stop()
	t.Logf("Ready read on every live replica: %d samples, %d conclusive", agree.samples, agree.stable)
	if len(problems) > 0 {
		t.Errorf("replicas disagreed on Ready (%d of %d conclusive samples): %v", len(problems), agree.stable, problems)
	}
	if agree.stable < 5 {
		t.Errorf("only %d of %d samples of Ready were conclusive (the state held still for a whole sample)", agree.stable, agree.samples)
	}

	// r2 comes back: it rejoins without taking the branch back.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r, err := st.StartReplica(ctx, "r2", "", "--lease-ttl="+ttl.String())
	if err != nil {
		t.Fatal(err)
	}
	replicas["r2"] = r
	t.Cleanup(func() { r.Process.Stop(15 * time.Second) })
}

// TestPartitionedOwnerStopsBeforeAnotherStarts: the owner's etcd connection is
// cut; it stops writing (git and etcd) before another replica starts.
func TestPartitionedOwnerStopsBeforeAnotherStarts(t *testing.T) {
	ns, repo := setup(t, "split", "r3")
	s := startStreamer(t, ns, 10)
	time.Sleep(3 * time.Second)
	proxy.Cut()
	cut := time.Now()
	eventually(t, ttl+30*time.Second, "another replica takes over", func() error {
		v, err := readTarget(replicas["r1"].Kubeconfig, ns)
		if err != nil || v.Owner == "r3" || v.Owner == "" || v.Ready != "True/OK" {
			return fmt.Errorf("%+v %v", v, err)
		}
		return nil
	})
	t.Logf("r3 partitioned; new owner Ready after %s", time.Since(cut).Round(100*time.Millisecond))
	time.Sleep(3 * time.Second)
	final := s.Stop()
	seq := verifyGit(t, repo, ns, final, 1)
	if seq[0] != "r3" || len(seq) != 2 {
		t.Errorf("writers %v, want r3 then the new owner", seq)
	}

	// Commit times: r3's last commit precedes the new owner's first.
	out, err := exec.Command("git", "--git-dir", st.Git.RepoPath(repo), "log", "--reverse", "--format=%ct %(trailers:key=Replica,valueonly,separator=)", "main").CombinedOutput()
	if err != nil {
		t.Fatal(err)
	}
	var lastOld, firstNew string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		if f[1] == "r3" {
			lastOld = f[0]
		} else if firstNew == "" {
			firstNew = f[0]
		}
	}
	if lastOld == "" || firstNew == "" || lastOld > firstNew {
		t.Errorf("r3's last commit at %s, new owner's first at %s", lastOld, firstNew)
	}
	// r3 knows it lost the lease, and says so.
	if !strings.Contains(replicas["r3"].Process.TailLog(1<<20), "Replica stopped writing") {
		t.Error("r3 did not report that it stopped writing")
	}

	// Healed, r3 rejoins; it does not write to the branch again.
	proxy.Heal()
	before := strings.Count(string(out), "r3")
	time.Sleep(ttl)
	kubectl(t, st.AdminKubeconfig, "create", "configmap", "after-heal", "-n", ns, "--from-literal=v=1")
	eventually(t, 30*time.Second, "after-heal in git", func() error {
		return exec.Command("git", "--git-dir", st.Git.RepoPath(repo), "cat-file", "-e", "main:live/v1/configmaps/"+ns+"/after-heal.yaml").Run()
	})
	out2, _ := exec.Command("git", "--git-dir", st.Git.RepoPath(repo), "log", "--format=%(trailers:key=Replica,valueonly)", "main").CombinedOutput()
	if strings.Count(string(out2), "r3") != before {
		t.Error("r3 wrote to the branch after it was taken over")
	}
}
