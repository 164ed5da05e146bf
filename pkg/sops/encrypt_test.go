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
	"slices"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	yaml2 "go.yaml.in/yaml/v2"
)

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
		{path: []string{"sops", "encrypted_regex"}, want: `^(data|stringData|annotations)$`},
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
		{name: "not yaml", in: []byte("a: b: c\n"), recipients: []string{recipient}, wantErr: "parsing YAML"},
		{name: "flow collection", in: []byte("a: [b\n"), recipients: []string{recipient}, wantErr: "a flow-style collection"},
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
