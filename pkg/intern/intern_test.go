package intern

import (
	"fmt"
	"testing"
)

// TestTable: a key's value is made once and handed out again; past its
// bound the table starts over and keeps working.
func TestTable(t *testing.T) {
	tab := Table[string, *int]{Max: 10}
	made := 0
	mk := func() *int { made++; v := made; return &v }
	a, b := tab.Get("a", mk), tab.Get("a", mk)
	if a != b || made != 1 {
		t.Fatalf("one key made %d values (%p, %p)", made, a, b)
	}
	for i := 0; i < 35; i++ {
		if v := tab.Get(fmt.Sprint(i), mk); *v != made {
			t.Fatalf("key %d: value %d, made %d", i, *v, made)
		}
		if tab.Len() > 10 {
			t.Fatalf("%d values held, bound 10", tab.Len())
		}
	}
	var zero Table[int, int]
	for i := 0; i < 2*DefaultMax; i++ {
		zero.Get(i, func() int { return i })
	}
	if zero.Len() == 0 || zero.Len() > DefaultMax {
		t.Errorf("the zero table holds %d, bound %d", zero.Len(), DefaultMax)
	}
}
