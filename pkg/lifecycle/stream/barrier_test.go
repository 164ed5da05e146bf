package stream

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/configbutler/gitops-reverser/pkg/lifecycle/mirror"
	"github.com/configbutler/gitops-reverser/pkg/lifecycle/snapshot"
	"github.com/configbutler/gitops-reverser/pkg/selection"
)

var (
	cmType  = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	secType = schema.GroupVersionResource{Version: "v1", Resource: "secrets"}
)

// in selects gvr in namespaces ns.
func in(gvr schema.GroupVersionResource, ns ...string) selection.Selection {
	return selection.Selection{gvr: {Resource: selection.APIResource{GVR: gvr, Namespaced: true}, Namespaces: sets.New(ns...)}}
}

func at(ns, name, rv string) *unstructured.Unstructured {
	o := cm(ns, name, nil)
	o.SetResourceVersion(rv)
	return o
}

// TestResumePlan: which types a snapshot may Replay from the worker's resume
// points, and which of them need a catch-up watch of their own.
func TestResumePlan(t *testing.T) {
	for _, tc := range []struct {
		name          string
		resume, from  string
		gapped        bool
		want, catchUp bool
	}{
		{name: "no resume point", resume: "", from: "50"},
		{name: "gapped since registering", resume: "60", from: "50", gapped: true},
		{name: "the buffer began before the resume point", resume: "60", from: "50", want: true},
		{name: "the buffer began at the resume point", resume: "50", from: "50", want: true},
		{name: "the feed was past the resume point", resume: "40", from: "50", want: true, catchUp: true},
		{name: "a resume point that is not a resourceVersion", resume: "x", from: "50"},
		{name: "resume point 0 before the feed", resume: "0", from: "50"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resume := map[schema.GroupVersionResource]string{cmType: tc.resume, secType: "1"}
			from := map[schema.GroupVersionResource]string{cmType: tc.from, secType: "1"}
			gapped := map[schema.GroupVersionResource]bool{cmType: tc.gapped}
			resumed, catchUp := resumePlan(in(cmType, "a"), resume, from, gapped)
			if resumed[cmType] != tc.want {
				t.Errorf("resumed = %v, want %v", resumed[cmType], tc.want)
			}
			if got := catchUp[cmType]; (got != "") != tc.catchUp || (tc.catchUp && got != tc.resume) {
				t.Errorf("catch up from %q, want it: %v", got, tc.catchUp)
			}
			if resumed[secType] || catchUp[secType] != "" {
				t.Error("a type outside the selection is resumed")
			}
		})
	}
}

// TestUnseen: GoLive applies the buffered events newer than the snapshot's
// cut of their type, and those it cannot compare.
func TestUnseen(t *testing.T) {
	for _, tc := range []struct {
		name  string
		rv    string
		cuts  map[schema.GroupVersionResource]string
		apply bool
	}{
		{name: "newer than the cut", rv: "101", cuts: map[schema.GroupVersionResource]string{cmType: "100"}, apply: true},
		{name: "at the cut", rv: "100", cuts: map[schema.GroupVersionResource]string{cmType: "100"}},
		{name: "older than the cut", rv: "90", cuts: map[schema.GroupVersionResource]string{cmType: "100"}},
		{name: "another type's cut", rv: "90", cuts: map[schema.GroupVersionResource]string{secType: "100"}, apply: true},
		{name: "no cuts", rv: "90", apply: true},
		{name: "a version that does not parse", rv: "x", cuts: map[schema.GroupVersionResource]string{cmType: "100"}, apply: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, del := range []bool{false, true} {
				buffer := map[string]bufferedEvent{"k": {gvr: cmType, obj: at("a", "o", tc.rv), del: del}}
				if got := len(unseen(buffer, tc.cuts)) == 1; got != tc.apply {
					t.Errorf("delete %v: applied %v, want %v", del, got, tc.apply)
				}
			}
		})
	}
	got := floors(map[schema.GroupVersionResource]string{cmType: "100", secType: ""})
	if len(got) != 1 || got[cmType] != "100" {
		t.Errorf("floors = %v: a type read without a cut has none", got)
	}
}

