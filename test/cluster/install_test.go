//go:build cluster

// Package cluster is the install test (`make test-cluster`): our images and
// Helm chart on a real one-node cluster (test/node), checked the way an
// operator would check an install.
//
// It is behind the "cluster" build tag, so `go test ./...` leaves it out: it
// needs root, Debian's containerd, runc and CNI plugins, the node tools
// (make tools-node) and the images (make image). hack/test-cluster.sh brings
// all of those and runs it; a missing part fails the test, it never skips.
package cluster

import (
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/configbutler/gitops-reverser/pkg/attribution"
	"github.com/configbutler/gitops-reverser/test/gitserver"
	"github.com/configbutler/gitops-reverser/test/node"
)

const (
	// serviceIP is the server's Service address, fixed so kube-apiserver's
	// audit webhook can be configured before the install.
	serviceIP = "10.96.0.50"
	// etcdClientIP is the bundled etcd's client Service address: the server
	// connects to it (etcd.bundled.resolve=env), so etcd's certificate names it.
	etcdClientIP = "10.96.0.51"
	ns           = "gitops-reverser"
	release      = "gitops-reverser"
	exampleNS    = "demo"
	gitUser      = "gitops"
)

func repoRoot(t *testing.T) string {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func progress(t *testing.T, format string, args ...any) {
	t.Helper()
	t.Logf("%s "+format, append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// TestInstallOnANode installs the chart with our images on a real node and
// checks: pods Running and Ready, the APIService Available through the
// in-cluster Service, discovery and OpenAPI (kubectl explain), the example
// mirrored into a Git remote (its Secret encrypted), the bundled etcd private
// (mutual TLS: a pod without the client certificate can neither read nor
// write it; checkEtcdPrivate), a server pod deleted mid-stream without
// losing a change made meanwhile, the upgrade from the previous chart, a
// rolling restart during changes (each in Git exactly once), and a
// three-member etcd losing its leader during changes (checkReplicatedEtcd).
func TestInstallOnANode(t *testing.T) {
	root := repoRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()

	digests := readDigests(t, root)
	images := []string{"pause.tar", "etcd.tar", "gitops-reverser-apiserver.tar"}

	// A short directory: containerd's socket lives in it.
	dir, err := os.MkdirTemp("", "grn-")
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if !t.Failed() {
			os.RemoveAll(dir)
		}
	}()
	// The serving certificate and the APIService's caBundle, as the README
	// says: hack/deploy-certs. Made first: kube-apiserver's audit webhook
	// trusts that CA to report to our Service.
	certs := filepath.Join(dir, "deploy-pki")
	deployCerts := func(print string) []byte {
		cmd := exec.Command("go", "run", "./hack/deploy-certs", "-dir", certs, "-namespace", ns, "-print", print)
		cmd.Dir = root
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("hack/deploy-certs -print=%s: %v", print, err)
		}
		return out
	}
	caBundle := strings.TrimSpace(string(deployCerts("ca-bundle")))
	caPEM, err := base64.StdEncoding.DecodeString(caBundle)
	if err != nil {
		t.Fatal(err)
	}
	// The hostile tenant's image, built while the node starts.
	probeImage := make(chan probeBuild, 1)
	go func() { probeImage <- buildProbeImage(root, dir) }()
	start := time.Now()
	n, err := node.Start(ctx, node.Options{Dir: dir, RepoRoot: root, Progress: testWriter{t},
		// Writes are reported to our Service at a fixed address, as the
		// README's "Who changed what" sets it up for a cluster.
		Audit: &node.AuditWebhook{URL: "https://" + serviceIP + ":443" + attribution.Path, ServerName: release + "." + ns + ".svc", CAPEM: caPEM}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if t.Failed() {
			dumpState(t, n)
		}
		n.Stop()
	}()
	progress(t, "node Ready in %.1fs", time.Since(start).Seconds())
	for _, img := range images[1:] { // pause is imported by node.Start
		if err := n.ImportImage(ctx, filepath.Join(root, "_output", "images", img)); err != nil {
			t.Fatal(err)
		}
	}
	probe := <-probeImage
	if probe.err != nil {
		t.Fatal(probe.err)
	}
	if err := n.ImportImage(ctx, probe.tarball); err != nil {
		t.Fatal(err)
	}

	// The Git remote, on the machine's own address: pods cannot reach loopback.
	password := "pw-" + fmt.Sprint(time.Now().UnixNano())
	git, err := gitserver.Start(gitserver.Options{Username: gitUser, Password: password, Root: filepath.Join(dir, "git"),
		Addr: net.JoinHostPort(n.HostIP(), "0")})
	if err != nil {
		t.Fatal(err)
	}
	defer git.Close()
	if _, err := git.CreateBareRepo("demo"); err != nil {
		t.Fatal(err)
	}

	must(t, n, "create", "namespace", ns)
	// The Pod Security restricted profile, enforced: every pod of the chart
	// must meet it, or its ReplicaSet and StatefulSet cannot create it.
	must(t, n, "label", "namespace", ns, "pod-security.kubernetes.io/enforce=restricted", "pod-security.kubernetes.io/enforce-version=latest")
	checkRestrictedEnforced(t, n, ns)
	if out, err := n.KubectlStdin(deployCerts("secret"), "apply", "-f", "-"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}

	tag := chartAppVersion(t, root)
	progress(t, "helm install (images %s)", strings.Join(digests, ", "))
	start = time.Now()
	// The previous chart first: the current one comes as an upgrade, as it
	// does for a user (checkUpgradeKeepsEtcdCerts).
	helm(t, root, n, "install", release, chartPath(root, previousChart), "-n", ns, "--wait", "--timeout=5m",
		"--set", "replicas=2",
		"--set", "image.tag="+tag,
		// Imported, never pulled: no registry is reachable.
		"--set", "image.pullPolicy=Never",
		"--set", "etcd.bundled.persistence.enabled=false",
		// No cluster DNS on this node: the server finds etcd by the Service
		// address kubelet puts in its environment, fixed so etcd's
		// certificate (made by the chart, the default) names it.
		"--set", "etcd.bundled.resolve=env",
		"--set", "etcd.bundled.clientService.clusterIP="+etcdClientIP,
		"--set", "apiService.caBundle="+caBundle,
		"--set", "service.clusterIP="+serviceIP,
		"--set", "resources.requests.cpu=50m",
	)
	progress(t, "helm install --wait returned after %.1fs", time.Since(start).Seconds())
	// helm's --wait counts a Deployment ready at replicas - maxUnavailable
	// (one of two here); an operator wants every pod.
	eventually(t, 3*time.Minute, "every pod Running and Ready", func() error { return checkPodsReadyErr(n) })
	progress(t, "every pod Running and Ready %.1fs after helm install began:\n%s", time.Since(start).Seconds(),
		must(t, n, "get", "pods", "-n", ns, "-o", "wide"))

	// The aggregator reaches our pods through the ClusterIP Service.
	eventually(t, 2*time.Minute, "APIService Available", func() error {
		out, err := n.Kubectl("get", "apiservice", "v1alpha1.configbutler.ai", "-o",
			`jsonpath={.status.conditions[?(@.type=="Available")].status} {.status.conditions[?(@.type=="Available")].message}`)
		if err != nil {
			return err
		}
		if !strings.HasPrefix(out, "True") {
			return fmt.Errorf("%s", out)
		}
		return nil
	})
	progress(t, "APIService:\n%s", must(t, n, "get", "apiservice", "v1alpha1.configbutler.ai"))
	if svc := must(t, n, "get", "apiservice", "v1alpha1.configbutler.ai", "-o", "jsonpath={.spec.service.name}/{.spec.service.namespace}"); svc != release+"/"+ns {
		t.Fatalf("APIService routes to %s, not the chart's Service", svc)
	}
	eventually(t, time.Minute, "kubectl explain gittarget.spec.path", func() error {
		_, err := n.Kubectl("explain", "gittarget.spec.path")
		return err
	})

	// The example, pointed at the remote, and its credentials.
	remote := git.URL("demo")
	applyExample(t, root, n, remote, password)
	eventually(t, 3*time.Minute, "GitTarget demo Ready", func() error { return exampleReadyErr(n) })
	repo := filepath.Join(dir, "clone")
	files := eventuallyFiles(t, git, repo, []string{
		"clusters/local/v1/configmaps/demo/app-settings.yaml",
	})
	progress(t, "mirrored files:\n%s", strings.Join(files, "\n"))

	// The server got this far through etcd's mutual TLS; a pod without the
	// client certificate gets nowhere.
	checkEtcdPrivate(t, n, probe.ref)
	secretFiles := filter(files, "clusters/local/v1/secrets/demo/app-credentials")
	if len(secretFiles) != 1 {
		t.Fatalf("the example Secret is not mirrored: %v", files)
	}
	if b, _ := os.ReadFile(filepath.Join(repo, secretFiles[0])); strings.Contains(string(b), "change-me") || !strings.Contains(string(b), "sops") {
		t.Fatalf("%s is not SOPS-encrypted:\n%s", secretFiles[0], b)
	}

	// Who changed what, in the cluster: alice's write is reported by
	// kube-apiserver's audit webhook to whichever replica the Service picks,
	// and committed, authored alice, by the replica owning the worker.
	must(t, n, "create", "rolebinding", "alice-edit", "-n", exampleNS, "--clusterrole=edit", "--user=alice")
	must(t, n, "--as=alice", "create", "configmap", "by-alice", "-n", exampleNS, "--from-literal=k=v")
	alices := "clusters/local/v1/configmaps/demo/by-alice.yaml"
	eventuallyFiles(t, git, repo, []string{alices})
	if a := authorOf(t, repo, alices); a != "alice" {
		t.Errorf("%s is authored %q, want alice", alices, a)
	}
	progress(t, "%s: committed by %s, authored %s", alices, must(t, n, "get", "gittarget", "demo", "-n", exampleNS, "-o", "jsonpath={.status.workerRef.replica}"), authorOf(t, repo, alices))

	// Delete the pod that owns the branch worker while changes are being made:
	// the other replica takes the lease over (or the replacement does) and
	// nothing made meanwhile is lost.
	owner := must(t, n, "get", "gittarget", "demo", "-n", exampleNS, "-o", "jsonpath={.status.workerRef.replica}")
	if !strings.HasPrefix(owner, release+"-") {
		t.Fatalf("status.workerRef.replica = %q, want one of our pods", owner)
	}
	before := podNames(t, n)
	progress(t, "deleting %s (owns the branch worker) while creating ConfigMaps", owner)
	deleted := make(chan error, 1)
	go func() {
		_, err := n.Kubectl("delete", "pod", owner, "-n", ns, "--wait=false")
		deleted <- err
	}()
	var want []string
	for i := 0; i < 12; i++ {
		name := fmt.Sprintf("during-%d", i)
		must(t, n, "create", "configmap", name, "-n", exampleNS, "--from-literal=i="+fmt.Sprint(i))
		want = append(want, "clusters/local/v1/configmaps/demo/"+name+".yaml")
		time.Sleep(500 * time.Millisecond)
	}
	if err := <-deleted; err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	eventuallyFiles(t, git, repo, want)
	progress(t, "all %d ConfigMaps made across the deletion are in Git %.1fs after the last", len(want), time.Since(start).Seconds())
	// Attributed too (the admin's client certificate names "admin"): reports
	// reach the new owner whichever replica received them. A change made
	// before the new owner's stream started arrives in its takeover snapshot,
	// which is authored by the configured default like every snapshot.
	attributed := 0
	for _, w := range want {
		out, err := exec.Command("git", "-C", repo, "log", "-1", "--format=%an|%s", "--", w).Output()
		if err != nil {
			t.Fatal(err)
		}
		an, subject, _ := strings.Cut(strings.TrimSpace(string(out)), "|")
		switch {
		case an == "admin":
			attributed++
		case an == "gitops-reverser" && strings.Contains(subject, ": snapshot of GitTarget"):
		default:
			t.Errorf("%s: last commit %q by %q, want authored admin (or the takeover snapshot)", w, subject, an)
		}
	}
	if attributed == 0 {
		t.Errorf("none of the %d changes made across the deletion was authored admin", len(want))
	}
	progress(t, "%d of %d authored admin, the rest in the takeover snapshot", attributed, len(want))
	eventually(t, 3*time.Minute, "the Deployment replaced the deleted pod", func() error {
		now := podNames(t, n)
		if len(now) != 2 || contains(now, owner) {
			return fmt.Errorf("pods %v (before %v)", now, before)
		}
		return checkPodsReadyErr(n)
	})
	progress(t, "pods after the deletion:\n%s", must(t, n, "get", "pods", "-n", ns, "-o", "wide"))
	newOwner := must(t, n, "get", "gittarget", "demo", "-n", exampleNS, "-o", "jsonpath={.status.workerRef.replica}")
	if newOwner == owner {
		t.Fatalf("status.workerRef.replica still names the deleted pod %s", owner)
	}
	progress(t, "branch worker now on %s", newOwner)

	// helm upgrade from the previous chart to this one keeps the etcd
	// certificates the chart made (lookup), so nothing restarts; then every
	// server pod is restarted, one after the other, while changes are made.
	checkUpgradeDuringChanges(t, root, n, git, repo)
	checkMemoryLimit(t, n)
	checkRollingRestartLosesNothing(t, n, git, repo)

	// Installed again with three etcd members, one deleted during changes.
	checkReplicatedEtcd(t, installed{root: root, dir: dir, tag: tag, caBundle: caBundle, password: password, n: n, git: git})
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
