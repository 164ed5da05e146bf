package gates

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
)

func encTarget(generate bool) *v1alpha1.GitTarget {
	t := target("sut", "t", "p", "main", "", 0)
	t.Spec.Encryption = &v1alpha1.EncryptionSpec{Provider: "sops", SecretRef: v1alpha1.LocalSecretReference{Name: "sops-age-key"}, GenerateWhenMissing: generate}
	return t
}

func data(kv map[string]string) map[string][]byte {
	out := map[string][]byte{}
	for k, v := range kv {
		out[k] = []byte(v)
	}
	return out
}

// TestEncryption covers every reason of the EncryptionConfigured gate over the
// key Secret as read from the source cluster.
func TestEncryption(t *testing.T) {
	id, _ := age.GenerateX25519Identity()
	if o, _, create := encryption(encTarget(false), &KeySecret{}); o.Reason != "SecretCreateDisabled" || create ||
		o.Message != "Encryption secret sut/sops-age-key is missing and generateWhenMissing is false" {
		t.Errorf("missing, no generate: %+v", o)
	}
	if _, _, create := encryption(encTarget(true), &KeySecret{}); !create {
		t.Error("missing with generateWhenMissing does not ask to create it")
	}
	if o, _, _ := encryption(encTarget(true), &KeySecret{CreateErr: errors.New("forbidden")}); o.Reason != "MissingSecret" ||
		o.Message != "Encryption secret sut/sops-age-key is missing and could not be created: forbidden" {
		t.Errorf("create failed: %+v", o)
	}
	if o, _, _ := encryption(encTarget(true), &KeySecret{Err: errors.New("boom")}); o.Reason != "MissingSecret" || !strings.Contains(o.Message, "Cannot read encryption secret sut/sops-age-key: boom") {
		t.Errorf("read failed: %+v", o)
	}
	for name, tc := range map[string]struct {
		data   map[string]string
		reason string
	}{
		"no .agekey key":  {map[string]string{"key.txt": id.String()}, "MissingSecret"},
		"garbage":         {map[string]string{"identity.agekey": "AGE-SECRET-KEY-1NOPE"}, "InvalidConfig"},
		"valid":           {map[string]string{"identity.agekey": id.String()}, "OK"},
		"valid + comment": {map[string]string{"a.agekey": "# created: now\n" + id.String() + "\n"}, "OK"},
	} {
		t.Run(name, func(t *testing.T) {
			o, keys, _ := encryption(encTarget(true), &KeySecret{Found: true, Data: data(tc.data)})
			if o.Reason != tc.reason {
				t.Fatalf("reason %s (%s), want %s", o.Reason, o.Message, tc.reason)
			}
			if strings.Contains(o.Message, "NOPE") || strings.Contains(o.Message, id.String()) {
				t.Errorf("message leaks key material: %s", o.Message)
			}
			if tc.reason == "OK" && (len(keys.Recipients) != 1 || keys.Recipients[0] != id.Recipient().String() || keys.Hash == "") {
				t.Errorf("keys %+v", keys)
			}
		})
	}
}

// TestEncryptionPublicKeys: the public keys of spec.encryption.age are
// recipients beside the server's identities (sorted, once each), and change
// the recipients hash, so the Secrets in Git are encrypted to them again.
func TestEncryptionPublicKeys(t *testing.T) {
	server, _ := age.GenerateX25519Identity()
	reader, _ := age.GenerateX25519Identity()
	secret := &KeySecret{Found: true, Data: data(map[string]string{"identity.agekey": server.String()})}
	plain := encTarget(false)
	_, before, _ := encryption(plain, secret)
	seed := encTarget(false)
	seed.Spec.Encryption.Age = &v1alpha1.AgeEncryption{Enabled: true, Recipients: v1alpha1.AgeRecipients{
		PublicKeys: []string{reader.Recipient().String(), server.Recipient().String()}}}
	o, after, _ := encryption(seed, secret)
	if o.Reason != "OK" || after == nil {
		t.Fatalf("with public keys: %+v", o)
	}
	want := []string{server.Recipient().String(), reader.Recipient().String()}
	slices.Sort(want)
	if !slices.Equal(after.Recipients, want) {
		t.Errorf("recipients %v, want %v", after.Recipients, want)
	}
	if before.Hash == after.Hash {
		t.Error("adding a public key left the recipients hash as it was")
	}
}
