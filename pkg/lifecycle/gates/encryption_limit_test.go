package gates

import (
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/configbutler/gitops-reverser/pkg/sops"
)

// TestEncryptionIdentityBound: a key Secret with more than sops.MaxIdentities
// identities fails the gate as InvalidConfig, saying which key and line and
// what the bound is, without key material.
func TestEncryptionIdentityBound(t *testing.T) {
	var b strings.Builder
	for range sops.MaxIdentities + 1 {
		id, err := age.GenerateX25519Identity()
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString(id.String() + "\n")
	}
	o, keys, _ := encryption(encTarget(true), &KeySecret{Found: true, Data: data(map[string]string{"identity.agekey": b.String()})})
	want := `Encryption secret sut/sops-age-key is invalid: key "identity.agekey" line 17: more than 16 age identities in the Secret`
	if o.Reason != "InvalidConfig" || o.Message != want || keys != nil {
		t.Fatalf("got %s: %s (keys %v), want InvalidConfig: %s", o.Reason, o.Message, keys, want)
	}
}
