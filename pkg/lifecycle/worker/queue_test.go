package worker

import (
	"slices"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"

	"github.com/configbutler/gitops-reverser/pkg/lifecycle/mirror"
	"github.com/configbutler/gitops-reverser/pkg/selection"
)

var cmGVR = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}

// cmsIn selects configmaps in the namespaces given.
func cmsIn(ns ...string) selection.Selection {
	return selection.Selection{cmGVR: {Resource: selection.APIResource{GVR: cmGVR, Namespaced: true}, Namespaces: sets.New(ns...)}}
}

// liveChange is a change of target key to a configmap ns/name, at path ns/name.
func liveChange(key, ns, name string) *mirror.Change {
	return &mirror.Change{TargetKey: key, GVR: cmGVR, Namespace: ns, Name: name, Path: ns + "/" + name, Object: cm(ns, name, nil)}
}

// testQueue is a queue of maxChanges and interval serving the targets given.
func testQueue(maxChanges int, interval time.Duration, targets ...string) *queue {
	ts := newTargetSet()
	for _, k := range targets {
		ts.add(k)
	}
	return newQueue(ts, &settings{cfg: mirror.WorkerConfig{MaxChanges: maxChanges, Interval: interval}}, time.Minute)
}

func pendingPaths(q *queue) []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []string
	for p := range q.pending {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// TestFlushDue: when a batch is due, from its window, its size, the changes
// held for attribution and a failed push's backoff.
func TestFlushDue(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	first := now.Add(-10 * time.Second)
	for _, tc := range []struct {
		name             string
		n                int
		heldDue, retryAt time.Time
		want             time.Time
	}{
		{name: "the window ends", n: 1, want: first.Add(time.Minute)},
		{name: "a full batch is due at once", n: 3, want: now},
		{name: "held changes are looked at before the window ends", n: 1, heldDue: now.Add(time.Second), want: now.Add(time.Second)},
		{name: "held changes after the window ends wait for it", n: 1, heldDue: now.Add(time.Hour), want: first.Add(time.Minute)},
		{name: "the backoff delays a due window", n: 1, retryAt: now.Add(2 * time.Minute), want: now.Add(2 * time.Minute)},
		{name: "the backoff delays a full batch", n: 5, retryAt: now.Add(4 * time.Second), want: now.Add(4 * time.Second)},
		{name: "the backoff delays held changes", n: 1, heldDue: now.Add(time.Second), retryAt: now.Add(8 * time.Second), want: now.Add(8 * time.Second)},
		{name: "a backoff over changes nothing", n: 1, retryAt: now.Add(-time.Second), want: first.Add(time.Minute)},
	} {
		if got := flushDue(tc.n, 3, first, time.Minute, tc.heldDue, tc.retryAt, now); !got.Equal(tc.want) {
			t.Errorf("%s: due %v, want %v", tc.name, got.Sub(now), tc.want.Sub(now))
		}
	}
}

// TestWindowDue: a batch is taken whole when its window has passed or it is full.
func TestWindowDue(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		name  string
		n     int
		first time.Time
		want  bool
	}{
		{"within its window", 1, now.Add(-30 * time.Second), false},
		{"its window ends now", 1, now.Add(-time.Minute), true},
		{"its window has passed", 1, now.Add(-2 * time.Minute), true},
		{"full within its window", 3, now, true},
		{"no window open", 1, time.Time{}, false},
	} {
		if got := windowDue(tc.n, 3, tc.first, time.Minute, now); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestBackoff: the delay after failed pushes doubles from 2 s up to a minute.
func TestBackoff(t *testing.T) {
	for failed, want := range map[int]time.Duration{1: 2 * time.Second, 2: 4 * time.Second, 5: 32 * time.Second, 6: time.Minute, 7: time.Minute, 100: time.Minute} {
		if got := backoff(failed); got != want {
			t.Errorf("backoff(%d) = %v, want %v", failed, got, want)
		}
	}
}

// TestHeldUntil: a held change is looked at again soon, and at the latest
// when its grace ends.
func TestHeldUntil(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		name  string
		last  time.Time
		grace time.Duration
		want  time.Time
	}{
		{"a long grace: look again soon", now, time.Hour, now.Add(heldPoll)},
		{"the grace ends before the poll", now.Add(-time.Second), time.Second + heldPoll/2, now.Add(heldPoll / 2)},
		{"the grace is over", now.Add(-time.Hour), time.Second, now.Add(-time.Hour + time.Second)},
	} {
		if got := heldUntil(tc.last, tc.grace, now); !got.Equal(tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got.Sub(now), tc.want.Sub(now))
		}
	}
}

