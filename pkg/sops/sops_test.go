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
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	yaml2 "go.yaml.in/yaml/v2"
)

func TestRoundTrip(t *testing.T) {
	id := newIdentity(t)
	for _, tc := range roundTripCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			enc, err := Encrypt(tc.in, []string{id.Recipient().String()})
			if err != nil {
				t.Fatalf("Encrypt: %v", err)
			}
			for _, s := range tc.secrets {
				if bytes.Contains(enc, []byte(s)) {
					t.Errorf("encrypted output contains the plaintext %q:\n%s", s, enc)
				}
			}
			got, err := Decrypt(enc, []age.Identity{id})
			if err != nil {
				t.Fatalf("Decrypt: %v", err)
			}
			want, err := Normalize(tc.in)
			if err != nil {
				t.Fatalf("Normalize: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("Decrypt(Encrypt(x)) != Normalize(x)\ngot:\n%s\nwant:\n%s", got, want)
			}
			again, err := Normalize(want)
			if err != nil || !bytes.Equal(again, want) {
				t.Errorf("Normalize is not idempotent (err %v):\n%s\nthen\n%s", err, want, again)
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	for _, tc := range []struct {
		name, in, want, wantErr string
	}{
		{name: "rendered input unchanged", in: "a: b\nc:\n- d\n", want: "a: b\nc:\n- d\n"},
		{name: "indentation and quoting", in: "c:\n    - 'd'\na:   \"b\"\n", want: "c:\n- d\na: b\n"},
		{name: "scalar-looking strings stay strings", in: "a: 'true'\nb: \"1\"\n", want: "a: \"true\"\nb: \"1\"\n"},
		{name: "comments rejected", in: "a: b # c\n", wantErr: "comments are not supported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Normalize([]byte(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Normalize: %v", err)
			}
			if string(got) != tc.want {
				t.Errorf("Normalize =\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

// The product renders with sigs.k8s.io/yaml and compares plaintexts to skip
// unchanged Secrets: for such input the round trip must be byte-exact.
func TestRoundTripIsByteExactForRenderedSecrets(t *testing.T) {
	id := newIdentity(t)
	for _, tc := range roundTripCases(t) {
		if tc.name == "non-string values" { // hand-written, not rendered
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			enc, err := Encrypt(tc.in, []string{id.Recipient().String()})
			if err != nil {
				t.Fatalf("Encrypt: %v", err)
			}
			got, err := Decrypt(enc, []age.Identity{id})
			if err != nil {
				t.Fatalf("Decrypt: %v", err)
			}
			if !bytes.Equal(got, tc.in) {
				t.Errorf("round trip changed the bytes\ngot:\n%s\nwant:\n%s", got, tc.in)
			}
		})
	}
}

func TestEncryptLayout(t *testing.T) {
	a, b := newIdentity(t), newIdentity(t)
	recipients := []string{b.Recipient().String(), a.Recipient().String()}
	in := []byte(`kind: Secret
apiVersion: v1
metadata:
  name: s
  annotations:
    data: also-encrypted
type: Opaque
data:
  z: enp6
  a: YWFh
  empty: ""
stringData:
  n: 5
`)
	now := time.Date(2025, 3, 4, 5, 6, 7, 0, time.FixedZone("CET", 3600))
	enc, err := encrypt(in, recipients, now)
	if err != nil {
		t.Fatalf("encrypt: %v", err)
	}
	tree, err := parseDocument(enc, parseOptions{})
	if err != nil {
		t.Fatalf("output does not parse: %v\n%s", err, enc)
	}

	var keys []string
	for _, item := range tree {
		keys = append(keys, item.Key.(string))
	}
	if want := []string{"kind", "apiVersion", "metadata", "type", "data", "stringData", "sops"}; !slices.Equal(keys, want) {
		t.Errorf("top-level keys = %v, want input order %v", keys, want)
	}

	valueRe := regexp.MustCompile(`^ENC\[AES256_GCM,data:[A-Za-z0-9+/=]+,iv:[A-Za-z0-9+/=]{44},tag:[A-Za-z0-9+/=]{24},type:(str|int)\]$`)
	lookup := func(m yaml2.MapSlice, path ...string) any {
		var v any = m
		for _, k := range path {
			found := false
			for _, item := range v.(yaml2.MapSlice) {
				if item.Key == k {
					v, found = item.Value, true
					break
				}
			}
			if !found {
				t.Fatalf("no key %v in output", path)
			}
		}
		return v
	}
	for _, tc := range []struct {
		path    []string
		want    any    // exact value, or
		pattern string // a regexp for ENC values
	}{
		{path: []string{"kind"}, want: "Secret"},
		{path: []string{"metadata", "name"}, want: "s"},
		{path: []string{"type"}, want: "Opaque"},
		{path: []string{"metadata", "annotations", "data"}, pattern: `type:str\]$`},
		{path: []string{"data", "z"}, pattern: `type:str\]$`},
		{path: []string{"data", "a"}, pattern: `type:str\]$`},
		{path: []string{"data", "empty"}, want: ""},
		{path: []string{"stringData", "n"}, pattern: `type:int\]$`},
		{path: []string{"sops", "encrypted_regex"}, want: `^(data|stringData)$`},
		{path: []string{"sops", "lastmodified"}, want: "2025-03-04T04:06:07Z"},
		{path: []string{"sops", "mac"}, pattern: `^ENC\[AES256_GCM,data:[A-Za-z0-9+/=]{172},iv:.*type:str\]$`},
		{path: []string{"sops", "version"}, want: "3.13.3"},
	} {
		got := lookup(tree, tc.path...)
		if tc.pattern != "" {
			s, _ := got.(string)
			if tc.path[0] != "sops" && !valueRe.MatchString(s) || !regexp.MustCompile(tc.pattern).MatchString(s) {
				t.Errorf("%v = %v, want an ENC value matching %s", tc.path, got, tc.pattern)
			}
			continue
		}
		if got != tc.want {
			t.Errorf("%v = %#v, want %#v", tc.path, got, tc.want)
		}
	}

	ageKeys := lookup(tree, "sops", "age").([]any)
	var got []string
	for _, k := range ageKeys {
		entry := k.(yaml2.MapSlice)
		if entry[0].Key != "enc" || entry[1].Key != "recipient" {
			t.Errorf("age entry keys = %v, want enc, recipient (sops order)", entry)
		}
		if enc := entry[0].Value.(string); !strings.HasPrefix(enc, "-----BEGIN AGE ENCRYPTED FILE-----\n") ||
			!strings.HasSuffix(enc, "-----END AGE ENCRYPTED FILE-----\n") {
			t.Errorf("age enc is not an armored age file:\n%s", enc)
		}
		got = append(got, entry[1].Value.(string))
	}
	want := []string{a.Recipient().String(), b.Recipient().String()}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("age recipients = %v, want sorted %v", got, want)
	}
	if !bytes.Contains(enc, []byte("\n  - enc: |\n      -----BEGIN AGE ENCRYPTED FILE-----\n")) {
		t.Errorf("age enc is not written as a literal block:\n%s", enc)
	}

	// Same input, same layout: only ciphertexts and keys differ.
	enc2, err := encrypt(in, recipients, now)
	if err != nil {
		t.Fatalf("encrypt: %v", err)
	}
	if bytes.Equal(enc, enc2) {
		t.Error("two encryptions are identical: IVs or data key are not random")
	}
	mask := func(b []byte) []byte {
		b = regexp.MustCompile(`ENC\[[^\]]*\]`).ReplaceAll(b, []byte("ENC"))
		return regexp.MustCompile(`(?m)^      [A-Za-z0-9+/=]+$`).ReplaceAll(b, []byte("      ARMOR"))
	}
	if m1, m2 := mask(enc), mask(enc2); !bytes.Equal(m1, m2) {
		t.Errorf("layout differs between encryptions:\n%s\n---\n%s", m1, m2)
	}
}

func TestEncryptErrors(t *testing.T) {
	recipient := newIdentity(t).Recipient().String()
	valid := []byte("apiVersion: v1\nkind: Secret\ndata:\n  k: c2VjcmV0LXZhbHVl\n")
	for _, tc := range []struct {
		name       string
		in         []byte
		recipients []string
		wantErr    string
	}{
		{name: "no recipients", in: valid, recipients: nil, wantErr: "no age recipients"},
		{name: "blank recipients", in: valid, recipients: []string{" ", ""}, wantErr: "no age recipients"},
		{name: "bad recipient", in: valid, recipients: []string{"age1notakey"}, wantErr: `invalid age recipient "age1notakey"`},
		{name: "identity as recipient", in: valid, recipients: []string{newIdentity(t).String()}, wantErr: "invalid age recipient"},
		{name: "empty input", in: nil, recipients: []string{recipient}, wantErr: "empty YAML document"},
		{name: "not yaml", in: []byte("a: [b\n"), recipients: []string{recipient}, wantErr: "parsing YAML"},
		{name: "list root", in: []byte("- a\n"), recipients: []string{recipient}, wantErr: "root must be a mapping"},
		{name: "multiple documents", in: []byte("a: b\n---\nc: d\n"), recipients: []string{recipient}, wantErr: "multiple YAML documents"},
		{name: "comment", in: []byte("data:\n  k: dmFsdWU= # c2VjcmV0LXZhbHVl\n"), recipients: []string{recipient}, wantErr: "comments are not supported"},
		{name: "alias", in: []byte("a: &x c2VjcmV0LXZhbHVl\ndata:\n  k: *x\n"), recipients: []string{recipient}, wantErr: "aliases are not supported"},
		{name: "non-string key", in: []byte("data:\n  1: c2VjcmV0LXZhbHVl\n"), recipients: []string{recipient}, wantErr: "only string keys"},
		{name: "duplicate key", in: []byte("data:\n  k: c2VjcmV0LXZhbHVl\n  k: c2VjcmV0LXZhbHVl\n"), recipients: []string{recipient}, wantErr: "duplicate"},
		{name: "sops key", in: []byte("sops: {}\ndata:\n  k: c2VjcmV0LXZhbHVl\n"), recipients: []string{recipient}, wantErr: `top-level "sops" key`},
		{name: "bad tagged value", in: []byte("data:\n  k: !!int c2VjcmV0LXZhbHVl\n"), recipients: []string{recipient}, wantErr: "invalid scalar value"},
		{name: "huge integer", in: []byte("data:\n  k: 18446744073709551615\n"), recipients: []string{recipient}, wantErr: "unsupported scalar"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := Encrypt(tc.in, tc.recipients)
			if err == nil {
				t.Fatalf("Encrypt succeeded, want error containing %q:\n%s", tc.wantErr, out)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error = %q, want it to contain %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), "c2VjcmV0LXZhbHVl") {
				t.Errorf("error leaks the plaintext value: %q", err)
			}
		})
	}
}

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

func TestMultipleRecipients(t *testing.T) {
	ids := []*age.X25519Identity{newIdentity(t), newIdentity(t), newIdentity(t)}
	in := render(t, secret(map[string]any{"k": b64("shared-secret")}, nil))
	// Duplicates and surrounding blanks are normalized away.
	recipients := []string{ids[2].Recipient().String(), " " + ids[0].Recipient().String(), ids[1].Recipient().String(), ids[0].Recipient().String()}
	enc, err := Encrypt(in, recipients)
	if err != nil {
		t.Fatalf("Encrypt: %v", err)
	}
	if n := bytes.Count(enc, []byte("BEGIN AGE ENCRYPTED FILE")); n != 3 {
		t.Errorf("data key wrapped %d times, want 3", n)
	}
	for i, id := range ids {
		got, err := Decrypt(enc, []age.Identity{id})
		if err != nil {
			t.Fatalf("identity %d: Decrypt: %v", i, err)
		}
		if !bytes.Equal(got, in) {
			t.Errorf("identity %d: got %s", i, got)
		}
	}
}

func TestHybridRecipient(t *testing.T) {
	id, err := age.GenerateHybridIdentity()
	if err != nil {
		t.Fatalf("GenerateHybridIdentity: %v", err)
	}
	classic := newIdentity(t)
	in := render(t, secret(map[string]any{"k": b64("pq-secret")}, nil))
	// sops wraps the data key once per recipient, so mixing post-quantum and
	// classic recipients works (age itself refuses to mix them in one file).
	enc, err := Encrypt(in, []string{id.Recipient().String(), classic.Recipient().String()})
	if err != nil {
		t.Fatalf("Encrypt: %v", err)
	}
	for _, ident := range []age.Identity{id, classic} {
		got, err := Decrypt(enc, []age.Identity{ident})
		if err != nil {
			t.Fatalf("Decrypt: %v", err)
		}
		if !bytes.Equal(got, in) {
			t.Errorf("got %s", got)
		}
	}
}

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
  encrypted_regex: ^(data|stringData)$
  age: age1aaa,age1zzz
`
	if got != want {
		t.Errorf("SOPSConfig =\n%s\nwant\n%s", got, want)
	}
}

// Non-canonical input comes back in the canonical layout, but with the same
// data: re-encrypting the decrypted output gives the same plaintext again.
func TestDecryptCanonicalizesLayout(t *testing.T) {
	id := newIdentity(t)
	in := []byte("kind: Secret\nmetadata:\n    name: s\n    finalizers:\n        - a\ndata:\n    k: 'dmFsdWU='\n")
	enc, err := Encrypt(in, []string{id.Recipient().String()})
	if err != nil {
		t.Fatalf("Encrypt: %v", err)
	}
	got, err := Decrypt(enc, []age.Identity{id})
	if err != nil {
		t.Fatalf("Decrypt: %v", err)
	}
	want := "kind: Secret\nmetadata:\n  name: s\n  finalizers:\n  - a\ndata:\n  k: dmFsdWU=\n"
	if string(got) != want {
		t.Errorf("Decrypt =\n%s\nwant\n%s", got, want)
	}
}

func FuzzRoundTrip(f *testing.F) {
	f.Add("password", "aHVudGVyMg==", "plain text")
	f.Add("", "", "")
	f.Add("ключ", "line1\nline2\n", "  leading and trailing  ")
	f.Add("a: b", "- x", "# y")
	f.Add("true", "null", "0o17")
	f.Add("k", "\t\r\n\x00\x7f\u0085\u2028\ufeff", "\"'\\")
	f.Add("sops", "ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]", strings.Repeat("folded text ", 20))
	id := newIdentity(f)
	recipients := []string{id.Recipient().String()}
	f.Fuzz(func(t *testing.T, key, value, text string) {
		in, err := yaml2.Marshal(yaml2.MapSlice{
			{Key: "apiVersion", Value: "v1"},
			{Key: "kind", Value: "Secret"},
			{Key: "metadata", Value: yaml2.MapSlice{{Key: "name", Value: "fuzz"}, {Key: "annotations", Value: yaml2.MapSlice{{Key: key, Value: text}}}}},
			{Key: "data", Value: yaml2.MapSlice{{Key: key, Value: value}, {Key: key + "2", Value: text}}},
			{Key: "stringData", Value: yaml2.MapSlice{{Key: key, Value: text}}},
		})
		if err != nil {
			t.Skip() // not representable (e.g. invalid UTF-8)
		}
		if _, err := parseDocument(in, parseOptions{}); err != nil {
			t.Skip() // yaml.v2 emitted something yaml.v3 does not read back
		}
		enc, err := Encrypt(in, recipients)
		if err != nil {
			t.Fatalf("Encrypt: %v\ninput:\n%s", err, in)
		}
		got, err := Decrypt(enc, []age.Identity{id})
		if err != nil {
			t.Fatalf("Decrypt: %v\nencrypted:\n%s", err, enc)
		}
		if !bytes.Equal(got, in) {
			t.Fatalf("round trip changed the document\ngot:\n%q\nwant:\n%q", got, in)
		}
	})
}
