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
	"strings"
	"testing"

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