// TestTakeDueBatch: what a flush takes out of the queue, and what keeps its
// window.
func TestTakeDueBatch(t *testing.T) {
	for _, tc := range []struct {
		name        string
		final       bool
		windowAgo   time.Duration
		held        []string
		pending     []string
		wantBatch   []string
		wantPending []string
		wantWindow  bool // a window is still open
	}{
		{name: "the window passed: all", windowAgo: 2 * time.Minute, held: []string{"a/1"}, pending: []string{"a/1", "a/2"}, wantBatch: []string{"a/1", "a/2"}},
		{name: "the final flush: all", final: true, pending: []string{"a/1", "a/2"}, wantBatch: []string{"a/1", "a/2"}},
		{name: "full: all", pending: []string{"a/1", "a/2", "a/3"}, wantBatch: []string{"a/1", "a/2", "a/3"}},
		{name: "within the window: only the held", held: []string{"a/1"}, pending: []string{"a/1", "a/2"}, wantBatch: []string{"a/1"}, wantPending: []string{"a/2"}, wantWindow: true},
		{name: "only held changes: the window closes", held: []string{"a/1"}, pending: []string{"a/1"}, wantBatch: []string{"a/1"}},
		{name: "within the window, none held: nothing", pending: []string{"a/1"}, wantPending: []string{"a/1"}, wantWindow: true},
	} {
		q := testQueue(3, time.Minute, "a/t")
		for _, p := range tc.pending {
			q.pending[p] = liveChange("a/t", "a", p[2:])
		}
		q.firstPending = time.Now().Add(-tc.windowAgo)
		if len(tc.held) > 0 {
			q.held, q.heldDue = map[string]bool{}, time.Now()
			for _, p := range tc.held {
				q.held[p] = true
			}
		}
		batch, maxChanges := q.take(tc.final)
		var got []string
		for p := range batch {
			got = append(got, p)
		}
		slices.Sort(got)
		if !slices.Equal(got, tc.wantBatch) || maxChanges != 3 {
			t.Errorf("%s: took %v (max %d), want %v", tc.name, got, maxChanges, tc.wantBatch)
		}
		if left := pendingPaths(q); !slices.Equal(left, tc.wantPending) {
			t.Errorf("%s: left %v, want %v", tc.name, left, tc.wantPending)
		}
		if open := !q.firstPending.IsZero(); open != tc.wantWindow {
			t.Errorf("%s: window open %v, want %v", tc.name, open, tc.wantWindow)
		}
		if len(batch) > 0 && (q.held != nil || !q.heldDue.IsZero()) {
			t.Errorf("%s: the held changes are still marked after they were taken", tc.name)
		}
	}
}

