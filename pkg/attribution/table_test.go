package attribution

import (
	"runtime"
	"testing"
	"time"
)

func TestShrinks(t *testing.T) {
	tests := []struct {
		name    string
		n, peak int
		want    bool
	}{
		{"a small table is left alone", 0, minShrink - 1, false},
		{"emptied after a large peak", 0, 100_000, true},
		{"a quarter of the peak left", 25_000, 100_000, true},
		{"more than a quarter left: still busy", 25_001, 100_000, false},
		{"at its peak", 100_000, 100_000, false},
		{"the smallest peak worth a copy", minShrink / 4, minShrink, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := shrinks(tt.n, tt.peak); got != tt.want {
				t.Errorf("shrinks(%d, %d) = %v, want %v", tt.n, tt.peak, got, tt.want)
			}
		})
	}
}

// TestTableGivesBucketsBack: a table that held 200,000 reports and then
// expired all but a few holds their buckets no more, and keeps the few.
func TestTableGivesBucketsBack(t *testing.T) {
	by := &placed{author: &Author{User: "alice"}, ns: "a"}
	now := time.Now()
	var tb table[compactKey]
	for i := range 200_000 {
		tb.put(compactKey{rv: uint64(i)}, entry{by: by, at: now.Add(-time.Hour).UnixNano()})
	}
	for i := range 10 {
		tb.put(compactKey{rv: uint64(1_000_000 + i)}, entry{by: by, at: now.UnixNano()})
	}
	before := heapInUse()
	tb.expire(now, time.Minute)
	after := heapInUse()
	runtime.KeepAlive(&tb)

	// 200,000 entries of 40 bytes are some 9 MB of buckets.
	if freed := int64(before) - int64(after); freed < 4<<20 {
		t.Errorf("heap in use %d MiB before expiry, %d MiB after: want the buckets (some 9 MiB) given up", before>>20, after>>20)
	}
	if tb.len() != 10 || tb.peak != 10 {
		t.Fatalf("after expiry: %d entries, peak %d; want 10 and 10", tb.len(), tb.peak)
	}
	if got, ok := tb.take(compactKey{rv: 1_000_003}); !ok || got.User != "alice" {
		t.Errorf("a fresh entry was lost in the move: %+v, %v", got, ok)
	}
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
