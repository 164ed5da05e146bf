package attribution

import (
	"fmt"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

func TestFairShare(t *testing.T) {
	for _, tc := range []struct {
		name   string
		counts map[string]int
		limit  int
		want   int
	}{
		{name: "nothing held", counts: nil, limit: 90, want: 90},
		{name: "under the limit: the largest keeps all", counts: map[string]int{"a": 5, "b": 30}, limit: 90, want: 30},
		{name: "one namespace over", counts: map[string]int{"a": 100}, limit: 90, want: 90},
		{name: "a flood beside a small tenant", counts: map[string]int{"flood": 150, "b": 10}, limit: 100, want: 90},
		{name: "two equal floods", counts: map[string]int{"a": 60, "b": 60}, limit: 100, want: 50},
		{name: "three tenants, one small", counts: map[string]int{"a": 200, "b": 100, "c": 4}, limit: 100, want: 48},
	} {
		if got := fairShare(tc.counts, tc.limit); got != tc.want {
			t.Errorf("%s: fairShare = %d, want %d", tc.name, got, tc.want)
		}
		total := 0
		for _, n := range tc.counts {
			total += min(n, tc.want)
		}
		if total > tc.limit {
			t.Errorf("%s: the share keeps %d, more than %d", tc.name, total, tc.limit)
		}
	}
}

// TestFloodKeepsOtherTenantsReports: a tenant flooding writes into its own
// namespace past the store's bound loses its own oldest reports; another
// tenant's, older still, are kept, and the store stays bounded.
func TestFloodKeepsOtherTenantsReports(t *testing.T) {
	s := NewStore(10 * time.Minute)
	cms := schema.GroupResource{Resource: "configmaps"}
	report := func(ns string, i int, at time.Time) Report {
		return Report{Resource: cms, Namespace: ns, Name: fmt.Sprint(i), UID: types.UID(fmt.Sprint(ns, "-u", i)), ResourceVersion: "1",
			Author: Author{User: ns + "-user", Verb: "create"}, Received: at}
	}
	early := time.Now().Add(-6 * time.Minute)
	for i := range 10 {
		s.Add(report("quiet-tenant", i, early))
	}
	batch := make([]Report, 0, 1000)
	for i := 0; i < maxEntries+maxEntries/10; i++ {
		batch = append(batch, report("flood", i, early.Add(time.Duration(i)*time.Millisecond)))
		if len(batch) == cap(batch) {
			s.Add(batch...)
			batch = batch[:0]
			if n := s.size(); n > maxEntries {
				t.Fatalf("store holds %d reports, more than %d", n, maxEntries)
			}
		}
	}
	for i := range 10 {
		q := Query{Resource: cms, Namespace: "quiet-tenant", Name: fmt.Sprint(i), UID: types.UID(fmt.Sprint("quiet-tenant-u", i)), ResourceVersion: "1"}
		if who, ok := s.Lookup(q); !ok || who.User != "quiet-tenant-user" {
			t.Fatalf("the quiet tenant's report %d was dropped for the flood's (%q, %v)", i, who.User, ok)
		}
	}
	if _, ok := s.Lookup(Query{Resource: cms, Namespace: "flood", Name: "0", UID: "flood-u0", ResourceVersion: "1"}); ok {
		t.Error("the flood's oldest report was kept")
	}
	last := maxEntries + maxEntries/10 - 1
	if _, ok := s.Lookup(Query{Resource: cms, Namespace: "flood", Name: fmt.Sprint(last), UID: types.UID(fmt.Sprint("flood-u", last)), ResourceVersion: "1"}); !ok {
		t.Error("the flood's newest report was dropped")
	}
}
