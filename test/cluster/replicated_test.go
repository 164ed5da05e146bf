//go:build cluster

package cluster

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/configbutler/gitops-reverser/test/gitserver"
	"github.com/configbutler/gitops-reverser/test/node"
)

// etcdMemberIPs are the fixed Service addresses of the three etcd members
// (etcd.bundled.resolve=hosts): the node has no DNS.
var etcdMemberIPs = []string{"10.96.0.60", "10.96.0.61", "10.96.0.62"}

// etcdStorageClass holds the members' hostPath PersistentVolumes: the node
// has no provisioner, and a member must find its data again when its pod is
// replaced (an emptyDir member cannot rejoin).
const etcdStorageClass = "etcd-local"

// installed is what a fresh install of the chart on the node needs from the
// test that started the node.
type installed struct {
	root, dir, tag, caBundle, password string
	n                                  *node.Node
	git                                *gitserver.Server
}

// checkReplicatedEtcd uninstalls the release and installs the current chart
// again with a three-member etcd (etcd.bundled.replicas=3), each member's
// data on its own hostPath PersistentVolume. With the example mirrored into a
// fresh remote, it deletes the etcd leader's pod while 50 ConfigMaps are
// created, and wants: all 50 in Git, each added by one commit; the member
// back with its data and the cluster whole again; and our API (a GitTarget
// read through kube-apiserver, every 200 ms) answering throughout, the longest
// window without an answer measured and printed.
func checkReplicatedEtcd(t *testing.T, in installed) {
	t.Helper()
	n := in.n
	start := time.Now()
	helm(t, in.root, n, "uninstall", release, "-n", ns, "--wait", "--timeout=3m")
	eventually(t, 3*time.Minute, "the release's pods gone", func() error {
		if out := must(t, n, "get", "pods", "-n", ns, "-o", "name"); out != "" {
			return fmt.Errorf("still there: %s", out)
		}
		return nil
	})
	progress(t, "uninstalled in %.1fs", time.Since(start).Seconds())
	makeEtcdVolumes(t, n, in.dir)

	start = time.Now()
	helm(t, in.root, n, "install", release, filepath.Join(in.root, "charts", "gitops-reverser"), "-n", ns, "--wait", "--timeout=5m",
		"--set", "replicas=2",
		"--set", "image.tag="+in.tag,
		"--set", "image.pullPolicy=Never",
		"--set", "etcd.bundled.replicas=3",
		"--set", "etcd.bundled.resolve=hosts",
		"--set", "etcd.bundled.members.clusterIPs={"+strings.Join(etcdMemberIPs, ",")+"}",
		"--set", "etcd.bundled.storage.storageClassName="+etcdStorageClass,
		"--set", "etcd.bundled.resources.requests.cpu=50m",
		"--set", "apiService.caBundle="+in.caBundle,
		"--set", "service.clusterIP="+serviceIP,
		"--set", "resources.requests.cpu=50m",
	)
	eventually(t, 3*time.Minute, "every pod Running and Ready", func() error { return checkPodsReadyErr(n) })
	eventually(t, 2*time.Minute, "three etcd members with one leader", func() error {
		_, err := etcdLeader(n)
		return err
	})
	progress(t, "three etcd members Ready %.1fs after helm install began:\n%s", time.Since(start).Seconds(),
		must(t, n, "get", "pods,pvc", "-n", ns, "-o", "wide"))

	if _, err := in.git.CreateBareRepo("demo-ha"); err != nil {
		t.Fatal(err)
	}
	applyExample(t, in.root, n, in.git.URL("demo-ha"), in.password)
	eventually(t, 3*time.Minute, "GitTarget demo Ready on the three-member etcd", func() error { return exampleReadyErr(n) })
	repo := filepath.Join(in.dir, "clone-ha")
	eventuallyFilesIn(t, in.git, "demo-ha", repo, []string{"clusters/local/v1/configmaps/demo/app-settings.yaml"})

	leader, err := etcdLeader(n)
	if err != nil {
		t.Fatal(err)
	}
	uid := must(t, n, "get", "pod", leader, "-n", ns, "-o", "jsonpath={.metadata.uid}")
	api := watchAPI(n)
	var want []string
	var deleted time.Time
	for i := 0; i < 50; i++ {
		if i == 10 {
			progress(t, "deleting %s, the etcd leader, while creating ConfigMaps", leader)
			must(t, n, "delete", "pod", leader, "-n", ns, "--wait=false")
			deleted = time.Now()
		}
		name := fmt.Sprintf("ha-%d", i)
		must(t, n, "create", "configmap", name, "-n", exampleNS, "--from-literal=i="+fmt.Sprint(i))
		want = append(want, "clusters/local/v1/configmaps/demo/"+name+".yaml")
		time.Sleep(200 * time.Millisecond)
	}
	created := time.Now()
	eventuallyFilesIn(t, in.git, "demo-ha", repo, want)
	progress(t, "all %d ConfigMaps in Git %.1fs after the last was created", len(want), time.Since(created).Seconds())
	for _, w := range want {
		if adds := commitsTouching(t, repo, w, "--diff-filter=A"); adds != 1 {
			t.Errorf("%s added by %d commits, want 1", w, adds)
		}
	}

	eventually(t, 3*time.Minute, leader+" back with its data and three members with one leader", func() error {
		// NotFound for a moment, before the StatefulSet makes it again.
		now, err := n.Kubectl("get", "pod", leader, "-n", ns, "-o", "jsonpath={.metadata.uid}")
		if err != nil || now == uid {
			return fmt.Errorf("%s not replaced yet (%v)", leader, err)
		}
		if err := checkPodsReadyErr(n); err != nil {
			return err
		}
		_, err = etcdLeader(n)
		return err
	})
	back := time.Now()
	failed, total, window := api.stop()
	answered := api.answeredBetween(deleted, back)
	progress(t, "our API while the leader was replaced (%.1fs): %d of %d reads failed, %d answered, the longest window without an answer %.1fs",
		back.Sub(deleted).Seconds(), failed, total, answered, window.Seconds())
	if answered == 0 {
		t.Fatalf("our API answered no read between the leader's deletion and its return")
	}
	// The replaced member rejoined with the data it had: a GitTarget written
	// before its deletion is read back whichever member answers.
	eventually(t, time.Minute, "GitTarget demo Ready after the member came back", func() error { return exampleReadyErr(n) })
	// A member back without its data would have started a log of its own:
	// its committed index would be far behind the others'.
	checkMembersAgree(t, n)
}

