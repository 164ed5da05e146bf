package clusterapi

import (
	"errors"
	"sort"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	fakediscovery "k8s.io/client-go/discovery/fake"
	clienttesting "k8s.io/client-go/testing"
)

// partialDiscovery answers discovery with the lists it holds and, for the
// group versions in failed, discovery.ErrGroupDiscoveryFailed, as client-go
// does when an aggregated API does not answer.
type partialDiscovery struct {
	*fakediscovery.FakeDiscovery
	lists  []*metav1.APIResourceList
	failed map[schema.GroupVersion]error
}

func (d *partialDiscovery) ServerGroupsAndResources() ([]*metav1.APIGroup, []*metav1.APIResourceList, error) {
	var groups []*metav1.APIGroup
	var lists []*metav1.APIResourceList
	for _, l := range d.lists {
		gv, _ := schema.ParseGroupVersion(l.GroupVersion)
		groups = append(groups, &metav1.APIGroup{Name: gv.Group, PreferredVersion: metav1.GroupVersionForDiscovery{GroupVersion: l.GroupVersion, Version: gv.Version}})
		if _, down := d.failed[gv]; !down {
			lists = append(lists, l)
		}
	}
	if len(d.failed) > 0 {
		return groups, lists, &discovery.ErrGroupDiscoveryFailed{Groups: d.failed}
	}
	return groups, lists, nil
}

func list(gv, resource, kind string) *metav1.APIResourceList {
	return &metav1.APIResourceList{GroupVersion: gv, APIResources: []metav1.APIResource{
		{Name: resource, Kind: kind, Namespaced: true, Verbs: []string{"list", "watch", "get"}}}}
}

func names(r *Resources) string {
	res, err := r.Get()
	if err != nil {
		return err.Error()
	}
	var out []string
	for _, x := range res {
		out = append(out, x.GVR.Resource)
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

// TestFailedGroupKeepsItsTypes: a group version whose discovery fails (its
// aggregated API down) keeps the types it had, so no selection loses them;
// one that is no longer served at all (its APIService deleted) loses them;
// one never seen has none to keep.
func TestFailedGroupKeepsItsTypes(t *testing.T) {
	metrics := schema.GroupVersion{Group: "custom.example.com", Version: "v1"}
	d := &partialDiscovery{FakeDiscovery: &fakediscovery.FakeDiscovery{Fake: &clienttesting.Fake{}},
		lists: []*metav1.APIResourceList{list("v1", "configmaps", "ConfigMap"), list(metrics.String(), "widgets", "Widget")}}
	r := New(d)
	if got := names(r); got != "configmaps,widgets" {
		t.Fatalf("first discovery: %s", got)
	}
	d.failed = map[schema.GroupVersion]error{metrics: errors.New("the server is currently unable to handle the request")}
	if changed := r.Refresh(true); changed {
		t.Error("the types changed while a group's discovery failed")
	}
	if got := names(r); got != "configmaps,widgets" {
		t.Errorf("while custom.example.com/v1 fails discovery: %s, want its widgets kept", got)
	}
	d.failed, d.lists = nil, d.lists[:1]
	if changed := r.Refresh(true); !changed {
		t.Error("a group gone for good did not change the types")
	}
	if got := names(r); got != "configmaps" {
		t.Errorf("once custom.example.com is no longer served: %s, want its widgets gone", got)
	}
	fresh := New(&partialDiscovery{FakeDiscovery: d.FakeDiscovery, lists: []*metav1.APIResourceList{list("v1", "configmaps", "ConfigMap"), list(metrics.String(), "widgets", "Widget")},
		failed: map[schema.GroupVersion]error{metrics: errors.New("down")}})
	if got := names(fresh); got != "configmaps" {
		t.Errorf("a group that failed from the start: %s, want nothing of it", got)
	}
}
