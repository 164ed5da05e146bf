package stream

import (
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	fakediscovery "k8s.io/client-go/discovery/fake"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	clienttesting "k8s.io/client-go/testing"

	"github.com/configbutler/gitops-reverser/pkg/lifecycle/mirror"
)

// TestStreamUpOnlyOnceTheWatchReopened: after a watch could not reach the
// cluster, the stream is not up when the cluster answers a probe, nor when a
// watch opens and fails at once (its position expired, 410), but only once
// a watch of the type stays open. The stream goes down and comes up once
// each in the reports.
func TestStreamUpOnlyOnceTheWatchReopened(t *testing.T) {
	gvr := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{gvr: "ConfigMapList"})
	dyn.PrependReactor("list", "configmaps", func(clienttesting.Action) (bool, runtime.Object, error) {
		l := &unstructured.UnstructuredList{Object: map[string]interface{}{"apiVersion": "v1", "kind": "ConfigMapList"}}
		l.SetResourceVersion("50")
		return true, l, nil
	})
	release := make(chan struct{})
	var mu sync.Mutex
	watches := 0
	dyn.PrependWatchReactor("configmaps", func(clienttesting.Action) (bool, watch.Interface, error) {
		mu.Lock()
		watches++
		n := watches
		mu.Unlock()
		switch n {
		case 1:
			return true, nil, errors.New("dial tcp 127.0.0.1:6443: connect: connection refused")
		case 2: // opens, then its position is gone
			w := watch.NewFakeWithChanSize(1, false)
			w.Error(&metav1.Status{Status: metav1.StatusFailure, Code: 410, Reason: metav1.StatusReasonExpired, Message: "too old resource version"})
			return true, w, nil
		default:
			<-release
			return true, watch.NewFake(), nil
		}
	})
	var reports []string
	var rmu sync.Mutex
	report := func(r mirror.Result) {
		if r.Op != mirror.OpSource {
			return
		}
		rmu.Lock()
		defer rmu.Unlock()
		if r.Err != nil {
			reports = append(reports, "down")
		} else {
			reports = append(reports, "up")
		}
	}
	conn := newConnectivity(&fakediscovery.FakeDiscovery{Fake: &clienttesting.Fake{}}, report)
	defer conn.stop()
	fd := &feeder{dyn: dyn, reg: newRegistry(), conn: conn, report: func(mirror.Result) {}}
	fd.reg.mu.Lock()
	f := fd.startLocked(gvr, "10")
	fd.reg.mu.Unlock()
	defer f.cancel()

	// The first watch fails, the second opens and fails with 410, the third
	// is held; the probe answers within a second or two.
	waitFor(t, 10*time.Second, "the third watch", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return watches >= 3
	})
	waitFor(t, 10*time.Second, "the probe answered", func() bool {
		up, why := conn.state()
		return up || strings.HasPrefix(why, "the cluster answers")
	})
	// Longer than reopenSettle: the watch that failed with 410 must not
	// have counted.
	time.Sleep(reopenSettle + 500*time.Millisecond)
	if up, why := conn.state(); up {
		t.Fatalf("the stream is up while no watch of %s is open", gvr.Resource)
	} else if !strings.Contains(why, "connection refused") {
		t.Errorf("why = %q, want the watch's last error", why)
	}
	close(release)
	waitFor(t, 10*time.Second, "the stream up once the watch stays open", func() bool {
		up, _ := conn.state()
		return up
	})
	// The report is made just after the state changes (outside the lock):
	// wait for it rather than read the reports the moment the state is up.
	waitFor(t, 10*time.Second, "the stream's second report", func() bool {
		rmu.Lock()
		defer rmu.Unlock()
		return len(reports) >= 2
	})
	rmu.Lock()
	defer rmu.Unlock()
	if got := strings.Join(reports, ","); got != "down,up" {
		t.Errorf("reports %s, want down,up", got)
	}
}

