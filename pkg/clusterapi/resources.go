// Package clusterapi caches what the source cluster serves: its listable and
// watchable resource types, from discovery. The lifecycle resolves rules with
// it, and admission authorizes rules against the same types, so both see one
// view of the cluster.
package clusterapi

import (
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

	mu          sync.Mutex
	resources   []selection.APIResource
	resourcesAt time.Time
}

// New returns an empty cache over a discovery client (nil: no source cluster).
func New(d discovery.DiscoveryInterface) *Resources {
	return &Resources{discovery: d, MaxAge: 10 * time.Second}
}

// Refresh re-reads discovery (at most every two seconds unless forced) and
// reports whether the types changed.
func (r *Resources) Refresh(force bool) bool {
	if r == nil || r.discovery == nil {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !force && time.Since(r.resourcesAt) < 2*time.Second {
		return false
	}
	groups, lists, err := r.discovery.ServerGroupsAndResources()
	if err != nil && len(lists) == 0 {
		klog.ErrorS(err, "Discovery of the source cluster failed")
		return false
	}
	res, rerr := selection.APIResourcesFrom(groups, lists)
	if rerr != nil {
		return false
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
	changed := len(res) != len(r.resources)
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
	r.resources, r.resourcesAt = res, time.Now()
	return changed
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