// TestRequeueAndBackoff: what a failed push puts back (not what a newer
// change replaced, nor what the target may no longer write, nor a removed
// target's), the backoff it starts, and a push that works ending it.
func TestRequeueAndBackoff(t *testing.T) {
	q := testQueue(100, time.Hour, "a/t", "b/t")
	q.targets.narrow("a/t", cmsIn("a"))
	newer := liveChange("a/t", "a", "newer")
	q.enqueue([]*mirror.Change{newer})
	batch := map[string]*mirror.Change{}
	for _, c := range []*mirror.Change{liveChange("a/t", "a", "1"), liveChange("a/t", "a", "newer"), liveChange("a/t", "x", "1"), liveChange("b/t", "b", "1"), liveChange("gone/t", "g", "1")} {
		batch[c.Path] = c
	}
	paths := []string{"a/1", "a/newer", "x/1", "b/1", "g/1"}
	for i, wantDelay := range []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second, time.Minute, time.Minute} {
		before := time.Now()
		q.requeue(batch, paths)
		if q.failed != i+1 || q.retryAt.Before(before.Add(wantDelay)) || q.retryAt.After(time.Now().Add(wantDelay)) {
			t.Fatalf("failure %d: failed %d, retry in %v, want %v", i+1, q.failed, time.Until(q.retryAt), wantDelay)
		}
	}
	if got := pendingPaths(q); !slices.Equal(got, []string{"a/1", "a/newer", "b/1"}) {
		t.Errorf("put back %v, want a/1, a/newer and b/1", got)
	}
	if q.pending["a/newer"] != newer {
		t.Error("the failed push's change replaced a newer one")
	}
	if q.nextFlush() < 50*time.Second {
		t.Errorf("the next flush in %v: the backoff does not delay it", q.nextFlush())
	}
	q.pushed()
	if q.failed != 0 || !q.retryAt.IsZero() {
		t.Errorf("after a push that worked: failed %d, retryAt %v", q.failed, q.retryAt)
	}
	if counts := q.counts(); counts["a/t"] != 2 || counts["b/t"] != 1 {
		t.Errorf("counts %v", counts)
	}
}

// TestHold: changes held for their reports go back unless a newer change
// came or their target left, and are looked at again at the earliest one's
// due time.
func TestHold(t *testing.T) {
	q := testQueue(100, time.Hour, "a/t")
	q.enqueue([]*mirror.Change{liveChange("a/t", "a", "newer")})
	now := time.Now()
	early, late := liveChange("a/t", "a", "early"), liveChange("a/t", "a", "late")
	early.Last, late.Last = now.Add(-time.Minute+time.Millisecond), now // grace: a minute
	q.hold([]*mirror.Change{late, early, liveChange("a/t", "a", "newer"), liveChange("gone/t", "g", "1")})
	if got := pendingPaths(q); !slices.Equal(got, []string{"a/early", "a/late", "a/newer"}) {
		t.Errorf("pending %v", got)
	}
	if !q.held["a/early"] || !q.held["a/late"] || q.held["a/newer"] || len(q.held) != 2 {
		t.Errorf("held %v", q.held)
	}
	if d := q.heldDue.Sub(now); d > heldPoll/2 {
		t.Errorf("held changes looked at in %v, want when early's grace ends", d)
	}
}

