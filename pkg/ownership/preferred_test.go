package ownership

import (
	"fmt"
	"maps"
	"slices"
	"testing"
)

// branchKeys returns n branch keys shaped like the lifecycle's (repository#branch).
func branchKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("git.example.com:2222/team-%d#main", i)
	}
	return keys
}

func owners(names, keys []string) map[string]string {
	out := make(map[string]string, len(keys))
	for _, k := range keys {
		out[k] = PreferredOf(names, k)
	}
	return out
}

func TestPreferredOfEdgeCases(t *testing.T) {
	for _, tc := range []struct {
		name  string
		names []string
		key   string
		want  string
	}{
		{"no members", nil, "repo#main", ""},
		{"empty member list", []string{}, "repo#main", ""},
		{"single member", []string{"r1"}, "repo#main", "r1"},
		{"single member, empty key", []string{"r1"}, "", "r1"},
		{"duplicate member", []string{"r1", "r1"}, "repo#main", "r1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := PreferredOf(tc.names, tc.key); got != tc.want {
				t.Errorf("PreferredOf(%q, %q) = %q, want %q", tc.names, tc.key, got, tc.want)
			}
		})
	}
}

// TestPreferredOfIsDeterministic: every replica computes the same owner from
// the same members, whatever order it lists them in.
func TestPreferredOfIsDeterministic(t *testing.T) {
	names := []string{"r1", "r2", "r3", "r4"}
	keys := branchKeys(500)
	want := owners(names, keys)
	for _, order := range [][]string{
		{"r4", "r3", "r2", "r1"},
		{"r2", "r4", "r1", "r3"},
		{"r3", "r1", "r4", "r2"},
	} {
		if got := owners(order, keys); !maps.Equal(got, want) {
			t.Errorf("order %v changes owners", order)
		}
	}
	if got := owners(names, keys); !maps.Equal(got, want) {
		t.Error("a second computation changes owners")
	}
}

// TestPreferredOfSpreadsKeys: keys spread evenly over the members. The hash is
// deterministic, so the counts are fixed (3 members: 1019/956/1025; 4 members:
// 777/730/777/716); the bounds only say "about even".
func TestPreferredOfSpreadsKeys(t *testing.T) {
	keys := branchKeys(3000)
	for _, tc := range []struct {
		names    []string
		min, max int
	}{
		{[]string{"r1", "r2", "r3"}, 900, 1100},
		{[]string{"r1", "r2", "r3", "r4"}, 650, 850},
	} {
		counts := map[string]int{}
		for _, owner := range owners(tc.names, keys) {
			counts[owner]++
		}
		for _, n := range tc.names {
			if c := counts[n]; c < tc.min || c > tc.max {
				t.Errorf("%d members: %s is preferred for %d of %d keys, want %d..%d (%v)", len(tc.names), n, c, len(keys), tc.min, tc.max, counts)
			}
		}
		if len(counts) != len(tc.names) {
			t.Errorf("owners outside the members: %v", counts)
		}
	}
}

// TestPreferredOfMinimalDisruption: removing a member moves only the keys it
// was preferred for (each to one of the others), and adding one moves keys only
// to the newcomer.
func TestPreferredOfMinimalDisruption(t *testing.T) {
	keys := branchKeys(3000)
	all := []string{"r1", "r2", "r3", "r4"}
	before := owners(all, keys)
	for _, gone := range all {
		rest := slices.DeleteFunc(slices.Clone(all), func(n string) bool { return n == gone })
		after := owners(rest, keys)
		moved := 0
		for _, k := range keys {
			switch {
			case before[k] == gone:
				moved++
				if after[k] == gone || !slices.Contains(rest, after[k]) {
					t.Fatalf("without %s, %s goes to %q", gone, k, after[k])
				}
			case after[k] != before[k]:
				t.Fatalf("removing %s moved %s from %s to %s", gone, k, before[k], after[k])
			}
		}
		if moved == 0 {
			t.Errorf("%s owned no key", gone)
		}

		// Adding it back is the reverse: only its keys move, and all to it.
		for _, k := range keys {
			if back := PreferredOf(all, k); back != after[k] && back != gone {
				t.Fatalf("adding %s moved %s from %s to %s", gone, k, after[k], back)
			}
		}
	}
}
