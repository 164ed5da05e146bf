package worker

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/dynamic"
	dynamicfake "k8s.io/client-go/dynamic/fake"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
	"github.com/configbutler/gitops-reverser/pkg/lifecycle/mirror"
	"github.com/configbutler/gitops-reverser/pkg/lifecycle/snapshot"
	"github.com/configbutler/gitops-reverser/pkg/render"
	"github.com/configbutler/gitops-reverser/pkg/selection"
	"github.com/configbutler/gitops-reverser/pkg/sops"
)

// newTestManager is a manager whose reports are collected.
func newTestManager(dir string) (*Manager, *reports) {
	r := &reports{}
	return NewManager(Options{WorkDir: dir, Report: r.add}), r
}

type reports struct {
	mu  sync.Mutex
	all []mirror.Result
}

func (r *reports) add(res mirror.Result) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.all = append(r.all, res)
}

func run(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=h", "GIT_AUTHOR_EMAIL=h@x", "GIT_COMMITTER_NAME=h", "GIT_COMMITTER_EMAIL=h@x")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func cm(ns, name string, data map[string]interface{}) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]interface{}{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]interface{}{"name": name, "namespace": ns, "resourceVersion": "5"}, "data": data,
	}}
}

// TestSnapshotDiff: the snapshot's tree diff against a real (file://) remote,
// with the cluster side an in-memory dynamic client: creates, updates, unchanged
// files and stale deletions, foreign files and unselected namespaces and types
// left alone, Secrets encrypted, and a second run with nothing new commits nothing.
func TestSnapshotDiff(t *testing.T) {
	tmp := t.TempDir()
	remote := filepath.Join(tmp, "remote.git")
	run(t, tmp, "init", "-q", "--bare", "-b", "main", remote)
	seed := filepath.Join(tmp, "seed")
	run(t, tmp, "clone", "-q", remote, seed)
	same, _ := render.Render(cm("demo", "same", map[string]interface{}{"k": "v"}))
	files := map[string]string{
		"base/v1/configmaps/demo/same.yaml":    string(same),
		"base/v1/configmaps/demo/changed.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: changed\n  namespace: demo\ndata:\n  k: old\n",
		"base/v1/configmaps/demo/stale.yaml":   "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: stale\n  namespace: demo\n",
		"base/v1/configmaps/demo/foreign.yaml": "just: some yaml\n",
		"base/v1/configmaps/demo/README.md":    "notes\n",
		"base/v1/configmaps/other/kept.yaml":   "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: kept\n  namespace: other\n",
		"base/apps/v1/deployments/demo/d.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\n  namespace: demo\n",
		"elsewhere/v1/configmaps/demo/x.yaml":  "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  namespace: demo\n",
	}
	for p, c := range files {
		os.MkdirAll(filepath.Dir(filepath.Join(seed, p)), 0o755)
		os.WriteFile(filepath.Join(seed, p), []byte(c), 0o644)
	}
	run(t, seed, "add", "-A")
	run(t, seed, "commit", "-qm", "seed")
	run(t, seed, "push", "-q", "origin", "HEAD:main")

	cmGVR := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	secGVR := schema.GroupVersionResource{Version: "v1", Resource: "secrets"}
	secret := &unstructured.Unstructured{Object: map[string]interface{}{
		"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
		"metadata": map[string]interface{}{"name": "db", "namespace": "demo"},
		"data":     map[string]interface{}{"password": "c2VjcmV0LXZhbHVl"}, // secret-value
	}}
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{cmGVR: "ConfigMapList", secGVR: "SecretList"},
		cm("demo", "same", map[string]interface{}{"k": "v"}),
		cm("demo", "changed", map[string]interface{}{"k": "new"}),
		cm("demo", "created", map[string]interface{}{"k": "v"}),
		cm("other", "not-selected", map[string]interface{}{"k": "v"}),
		secret,
	)
	id, _ := age.GenerateX25519Identity()
	keys := &mirror.Keys{Recipients: []string{id.Recipient().String()}, Identities: []age.Identity{id}}
	sel := selection.Selection{
		cmGVR:  {Resource: selection.APIResource{GVR: cmGVR, Namespaced: true}, Namespaces: sets.New("demo")},
		secGVR: {Resource: selection.APIResource{GVR: secGVR, Namespaced: true}, Namespaces: sets.New("demo")},
	}
	tc := &mirror.Target{Key: "demo/t", Path: "base", Keys: keys, Selection: sel}
	m, _ := newTestManager(filepath.Join(tmp, "work"))
	w := newBranchWorker(m, mirror.BranchKey{Repo: remote, Branch: "main"}, mirror.WorkerConfig{URL: "file://" + remote, MaxChanges: 500})
	defer w.clone.close()

	// Progress is reported after each type (SnapshotSynced=Running shows it).
	var progress []v1alpha1.SnapshotStats
	res, err := w.Snapshot(context.Background(), tc, snapshot.Source{List: dynamicLister(dyn)}, func(s v1alpha1.SnapshotStats) { progress = append(progress, s) })
	if err != nil {
		t.Fatal(err)
	}
	st := res.Plan.Stats
	if st.Created != 2 || st.Updated != 1 || st.Deleted != 1 || st.Unchanged != 1 || res.Commit == "" {
		t.Fatalf("stats %+v commit %q", st, res.Commit)
	}
	if len(progress) != 2 || progress[0] != (v1alpha1.SnapshotStats{Created: 1, Updated: 1, Deleted: 1, Unchanged: 1}) || progress[1] != st {
		t.Errorf("progress %+v, want configmaps' stats, then the final ones", progress)
	}
	check := filepath.Join(tmp, "check")
	run(t, tmp, "clone", "-q", remote, check)
	exists := func(p string) bool { _, err := os.Stat(filepath.Join(check, p)); return err == nil }
	for p, want := range map[string]bool{
		"base/v1/configmaps/demo/created.yaml": true, "base/v1/configmaps/demo/same.yaml": true,
		"base/v1/configmaps/demo/stale.yaml": false, "base/v1/configmaps/demo/foreign.yaml": true,
		"base/v1/configmaps/demo/README.md": true, "base/v1/configmaps/other/kept.yaml": true,
		"base/v1/configmaps/other/not-selected.yaml": false, "base/apps/v1/deployments/demo/d.yaml": true,
		"elsewhere/v1/configmaps/demo/x.yaml": true, "base/v1/secrets/demo/db.sops.yaml": true,
	} {
		if exists(p) != want {
			t.Errorf("%s exists=%v, want %v", p, exists(p), want)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(check, "base/v1/configmaps/demo/changed.yaml")); !strings.Contains(string(b), "k: new") {
		t.Errorf("changed.yaml not updated:\n%s", b)
	}
	enc, _ := os.ReadFile(filepath.Join(check, "base/v1/secrets/demo/db.sops.yaml"))
	if strings.Contains(string(enc), "c2VjcmV0LXZhbHVl") || strings.Contains(string(enc), "secret-value") {
		t.Error("secret in plaintext")
	}
	if plain, err := sops.Decrypt(enc, keys.Identities); err != nil || !strings.Contains(string(plain), "c2VjcmV0LXZhbHVl") {
		t.Errorf("decrypt: %v\n%s", err, plain)
	}

	again, err := w.Snapshot(context.Background(), tc, snapshot.Source{List: dynamicLister(dyn)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if again.Commit != "" || again.Plan.Stats.Unchanged != 4 || again.Plan.Stats.Created+again.Plan.Stats.Updated+again.Plan.Stats.Deleted != 0 {
		t.Errorf("second snapshot: %+v commit %q", again.Plan.Stats, again.Commit)
	}
}

// TestBootstrapsQueuedTogetherMakeOneCommit: bootstraps queued while the
// branch worker is busy run as one fetch and one commit; each target learns
// whether it needed anything; a bootstrap after the worker went idle sees what
// others pushed meanwhile (the clone is fetched again).
func TestBootstrapsQueuedTogetherMakeOneCommit(t *testing.T) {
	tmp := t.TempDir()
	remote := filepath.Join(tmp, "remote.git")
	run(t, tmp, "init", "-q", "--bare", "-b", "main", remote)
	seed := filepath.Join(tmp, "seed")
	run(t, tmp, "clone", "-q", remote, seed)
	os.MkdirAll(filepath.Join(seed, "t-00"), 0o755)
	os.WriteFile(filepath.Join(seed, "t-00", "README.md"), []byte("already here\n"), 0o644)
	run(t, seed, "add", "-A")
	run(t, seed, "commit", "-qm", "seed")
	run(t, seed, "push", "-q", "origin", "HEAD:main")

	m, reported := newTestManager(filepath.Join(tmp, "work"))
	w := newBranchWorker(m, mirror.BranchKey{Repo: remote, Branch: "main"}, mirror.WorkerConfig{URL: "file://" + remote, MaxChanges: 500, Interval: time.Second})
	w.start()
	defer w.stop()

	request := func(paths ...string) []bootstrapOutcome { return requestBootstraps(t, w, reported, paths...) }
	var paths []string
	for i := range 20 {
		paths = append(paths, fmt.Sprintf("t-%02d", i))
	}
	before := strings.TrimSpace(run(t, tmp, "--git-dir", remote, "rev-list", "--count", "main"))
	res := request(paths...)
	after := strings.TrimSpace(run(t, tmp, "--git-dir", remote, "rev-list", "--count", "main"))
	if before != "1" || after != "2" {
		t.Fatalf("commits before %s, after %s: want 1 then 2 (one bootstrap commit for all)", before, after)
	}
	tip := strings.TrimSpace(run(t, tmp, "--git-dir", remote, "rev-parse", "main"))
	for i, r := range res {
		switch {
		case r.err != nil:
			t.Errorf("%s: %v", paths[i], r.err)
		case i == 0 && r.applied:
			t.Errorf("%s already had its README, yet applied", paths[i])
		case i > 0 && (!r.applied || r.commit != tip):
			t.Errorf("%s: applied=%v commit %s, want applied in %s", paths[i], r.applied, r.commit, tip)
		}
	}
	files := run(t, tmp, "--git-dir", remote, "ls-tree", "-r", "--name-only", "main")
	if strings.Count(files, "README.md") != 20 {
		t.Errorf("READMEs in the repository:\n%s", files)
	}
	if msg := run(t, tmp, "--git-dir", remote, "log", "-1", "--format=%B", "main"); !strings.Contains(msg, "bootstrap 19 GitTargets") || !strings.Contains(msg, "t-19") {
		t.Errorf("commit message:\n%s", msg)
	}

	// Someone else bootstraps t-20 while the worker is idle: it is fetched, not overwritten.
	run(t, seed, "pull", "-q", "origin", "main")
	os.MkdirAll(filepath.Join(seed, "t-20"), 0o755)
	os.WriteFile(filepath.Join(seed, "t-20", "README.md"), []byte("human\n"), 0o644)
	run(t, seed, "add", "-A")
	run(t, seed, "commit", "-qm", "human")
	run(t, seed, "push", "-q", "origin", "HEAD:main")
	if r := request("t-20", "t-00"); r[0].applied || r[1].applied || r[0].err != nil || r[1].err != nil {
		t.Errorf("after the human's push: %+v", r)
	}
	if got := run(t, tmp, "--git-dir", remote, "show", "main:t-20/README.md"); got != "human\n" {
		t.Errorf("t-20/README.md = %q", got)
	}
}

type bootstrapOutcome struct {
	commit  string
	applied bool
	err     error
}

// requestBootstraps queues bootstraps while the worker is held busy, then
// waits for every one's outcome, as reported (each started before it
// finished).
func requestBootstraps(t *testing.T, w *BranchWorker, reported *reports, paths ...string) []bootstrapOutcome {
	reported.mu.Lock()
	reported.all = nil
	reported.mu.Unlock()
	release := make(chan struct{})
	w.Submit("hold", func(context.Context) { <-release })
	for _, p := range paths {
		w.RequestBootstrap(&mirror.Target{Key: "ns/" + p, Path: p}, "fp-"+p)
	}
	close(release)
	out := make([]bootstrapOutcome, len(paths))
	deadline := time.Now().Add(30 * time.Second)
	for {
		reported.mu.Lock()
		done, started := map[string]mirror.Result{}, map[string]bool{}
		for _, r := range reported.all {
			switch {
			case r.Op != mirror.OpBootstrap || r.Fingerprint != "fp-"+r.Target[len("ns/"):]:
				t.Errorf("unexpected report %+v", r)
			case r.Running:
				started[r.Target] = true
			case !started[r.Target]:
				t.Errorf("%s: finished before it started", r.Target)
			default:
				done[r.Target] = r
			}
		}
		reported.mu.Unlock()
		if len(done) == len(paths) {
			for i, p := range paths {
				r := done["ns/"+p]
				out[i] = bootstrapOutcome{r.Commit, r.Applied, r.Err}
			}
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("bootstraps not reported in time: %d of %d", len(done), len(paths))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// dynamicLister pages through a LIST of one type in all namespaces and returns
// the resourceVersion of the (consistent) list.
func dynamicLister(dyn dynamic.Interface) snapshot.Lister {
	return func(ctx context.Context, gvr schema.GroupVersionResource, fn func(*unstructured.Unstructured) error) (string, error) {
		return listAll(ctx, dyn, gvr, fn)
	}
}

func listAll(ctx context.Context, dyn dynamic.Interface, gvr schema.GroupVersionResource, fn func(*unstructured.Unstructured) error) (string, error) {
	opts := metav1.ListOptions{Limit: 500}
	rv := ""
	for {
		l, err := dyn.Resource(gvr).List(ctx, opts)
		if err != nil {
			return "", err
		}
		if rv == "" {
			rv = l.GetResourceVersion()
		}
		for i := range l.Items {
			if err := fn(&l.Items[i]); err != nil {
				return "", err
			}
		}
		if l.GetContinue() == "" {
			return rv, nil
		}
		opts.Continue = l.GetContinue()
	}
}

// TestSnapshotUsesRenderedIndexAcrossRestarts: a new worker on the same clone
// (a restart) trusts the saved index for object versions whose file is still
// the one it wrote, without rendering them again; a new resourceVersion, or a
// file someone else changed, is rendered and written.
func TestSnapshotUsesRenderedIndexAcrossRestarts(t *testing.T) {
	tmp := t.TempDir()
	remote := filepath.Join(tmp, "remote.git")
	run(t, tmp, "init", "-q", "--bare", "-b", "main", remote)
	cmGVR := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	obj := func(name, rv, v string) *unstructured.Unstructured {
		o := cm("demo", name, map[string]interface{}{"k": v})
		o.SetUID(types.UID("uid-" + name))
		o.SetResourceVersion(rv)
		return o
	}
	sel := selection.Selection{cmGVR: {Resource: selection.APIResource{GVR: cmGVR, Namespaced: true}, Namespaces: sets.New("demo")}}
	tc := &mirror.Target{Key: "demo/t", Path: "base", Selection: sel}
	snap := func(objs ...*unstructured.Unstructured) *snapshot.Plan {
		t.Helper()
		var items []runtime.Object
		for _, o := range objs {
			items = append(items, o)
		}
		dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
			map[schema.GroupVersionResource]string{cmGVR: "ConfigMapList"}, items...)
		// A new worker each time: what a restarted server has.
		m, _ := newTestManager(filepath.Join(tmp, "work"))
		w := newBranchWorker(m, mirror.BranchKey{Repo: remote, Branch: "main"}, mirror.WorkerConfig{URL: "file://" + remote, MaxChanges: 500})
		defer w.clone.close()
		res, err := w.Snapshot(context.Background(), tc, snapshot.Source{List: dynamicLister(dyn)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return res.Plan
	}
	show := func(name string) string {
		return run(t, tmp, "--git-dir", remote, "show", "main:base/v1/configmaps/demo/"+name+".yaml")
	}
	if res := snap(obj("a", "10", "one"), obj("b", "11", "one"), obj("c", "12", "one")); res.Stats.Created != 3 {
		t.Fatalf("first snapshot: %+v", res.Stats)
	}
	// A human edits c's file.
	seed := filepath.Join(tmp, "seed")
	run(t, tmp, "clone", "-q", remote, seed)
	os.WriteFile(filepath.Join(seed, "base/v1/configmaps/demo/c.yaml"), []byte("edited by hand\n"), 0o644)
	run(t, seed, "commit", "-qam", "hand edit")
	run(t, seed, "push", "-q", "origin", "HEAD:main")

	// a: same uid and resourceVersion, different content (impossible in a
	// cluster; here it shows a is not rendered again). b: a new version. c: same
	// version, but its file is not the one we wrote.
	res := snap(obj("a", "10", "two"), obj("b", "13", "two"), obj("c", "12", "one"))
	if res.Stats.Unchanged != 1 || res.Stats.Updated != 2 {
		t.Errorf("after the restart: %+v, want a unchanged, b and c updated", res.Stats)
	}
	if !strings.Contains(show("a"), "k: one") {
		t.Errorf("a was rendered again:\n%s", show("a"))
	}
	if !strings.Contains(show("b"), "k: two") || !strings.Contains(show("c"), "k: one") {
		t.Errorf("b or c not written:\nb:\n%s\nc:\n%s", show("b"), show("c"))
	}
	// Without an index (another version, or none) everything is rendered again.
	os.WriteFile(filepath.Join(tmp, "work", CloneDirName(mirror.BranchKey{Repo: remote, Branch: "main"}), "gitops-reverser-index"), []byte("old version\n"), 0o600)
	if res := snap(obj("a", "10", "two"), obj("b", "13", "two"), obj("c", "12", "one")); res.Stats.Updated != 1 || !strings.Contains(show("a"), "k: two") {
		t.Errorf("with an index of another version: %+v\n%s", res.Stats, show("a"))
	}
}
