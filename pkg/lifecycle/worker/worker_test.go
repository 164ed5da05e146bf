package worker

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"

	"github.com/configbutler/gitops-reverser/pkg/lifecycle/mirror"
	"github.com/configbutler/gitops-reverser/pkg/selection"
)

// TestLiveChangesCoalesceAndSplitByMaxChanges: live changes are coalesced per
// file (the latest state wins; a delete after a create leaves nothing), then
// committed at most maxChanges files per commit, each commit's message listing
// its files, all pushed together.
func TestLiveChangesCoalesceAndSplitByMaxChanges(t *testing.T) {
	tmp := t.TempDir()
	remote := filepath.Join(tmp, "remote.git")
	run(t, tmp, "init", "-q", "--bare", "-b", "main", remote)
	run(t, tmp, "--git-dir", remote, "config", "core.logAllRefUpdates", "always")
	cmGVR := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	m, reported := newTestManager(filepath.Join(tmp, "work"))
	w := newBranchWorker(m, mirror.BranchKey{Repo: remote, Branch: "main"}, mirror.WorkerConfig{URL: "file://" + remote, MaxChanges: 3, Interval: time.Hour})
	w.addTarget("demo/t")
	defer w.clone.close()

	change := func(name, v string) *mirror.Change {
		c := &mirror.Change{TargetKey: "demo/t", GVR: cmGVR, Path: "base/v1/configmaps/demo/" + name + ".yaml"}
		if v != "" {
			c.Object = cm("demo", name, map[string]interface{}{"v": v})
		}
		return c
	}
	for i := range 7 {
		w.Enqueue(change(fmt.Sprintf("cm-%d", i), "first"))
	}
	for i := range 7 {
		w.Enqueue(change(fmt.Sprintf("cm-%d", i), "latest")) // the latest state wins
	}
	w.Enqueue(change("short-lived", "x"), change("short-lived", "")) // created, then deleted
	w.live.flush(context.Background(), false)

	log := run(t, tmp, "--git-dir", remote, "log", "--format=%B%x00", "main")
	var msgs []string
	for _, m := range strings.Split(log, "\x00") {
		if m = strings.TrimSpace(m); m != "" {
			msgs = append(msgs, m)
		}
	}
	if len(msgs) != 3 {
		t.Fatalf("%d commits, want 3 (7 files, at most 3 per commit):\n%s", len(msgs), log)
	}
	listed := 0
	for _, m := range msgs {
		// Subject, blank line, the files, blank line, the trailers.
		parts := strings.Split(m, "\n\n")
		if len(parts) != 3 || !strings.Contains(parts[2], "Kubernetes-Field-Manager: gitops-reverser") {
			t.Errorf("message not subject, files, trailers:\n%s", m)
			continue
		}
		lines := strings.Split(parts[1], "\n")
		if len(lines) > 3 {
			t.Errorf("a commit lists %d files, more than maxChanges:\n%s", len(lines), m)
		}
		for _, l := range lines {
			if !strings.HasPrefix(l, "create base/v1/configmaps/demo/cm-") {
				t.Errorf("unexpected message line %q", l)
			}
			listed++
		}
	}
	if listed != 7 {
		t.Errorf("%d files listed in the messages, want 7", listed)
	}
	files := run(t, tmp, "--git-dir", remote, "ls-tree", "-r", "--name-only", "main")
	if strings.Count(files, "\n") != 7 || strings.Contains(files, "short-lived") {
		t.Errorf("files:\n%s", files)
	}
	if got := run(t, tmp, "--git-dir", remote, "show", "main:base/v1/configmaps/demo/cm-4.yaml"); !strings.Contains(got, "v: latest") {
		t.Errorf("cm-4 is not at its latest state:\n%s", got)
	}
	// The three commits came with one push: the server's branch moved once.
	if n := strings.Count(run(t, tmp, "--git-dir", remote, "reflog", "show", "main"), "\n"); n != 1 {
		t.Errorf("the branch moved %d times, want once (one push for the chain)", n)
	}
	// The target is told once, with the tip the chain pushed.
	tip := strings.TrimSpace(run(t, tmp, "--git-dir", remote, "rev-parse", "main"))
	if len(reported.all) != 1 || reported.all[0].Op != mirror.OpCommit || reported.all[0].Target != "demo/t" || reported.all[0].Commit != tip {
		t.Errorf("reports %+v, want one commit report for demo/t at %s", reported.all, tip)
	}
}

