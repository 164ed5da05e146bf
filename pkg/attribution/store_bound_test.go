package attribution

import (
	"fmt"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// TestStoreIsBounded: a flood of reports within the TTL (writes nobody
// mirrors) never grows the store past its bound; the oldest go first.
func TestStoreIsBounded(t *testing.T) {
	s := NewStore(10 * time.Minute)
	cms := schema.GroupResource{Resource: "configmaps"}
	report := func(i int, at time.Time) Report {
		return Report{Resource: cms, Namespace: "flood", Name: fmt.Sprint(i), UID: types.UID(fmt.Sprint("u", i)), ResourceVersion: "1",
			Author: Author{User: "flooder", Verb: "create"}, Received: at}
	}
	old := time.Now().Add(-6 * time.Minute)
	batch := make([]Report, 0, 1000)
	for i := 0; i < maxEntries; i++ {
		batch = append(batch, report(i, old))
		if len(batch) == cap(batch) {
			s.Add(batch...)
			batch = batch[:0]
		}
	}
	fresh := report(-1, time.Now())
	s.Add(fresh)
	for i := maxEntries; i < maxEntries+maxEntries/10; i++ {
		s.Add(report(i, time.Now()))
		if n := s.size(); n > maxEntries {
			t.Fatalf("store holds %d reports, more than %d", n, maxEntries)
		}
	}
	if _, ok := s.Lookup(Query{Resource: cms, Namespace: "flood", Name: "-1", UID: fresh.UID, ResourceVersion: "1"}); !ok {
		t.Error("a fresh report was dropped while older ones were there")
	}
	if _, ok := s.Lookup(Query{Resource: cms, Namespace: "flood", Name: "0", UID: "u0", ResourceVersion: "1"}); ok {
		t.Error("the oldest report was kept")
	}
}