// TestRestrictDrops: Restrict drops a target's pending changes outside its
// narrowed ceiling, and only its own; when that leaves none of the target's
// waiting, the target learns that no push of it is failing.
func TestRestrictDrops(t *testing.T) {
	for _, tc := range []struct {
		name       string
		ceiling    selection.Selection // the ceiling before Restrict (nil: none)
		restrict   selection.Selection
		want       []string
		wantReport bool
	}{
		{name: "some dropped, some left", restrict: cmsIn("a"), want: []string{"a/1", "b/other"}},
		{name: "all of the target's dropped", restrict: cmsIn("c"), want: []string{"b/other"}, wantReport: true},
		{name: "nothing dropped", restrict: cmsIn("a", "b"), want: []string{"a/1", "b/1", "b/other"}},
		{name: "never widened", ceiling: cmsIn("a"), restrict: cmsIn("a", "b"), want: []string{"a/1", "b/other"}},
		{name: "another type only", restrict: selection.Selection{}, want: []string{"b/other"}, wantReport: true},
	} {
		m, reported := newTestManager(t.TempDir())
		w := newBranchWorker(m, mirror.BranchKey{Repo: "r", Branch: "main"}, mirror.WorkerConfig{MaxChanges: 100, Interval: time.Hour})
		w.addTarget("a/t")
		w.addTarget("b/t")
		w.Enqueue(liveChange("a/t", "a", "1"), liveChange("a/t", "b", "1"), liveChange("b/t", "b", "other"))
		if tc.ceiling != nil {
			w.targets.narrow("a/t", tc.ceiling)
		}
		w.Restrict("a/t", tc.restrict)
		if got := pendingPaths(w.queue); !slices.Equal(got, tc.want) {
			t.Errorf("%s: pending %v, want %v", tc.name, got, tc.want)
		}
		reports := len(reported.all)
		if tc.wantReport != (reports == 1) || reports > 1 || reports == 1 && (reported.all[0].Target != "a/t" || reported.all[0].Op != mirror.OpCommit || reported.all[0].Err != nil) {
			t.Errorf("%s: reports %+v, want a report: %v", tc.name, reported.all, tc.wantReport)
		}
	}
}

// TestRemoveTarget: a removed target takes its pending changes, ceiling and
// snapshot request along; the worker says when none is left.
func TestRemoveTarget(t *testing.T) {
	m, _ := newTestManager(t.TempDir())
	w := newBranchWorker(m, mirror.BranchKey{Repo: "r", Branch: "main"}, mirror.WorkerConfig{MaxChanges: 100, Interval: time.Hour})
	w.addTarget("a/t")
	w.addTarget("b/t")
	w.RequestSnapshot(&mirror.Target{Key: "a/t", Selection: cmsIn("a")}, "fp")
	w.Enqueue(liveChange("a/t", "a", "1"), liveChange("b/t", "b", "1"))
	if w.removeTarget("c/t") {
		t.Error("removing a target it does not serve emptied the worker")
	}
	if w.removeTarget("a/t") {
		t.Error("the worker is empty while b/t uses it")
	}
	if got := pendingPaths(w.queue); !slices.Equal(got, []string{"b/1"}) {
		t.Errorf("pending %v", got)
	}
	if w.targets.snapshotCurrent("a/t", "fp") || !w.targets.allows(liveChange("a/t", "x", "1")) {
		t.Error("the removed target's snapshot request or ceiling stayed")
	}
	if !w.removeTarget("b/t") {
		t.Error("the worker is not empty after its last target left")
	}
}

// TestMaxCommitsMakesABatchDueSooner: with PushAt (spec.push.maxCommits)
// below MaxChanges, that many waiting changes wake the worker and are taken
// before the window ends; a PushAt above MaxChanges changes nothing.
func TestMaxCommitsMakesABatchDueSooner(t *testing.T) {
	for _, tc := range []struct {
		pushAt, maxChanges, due int
	}{{2, 5, 2}, {0, 5, 5}, {9, 5, 5}} {
		ts := newTargetSet()
		ts.add("demo/t")
		q := newQueue(ts, &settings{cfg: mirror.WorkerConfig{MaxChanges: tc.maxChanges, PushAt: tc.pushAt, Interval: time.Hour}}, time.Minute)
		for i := range tc.due {
			wake := q.enqueue([]*mirror.Change{liveChange("demo/t", "demo", string(rune('a'+i)))})
			if want := i == 0 || i == tc.due-1; wake != want {
				t.Errorf("pushAt %d maxChanges %d: change %d woke %v, want %v", tc.pushAt, tc.maxChanges, i+1, wake, want)
			}
			if batch, _ := q.take(false); (len(batch) > 0) != (i == tc.due-1) {
				t.Errorf("pushAt %d maxChanges %d: after %d changes a batch of %d taken", tc.pushAt, tc.maxChanges, i+1, len(batch))
			}
		}
	}
}