// makeEtcdVolumes makes one hostPath PersistentVolume per etcd member, owned
// by etcd's user (hostPath gets no fsGroup), each bound ahead to its member's
// claim so a replaced pod gets its own data back.
func makeEtcdVolumes(t *testing.T, n *node.Node, dir string) {
	t.Helper()
	docs := []string{fmt.Sprintf("apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: {name: %s}\nprovisioner: kubernetes.io/no-provisioner\n", etcdStorageClass)}
	for i := range etcdMemberIPs {
		path := filepath.Join(dir, fmt.Sprintf("etcd-%d", i))
		if err := os.MkdirAll(path, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(path, 65532, 65532); err != nil {
			t.Fatal(err)
		}
		docs = append(docs, fmt.Sprintf(`apiVersion: v1
kind: PersistentVolume
metadata: {name: %[1]s-data-%[2]d}
spec:
  capacity: {storage: 2Gi}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: %[3]s
  claimRef: {namespace: %[4]s, name: data-%[1]s-%[2]d}
  hostPath: {path: %[5]s, type: Directory}
`, etcdName, i, etcdStorageClass, ns, path))
	}
	if out, err := n.KubectlStdin([]byte(strings.Join(docs, "---\n")), "apply", "-f", "-"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
}

// etcdMetrics reads one member's plain-http /metrics (port 2381) from the
// node, which reaches its pods' addresses.
func etcdMetrics(n *node.Node, pod string) (string, error) {
	ip, err := n.Kubectl("get", "pod", pod, "-n", ns, "-o", "jsonpath={.status.podIP}")
	if err != nil || ip == "" {
		return "", fmt.Errorf("%s has no address yet: %v", pod, err)
	}
	c := http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get("http://" + ip + ":2381/metrics")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// metricValue is the value of an unlabelled series in a metrics page.
func metricValue(page, name string) string {
	for _, l := range strings.Split(page, "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// etcdLeader is the member that leads, once all three have a leader and
// exactly one of them is it.
func etcdLeader(n *node.Node) (string, error) {
	var leaders []string
	for i := range etcdMemberIPs {
		pod := fmt.Sprintf("%s-%d", etcdName, i)
		page, err := etcdMetrics(n, pod)
		if err != nil {
			return "", err
		}
		if metricValue(page, "etcd_server_has_leader") != "1" {
			return "", fmt.Errorf("%s has no leader", pod)
		}
		if metricValue(page, "etcd_server_is_leader") == "1" {
			leaders = append(leaders, pod)
		}
	}
	if len(leaders) != 1 {
		return "", fmt.Errorf("leaders %v, want one", leaders)
	}
	return leaders[0], nil
}

// checkMembersAgree wants every member's committed raft index
// (etcd_server_proposals_committed_total, a gauge) within a few entries of
// the others': one cluster, the replaced member caught up rather than
// started anew.
func checkMembersAgree(t *testing.T, n *node.Node) {
	t.Helper()
	eventually(t, time.Minute, "the members agree", func() error {
		var committed []float64
		for i := range etcdMemberIPs {
			page, err := etcdMetrics(n, fmt.Sprintf("%s-%d", etcdName, i))
			if err != nil {
				return err
			}
			v, err := strconv.ParseFloat(metricValue(page, "etcd_server_proposals_committed_total"), 64)
			if err != nil {
				return err
			}
			committed = append(committed, v)
		}
		lo, hi := slices.Min(committed), slices.Max(committed)
		if lo == 0 || hi-lo > 10 {
			return fmt.Errorf("committed indexes %v", committed)
		}
		progress(t, "etcd members' committed indexes %v", committed)
		return nil
	})
}

// apiWatch reads a GitTarget through kube-apiserver every 200 ms and keeps
// the longest run of failed reads.
type apiWatch struct {
	done          chan struct{}
	wg            sync.WaitGroup
	failed, total int
	window        time.Duration
	since         time.Time   // the first failure of the current run
	answers       []time.Time // when reads were answered
}

func watchAPI(n *node.Node) *apiWatch {
	w := &apiWatch{done: make(chan struct{})}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		for {
			select {
			case <-w.done:
				return
			case <-time.After(200 * time.Millisecond):
			}
			_, err := n.Kubectl("get", "gittarget", "demo", "-n", exampleNS, "-o", "name", "--request-timeout=5s")
			w.total++
			now := time.Now()
			if err != nil {
				w.failed++
				if w.since.IsZero() {
					w.since = now
				}
				continue
			}
			w.answers = append(w.answers, now)
			w.closeRun(now)
		}
	}()
	return w
}

// closeRun ends a run of failed reads at now, keeping the longest.
func (w *apiWatch) closeRun(now time.Time) {
	if !w.since.IsZero() {
		w.window = max(w.window, now.Sub(w.since))
		w.since = time.Time{}
	}
}

// stop ends the reads: how many failed, of how many, and the longest window
// from a failed read to the next answered one (or to the end, for a run of
// failures still open).
func (w *apiWatch) stop() (failed, total int, window time.Duration) {
	close(w.done)
	w.wg.Wait()
	w.closeRun(time.Now())
	return w.failed, w.total, w.window
}

// answeredBetween counts the reads answered in [from, to] (after stop).
func (w *apiWatch) answeredBetween(from, to time.Time) int {
	n := 0
	for _, at := range w.answers {
		if !at.Before(from) && !at.After(to) {
			n++
		}
	}
	return n
}
