package stream

import (
	"context"
	"sort"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"

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
	var got []string
	for _, ev := range takeBuffered(buffer, cmType, early) {
		s := ev.Object.GetName() + "@" + ev.Object.GetResourceVersion()
		if ev.Delete {
			s += "-"
		}
		got = append(got, s)
	}
	sort.Strings(got)
	if want := "both@120 caught@81 fed@121-"; strings.Join(got, " ") != want {
		t.Errorf("took %v, want %s", got, want)
	}
	if len(buffer) != 1 || buffer["sec/a/other"].obj == nil {
		t.Errorf("left in the buffer: %v, want only the other type's", buffer)
	}
	if len(early) != 2 {
		t.Error("takeBuffered modified the catch-up's events")
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
