package worker

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"
	dynamicfake "k8s.io/client-go/dynamic/fake"

	"github.com/configbutler/gitops-reverser/pkg/lifecycle/mirror"
	"github.com/configbutler/gitops-reverser/pkg/lifecycle/snapshot"
	"github.com/configbutler/gitops-reverser/pkg/selection"
)

// TestOneObjectNeverFailsTheRest: a directory someone else committed where
// an object's file goes, and a Secret that cannot be written (no keys), cost
// those objects only: the snapshot and a live batch commit everything else,
// count the failure and name it for the target's Event.
func TestOneObjectNeverFailsTheRest(t *testing.T) {
	tmp := t.TempDir()
	remote := filepath.Join(tmp, "remote.git")
	run(t, tmp, "init", "-q", "--bare", "-b", "main", remote)
	seed := filepath.Join(tmp, "seed")
	run(t, tmp, "clone", "-q", remote, seed)
	blockedDir := filepath.Join(seed, "base/v1/configmaps/demo/blocked.yaml")
	os.MkdirAll(blockedDir, 0o755)
	os.WriteFile(filepath.Join(blockedDir, "notes"), []byte("a human's directory\n"), 0o644)
	run(t, seed, "add", "-A")
	run(t, seed, "commit", "-qm", "seed")
	run(t, seed, "push", "-q", "origin", "HEAD:main")

	cmGVR := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{cmGVR: "ConfigMapList"},
		cm("demo", "blocked", map[string]interface{}{"k": "v"}),
		cm("demo", "fine", map[string]interface{}{"k": "v"}),
		cm("demo", `back\slash`, map[string]interface{}{"k": "v"}),
	)
	sel := selection.Selection{cmGVR: {Resource: selection.APIResource{GVR: cmGVR, Namespaced: true}, Namespaces: sets.New("demo")}}
	tc := &mirror.Target{Key: "demo/t", Path: "base", Selection: sel}
	m, reported := newTestManager(filepath.Join(tmp, "work"))
	w := newBranchWorker(m, mirror.BranchKey{Repo: remote, Branch: "main"}, mirror.WorkerConfig{URL: "file://" + remote, MaxChanges: 500, Interval: time.Hour})
	w.addTarget("demo/t")
	defer w.clone.close()

	res, err := w.Snapshot(context.Background(), tc, snapshot.Source{List: dynamicLister(dyn)}, nil)
	if err != nil {
		t.Fatalf("one blocked object failed the snapshot: %v", err)
	}
	st := res.Plan.Stats
	if st.Created != 2 || st.Failed != 1 || len(res.Plan.Failed) != 1 || !strings.Contains(res.Plan.Failed[0].String(), "base/v1/configmaps/demo/blocked.yaml: a file or directory someone else wrote is in the way") {
		t.Fatalf("stats %+v, failed %v", st, res.Plan.Failed)
	}
	tree := run(t, tmp, "--git-dir", remote, "ls-tree", "-r", "--name-only", "main")
	for _, want := range []string{"base/v1/configmaps/demo/fine.yaml", "base/v1/configmaps/demo/back%5Cslash.yaml", "base/v1/configmaps/demo/blocked.yaml/notes"} {
		if !strings.Contains(tree, want) {
			t.Errorf("%s missing from the tree:\n%s", want, tree)
		}
	}

	// Live: the blocked object changes again, a Secret arrives that this
	// target cannot write, and a plain change: the plain one is committed.
	secGVR := schema.GroupVersionResource{Version: "v1", Resource: "secrets"}
	secret := cm("demo", "s", nil)
	secret.SetKind("Secret")
	w.Enqueue(
		&mirror.Change{TargetKey: "demo/t", GVR: cmGVR, Namespace: "demo", Name: "blocked", Path: "base/v1/configmaps/demo/blocked.yaml", Object: cm("demo", "blocked", map[string]interface{}{"k": "w"})},
		&mirror.Change{TargetKey: "demo/t", GVR: secGVR, Namespace: "demo", Name: "s", Path: "base/v1/secrets/demo/s.sops.yaml", Object: secret},
		&mirror.Change{TargetKey: "demo/t", GVR: cmGVR, Namespace: "demo", Name: "later", Path: "base/v1/configmaps/demo/later.yaml", Object: cm("demo", "later", map[string]interface{}{"k": "v"})},
	)
	w.live.flush(context.Background(), true)
	if tree := run(t, tmp, "--git-dir", remote, "ls-tree", "-r", "--name-only", "main"); !strings.Contains(tree, "base/v1/configmaps/demo/later.yaml") {
		t.Fatalf("the plain change was not committed:\n%s", tree)
	}
	var notWritten []string
	for _, r := range reported.all {
		if r.Op == mirror.OpNotWritten {
			notWritten = append(notWritten, r.Failed...)
		}
	}
	if len(notWritten) != 2 || !strings.Contains(notWritten[0]+notWritten[1], "configmaps demo/blocked") || !strings.Contains(notWritten[0]+notWritten[1], "secrets demo/s") {
		t.Fatalf("reported not written: %q", notWritten)
	}
}
