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
	"encoding/base64"
	"strings"
	"testing"

	"filippo.io/age"
	"sigs.k8s.io/yaml"
)

func newIdentity(t testing.TB) *age.X25519Identity {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatalf("generating age identity: %v", err)
	}
	return id
}

// render renders an object the way the product's renderer does
// (sigs.k8s.io/yaml: sorted keys, 2-space indent).
func render(t testing.TB, obj map[string]any) []byte {
	t.Helper()
	out, err := yaml.Marshal(obj)
	if err != nil {
		t.Fatalf("rendering: %v", err)
	}
	return out
}

// canonical is the layout Decrypt returns for any input (Normalize, but
// comments are allowed, as they are in files written by the sops CLI).
func canonical(t testing.TB, in []byte) []byte {
	t.Helper()
	tree, err := parseDocument(in, parseOptions{allowComments: true})
	if err != nil {
		t.Fatalf("parsing: %v", err)
	}
	out, err := emit(tree)
	if err != nil {
		t.Fatalf("emitting: %v", err)
	}
	return out
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func secret(data, stringData map[string]any) map[string]any {
	obj := map[string]any{
		"apiVersion": "v1",
		"kind":       "Secret",
		"metadata": map[string]any{
			"name":      "db-credentials",
			"namespace": "prod",
			"labels":    map[string]any{"app.kubernetes.io/name": "db"},
		},
		"type": "Opaque",
	}
	if data != nil {
		obj["data"] = data
	}
	if stringData != nil {
		obj["stringData"] = stringData
	}
	return obj
}

// roundTripCase is a plaintext document plus the secret values that must not
// appear in its encrypted form.
type roundTripCase struct {
	name    string
	in      []byte
	secrets []string
}

// roundTripCases are the Secret shapes every round-trip test runs over.
func roundTripCases(t testing.TB) []roundTripCase {
	binary := string([]byte{0x00, 0xff, 0xfe, 0x10, 0x80, 0x7f, 0x0a, 0x0d, 0x22, 0x27, 0x5c, 0xc3, 0x28})
	longText := strings.Repeat("a long annotation value with spaces that the emitter folds ", 3)
	return []roundTripCase{
		{
			name:    "data",
			in:      render(t, secret(map[string]any{"password": b64("hunter2-correct-horse"), "username": b64("admin-user")}, nil)),
			secrets: []string{b64("hunter2-correct-horse"), b64("admin-user")},
		},
		{
			name:    "binary data",
			in:      render(t, secret(map[string]any{"key.der": base64.StdEncoding.EncodeToString([]byte(binary))}, nil)),
			secrets: []string{base64.StdEncoding.EncodeToString([]byte(binary))},
		},
		{
			name: "multi-line stringData",
			in: render(t, secret(nil, map[string]any{
				"config.ini":  "[main]\nuser = someone\npassword = s3cr3t-value\n",
				"no-newline":  "first-secret-line\nsecond-secret-line",
				"indented":    "  leading-spaces-secret\n\ttab-secret\n",
				"trailing-ws": "trailing-space-secret   \nx",
				"crlf":        "windows-secret\r\nline",
			})),
			secrets: []string{"s3cr3t-value", "first-secret-line", "second-secret-line", "leading-spaces-secret", "tab-secret", "trailing-space-secret", "windows-secret"},
		},
		{
			name: "unicode keys and values",
			in: render(t, secret(
				map[string]any{"clé-secrète": b64("mot de passe très secret"), "日本語": b64("秘密の値")},
				map[string]any{"пароль": "совершенно секретно", "emoji🔑": "🔐 locked-secret ✓"},
			)),
			secrets: []string{b64("mot de passe très secret"), b64("秘密の値"), "совершенно секретно", "locked-secret"},
		},
		{
			name: "empty data",
			in:   render(t, secret(map[string]any{}, nil)),
		},
		{
			name: "no data",
			in:   render(t, secret(nil, nil)),
		},
		{
			name: "data and stringData",
			in: render(t, secret(
				map[string]any{"token": b64("token-value-0123456789")},
				map[string]any{"url": "https://user:pass-secret@example.com/db"},
			)),
			secrets: []string{b64("token-value-0123456789"), "pass-secret"},
		},
		{
			name: "empty and scalar-looking strings",
			in: render(t, secret(
				map[string]any{"empty": "", "digits": "1234", "boolish": "true", "nullish": "null", "octal": "0o17", "exp": "1e3", "yes": "yes"},
				map[string]any{"colon": "key: value-secret", "hash": "# not-a-comment-secret", "dash": "- list-secret", "quote": `"quoted-secret'`},
			)),
			secrets: []string{"value-secret", "not-a-comment-secret", "list-secret", "quoted-secret"},
		},
		{
			name: "metadata kept in clear but annotation values",
			in: render(t, map[string]any{
				"apiVersion": "v1",
				"kind":       "Secret",
				"metadata": map[string]any{
					"name":      "tls",
					"namespace": "default",
					"labels":    map[string]any{"app": "web"},
					"annotations": map[string]any{"description": longText, "data": "annotation-named-data-secret",
						"example.com/token": "annotation-token-secret", "example.com/count": "3"},
					"ownerReferences": []any{map[string]any{
						"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": "6b1a3c2e-0000-4000-8000-000000000000",
						"controller": true, "blockOwnerDeletion": true,
					}},
					"finalizers": []any{"example.com/keep"},
				},
				"type":      "kubernetes.io/tls",
				"immutable": true,
				"data":      map[string]any{"tls.crt": b64("-----BEGIN CERTIFICATE-----\nMIIcert-secret\n"), "tls.key": b64("key-material-secret")},
			}),
			secrets: []string{b64("-----BEGIN CERTIFICATE-----\nMIIcert-secret\n"), b64("key-material-secret"), "annotation-named-data-secret",
				"annotation-token-secret", "a long annotation value"},
		},
		{
			name: "non-string values",
			in: []byte(`apiVersion: v1
kind: Secret
metadata:
  name: odd
  labels:
    replicas: "3"
  created: 2024-01-02
  weight: 1.0
  generation: 0x1F
  ready: True
  missing: ~
stringData:
  count: 42
  negative: -7
  ratio: 0.25
  big: 1.5e+300
  enabled: true
  disabled: false
  nothing: null
  when: 2024-01-02T03:04:05Z
  list:
  - list-item-secret
  - 7
  - nested: nested-secret
  map:
    inner: inner-secret
  emptyList: []
  emptyMap: {}
type: Opaque
`),
			secrets: []string{"list-item-secret", "nested-secret", "inner-secret"},
		},
	}
}
