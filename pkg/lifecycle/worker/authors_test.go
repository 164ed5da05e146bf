package worker

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/configbutler/gitops-reverser/pkg/attribution"
	"github.com/configbutler/gitops-reverser/pkg/lifecycle/mirror"
)

// TestCommitsPerAuthor: a batch of several users' changes becomes one commit
// per author, in the order of their first change, each holding only that
// author's files, pushed together; a change no report explains waits for the
// grace, then goes authored by the field manager of its last write.
func TestCommitsPerAuthor(t *testing.T) {
	w, store, cfg, tmp, remote := attributedWorker(t, time.Hour, time.Nanosecond)

	cmGVR := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	now := time.Now()
	change := func(name string, uid types.UID, rv string, since time.Duration, manager string) *mirror.Change {
		c := &mirror.Change{TargetKey: "demo/t", GVR: cmGVR, Path: "v1/configmaps/demo/" + name + ".yaml", Namespace: "demo", UID: uid, ResourceVersion: rv,
			Since: now.Add(since)}
		if rv != "" {
			o := cm("demo", name, map[string]interface{}{"k": name})
			o.SetUID(uid)
			o.SetResourceVersion(rv)
			if manager != "" {
				_ = unstructured.SetNestedSlice(o.Object, []interface{}{map[string]interface{}{"manager": manager, "operation": "Update", "time": "2026-01-01T00:00:00Z"}}, "metadata", "managedFields")
			}
			c.Object = o
		}
		return c
	}
	rep := func(name string, uid types.UID, rv string, a attribution.Author) attribution.Report {
		return attribution.Report{Resource: cmGVR.GroupResource(), Namespace: "demo", Name: name, UID: uid, ResourceVersion: rv, Author: a, Received: now}
	}
	// A first commit holding the file bob deletes later.
	w.Enqueue(change("old", "uo", "1", 0, "kubectl-create"))
	w.live.flush(context.Background(), true)

	store.Add(
		rep("b1", "ub1", "11", attribution.Author{User: "bob", Verb: "update"}),
		rep("a1", "ua1", "10", attribution.Author{User: "alice", Impersonator: "admin", Verb: "create"}),
		rep("a2", "ua2", "12", attribution.Author{User: "alice", Verb: "apply"}),
		rep("old", "uo", "", attribution.Author{User: "bob", Verb: "delete"}),
		// A report for another version of a3 explains nothing about the
		// version the event carries.
		rep("a3", "ua3", "13", attribution.Author{User: "mallory", Verb: "update"}),
	)
	w.Enqueue(
		change("a1", "ua1", "10", -3*time.Second, ""),
		change("b1", "ub1", "11", -2*time.Second, ""),
		change("a2", "ua2", "12", -1*time.Second, ""),
		change("old", "uo", "", 0, ""),
		change("a3", "ua3", "14", 0, "kubectl-edit"),
	)
	w.live.flush(context.Background(), false)

	log := func() []string { return authorLog(t, tmp, remote) }
	want := []string{
		"kubectl-create <kubectl-create@kubernetes.invalid> | Mirror <mirror@example.com> | kubectl-create,create,field-manager v1/configmaps/demo/old.yaml",
		// alice impersonated by admin, and alice herself, are two authors.
		"alice <alice@kubernetes.invalid> | Mirror <mirror@example.com> | alice,create,admin v1/configmaps/demo/a1.yaml",
		"bob <bob@kubernetes.invalid> | Mirror <mirror@example.com> | bob,update,delete v1/configmaps/demo/b1.yaml v1/configmaps/demo/old.yaml",
		"alice <alice@kubernetes.invalid> | Mirror <mirror@example.com> | alice,apply v1/configmaps/demo/a2.yaml",
	}
	got := log()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("commits:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if n := strings.Count(run(t, tmp, "--git-dir", remote, "reflog", "show", "main"), "\n"); n != 2 {
		t.Errorf("the branch moved %d times, want twice (one push per flush)", n)
	}
	// a3 waits for its report: still pending, due at its grace.
	w.queue.mu.Lock()
	_, waiting := w.queue.pending["v1/configmaps/demo/a3.yaml"]
	due := w.queue.heldDue
	w.queue.mu.Unlock()
	if !waiting || due.IsZero() {
		t.Fatalf("a3 does not wait for its report (pending %v, due %v)", waiting, due)
	}
	// A change arriving now has its own batch window: a flush for the held
	// change does not take it early.
	cfg.Interval = time.Hour
	w.configure(cfg)
	store.Add(rep("n1", "un1", "20", attribution.Author{User: "erin", Verb: "create"}))
	w.Enqueue(change("n1", "un1", "20", time.Second, ""))
	w.live.flush(context.Background(), false)
	if got = log(); len(got) != 4 {
		t.Fatalf("a flush for a held change committed:\n%s", strings.Join(got, "\n"))
	}
	// The grace is over (the last flush on shutdown waits for nothing): the
	// field manager authors it, and the commit says so.
	w.live.flush(context.Background(), true)
	got = log()
	want = append(want,
		"kubectl-edit <kubectl-edit@kubernetes.invalid> | Mirror <mirror@example.com> | kubectl-edit,create,field-manager v1/configmaps/demo/a3.yaml",
		"erin <erin@kubernetes.invalid> | Mirror <mirror@example.com> | erin,create v1/configmaps/demo/n1.yaml")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("after the grace:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// attributedWorker is a branch worker for the target demo/t pushing to a
// new bare repository (remote, under tmp; every ref update logged), with an
// attribution store and its grace, and push interval.
func attributedWorker(t *testing.T, grace, interval time.Duration) (w *BranchWorker, store *attribution.Store, cfg mirror.WorkerConfig, tmp, remote string) {
	t.Helper()
	tmp = t.TempDir()
	remote = filepath.Join(tmp, "remote.git")
	run(t, tmp, "init", "-q", "--bare", "-b", "main", remote)
	run(t, tmp, "--git-dir", remote, "config", "core.logAllRefUpdates", "always")
	store = attribution.NewStore(time.Minute)
	m := NewManager(Options{WorkDir: filepath.Join(tmp, "work"), Report: func(mirror.Result) {}, Attribution: store, AttributionGrace: grace})
	cfg = mirror.WorkerConfig{URL: "file://" + remote, MaxChanges: 100, Interval: interval,
		Commit: mirror.CommitStyle{CommitterName: "Mirror", CommitterEmail: "mirror@example.com"}}
	w = newBranchWorker(m, mirror.BranchKey{Repo: remote, Branch: "main"}, cfg)
	w.addTarget("demo/t")
	t.Cleanup(w.clone.close)
	return w, store, cfg, tmp, remote
}

// authorLog lists the commits of main, oldest first, each as its author,
// committer, attribution trailers and files on one line.
func authorLog(t *testing.T, tmp, remote string) []string {
	out := run(t, tmp, "--git-dir", remote, "log", "--reverse", "--no-renames", "--format=@@%an <%ae> | %cn <%ce> | %(trailers:key=Kubernetes-User,key=Kubernetes-Field-Manager,key=Kubernetes-Verb,key=Kubernetes-Impersonator,key=Kubernetes-Attribution,valueonly,separator=%x2C)", "--name-only", "main")
	var commits []string
	for _, block := range strings.Split(out, "@@")[1:] {
		commits = append(commits, strings.Join(strings.Fields(strings.ReplaceAll(block, ", ", ",")), " "))
	}
	return commits
}
