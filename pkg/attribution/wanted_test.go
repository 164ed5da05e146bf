package attribution

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// TestStoreKeepsOnlyWanted: with the stream's answer set, a report is kept
// for the TTL only when a target streams its type in its namespace
// (ConfigMaps in "mirrored", and cluster-scoped Namespaces); the others,
// whatever their kind (a version, a delete, a Secret), are counted and kept
// for UnwantedTTL (a lagging watch still finds them), then forgotten. Wanted
// is asked once per type and namespace of a batch.
func TestStoreKeepsOnlyWanted(t *testing.T) {
	secrets := schema.GroupResource{Resource: "secrets"}
	namespaces := schema.GroupResource{Resource: "namespaces"}
	asked := 0
	s := NewStore(DefaultTTL)
	s.SetWanted(func(gr schema.GroupResource, ns string) int {
		asked++
		if gr == configmaps && ns == "mirrored" || gr == namespaces && ns == "" {
			return 1
		}
		return 0
	})
	now := time.Now()
	write := func(gr schema.GroupResource, ns, name, uid, rv, verb string) Report {
		return Report{Resource: gr, Namespace: ns, Name: name, UID: types.UID(uid), ResourceVersion: rv,
			Author: Author{User: "alice", Verb: verb}, Received: now}
	}
	const u1, u2, u3, u4 = "6f1c2a4e-0000-4000-8000-000000000001", "6f1c2a4e-0000-4000-8000-000000000002",
		"6f1c2a4e-0000-4000-8000-000000000003", "6f1c2a4e-0000-4000-8000-000000000004"
	s.Add(
		write(configmaps, "mirrored", "a", u1, "10", "update"),
		write(configmaps, "mirrored", "b", u2, "11", "create"),
		write(configmaps, "elsewhere", "c", u3, "12", "create"),
		write(configmaps, "elsewhere", "d", u4, "", "delete"),
		write(secrets, "mirrored", "s", "", "", "update"),
		write(namespaces, "", "mirrored", u4, "13", "update"),
	)
	if asked != 4 {
		t.Errorf("Wanted asked %d times for 4 types and namespaces", asked)
	}
	if s.Received() != 6 || s.Unwanted() != 3 {
		t.Errorf("received %d, unwanted %d; want 6 and 3", s.Received(), s.Unwanted())
	}
	lagging := Query{Resource: configmaps, Namespace: "elsewhere", Name: "c", UID: u3, ResourceVersion: "12"}
	if who, ok := s.Lookup(lagging); !ok || who.User != "alice" {
		t.Errorf("within UnwantedTTL, an unwanted report is not found: %q, %v", who.User, ok)
	}
	s.Expire(now.Add(UnwantedTTL + time.Second))
	for _, q := range []struct {
		q    Query
		kept bool
	}{
		{Query{Resource: configmaps, Namespace: "mirrored", Name: "a", UID: u1, ResourceVersion: "10"}, true},
		{Query{Resource: configmaps, Namespace: "mirrored", Name: "b", UID: u2, ResourceVersion: "11"}, true},
		{Query{Resource: namespaces, Name: "mirrored", UID: u4, ResourceVersion: "13"}, true},
		{Query{Resource: configmaps, Namespace: "elsewhere", Name: "d", UID: u4, Deleted: true}, false},
		{Query{Resource: secrets, Namespace: "mirrored", Name: "s"}, false},
	} {
		if who, ok := s.Lookup(q.q); ok != q.kept || ok && who.User != "alice" {
			t.Errorf("after UnwantedTTL, Lookup(%s %s/%s): %q, found %v; want found %v", q.q.Resource, q.q.Namespace, q.q.Name, who.User, ok, q.kept)
		}
	}

	// Unset, every report is kept for the TTL again.
	s.SetWanted(nil)
	s.Add(write(configmaps, "elsewhere", "c", u3, "12", "create"))
	s.Expire(now.Add(UnwantedTTL + time.Second))
	if _, ok := s.Lookup(lagging); !ok {
		t.Error("with no Wanted set, a report was forgotten before the TTL")
	}
}

// TestReportServesEveryTarget: a report is found once by each target that
// streamed its place when it came (two targets mirroring one object both
// commit its author), then it is used up; a kind kept by name (a Secret) or
// by uid (a delete) likewise.
func TestReportServesEveryTarget(t *testing.T) {
	secrets := schema.GroupResource{Resource: "secrets"}
	targets := 2
	s := NewStore(DefaultTTL)
	s.SetWanted(func(schema.GroupResource, string) int { return targets })
	now := time.Now()
	const u1, u2 = "6f1c2a4e-0000-4000-8000-000000000001", "6f1c2a4e-0000-4000-8000-000000000002"
	s.Add(
		Report{Resource: configmaps, Namespace: "a", Name: "x", UID: u1, ResourceVersion: "10", Author: Author{User: "alice", Verb: "update"}, Received: now},
		Report{Resource: secrets, Namespace: "a", Name: "s", Author: Author{User: "bob", Verb: "update"}, Received: now},
		Report{Resource: configmaps, Namespace: "a", Name: "y", UID: u2, Author: Author{User: "carol", Verb: "delete"}, Received: now},
	)
	targets = 1
	s.Add(Report{Resource: configmaps, Namespace: "a", Name: "z", UID: u2, ResourceVersion: "11", Author: Author{User: "dave", Verb: "update"}, Received: now})
	for _, c := range []struct {
		q     Query
		user  string
		finds int
	}{
		{Query{Resource: configmaps, Namespace: "a", Name: "x", UID: u1, ResourceVersion: "10"}, "alice", 2},
		{Query{Resource: secrets, Namespace: "a", Name: "s"}, "bob", 2},
		{Query{Resource: configmaps, Namespace: "a", Name: "y", UID: u2, Deleted: true}, "carol", 2},
		{Query{Resource: configmaps, Namespace: "a", Name: "z", UID: u2, ResourceVersion: "11"}, "dave", 1},
	} {
		for i := range c.finds + 1 {
			who, ok := s.Lookup(c.q)
			if want := i < c.finds; ok != want || ok && who.User != c.user {
				t.Errorf("%s lookup %d: %q, found %v; want found %v", c.q.Name, i+1, who.User, ok, want)
			}
		}
	}
	if n := s.size(); n != 0 {
		t.Errorf("%d reports left after every target used them", n)
	}
}
