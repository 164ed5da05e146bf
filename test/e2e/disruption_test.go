package e2e

// Tests that stop and start components of the shared stack: each calls
// disrupts(t), so the stack serves again, as before, when it ends.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/configbutler/gitops-reverser/pkg/pki"
)

func directConditions(t *testing.T, ns string) (ready, stream string) {
	out, err := st.KubectlAs(st.DirectKubeconfig, "get", "gittarget", "mirror", "-n", ns, "-o",
		`jsonpath={.status.conditions[?(@.type=="Ready")].status}/{.status.conditions[?(@.type=="Ready")].reason} {.status.conditions[?(@.type=="EventStreamLive")].status}/{.status.conditions[?(@.type=="EventStreamLive")].reason}`)
	if err != nil {
		return "error: " + out, ""
	}
	ready, stream, _ = strings.Cut(out, " ")
	return ready, stream
}

func lastCommitOf(t *testing.T, m *mirror, path string) string {
	out, err := exec.Command("git", "--git-dir", st.Git.RepoPath(m.repo), "log", "-1", "--format=%H", "main", "--", path).CombinedOutput()
	if err != nil {
		t.Fatalf("git log: %v %s", err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestChangesWhileServerStoppedAreMirroredAfterRestart: after a restart targets
// come back to Ready, the re-snapshot writes what changed while the server was
// down, and an unchanged Secret makes no new commit.
func TestChangesWhileServerStoppedAreMirroredAfterRestart(t *testing.T) {
	disrupts(t)
	m := newMirror(t, "restart", true, "")
	plain := newMirror(t, "restart-plain", false, "")
	kubectl(t, "create", "configmap", "doomed", "-n", m.ns, "--from-literal=a=1")
	kubectl(t, "create", "configmap", "edited", "-n", m.ns, "--from-literal=v=old")
	kubectl(t, "create", "secret", "generic", "stable", "-n", m.ns, "--from-literal=k=unchanged-value")
	for _, f := range []string{m.file("configmaps", "doomed"), m.file("configmaps", "edited"), m.file("secrets", "stable")} {
		f := f
		eventually(t, 20*time.Second, f+" mirrored", func() error {
			if m.show(t, f) == "" {
				return fmt.Errorf("not yet")
			}
			return nil
		})
	}
	stableCommit := lastCommitOf(t, m, m.file("secrets", "stable"))

	st.StopServer()
	kubectl(t, "delete", "configmap", "doomed", "-n", m.ns)
	kubectl(t, "patch", "configmap", "edited", "-n", m.ns, "--type=merge", "-p", `{"data":{"v":"new"}}`)
	kubectl(t, "create", "configmap", "born-while-down", "-n", m.ns, "--from-literal=b=2")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := st.StartServer(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, 120*time.Second, "Ready after restart", func() error {
		if r, _ := directConditions(t, m.ns); r != "True/OK" {
			return fmt.Errorf("Ready=%s", r)
		}
		return nil
	})
	// The aggregator routes to the restarted server again.
	if err := st.WaitAPIServiceAvailable(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "changes made while down are in git", func() error {
		if m.show(t, m.file("configmaps", "doomed")) != "" {
			return fmt.Errorf("doomed still there")
		}
		if !strings.Contains(m.show(t, m.file("configmaps", "edited")), "v: new") {
			return fmt.Errorf("edited not updated")
		}
		if m.show(t, m.file("configmaps", "born-while-down")) == "" {
			return fmt.Errorf("born-while-down missing")
		}
		return nil
	})
	// A target without encryption, Ready again after the restart, reads as the
	// seed's example 5 (its bootstrap files are already there).
	want5 := seedConditions(t, "seed-example-5-fully-ready.yaml")
	eventually(t, 60*time.Second, "seed example 5", func() error {
		_, got, err := targetConditionsE(plain.ns, "mirror")
		if err != nil {
			return err
		}
		if diff := cmp.Diff(want5, got); diff != "" {
			return fmt.Errorf("conditions differ from seed example 5 (-seed +got):\n%s", diff)
		}
		return nil
	})
	if got := lastCommitOf(t, m, m.file("secrets", "stable")); got != stableCommit {
		t.Errorf("the unchanged Secret was rewritten after the restart (commit %s, was %s)", got, stableCommit)
	}
}

// TestSourceClusterOutage: kube-apiserver stopped shows EventStreamLive
// False/Disconnected and Ready False/StreamNotLive (read straight from our
// server), then recovers to Ready with no change lost.
//
// kube-apiserver comes back without its audit webhook (a managed cluster
// without audit access): changes still reach Git, within the push interval
// and the attribution grace, authored by the field manager of their last
// write and saying so.
func TestSourceClusterOutage(t *testing.T) {
	disrupts(t)
	m := newMirror(t, "outage", false, "")
	apply(t, usersRole(m.ns, "alice"))
	kubectl(t, "create", "configmap", "before-outage", "-n", m.ns, "--from-literal=a=1")

	st.StopKubeAPIServer()
	eventually(t, 60*time.Second, "Disconnected while kube-apiserver is down", func() error {
		r, s := directConditions(t, m.ns)
		if r != "False/StreamNotLive" || s != "False/Disconnected" {
			return fmt.Errorf("Ready=%s EventStreamLive=%s", r, s)
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	st.AuditOff = true // later tests need no attribution; a restart brings it back
	defer func() { st.AuditOff = false }()
	if err := st.StartKubeAPIServer(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, 90*time.Second, "Ready after the outage", func() error {
		if r, s := directConditions(t, m.ns); r != "True/OK" {
			return fmt.Errorf("Ready=%s EventStreamLive=%s", r, s)
		}
		return nil
	})
	// Ready means the stream is live: the watches have reopened, so a write
	// made now arrives as an event (attributed below), never inside a new
	// snapshot's commit (which a watch reopening at an expired position
	// would take, under the snapshot identity).
	before := tip(t, m.repo)
	start := time.Now()
	if out, err := as("alice", "create", "configmap", "after-outage", "-n", m.ns, "--from-literal=b=2"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	eventually(t, 30*time.Second, "changes before and after the outage are in git", func() error {
		for _, n := range []string{"before-outage", "after-outage"} {
			if m.show(t, m.file("configmaps", n)) == "" {
				return fmt.Errorf("%s missing", n)
			}
		}
		return nil
	})
	t.Logf("without audit reports: change -> pushed %v (push interval 1s, attribution grace 3s)", time.Since(start).Round(10*time.Millisecond))
	got := commitLog(t, m.repo, before)
	want := fmt.Sprintf("kubectl-create <kubectl-create@kubernetes.invalid> |kubectl-create,create,field-manager| %s", m.file("configmaps", "after-outage"))
	if len(got) != 1 || got[0] != want {
		t.Errorf("commits without audit reports:\n%s\nwant:\n%s", strings.Join(got, "\n"), want)
	}
}

// TestReadyServerAuthenticatesAtOnce: once /readyz passes after a start, our
// server trusts kube-apiserver's client CA and request-header CA: a client
// certificate straight to it, and a request proxied with the front-proxy
// certificate, are authenticated at once, never served as system:anonymous.
// Its authentication kubeconfig goes through a proxy that holds the initial
// lists of its ConfigMap informers for 3 s, so the CAs (kube-system/
// extension-apiserver-authentication) arrive well after everything else.
func TestReadyServerAuthenticatesAtOnce(t *testing.T) {
	disrupts(t)
	pkiDir := filepath.Join(st.Dir(), "pki")
	serverCA, err := pki.Load(pkiDir, "server-ca")
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(serverCA.CertPEM())
	clientFor := func(name string) *http.Client {
		p, err := pki.Load(pkiDir, name)
		if err != nil {
			t.Fatal(err)
		}
		cert, err := tls.X509KeyPair(p.CertPEM(), p.KeyPEM())
		if err != nil {
			t.Fatal(err)
		}
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{cert}}}}
	}
	admin, proxy := clientFor("user-admin"), clientFor("front-proxy-client")
	get := func(c *http.Client, user string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, st.ServerURL+"/apis/configbutler.ai/v1alpha1/gittargets", nil)
		if user != "" {
			// What the aggregator sends for an authenticated user.
			req.Header.Set("X-Remote-User", user)
			req.Header.Set("X-Remote-Group", "system:masters")
		}
		resp, err := c.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	authKubeconfig := slowConfigMapListProxy(t, pkiDir, 3*time.Second)
	restart := func(args ...string) {
		st.StopServer()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := st.StartServer(ctx, args...); err != nil { // returns once /readyz passes
			t.Fatal(err)
		}
	}
	restart("--authentication-kubeconfig=" + authKubeconfig)
	if code, body := get(admin, ""); code != http.StatusOK {
		t.Errorf("client certificate right after ready: %d %s", code, body)
	}
	if code, body := get(proxy, "alice-admin"); code != http.StatusOK {
		t.Errorf("front-proxy request right after ready: %d %s", code, body)
	}
	restart() // back to the stack's flags
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := st.WaitAPIServiceAvailable(ctx); err != nil {
		t.Fatal(err)
	}
}

// slowConfigMapListProxy serves kube-apiserver through a reverse proxy that
// holds the initial LIST of every ConfigMap informer for one object (a LIST, or
// a watch with sendInitialEvents) for delay, and returns a kubeconfig for our server's
// identity through it.
func slowConfigMapListProxy(t *testing.T, pkiDir string, delay time.Duration) string {
	kubeCA, err := pki.Load(pkiDir, "kube-ca")
	if err != nil {
		t.Fatal(err)
	}
	upstream, _ := url.Parse(st.KubeURL)
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(kubeCA.CertPEM())
	rp := httputil.NewSingleHostReverseProxy(upstream)
	rp.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: true}
	rp.FlushInterval = -1 // watches stream
	ca, err := pki.NewCA("slow-proxy-ca")
	if err != nil {
		t.Fatal(err)
	}
	serving, err := ca.Issue(pki.Request{CommonName: "slow-proxy", Server: true, IPs: []net.IP{net.ParseIP("127.0.0.1")}})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(serving.CertPEM(), serving.KeyPEM())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if q := r.URL.Query(); strings.HasSuffix(r.URL.Path, "/configmaps") && q.Has("fieldSelector") &&
			(q.Get("watch") != "true" || q.Get("sendInitialEvents") == "true") {
			time.Sleep(delay)
		}
		rp.ServeHTTP(w, r)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	t.Cleanup(srv.Close)

	cfg, err := clientcmd.LoadFromFile(st.ServerKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cfg.Clusters {
		c.Server = srv.URL
		c.CertificateAuthority = ""
		c.CertificateAuthorityData = ca.CertPEM()
	}
	file := filepath.Join(t.TempDir(), "slow-authn.kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, file); err != nil {
		t.Fatal(err)
	}
	return file
}

// TestAPIReadyMeansExplainable: registered anew (a fresh install), the
// APIService turns Available about 1.3 s before kube-apiserver serves our
// discovery and OpenAPI v3 (measured on this machine: Available 0.12 s,
// served 1.37 s, kubectl explain working 1.49 s after registration).
// WaitAPIReady, which `make run` waits on before it says the API is ready,
// covers that gap: a new user's kubectl explains our types the moment it
// returns, ours and the machine's older kubectl alike.
func TestAPIReadyMeansExplainable(t *testing.T) {
	disrupts(t)
	ctx := context.Background()
	if err := st.ReregisterAPIService(ctx); err != nil {
		t.Fatal(err)
	}
	if err := st.WaitAPIReady(ctx); err != nil {
		t.Fatal(err)
	}
	kubectls := []string{filepath.Join(root, "bin", "kubectl")}
	if other, err := exec.LookPath("kubectl"); err == nil && other != kubectls[0] {
		kubectls = append(kubectls, other)
	}
	for _, k := range kubectls {
		out, err := exec.Command(k, "--kubeconfig", st.AdminKubeconfig, "--cache-dir", t.TempDir(), "explain", "gittarget.spec.path").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "FIELD: path") {
			t.Errorf("%s explain gittarget.spec.path right after WaitAPIReady: %v\n%s", k, err, out)
		}
	}
}
