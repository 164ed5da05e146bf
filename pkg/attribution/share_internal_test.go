package attribution

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

// TestTakeOnce: a list after a broken watch (compaction) lists keys already
// taken; they are not added again, so a report used up stays used up. A key
// this process wrote is never taken.
func TestTakeOnce(t *testing.T) {
	store := NewStore(time.Minute)
	s := NewShared(nil, store, "r2")
	batch := []byte(`[{"r":"configmaps","ns":"ns","n":"x","uid":"u1","rv":"7","u":"alice","v":"create","at":"2026-12-01T00:00:00Z"}]`)
	s.take(SharePrefix+"r1-abcdef/1", batch, 5)
	q := Query{Resource: schema.GroupResource{Resource: "configmaps"}, Namespace: "ns", Name: "x", UID: "u1", ResourceVersion: "7"}
	if a, ok := store.Lookup(q); !ok || a.User != "alice" {
		t.Fatalf("first take: %+v %v", a, ok)
	}
	s.take(SharePrefix+"r1-abcdef/1", batch, 5) // listed again after a re-list
	if _, ok := store.Lookup(q); ok {
		t.Error("a key taken before was added again: its used-up report came back")
	}
	s.take(SharePrefix+s.instance+"/1", batch, 9)
	if _, ok := store.Lookup(q); ok {
		t.Error("this process's own key was taken")
	}
	if store.Received() != 1 {
		t.Errorf("received %d reports, want 1", store.Received())
	}
}

func TestBatchTime(t *testing.T) {
	at := time.UnixMilli(1_796_000_000_123)
	tests := []struct {
		key  string
		want time.Time
		ok   bool
	}{
		{batchKey("r1-abcdef", at, 7), at, true},
		{SharePrefix + "r1-abcdef/7", time.Time{}, false}, // an older version's key
		{SharePrefix + "r1-abcdef/x-7", time.Time{}, false},
		{SharePrefix + "r1-abcdef/-5-7", time.Time{}, false},
		{"", time.Time{}, false},
	}
	for _, tt := range tests {
		got, ok := batchTime(tt.key)
		if ok != tt.ok || !got.Equal(tt.want) {
			t.Errorf("batchTime(%q) = %v, %v; want %v, %v", tt.key, got, ok, tt.want, tt.ok)
		}
	}
}