// TestTakeBuffered: Replay takes the buffered events of its type only, and
// the catch-up's events of the objects the feed has not delivered since.
func TestTakeBuffered(t *testing.T) {
	buffer := map[string]bufferedEvent{
		"cm/a/both":   {gvr: cmType, obj: at("a", "both", "120")},
		"cm/a/fed":    {gvr: cmType, obj: at("a", "fed", "121"), del: true},
		"sec/a/other": {gvr: secType, obj: at("a", "other", "122")},
	}
	early := map[string]snapshot.Event{
		"a/both":   {Object: at("a", "both", "80")},
		"a/caught": {Object: at("a", "caught", "81")},
	}
	if got := names(takeBuffered(buffer, cmType, early, "")); got != "both@120 caught@81 fed@121-" {
		t.Errorf("took %v, want both@120 caught@81 fed@121-", got)
	}
	if len(buffer) != 1 || buffer["sec/a/other"].obj == nil {
		t.Errorf("left in the buffer: %v, want only the other type's", buffer)
	}
	if len(early) != 2 {
		t.Error("takeBuffered modified the catch-up's events")
	}

	// A feed started at an older resume point (another target's) delivers
	// states the branch holds: those at or before this target's are
	// dropped, from the buffer too.
	buffer = map[string]bufferedEvent{
		"cm/a/old":    {gvr: cmType, obj: at("a", "old", "40")},
		"cm/a/at":     {gvr: cmType, obj: at("a", "at", "50"), del: true},
		"cm/a/after":  {gvr: cmType, obj: at("a", "after", "51")},
		"cm/a/gone":   {gvr: cmType, obj: at("a", "gone", "52"), del: true},
		"sec/a/other": {gvr: secType, obj: at("a", "other", "30")},
	}
	if got := names(takeBuffered(buffer, cmType, nil, "50")); got != "after@51 gone@52-" {
		t.Errorf("after the resume point 50: took %v, want after@51 gone@52-", got)
	}
	if len(buffer) != 1 {
		t.Errorf("left in the buffer: %v, want only the other type's", buffer)
	}
}

// names lists events as name@resourceVersion, "-" marking deletes, sorted.
func names(events []snapshot.Event) string {
	var got []string
	for _, ev := range events {
		s := ev.Object.GetName() + "@" + ev.Object.GetResourceVersion()
		if ev.Delete {
			s += "-"
		}
		got = append(got, s)
	}
	sort.Strings(got)
	return strings.Join(got, " ")
}

// TestWaited: Replay's deadline is short from the moment the feed was
// through the target's resume point, long while it delivers a backlog from
// an older one.
func TestWaited(t *testing.T) {
	started := time.Now()
	for _, tc := range []struct {
		name         string
		now, reached time.Duration // after started; reached < 0: not yet
		want         bool
	}{
		{name: "through at once, within the wait", now: replayMaxWait / 2, reached: 0},
		{name: "through at once, past the wait", now: replayMaxWait, reached: 0, want: true},
		{name: "through after a long backlog, just now", now: 2 * replayMaxWait, reached: 2 * replayMaxWait},
		{name: "through after a long backlog, past the wait since", now: 3 * replayMaxWait, reached: 2 * replayMaxWait, want: true},
		{name: "behind, past the short wait", now: 2 * replayMaxWait, reached: -1},
		{name: "behind, past the long wait", now: replayBacklogMaxWait, reached: -1, want: true},
	} {
		var reached time.Time
		if tc.reached >= 0 {
			reached = started.Add(tc.reached)
		}
		if got := waited(started.Add(tc.now), started, reached); got != tc.want {
			t.Errorf("%s: waited = %v", tc.name, got)
		}
	}
}

func TestThrough(t *testing.T) {
	for _, tc := range []struct {
		pos, resumeAt string
		want          bool
	}{
		{pos: "60", resumeAt: "50", want: true},
		{pos: "50", resumeAt: "50", want: true},
		{pos: "60", resumeAt: "", want: true},
		{pos: "", resumeAt: "", want: true},
		{pos: "40", resumeAt: "50"},
		{pos: "", resumeAt: "50"},
	} {
		if got := through(tc.pos, tc.resumeAt); got != tc.want {
			t.Errorf("through(%q, %q) = %v", tc.pos, tc.resumeAt, got)
		}
	}
}

func TestQuiet(t *testing.T) {
	now := time.Now()
	long, short := now.Add(-2*replayQuiet), now.Add(-replayQuiet/2)
	for _, tc := range []struct {
		name             string
		pos              string
		last, registered time.Time
		want             bool
	}{
		{name: "quiet", pos: "5", last: long, registered: long, want: true},
		{name: "no position yet", pos: "", last: long, registered: long},
		{name: "the feed just delivered", pos: "5", last: short, registered: long},
		{name: "the target just registered", pos: "5", last: long, registered: short},
	} {
		if got := quiet(tc.pos, tc.last, tc.registered, now); got != tc.want {
			t.Errorf("%s: quiet = %v", tc.name, got)
		}
	}
}

