package sops

import (
	"testing"
	"time"

	"filippo.io/age"
)

// TestSharedDataKey: files to one recipient set share a data key and its
// stanzas until maxKeyFiles files or maxKeyAge; another set, a clock going
// back or a used-up key get a new key.
func TestSharedDataKey(t *testing.T) {
	a, b := newIdentity(t), newIdentity(t)
	setA, setAB := []string{a.Recipient().String()}, normalizeRecipients([]string{a.Recipient().String(), b.Recipient().String()})
	parse := func(set []string) []age.Recipient {
		rs, err := parseRecipients(set)
		if err != nil {
			t.Fatal(err)
		}
		return rs
	}
	t0 := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	get := func(set []string, at time.Time) ([]byte, []string) {
		k, w, err := sharedDataKey(set, parse(set), at)
		if err != nil {
			t.Fatal(err)
		}
		return k, w
	}
	k1, w1 := get(setA, t0)
	k2, w2 := get(setA, t0.Add(time.Minute))
	if string(k1) != string(k2) || w1[0] != w2[0] {
		t.Error("two files to one recipient a minute apart do not share a data key")
	}
	if k3, w3 := get(setAB, t0); string(k3) == string(k1) || len(w3) != 2 {
		t.Errorf("another recipient set shares the key, or has %d stanzas", len(w3))
	}
	if k4, _ := get(setA, t0.Add(maxKeyAge+time.Minute)); string(k4) == string(k1) {
		t.Error("a key older than maxKeyAge was used again")
	}
	// A fresh key (a minute later than the one just made: still young) is
	// used for maxKeyFiles files, then replaced.
	at := t0.Add(maxKeyAge + 2*time.Minute)
	dataKeys.Lock()
	delete(dataKeys.byRecipients, setA[0])
	dataKeys.Unlock()
	k5, _ := get(setA, at)
	for i := 1; i < maxKeyFiles; i++ {
		if k, _ := get(setA, at); string(k) != string(k5) {
			t.Fatalf("a new key after %d files, want after %d", i, maxKeyFiles)
		}
	}
	kLast, _ := get(setA, at)
	if string(kLast) == string(k5) {
		t.Fatalf("the key was used for more than %d files", maxKeyFiles)
	}
	if k6, _ := get(setA, t0); string(k6) == string(kLast) {
		t.Error("a clock gone back reused the key")
	}
	// Each stanza opens to the key for its recipient.
	for i, id := range []*age.X25519Identity{a, b} {
		k, w := get(setAB, t0)
		file, err := dearmor(w[indexOf(setAB, id.Recipient().String())])
		if err != nil {
			t.Fatal(err)
		}
		if got, err := unwrapDataKey(file, []age.Identity{id}); err != nil || string(got) != string(k) {
			t.Errorf("identity %d: unwrapped %x, %v; want the shared key", i, got, err)
		}
	}
}

func indexOf(xs []string, x string) int {
	for i, y := range xs {
		if y == x {
			return i
		}
	}
	return -1
}
