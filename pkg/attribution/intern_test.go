package attribution

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"unsafe"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/configbutler/gitops-reverser/pkg/commitstyle"
	"github.com/configbutler/gitops-reverser/pkg/intern"
)

// decoded is an author as a decoded report brings it: fresh copies of
// every string.
func decoded(user string, groups ...string) commitstyle.Author {
	c := func(s string) string { return strings.Clone(s) }
	var g []string
	for _, x := range groups {
		g = append(g, c(x))
	}
	return commitstyle.Author{User: c(user), Verb: c("create"), Groups: g, Manager: c("kubectl")}
}

// TestStoreHoldsAnAuthorOnce: the reports of one author share its strings
// and groups, reports of others keep theirs, and Lookup returns each
// report's author as it came.
func TestStoreHoldsAnAuthorOnce(t *testing.T) {
	s := NewStore(DefaultTTL)
	cm := schema.GroupResource{Resource: "configmaps"}
	for i := 0; i < 100; i++ {
		user, groups := "alice", []string{"system:authenticated", "team-a"}
		if i%2 == 1 {
			user, groups = "bob", []string{"system:authenticated"}
		}
		s.Add(Report{Resource: cm, Namespace: "ns", Name: fmt.Sprint(i), UID: types.UID(fmt.Sprint("u", i)), ResourceVersion: "1", Author: decoded(user, groups...)})
	}
	first, _ := s.Lookup(Query{Resource: cm, Namespace: "ns", Name: "0", UID: "u0", ResourceVersion: "1"})
	third, _ := s.Lookup(Query{Resource: cm, Namespace: "ns", Name: "2", UID: "u2", ResourceVersion: "1"})
	bob, _ := s.Lookup(Query{Resource: cm, Namespace: "ns", Name: "1", UID: "u1", ResourceVersion: "1"})
	if want := decoded("alice", "system:authenticated", "team-a"); !reflect.DeepEqual(first, want) || !reflect.DeepEqual(third, want) {
		t.Fatalf("authors %+v, %+v; want %+v", first, third, want)
	}
	if want := decoded("bob", "system:authenticated"); !reflect.DeepEqual(bob, want) {
		t.Fatalf("author %+v, want %+v", bob, want)
	}
	if unsafe.StringData(first.User) != unsafe.StringData(third.User) || &first.Groups[0] != &third.Groups[0] ||
		unsafe.StringData(first.Manager) != unsafe.StringData(third.Manager) {
		t.Error("two reports of one author hold two copies of it")
	}
	if unsafe.StringData(first.Groups[0]) != unsafe.StringData(bob.Groups[0]) {
		t.Error("a group two authors share is held twice")
	}
}

// TestInternerStartsOver: past its bound the interner forgets what it held
// and keeps working.
func TestInternerStartsOver(t *testing.T) {
	var in interner
	for i := 0; i < 3*intern.DefaultMax; i++ {
		if got := in.str(fmt.Sprint(i)); got != fmt.Sprint(i) {
			t.Fatalf("str(%d) = %q", i, got)
		}
	}
	if in.strs.Len() > intern.DefaultMax {
		t.Errorf("%d strings held, bound %d", in.strs.Len(), intern.DefaultMax)
	}
}