// TestGapEffectOf: a feed losing its position makes live targets resync,
// marks targets whose buffer start is fixed in that epoch, and leaves the
// others (waitOpened starts them afresh).
func TestGapEffectOf(t *testing.T) {
	target := func(live bool, epoch int, fixed bool) *targetStream {
		ts := &targetStream{cfg: &mirror.Target{Selection: in(cmType, "a")}, live: live, epoch: map[schema.GroupVersionResource]int{cmType: epoch}}
		if fixed {
			ts.fixed = []schema.GroupVersionResource{cmType}
		}
		return ts
	}
	for _, tc := range []struct {
		name string
		t    *targetStream
		gvr  schema.GroupVersionResource
		want gapEffect
	}{
		{name: "live", t: target(true, 0, true), gvr: cmType, want: gapResync},
		{name: "buffering, start fixed in this epoch", t: target(false, 3, true), gvr: cmType, want: gapMark},
		{name: "buffering, start fixed in an earlier epoch", t: target(false, 2, true), gvr: cmType, want: gapNone},
		{name: "buffering, start not fixed", t: target(false, 3, false), gvr: cmType, want: gapNone},
		{name: "another type", t: target(true, 3, true), gvr: secType, want: gapNone},
	} {
		if got := gapEffectOf(tc.t, tc.gvr, 3); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestBarrierRestrictWhileSyncing: the whole barrier through the API, with
// feeds that need no cluster. A Restrict while the target waits for its feeds
// narrows it when they open (the ceiling), the feed of the type it narrowed
// away runs until then (the target is syncing) and stops after; the snapshot
// resumes what the narrowed selection keeps; Positions are read once live;
// Unregister forgets the ceiling.
func TestBarrierRestrictWhileSyncing(t *testing.T) {
	r := New(nil, nil, nil, nil)
	stopped := map[schema.GroupVersionResource]bool{}
	testFeed := func(gvr schema.GroupVersionResource) *feed {
		f := &feed{gvr: gvr, cancel: func() { stopped[gvr] = true }, opened: make(chan struct{}), light: map[string]*lightMeta{}}
		r.reg.feeds[gvr] = f
		return f
	}
	cmFeed, secFeed := testFeed(cmType), testFeed(secType)
	cfg := &mirror.Target{Key: "a/t", Path: "p", Keys: &mirror.Keys{}, Selection: selection.Merge(in(cmType, "a", "b"), in(secType, "a"))}
	resume := map[schema.GroupVersionResource]string{cmType: "60", secType: "60"}
	type result struct {
		resumed map[schema.GroupVersionResource]bool
		err     error
	}
	done := make(chan result)
	go func() {
		resumed, err := r.BeginBuffer(context.Background(), cfg, sink{}, resume)
		done <- result{resumed, err}
	}()
	for syncing := false; !syncing; time.Sleep(time.Millisecond) {
		r.reg.mu.Lock()
		_, syncing = r.reg.syncing[cfg.Key]
		r.reg.mu.Unlock()
	}
	if !r.Restrict(cfg.Key, in(cmType, "a")) {
		t.Error("Restrict of a registered, syncing target did not narrow")
	}
	if r.Restrict(cfg.Key, cfg.Selection) {
		t.Error("a wider selection reported as narrowing")
	}
	r.reg.mu.Lock()
	if stopped[secType] {
		t.Error("the feed a syncing target waits for was stopped")
	}
	r.reg.mu.Unlock()
	r.feeder.opened(cmFeed, "50")
	r.feeder.opened(secFeed, "50")
	res := <-done
	if res.err != nil {
		t.Fatal(res.err)
	}
	if len(res.resumed) != 1 || !res.resumed[cmType] {
		t.Errorf("resumed %v, want configmaps only", res.resumed)
	}
	r.reg.mu.Lock()
	got := r.reg.targets[cfg.Key].cfg.Selection
	if got[secType] != nil || !got[cmType].Namespaces.Equal(sets.New("a")) {
		t.Errorf("not narrowed at registration: %v", got.Names())
	}
	if !stopped[secType] || stopped[cmType] {
		t.Errorf("stopped feeds %v, want the secrets' only", stopped)
	}
	r.reg.mu.Unlock()
	if cfg.Selection[secType] == nil {
		t.Error("the caller's selection was changed in place")
	}
	if r.Positions(cfg.Key) != nil {
		t.Error("positions of a target not live")
	}
	r.GoLive(cfg.Key, map[schema.GroupVersionResource]string{cmType: "50"})
	if p := r.Positions(cfg.Key); len(p) != 1 || p[cmType].RV != "50" {
		t.Errorf("positions %v", p)
	}
	r.Unregister(cfg.Key)
	if _, ok := r.reg.ceilings[cfg.Key]; ok || !stopped[cmType] {
		t.Error("an unregistered target keeps its ceiling or its feed")
	}
}

// TestBacklogAfterTheCutIsNotLost: a resumed feed whose backlog (the writes
// made while the server was down) arrives only after Replay took its cut, as
// on a loaded machine where the quiet wait ends first, loses nothing: the
// events buffered before GoLive are applied by it, those after it are routed
// live, and Replay's early cut only moves them from the snapshot's commit to
// the next ones.
func TestBacklogAfterTheCutIsNotLost(t *testing.T) {
	defer func(q time.Duration) { replayQuiet = q }(replayQuiet)
	replayQuiet = time.Millisecond
	r := New(nil, nil, nil, nil)
	f := &feed{gvr: cmType, cancel: func() {}, opened: make(chan struct{}), light: map[string]*lightMeta{}}
	r.reg.feeds[cmType] = f
	cfg := &mirror.Target{Key: "a/t", Path: "p", Selection: in(cmType, "a")}
	pending := sink{}
	done := make(chan map[schema.GroupVersionResource]bool)
	go func() {
		resumed, err := r.BeginBuffer(context.Background(), cfg, pending, map[schema.GroupVersionResource]string{cmType: "50"})
		if err != nil {
			t.Error(err)
		}
		done <- resumed
	}()
	r.feeder.opened(f, "50") // the watch resumed at 50, nothing delivered yet
	if resumed := <-done; !resumed[cmType] {
		t.Fatalf("resumed %v, want configmaps", resumed)
	}
	time.Sleep(5 * time.Millisecond) // quiet: the backlog is late
	events, cut, err := r.Replay(context.Background(), cfg.Key, cmType)
	if err != nil || len(events) != 0 || cut != "50" {
		t.Fatalf("Replay = %d events, cut %q, %v; want none, cut at the resume point", len(events), cut, err)
	}
	r.feeder.deliver(f, at("a", "changed-while-down", "55"), watch.Modified)
	r.GoLive(cfg.Key, map[schema.GroupVersionResource]string{cmType: cut})
	r.feeder.deliver(f, at("a", "also-while-down", "56"), watch.Modified)
	for _, name := range []string{"changed-while-down", "also-while-down"} {
		if c := pending["p/v1/configmaps/a/"+name+".yaml"]; c == nil || c.Object == nil {
			t.Errorf("%s: not passed on after the cut", name)
		}
	}
}

// TestReplayFollowsAnOlderBacklog: a feed started at another target's older
// resume point delivers what that target missed; a target resumed later
// (at 200) is not cut before its own resume point, however long the backlog
// takes (it would get none of its changes), takes none of the states its
// branch holds, and its first change after the cut reaches it all the same.
// The failure the bench saw: at 30,000 objects a backlog of 27,000 creates
// outlasted the 1 s wait, and the 100 changes came after the cut.
func TestReplayFollowsAnOlderBacklog(t *testing.T) {
	defer func(q, w time.Duration) { replayQuiet, replayMaxWait = q, w }(replayQuiet, replayMaxWait)
	replayQuiet, replayMaxWait = time.Hour, time.Nanosecond // only the resume point ends the wait
	r := New(nil, nil, nil, nil)
	f := &feed{gvr: cmType, cancel: func() {}, opened: make(chan struct{}), light: map[string]*lightMeta{}}
	r.reg.feeds[cmType] = f
	r.feeder.opened(f, "10") // started at the other target's resume point
	cfg := &mirror.Target{Key: "a/t", Path: "p", Selection: in(cmType, "a")}
	pending := sink{}
	resumed, err := r.BeginBuffer(context.Background(), cfg, pending, map[schema.GroupVersionResource]string{cmType: "200"})
	if err != nil || !resumed[cmType] {
		t.Fatalf("BeginBuffer: resumed %v, %v", resumed, err)
	}
	deliver := func(from, to int) {
		for rv := from; rv <= to; rv++ {
			r.feeder.deliver(f, at("a", fmt.Sprint("o", rv%7), fmt.Sprint(rv)), watch.Modified)
		}
	}
	deliver(11, 150)
	type replayed struct {
		events []snapshot.Event
		cut    string
		err    error
	}
	done := make(chan replayed, 1)
	go func() {
		events, cut, err := r.Replay(context.Background(), cfg.Key, cmType)
		done <- replayed{events, cut, err}
	}()
	select {
	case got := <-done:
		t.Fatalf("Replay returned (cut %s) while the feed was behind the target's resume point 200", got.cut)
	case <-time.After(50 * time.Millisecond):
	}
	deliver(151, 201) // the rest of the backlog, then the target's change
	got := <-done
	if got.err != nil || !rvAtLeast(got.cut, "200") {
		t.Fatalf("Replay: cut %s, %v; want at or after 200", got.cut, got.err)
	}
	for _, ev := range got.events {
		if !newerThan(ev.Object.GetResourceVersion(), "200") {
			t.Errorf("replayed %s@%s, a state the branch holds", ev.Object.GetName(), ev.Object.GetResourceVersion())
		}
	}
	r.GoLive(cfg.Key, map[schema.GroupVersionResource]string{cmType: got.cut})
	inReplay := len(got.events) == 1 && got.events[0].Object.GetResourceVersion() == "201"
	c := pending["p/v1/configmaps/a/o5.yaml"] // 201 % 7
	if inReplay == (c != nil && c.Object.GetResourceVersion() == "201") {
		t.Errorf("the change at 201: replayed %v, passed on at GoLive %v; want exactly one", inReplay, c != nil)
	}
}

// TestReplayWaitsFromTheResumePoint: a backlog that took longer than
// replayMaxWait to deliver does not cut the replay as soon as the feed is
// through the target's resume point: the target's own changes come right
// after it, and all of them are replayed. The failure the bench saw: a
// re-snapshot of 30,000 objects after a restart, behind another target's
// backlog, committed 78 of the 100 objects changed while the server was down.
func TestReplayWaitsFromTheResumePoint(t *testing.T) {
	defer func(q, w time.Duration) { replayQuiet, replayMaxWait = q, w }(replayQuiet, replayMaxWait)
	// Only the deadlines end the wait; the target's changes come 50 ms after
	// the feed is through its resume point, a second before the deadline.
	replayQuiet, replayMaxWait = time.Hour, time.Second
	r := New(nil, nil, nil, nil)
	f := &feed{gvr: cmType, cancel: func() {}, opened: make(chan struct{}), light: map[string]*lightMeta{}}
	r.reg.feeds[cmType] = f
	r.feeder.opened(f, "10") // started at the other target's resume point
	cfg := &mirror.Target{Key: "a/t", Path: "p", Selection: in(cmType, "a")}
	resumed, err := r.BeginBuffer(context.Background(), cfg, sink{}, map[schema.GroupVersionResource]string{cmType: "200"})
	if err != nil || !resumed[cmType] {
		t.Fatalf("BeginBuffer: resumed %v, %v", resumed, err)
	}
	deliver := func(name string, from, to int) {
		for rv := from; rv <= to; rv++ {
			r.feeder.deliver(f, at("a", fmt.Sprint(name, rv), fmt.Sprint(rv)), watch.Modified)
		}
	}
	deliver("backlog", 11, 150)
	type replayed struct {
		events []snapshot.Event
		err    error
	}
	done := make(chan replayed, 1)
	go func() {
		events, _, err := r.Replay(context.Background(), cfg.Key, cmType)
		done <- replayed{events, err}
	}()
	time.Sleep(replayMaxWait + 100*time.Millisecond) // the backlog outlasts the short wait
	deliver("backlog", 151, 200)
	time.Sleep(50 * time.Millisecond) // Replay sees the feed through 200
	deliver("changed", 201, 210)
	got := <-done
	if got.err != nil {
		t.Fatal(got.err)
	}
	var names []string
	for _, ev := range got.events {
		names = append(names, ev.Object.GetName())
	}
	slices.Sort(names)
	if want := []string{"changed201", "changed202", "changed203", "changed204", "changed205", "changed206", "changed207", "changed208", "changed209", "changed210"}; !slices.Equal(names, want) {
		t.Errorf("replayed %v, want %v", names, want)
	}
}
