package attribution

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// TestCompactVersion: only the canonical forms are compacted, and two
// different (uid, rv) pairs never share a compact key.
func TestCompactVersion(t *testing.T) {
	const u = "0f8e3a1c-5b2d-4c6e-9a7f-1b2c3d4e5f60"
	for _, c := range []struct {
		uid, rv string
		ok      bool
	}{
		{u, "1", true},
		{u, "18446744073709551615", true},
		{u, "0", true},
		{u, "18446744073709551616", false}, // past uint64
		{u, "01", false},                   // a leading zero: "1" is another string
		{u, "+1", false},
		{u, "", false},
		{u, "1a", false},
		{"0F8E3A1C-5B2D-4C6E-9A7F-1B2C3D4E5F60", "1", false}, // upper case: another string
		{"0f8e3a1c5b2d4c6e9a7f1b2c3d4e5f60", "1", false},
		{"0f8e3a1c-5b2d-4c6e-9a7f-1b2c3d4e5f6", "1", false},
		{"0f8e3a1c-5b2d-4c6e-9a7f-1b2c3d4e5f6g", "1", false},
		{"0f8e3a1c_5b2d-4c6e-9a7f-1b2c3d4e5f60", "1", false},
		{"u1", "1", false},
	} {
		if _, ok := compactVersion(types.UID(c.uid), c.rv); ok != c.ok {
			t.Errorf("compactVersion(%q, %q) ok %v, want %v", c.uid, c.rv, ok, c.ok)
		}
	}
	a, _ := compactVersion(u, "12")
	b, _ := compactVersion("0f8e3a1c-5b2d-4c6e-9a7f-1b2c3d4e5f61", "12")
	c, _ := compactVersion(u, "13")
	if a == b || a == c {
		t.Error("different writes share a key")
	}
	if a2, _ := compactVersion(u, "12"); a2 != a {
		t.Error("one write has two keys")
	}
}

// TestStoreKeysBothForms: reports keyed in the compact form and in any other
// are found by exactly their own write, once, the first report of a version
// wins, and both kinds expire.
func TestStoreKeysBothForms(t *testing.T) {
	const u = "0f8e3a1c-5b2d-4c6e-9a7f-1b2c3d4e5f60"
	cm := schema.GroupResource{Resource: "configmaps"}
	old := time.Now().Add(-time.Hour)
	s := NewStore(10 * time.Minute)
	add := func(uid, rv, user string, at time.Time) {
		s.Add(Report{Resource: cm, Namespace: "ns", Name: "n", UID: types.UID(uid), ResourceVersion: rv, Author: Author{User: user, Verb: "update"}, Received: at})
	}
	add(u, "12", "alice", time.Now())
	add(u, "12", "mallory", time.Now()) // a no-op write returning the same version
	add(u, "012", "bob", time.Now())    // another string: another key
	add("U-1", "12", "carol", time.Now())
	add(u, "13", "old", old)
	add("U-2", "13", "old", old)
	if s.kept.byVersion.len() != 2 || s.kept.otherKeys.len() != 3 {
		t.Fatalf("compact %d, other %d; want 2 and 3", s.kept.byVersion.len(), s.kept.otherKeys.len())
	}
	look := func(uid, rv string) string {
		a, ok := s.Lookup(Query{Resource: cm, Namespace: "ns", Name: "n", UID: types.UID(uid), ResourceVersion: rv})
		if !ok {
			return "<none>"
		}
		return a.User
	}
	s.Expire(time.Now())
	for _, c := range []struct{ uid, rv, want string }{
		{u, "12", "alice"}, {u, "12", "<none>"}, {u, "012", "bob"}, {"U-1", "12", "carol"},
		{u, "13", "<none>"}, {"U-2", "13", "<none>"}, {"u-1", "12", "<none>"},
	} {
		if got := look(c.uid, c.rv); got != c.want {
			t.Errorf("Lookup(%s, %s) = %s, want %s", c.uid, c.rv, got, c.want)
		}
	}
}

// TestAuthorsDoNotCollide: authors whose fields differ only in where one
// ends and the next begins are kept apart.
func TestAuthorsDoNotCollide(t *testing.T) {
	var in interner
	a := in.author(Author{User: "a\x00b", Verb: "create"})
	b := in.author(Author{User: "a", Impersonator: "b\x00", Verb: "create"}) // joined with NULs, the same as a
	c := in.author(Author{User: "a\x00b", Verb: "create"})
	if a == b || a.User == b.User {
		t.Errorf("two authors share one: %+v %+v", a, b)
	}
	if a != c {
		t.Error("one author is held twice")
	}
}
