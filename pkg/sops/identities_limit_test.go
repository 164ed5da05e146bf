package sops

import (
	"errors"
	"strings"
	"testing"
)

// TestParseIdentitiesBound: a Secret holds at most MaxIdentities age
// identities, across its .agekey keys and duplicates included; one more is
// refused with ErrTooManyIdentities naming the key and line (never key
// material), and a Secret of a hundred thousand lines is refused without
// parsing them.
func TestParseIdentitiesBound(t *testing.T) {
	lines := make([]string, 0, MaxIdentities)
	for range MaxIdentities {
		lines = append(lines, newIdentity(t).String())
	}
	ids, recipients, err := ParseIdentities(map[string][]byte{"a.agekey": []byte(strings.Join(lines, "\n"))})
	if err != nil || len(ids) != MaxIdentities || len(recipients) != MaxIdentities {
		t.Fatalf("at the limit: %d identities, %v", len(ids), err)
	}
	// Across keys, a duplicate counted: the 17th identity is in b.agekey.
	extra := newIdentity(t).String()
	_, _, err = ParseIdentities(map[string][]byte{
		"a.agekey": []byte(strings.Join(lines, "\n")),
		"b.agekey": []byte("# rotation\n" + lines[0] + "\n" + extra + "\n"),
	})
	if !errors.Is(err, ErrTooManyIdentities) || err.Error() != `key "b.agekey" line 2: more than 16 age identities in the Secret` {
		t.Fatalf("over the limit: %v", err)
	}
	if strings.Contains(err.Error(), "AGE-SECRET-KEY") {
		t.Fatalf("error shows key material: %v", err)
	}

	// A flood of one identity repeated: refused at line 17, the rest never
	// parsed (a parse is a dozen allocations).
	flood := strings.Repeat(lines[0]+"\n", 100_000)
	allocs := testing.AllocsPerRun(3, func() {
		if _, _, err := ParseIdentities(map[string][]byte{"a.agekey": []byte(flood)}); !errors.Is(err, ErrTooManyIdentities) {
			t.Fatalf("flood: %v", err)
		}
	})
	if allocs > 2000 {
		t.Errorf("refusing the flood took %.0f allocations", allocs)
	}
}
