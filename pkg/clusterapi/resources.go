// Package clusterapi caches what the source cluster serves: its listable and
// watchable resource types, from discovery. The lifecycle resolves rules with
// it, and admission authorizes rules against the same types, so both see one
// view of the cluster.
package clusterapi

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/klog/v2"

	"github.com/configbutler/gitops-reverser/pkg/selection"
)

// Resources is the cached discovery of the source cluster.
type Resources struct {
	discovery discovery.DiscoveryInterface
	// MaxAge bounds how old the cache may be when Get is called (default 10s):
	// a CRD installed a moment ago is seen by the next admission.
	MaxAge time.Duration

	mu        sync.Mutex
	resources []selection.APIResource
	// resourcesAt is when the read that gave resources began: a read that
	// began after a moment has seen everything established before it.
	resourcesAt time.Time
	changes     chan struct{}
}

// minInterval is how often Refresh reads discovery at most unless forced:
// rule events and the lifecycle's tick ask for reads, and with aggregated
// discovery a read is two requests to kube-apiserver.
const minInterval = 2 * time.Second

// sinceInterval is how often RefreshSince reads at most: an admission that
// needs a fresh read waits for it, so it is shorter than minInterval (a
// rule naming a type that does not exist, a typo or a rule applied before
// its CRD, waits up to this long), and still bounds the reads a tenant can
// cause to two a second.
const sinceInterval = 500 * time.Millisecond

// New returns an empty cache over a discovery client (nil: no source cluster).
func New(d discovery.DiscoveryInterface) *Resources {
	return &Resources{discovery: d, MaxAge: 10 * time.Second, changes: make(chan struct{}, 1)}
}

// Changes is told (at most one pending signal) whenever a read finds the
// types changed, whichever caller made the read: the lifecycle listens, so
// a new CRD that admission's or a stale Get's read found first still
// reaches every wildcard target at once.
func (r *Resources) Changes() <-chan struct{} {
	if r == nil {
		return nil
	}
	return r.changes
}

// RefreshSince makes sure the cache holds a read of discovery that began at
// or after since, waiting for the next read allowed (sinceInterval) rather
// than skipping it as Refresh(false) would: a rule naming a CRD established
// a moment ago is then resolved against it. It waits at most for a read
// under way, sinceInterval and a read of its own; it returns when ctx ends.
func (r *Resources) RefreshSince(ctx context.Context, since time.Time) {
	if r == nil || r.discovery == nil {
		return
	}
	for ctx.Err() == nil {
		r.mu.Lock()
		at := r.resourcesAt
		r.mu.Unlock()
		done, wait := sinceStep(at, since, time.Now())
		switch {
		case done:
			return
		case wait > 0:
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			t.Stop()
		default:
			if _, ok := r.refresh(sinceInterval); !ok {
				return // discovery failed: Get says so
			}
		}
	}
}

// sinceStep decides RefreshSince's next step, for a cache read that began
// at: done when it began at or after since; otherwise how long to wait
// before the next read is allowed (none: read now).
func sinceStep(at, since, now time.Time) (done bool, wait time.Duration) {
	if !at.Before(since) {
		return true, 0
	}
	return false, max(0, sinceInterval-now.Sub(at))
}

// Refresh re-reads discovery (at most every two seconds unless forced) and
// reports whether the types changed.
func (r *Resources) Refresh(force bool) bool {
	if r == nil || r.discovery == nil {
		return false
	}
	gap := minInterval
	if force {
		gap = 0
	}
	changed, _ := r.refresh(gap)
	return changed
}

// refresh reads discovery unless the last read began less than gap ago. It
// reports whether the types changed, and whether the cache is usable (the
// read was skipped or succeeded).
func (r *Resources) refresh(gap time.Duration) (changed, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if gap > 0 && time.Since(r.resourcesAt) < gap {
		return false, true
	}
	began := time.Now()
	groups, lists, err := r.discovery.ServerGroupsAndResources()
	if err != nil && len(lists) == 0 {
		klog.ErrorS(err, "Discovery of the source cluster failed")
		return false, false
	}
	res, rerr := selection.APIResourcesFrom(groups, lists)
	if rerr != nil {
		return false, false
	}
	var failed *discovery.ErrGroupDiscoveryFailed
	if errors.As(err, &failed) {
		// An aggregated API that does not answer discovery (its server
		// down) keeps the types it had: dropped, they would leave every
		// selection, and each target selecting one would take a new
		// snapshot without it, and another when it came back. Kept, their
		// watches fail, and only those targets say so (EventStreamLive).
		klog.V(2).InfoS("Discovery of some API groups failed; their types are kept as they were", "err", err)
		res = keepFailed(res, r.resources, failed.Groups)
	}
	changed = len(res) != len(r.resources)
	if !changed {
		old := map[schema.GroupVersionResource]bool{}
		for _, x := range r.resources {
			old[x.GVR] = true
		}
		for _, x := range res {
			if !old[x.GVR] {
				changed = true
				break
			}
		}
	}
	r.resources, r.resourcesAt = res, began
	if changed {
		select {
		case r.changes <- struct{}{}:
		default: // one pending signal tells as much as two
		}
	}
	return changed, true
}

// keepFailed is res with the types of old whose group version failed
// discovery (and that res does not hold).
func keepFailed(res, old []selection.APIResource, failed map[schema.GroupVersion]error) []selection.APIResource {
	have := map[schema.GroupVersionResource]bool{}
	for _, x := range res {
		have[x.GVR] = true
	}
	for _, x := range old {
		if _, ok := failed[x.GVR.GroupVersion()]; ok && !have[x.GVR] {
			res = append(res, x)
		}
	}
	return res
}

// Get returns the source cluster's listable, watchable types, read again when
// the cache is older than MaxAge.
func (r *Resources) Get() ([]selection.APIResource, error) {
	if r == nil || r.discovery == nil {
		return nil, fmt.Errorf("the server has no source cluster (--kubeconfig)")
	}
	r.mu.Lock()
	stale := r.resources == nil || (r.MaxAge > 0 && time.Since(r.resourcesAt) > r.MaxAge)
	r.mu.Unlock()
	if stale {
		r.Refresh(true)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.resources == nil {
		return nil, fmt.Errorf("discovery of the source cluster failed")
	}
	return r.resources, nil
}
