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
	"bytes"
	"regexp"
	"strings"
	"testing"

	"filippo.io/age"
)

func TestDecryptRejectsTampering(t *testing.T) {
	id := newIdentity(t)
	in := render(t, secret(
		map[string]any{"password": b64("password-secret"), "user": b64("user-secret")},
		map[string]any{"note": "note-secret"},
	))
	enc, err := Encrypt(in, []string{id.Recipient().String()})
	if err != nil {
		t.Fatalf("Encrypt: %v", err)
	}
	lineOf := func(key string) string {
		m := regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(key) + `: (.*)$`).FindSubmatch(enc)
		if m == nil {
			t.Fatalf("no line for %q in\n%s", key, enc)
		}
		return string(m[1])
	}
	password, user := lineOf("password"), lineOf("user")
	flipData := func(v string) string { // change the first ciphertext character
		i := strings.Index(v, "data:") + len("data:")
		c := byte('A')
		if v[i] == 'A' {
			c = 'B'
		}
		return v[:i] + string(c) + v[i+1:]
	}

	for _, tc := range []struct {
		name    string
		edit    func(string) string
		wantErr string
	}{
		{
			name:    "ciphertext modified",
			edit:    func(s string) string { return strings.Replace(s, password, flipData(password), 1) },
			wantErr: "key data.password: AES-GCM authentication failed",
		},
		{
			name: "values swapped between keys",
			edit: func(s string) string {
				s = strings.Replace(s, password, "SWAP", 1)
				s = strings.Replace(s, user, password, 1)
				return strings.Replace(s, "SWAP", user, 1)
			},
			wantErr: "AES-GCM authentication failed",
		},
		{
			name:    "encrypted value moved to another key",
			edit:    func(s string) string { return strings.Replace(s, "  user: ", "  user2: ", 1) },
			wantErr: "key data.user2: AES-GCM authentication failed",
		},
		{
			name:    "encrypted value removed",
			edit:    func(s string) string { return strings.Replace(s, "  user: "+user+"\n", "", 1) },
			wantErr: "MAC mismatch",
		},
		{
			name:    "cleartext field modified",
			edit:    func(s string) string { return strings.Replace(s, "namespace: prod", "namespace: staging", 1) },
			wantErr: "MAC mismatch",
		},
		{
			name:    "cleartext field added",
			edit:    func(s string) string { return strings.Replace(s, "type: Opaque", "immutable: true\ntype: Opaque", 1) },
			wantErr: "MAC mismatch",
		},
		{
			name: "MAC modified",
			edit: func(s string) string {
				mac := regexp.MustCompile(`mac: (.*)`).FindStringSubmatch(s)[1]
				return strings.Replace(s, mac, flipData(mac), 1)
			},
			wantErr: "decrypting MAC",
		},
		{
			name:    "MAC removed",
			edit:    func(s string) string { return regexp.MustCompile(`mac: .*`).ReplaceAllString(s, `mac: ""`) },
			wantErr: "MAC mismatch",
		},
		{
			name: "lastmodified modified",
			edit: func(s string) string {
				return regexp.MustCompile(`lastmodified: ".*"`).ReplaceAllString(s, `lastmodified: "2000-01-01T00:00:00Z"`)
			},
			wantErr: "decrypting MAC",
		},
		{
			name:    "plaintext put in place of a value",
			edit:    func(s string) string { return strings.Replace(s, password, b64("password-secret"), 1) },
			wantErr: "not in sops' ENC",
		},
		{
			name:    "age key replaced",
			edit:    func(s string) string { return regexp.MustCompile(`recipient: .*`).ReplaceAllString(s, "recipient: x") },
			wantErr: "", // the recipient line is informational only; must still decrypt
		},
		{
			name: "age stanza corrupted",
			edit: func(s string) string {
				line := regexp.MustCompile(`(?m)^      [A-Za-z0-9+/]{64}$`).FindString(s)
				return strings.Replace(s, line, "      "+strings.Repeat("A", 64), 1)
			},
			wantErr: "no given age identity decrypts the data key",
		},
		{
			name:    "metadata removed",
			edit:    func(s string) string { return s[:strings.Index(s, "sops:")] },
			wantErr: `no top-level "sops" key`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tampered := []byte(tc.edit(string(enc)))
			if bytes.Equal(tampered, enc) {
				t.Fatal("edit did not change the file")
			}
			out, err := Decrypt(tampered, []age.Identity{id})
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Decrypt: %v", err)
				}
				if !bytes.Equal(out, in) {
					t.Errorf("Decrypt = %s, want %s", out, in)
				}
				return
			}
			if err == nil {
				t.Fatalf("Decrypt succeeded, want error containing %q:\n%s", tc.wantErr, out)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error = %q, want it to contain %q", err, tc.wantErr)
			}
			for _, s := range []string{"password-secret", b64("password-secret"), "user-secret", b64("user-secret"), "note-secret"} {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error leaks plaintext %q: %q", s, err)
				}
			}
		})
	}
}

func TestDecryptWithWrongOrNoIdentity(t *testing.T) {
	id, other := newIdentity(t), newIdentity(t)
	enc, err := Encrypt(render(t, secret(map[string]any{"k": b64("v")}, nil)), []string{id.Recipient().String()})
	if err != nil {
		t.Fatalf("Encrypt: %v", err)
	}
	if _, err := Decrypt(enc, nil); err == nil || !strings.Contains(err.Error(), "no age identities") {
		t.Errorf("Decrypt without identities: err = %v", err)
	}
	_, err = Decrypt(enc, []age.Identity{other})
	if err == nil || !strings.Contains(err.Error(), id.Recipient().String()) {
		t.Errorf("Decrypt with the wrong identity: err = %v, want it to name the file's recipient", err)
	}
	if strings.Contains(err.Error(), other.String()) || strings.Contains(err.Error(), id.String()) {
		t.Errorf("error leaks a private key: %v", err)
	}
}
