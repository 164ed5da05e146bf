// Package intern holds values that many objects share once: the same author
// in 100,000 audit reports, the same namespace name in 25,000 cached
// Secrets. A table is bounded: past its bound it starts over, and what was
// handed out already keeps its value, so a flood of distinct values costs a
// bounded table, never a leak.
package intern

// Table maps a key to the one value held for it, at most Max of them
// (0: DefaultMax). It is not safe for concurrent use: its owner locks around
// it. The zero Table is ready to use.
type Table[K comparable, V any] struct {
	Max int
	m   map[K]V
}

// DefaultMax is a Table's bound when it sets none.
const DefaultMax = 4096

// Get returns the value held for k, made by make (and held) the first time.
func (t *Table[K, V]) Get(k K, make func() V) V {
	if held, ok := t.m[k]; ok {
		return held
	}
	limit := t.Max
	if limit <= 0 {
		limit = DefaultMax
	}
	if t.m == nil || len(t.m) >= limit {
		t.m = map[K]V{}
	}
	v := make()
	t.m[k] = v
	return v
}

// Len is how many values the table holds.
func (t *Table[K, V]) Len() int { return len(t.m) }