// TestReleaseTargetStopsIdleWorkers: a worker is stopped once its last target
// is released; a worker that still has targets keeps running.
func TestReleaseTargetStopsIdleWorkers(t *testing.T) {
	var released []mirror.BranchKey
	m := NewManager(Options{WorkDir: t.TempDir(), Released: func(k mirror.BranchKey) { released = append(released, k) }})
	a, b := mirror.BranchKey{Repo: "r", Branch: "a"}, mirror.BranchKey{Repo: "r", Branch: "b"}
	cfg := mirror.WorkerConfig{URL: "file:///nowhere", MaxChanges: 10, Interval: time.Hour}
	m.EnsureWorker(a, cfg, "ns/t1")
	m.EnsureWorker(a, cfg, "ns/t2")
	m.EnsureWorker(b, cfg, "ns/t3")
	if m.Workers() != 2 {
		t.Fatalf("%d workers, want 2", m.Workers())
	}
	m.ReleaseTarget("ns/t1", mirror.BranchKey{})
	if m.Get(a) == nil || len(released) != 0 {
		t.Fatalf("worker of branch a stopped while ns/t2 still uses it (released %v)", released)
	}
	m.ReleaseTarget("ns/t2", mirror.BranchKey{})
	m.ReleaseTarget("ns/t3", b) // moving to b: keeps b
	if m.Get(a) != nil || m.Get(b) == nil || len(released) != 1 || released[0] != a {
		t.Fatalf("after releasing: a=%v b=%v released=%v", m.Get(a), m.Get(b), released)
	}
	m.Stop()
	if m.Workers() != 0 {
		t.Fatalf("%d workers after Stop", m.Workers())
	}
}

// TestRestrictBoundsPendingAndRetries: a target's changes outside its
// narrowed selection are dropped from the queue, refused when they arrive
// later, and not put back by a failed push's retry.
func TestRestrictBoundsPendingAndRetries(t *testing.T) {
	cmGVR := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	m, _ := newTestManager(t.TempDir())
	w := newBranchWorker(m, mirror.BranchKey{Repo: "r", Branch: "main"}, mirror.WorkerConfig{MaxChanges: 100, Interval: time.Hour})
	w.addTarget("a/t")
	change := func(ns, name string) *mirror.Change {
		return &mirror.Change{TargetKey: "a/t", GVR: cmGVR, Namespace: ns, Path: ns + "/" + name, Object: cm(ns, name, nil)}
	}
	w.Enqueue(change("a", "1"), change("b", "1"))
	if len(w.queue.pending) != 2 {
		t.Fatalf("before any bound: %d pending", len(w.queue.pending))
	}
	onlyA := selection.Selection{cmGVR: {Resource: selection.APIResource{GVR: cmGVR, Namespaced: true}, Namespaces: sets.New("a")}}
	w.Restrict("a/t", onlyA)
	if len(w.queue.pending) != 1 || w.queue.pending["a/1"] == nil {
		t.Errorf("after Restrict: %v", w.queue.pending)
	}
	w.Enqueue(change("b", "2"))
	if w.queue.pending["b/2"] != nil {
		t.Error("a change outside the bound was queued")
	}
	// A batch taken out before the restriction fails to push: it comes back
	// without what the target may no longer mirror.
	batch := map[string]*mirror.Change{"b/1": change("b", "1"), "a/3": change("a", "3")}
	w.queue.requeue(batch, []string{"a/3", "b/1"})
	if w.queue.pending["b/1"] != nil || w.queue.pending["a/3"] == nil {
		t.Errorf("after the retry: %v", w.queue.pending)
	}
	// Restrict never widens.
	w.Restrict("a/t", selection.Selection{cmGVR: {Resource: selection.APIResource{GVR: cmGVR, Namespaced: true}, Namespaces: sets.New("a", "b")}})
	w.Enqueue(change("b", "4"))
	if w.queue.pending["b/4"] != nil {
		t.Error("Restrict widened the bound")
	}
	// A new snapshot request sets the bound to its selection.
	w.RequestSnapshot(&mirror.Target{Key: "a/t", Selection: selection.Selection{cmGVR: {Resource: selection.APIResource{GVR: cmGVR, Namespaced: true}, Namespaces: sets.New("a", "b")}}}, "fp")
	w.Enqueue(change("b", "5"))
	if w.queue.pending["b/5"] == nil {
		t.Error("the new snapshot's selection does not bound the target")
	}
}

// TestStopTellsEveryWorkerFirst: Stop cancels every worker before it waits
// for any, so their last flushes run at once within a shutdown's grace, not
// one after another. Each worker's task, once cancelled, waits for the
// other's cancellation: one stopped after the other would wait in vain.
func TestStopTellsEveryWorkerFirst(t *testing.T) {
	m := NewManager(Options{WorkDir: t.TempDir()})
	cfg := mirror.WorkerConfig{URL: "file:///nowhere", MaxChanges: 10, Interval: time.Hour}
	var cancelled sync.WaitGroup
	cancelled.Add(2)
	met := make(chan bool, 2)
	running := make(chan struct{}, 2)
	for _, b := range []string{"a", "b"} {
		w := m.EnsureWorker(mirror.BranchKey{Repo: "r", Branch: b}, cfg, "ns/"+b)
		w.Submit("last flush "+b, func(ctx context.Context) {
			running <- struct{}{}
			<-ctx.Done()
			cancelled.Done()
			both := make(chan struct{})
			go func() { cancelled.Wait(); close(both) }()
			select {
			case <-both:
				met <- true
			case <-time.After(5 * time.Second):
				met <- false
			}
		})
	}
	<-running
	<-running
	m.Stop()
	for range 2 {
		if !<-met {
			t.Fatal("a worker was stopped only after another had finished stopping")
		}
	}
}