func waitFor(t *testing.T, limit time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestTypeGoneIsNotAnOutage: a watch answered 404 (its CRD deleted) does
// not take the stream down, and clears the failed mark its feed had from an
// outage before: one deleted CRD must not hold every target Disconnected
// (the whole e2e suite did, after a test deleted its CRD).
func TestTypeGoneIsNotAnOutage(t *testing.T) {
	gadgets := feedKey{gvr: schema.GroupVersionResource{Group: "resume.example.com", Version: "v1", Resource: "gadgets"}, id: 1}
	gone := apierrors.NewNotFound(gadgets.gvr.GroupResource(), "")
	conn := newConnectivity(&fakediscovery.FakeDiscovery{Fake: &clienttesting.Fake{}}, func(mirror.Result) {})
	defer conn.stop()
	conn.watchError(gadgets, gone)
	if up, why := conn.state(); !up {
		t.Fatalf("a 404 took the stream down: %s", why)
	}
	conn.watchError(gadgets, errors.New("dial tcp 127.0.0.1:6443: connect: connection refused"))
	waitFor(t, 10*time.Second, "the probe answered", func() bool {
		_, why := conn.state()
		return strings.HasPrefix(why, "the cluster answers")
	})
	conn.watchError(gadgets, gone)
	if up, why := conn.state(); !up {
		t.Fatalf("after the outage, the type's 404 left the stream down: %s", why)
	}
}

// TestWatchErrorKinds: which watch errors take the whole stream down (the
// cluster, its storage or the server's credentials), which concern only the
// feed's targets (the cluster answered with an error for the type while it
// serves other reads), and which are routine.
func TestWatchErrorKinds(t *testing.T) {
	gizmos := schema.GroupResource{Group: "example.com", Resource: "gizmos"}
	etcdDown := apierrors.NewInternalError(errors.New("etcdserver: request timed out"))
	for _, tc := range []struct {
		name    string
		err     error
		serves  error // what the check of another read answers
		up      bool
		refused string // a part of refusedIn's reason; "" for none
		final   bool
	}{
		{name: "closed", err: io.EOF, up: true},
		{name: "expired", err: apierrors.NewResourceExpired("too old resource version"), up: true},
		{name: "type gone", err: apierrors.NewNotFound(gizmos, ""), up: true},
		{name: "forbidden", err: apierrors.NewForbidden(gizmos, "", errors.New("no rule")), up: true, refused: "the server may not watch gizmos.example.com", final: true},
		{name: "forbidden while storage fails", err: apierrors.NewForbidden(gizmos, "", errors.New("no rule")), serves: etcdDown, up: true, refused: "may not watch", final: true},
		{name: "conversion webhook down", err: apierrors.NewInternalError(errors.New("conversion webhook for example.com/v2 failed")), up: true, refused: "the watch of gizmos.example.com fails: Internal error occurred: conversion webhook"},
		{name: "aggregated API down", err: apierrors.NewServiceUnavailable("the server is currently unable to handle the request"), up: true, refused: "currently unable"},
		{name: "throttled", err: apierrors.NewTooManyRequests("slow down", 1), up: true, refused: "slow down"},
		{name: "storage down: no other read served", err: etcdDown, serves: etcdDown, up: false},
		{name: "a proxy's 503 for a cluster that is gone", err: apierrors.NewServiceUnavailable("no healthy upstream"), serves: errors.New("connection refused"), up: false},
		{name: "the server's credentials", err: apierrors.NewUnauthorized("token expired"), up: false},
		{name: "no answer", err: errors.New("dial tcp 127.0.0.1:6443: connect: connection refused"), up: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn := newConnectivity(&fakediscovery.FakeDiscovery{Fake: &clienttesting.Fake{}}, func(mirror.Result) {})
			conn.stop() // no probe: the state right after the error
			conn.serves = func() error { return tc.serves }
			k := feedKey{gvr: gizmos.WithVersion("v1"), id: 1}
			conn.watchError(k, tc.err)
			if up, why := conn.state(); up != tc.up {
				t.Errorf("stream up = %v (%s), want %v", up, why, tc.up)
			}
			why, final, _ := conn.refusedIn([]feedKey{k})
			if (why != "") != (tc.refused != "") || !strings.Contains(why, tc.refused) || final != tc.final {
				t.Errorf("refusedIn = %q, final %v; want %q, final %v", why, final, tc.refused, tc.final)
			}
		})
	}
}

// TestRefusalTurningFinalWakesWaiters: a feed refused with a 500 (a waiting
// target waits) then with a 403 (it must fail now) closes the channel the
// waiter holds, though the set of refused feeds is the same.
func TestRefusalTurningFinalWakesWaiters(t *testing.T) {
	conn := newConnectivity(&fakediscovery.FakeDiscovery{Fake: &clienttesting.Fake{}}, func(mirror.Result) {})
	conn.stop()
	conn.serves = func() error { return nil }
	gizmos := schema.GroupResource{Group: "example.com", Resource: "gizmos"}
	k := feedKey{gvr: gizmos.WithVersion("v1"), id: 1}
	conn.watchError(k, apierrors.NewInternalError(errors.New("conversion webhook failed")))
	_, final, changed := conn.refusedIn([]feedKey{k})
	if final {
		t.Fatal("a 500 is final")
	}
	conn.watchError(k, apierrors.NewForbidden(gizmos, "", errors.New("no rule")))
	select {
	case <-changed:
	default:
		t.Fatal("the refusal turned final and the waiter was not woken")
	}
	if _, final, _ := conn.refusedIn([]feedKey{k}); !final {
		t.Error("a 403 after a 500 is not final")
	}
}
