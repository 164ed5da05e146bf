package clusterapi

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	fakediscovery "k8s.io/client-go/discovery/fake"
	clienttesting "k8s.io/client-go/testing"
)

// countingDiscovery counts the discovery reads.
type countingDiscovery struct {
	*partialDiscovery
	reads int
}

func (d *countingDiscovery) ServerGroupsAndResources() ([]*metav1.APIGroup, []*metav1.APIResourceList, error) {
	d.reads++
	return d.partialDiscovery.ServerGroupsAndResources()
}

func newCounting(lists ...*metav1.APIResourceList) *countingDiscovery {
	return &countingDiscovery{partialDiscovery: &partialDiscovery{FakeDiscovery: &fakediscovery.FakeDiscovery{Fake: &clienttesting.Fake{}}, lists: lists}}
}

// TestSinceStep: RefreshSince is done with a read begun at or after since,
// and otherwise reads once sinceInterval has passed since the last read.
func TestSinceStep(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		name  string
		at    time.Time
		since time.Time
		done  bool
		wait  time.Duration
	}{
		{name: "the read began after since", at: now.Add(-time.Second), since: now.Add(-2 * time.Second), done: true},
		{name: "the read began at since", at: now, since: now, done: true},
		{name: "a read is due, none allowed yet", at: now.Add(-100 * time.Millisecond), since: now, wait: sinceInterval - 100*time.Millisecond},
		{name: "a read is due and allowed", at: now.Add(-time.Minute), since: now},
		{name: "never read", since: now},
	} {
		t.Run(tc.name, func(t *testing.T) {
			done, wait := sinceStep(tc.at, tc.since, now)
			if done != tc.done || wait != tc.wait {
				t.Errorf("sinceStep = %v, %v; want %v, %v", done, wait, tc.done, tc.wait)
			}
		})
	}
}

// TestRefreshSinceWaitsOutTheRateLimit: a CRD established right after a
// read is missed by Refresh(false) (rate-limited) but not by RefreshSince,
// which waits for the next read allowed; a read begun after since satisfies
// every later caller with the same since, so a request's many rules cost
// one read.
func TestRefreshSinceWaitsOutTheRateLimit(t *testing.T) {
	d := newCounting(list("v1", "configmaps", "ConfigMap"))
	r := New(d)
	if got := names(r); got != "configmaps" {
		t.Fatalf("first discovery: %s", got)
	}
	d.lists = append(d.lists, list("example.com/v1", "gizmos", "Gizmo"))
	since := time.Now()
	if r.Refresh(false) {
		t.Fatal("a read within the rate limit was made")
	}
	if got := names(r); got != "configmaps" {
		t.Fatalf("a rate-limited refresh read discovery: %s", got)
	}
	r.RefreshSince(context.Background(), since)
	if got := names(r); got != "configmaps,gizmos" {
		t.Errorf("after RefreshSince: %s, want the CRD established before it was asked", got)
	}
	reads := d.reads
	r.RefreshSince(context.Background(), since)
	if d.reads != reads {
		t.Errorf("a second RefreshSince with the same since read discovery again (%d reads, want %d)", d.reads, reads)
	}
}

// TestRefreshSinceEndsWithItsContext: a request that has ended makes no
// read, whether one is allowed now (the last a minute old) or not yet.
func TestRefreshSinceEndsWithItsContext(t *testing.T) {
	d := newCounting(list("v1", "configmaps", "ConfigMap"))
	r := New(d)
	names(r)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r.RefreshSince(ctx, time.Now())
	r.mu.Lock()
	r.resourcesAt = r.resourcesAt.Add(-time.Minute)
	r.mu.Unlock()
	r.RefreshSince(ctx, time.Now())
	if d.reads != 1 {
		t.Errorf("%d discovery reads, want 1 (the ended request made none)", d.reads)
	}
}

// TestChangesToldWhoeverReads: the lifecycle listens on Changes; a read made
// by any caller (a stale Get, admission) that finds the types changed tells
// it, and a read that finds nothing new does not.
func TestChangesToldWhoeverReads(t *testing.T) {
	d := newCounting(list("v1", "configmaps", "ConfigMap"))
	r := New(d)
	r.MaxAge = time.Nanosecond // every Get reads discovery again
	names(r)
	drain(r)
	names(r)
	if told(r) {
		t.Error("a read that found nothing new was told")
	}
	d.lists = append(d.lists, list("example.com/v1", "gizmos", "Gizmo"))
	if got := names(r); got != "configmaps,gizmos" {
		t.Fatalf("a stale Get: %s", got)
	}
	if !told(r) {
		t.Error("a new type found by a stale Get was not told on Changes")
	}
}

func told(r *Resources) bool {
	select {
	case <-r.Changes():
		return true
	default:
		return false
	}
}

func drain(r *Resources) {
	for told(r) {
	}
}
