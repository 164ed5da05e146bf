/*
Copyright The gitops-reverser Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package sops

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
	"testing"

	"filippo.io/age"
)

func TestParseIdentities(t *testing.T) {
	a, b, c := newIdentity(t), newIdentity(t), newIdentity(t)
	pq, err := age.GenerateHybridIdentity()
	if err != nil {
		t.Fatalf("GenerateHybridIdentity: %v", err)
	}
	keygenFile := func(id interface{ String() string }, recipient string) []byte {
		return []byte("# created: 2025-01-01T00:00:00Z\n# public key: " + recipient + "\n" + id.String() + "\n")
	}
	sorted := func(s ...string) []string { slices.Sort(s); return s }

	for _, tc := range []struct {
		name           string
		data           map[string][]byte
		wantRecipients []string
		wantErr        string
	}{
		{
			name:           "one key",
			data:           map[string][]byte{"identity.agekey": []byte(a.String())},
			wantRecipients: []string{a.Recipient().String()},
		},
		{
			name: "several keys, other keys ignored",
			data: map[string][]byte{
				"a.agekey":   keygenFile(a, a.Recipient().String()),
				"b.agekey":   keygenFile(b, b.Recipient().String()),
				"README":     []byte("not a key at all"),
				"agekey.txt": []byte("garbage"),
			},
			wantRecipients: sorted(a.Recipient().String(), b.Recipient().String()),
		},
		{
			name: "several identities in one value, comments, blank lines, CRLF and indentation",
			data: map[string][]byte{
				"all.agekey": []byte("# team keys\r\n\r\n" + a.String() + "\r\n  " + b.String() + "  \n\n# old\n" + c.String()),
			},
			wantRecipients: sorted(a.Recipient().String(), b.Recipient().String(), c.Recipient().String()),
		},
		{
			name: "duplicates across keys",
			data: map[string][]byte{
				"x.agekey": []byte(a.String()),
				"y.agekey": []byte(a.String() + "\n" + b.String()),
			},
			wantRecipients: sorted(a.Recipient().String(), b.Recipient().String()),
		},
		{
			name:           "post-quantum identity",
			data:           map[string][]byte{"pq.agekey": []byte(pq.String())},
			wantRecipients: []string{pq.Recipient().String()},
		},
		{
			name:    "no agekey",
			data:    map[string][]byte{"identity.txt": []byte(a.String())},
			wantErr: `no key ending in ".agekey"`,
		},
		{
			name:    "empty secret",
			data:    nil,
			wantErr: `no key ending in ".agekey"`,
		},
		{
			name:    "only comments",
			data:    map[string][]byte{"a.agekey": []byte("# nothing here\n\n")},
			wantErr: `key "a.agekey" holds no age identity`,
		},
		{
			name:    "garbage",
			data:    map[string][]byte{"a.agekey": []byte("hello world")},
			wantErr: `key "a.agekey" line 1: not a valid age identity`,
		},
		{
			name: "corrupted identity next to a valid one",
			data: map[string][]byte{
				"a.agekey": []byte(a.String()),
				"b.agekey": []byte("# ok\n" + b.String()[:len(b.String())-3] + "QQQ"),
			},
			wantErr: `key "b.agekey" line 2: not a valid age identity`,
		},
		{
			name:    "public key instead of identity",
			data:    map[string][]byte{"a.agekey": []byte(a.Recipient().String())},
			wantErr: "not a valid age identity",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ids, recipients, err := ParseIdentities(tc.data)
			if tc.wantErr != "" {
				if err == nil {
					t.Fatalf("ParseIdentities succeeded, want error containing %q", tc.wantErr)
				}
				if !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("error = %q, want it to contain %q", err, tc.wantErr)
				}
				for _, id := range []*age.X25519Identity{a, b, c} {
					if body := id.String()[len("AGE-SECRET-KEY-1"):]; strings.Contains(err.Error(), body[:10]) {
						t.Errorf("error leaks key material: %q", err)
					}
				}
				if strings.Contains(err.Error(), "hello") {
					t.Errorf("error echoes the value: %q", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseIdentities: %v", err)
			}
			if !slices.Equal(recipients, tc.wantRecipients) {
				t.Errorf("recipients = %v, want %v", recipients, tc.wantRecipients)
			}
			if len(ids) != len(recipients) {
				t.Errorf("got %d identities for %d recipients", len(ids), len(recipients))
			}
			// The identities open what is encrypted to the recipients.
			enc, err := Encrypt([]byte("data:\n  k: dg==\n"), recipients)
			if err != nil {
				t.Fatalf("Encrypt: %v", err)
			}
			if _, err := Decrypt(enc, ids); err != nil {
				t.Errorf("Decrypt with parsed identities: %v", err)
			}
		})
	}
}

func TestRecipientsHash(t *testing.T) {
	sum := func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }
	for _, tc := range []struct {
		name string
		a, b []string
		same bool
	}{
		{name: "order independent", a: []string{"age1b", "age1a", "age1c"}, b: []string{"age1c", "age1a", "age1b"}, same: true},
		{name: "different sets", a: []string{"age1a", "age1b"}, b: []string{"age1a", "age1c"}},
		{name: "subset", a: []string{"age1a", "age1b"}, b: []string{"age1a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ha, hb := RecipientsHash(tc.a), RecipientsHash(tc.b)
			if (ha == hb) != tc.same {
				t.Errorf("RecipientsHash(%q) = %s, RecipientsHash(%q) = %s, want same=%v", tc.a, ha, tc.b, hb, tc.same)
			}
		})
	}
	input := []string{"age1zz", "age1aa"}
	if got, want := RecipientsHash(input), sum("age1aa\nage1zz"); got != want {
		t.Errorf("RecipientsHash = %s, want sha256(sorted joined) %s", got, want)
	}
	if !slices.Equal(input, []string{"age1zz", "age1aa"}) {
		t.Error("RecipientsHash modified its argument")
	}
}

func TestSOPSConfig(t *testing.T) {
	got := string(SOPSConfig([]string{"age1zzz", " age1aaa", "age1zzz"}))
	want := `creation_rules:
- path_regex: \.sops\.yaml$
  encrypted_regex: ^(data|stringData|annotations)$
  age: age1aaa,age1zzz
`
	if got != want {
		t.Errorf("SOPSConfig =\n%s\nwant\n%s", got, want)
	}
}
