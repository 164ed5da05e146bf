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
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	yaml2 "go.yaml.in/yaml/v2"
)

// annotatedSecret is a Secret whose annotations hold a token.
func annotatedSecret(t testing.TB) []byte {
	obj := secret(map[string]any{"password": b64("data-secret")}, nil)
	md := obj["metadata"].(map[string]any)
	md["annotations"] = map[string]any{
		"example.com/api-token": "annotation-token-secret",
		"example.com/replicas":  "3",
		"example.com/enabled":   "true",
	}
	return render(t, obj)
}

func lookupPath(t *testing.T, tree yaml2.MapSlice, path ...string) any {
	t.Helper()
	var v any = tree
	for _, k := range path {
		m, ok := v.(yaml2.MapSlice)
		if !ok {
			t.Fatalf("%v: not a mapping at %q", path, k)
		}
		found := false
		for _, item := range m {
			if item.Key == k {
				v, found = item.Value, true
				break
			}
		}
		if !found {
			t.Fatalf("no key %v", path)
		}
	}
	return v
}

// TestEncryptAnnotations: a Secret's annotation values are encrypted (their
// keys, the labels, the name stay readable) and decrypt back.
func TestEncryptAnnotations(t *testing.T) {
	id := newIdentity(t)
	in := annotatedSecret(t)
	enc, err := Encrypt(in, []string{id.Recipient().String()})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(enc, []byte("annotation-token-secret")) {
		t.Fatalf("an annotation value is in plaintext:\n%s", enc)
	}
	tree, err := parseDocument(enc, parseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	encRe := regexp.MustCompile(`^ENC\[AES256_GCM,data:.*,type:str\]$`)
	for _, k := range []string{"example.com/api-token", "example.com/replicas", "example.com/enabled"} {
		if v, _ := lookupPath(t, tree, "metadata", "annotations", k).(string); !encRe.MatchString(v) {
			t.Errorf("annotation %s = %q, want an ENC value", k, v)
		}
	}
	for path, want := range map[string]string{
		"metadata.name":                          "db-credentials",
		"metadata.namespace":                     "prod",
		"metadata.labels.app.kubernetes.io/name": "db",
		"type":                                   "Opaque",
	} {
		var p []string
		if strings.HasPrefix(path, "metadata.labels.") {
			p = []string{"metadata", "labels", strings.TrimPrefix(path, "metadata.labels.")}
		} else {
			p = strings.Split(path, ".")
		}
		if got := lookupPath(t, tree, p...); got != want {
			t.Errorf("%s = %v, want %q in clear", path, got, want)
		}
	}
	got, err := Decrypt(enc, []age.Identity{id})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, in) {
		t.Errorf("Decrypt(Encrypt(x)) != x\ngot:\n%s\nwant:\n%s", got, in)
	}
	if Stale(enc) {
		t.Error("a file Encrypt just wrote is stale")
	}
}

// TestStale: files of the earlier rule (annotations in plaintext) are stale
// when they have annotations, and only then; files of a wider rule are not.
func TestStale(t *testing.T) {
	id := newIdentity(t)
	rs := []string{id.Recipient().String()}
	old := regexp.MustCompile(`^(data|stringData)$`)
	now := time.Now()

	oldAnnotated, err := encryptWith(annotatedSecret(t), rs, now, old)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(oldAnnotated, []byte("annotation-token-secret")) {
		t.Fatal("the earlier rule should have left the annotation in plaintext")
	}
	// It still decrypts (the rule is read from the file) ...
	if got, err := Decrypt(oldAnnotated, []age.Identity{id}); err != nil || !bytes.Equal(got, annotatedSecret(t)) {
		t.Fatalf("a file of the earlier rule does not decrypt: %v\n%s", err, got)
	}
	// ... and is stale: a caller comparing plaintexts must encrypt it again.
	if !Stale(oldAnnotated) {
		t.Error("a file with plaintext annotations is not stale")
	}

	plain := render(t, secret(map[string]any{"password": b64("data-secret")}, nil))
	oldPlain, err := encryptWith(plain, rs, now, old)
	if err != nil {
		t.Fatal(err)
	}
	if Stale(oldPlain) {
		t.Error("a file of the earlier rule without annotations is stale: it would be rewritten for nothing")
	}
	everything, err := encryptWith(annotatedSecret(t), rs, now, regexp.MustCompile(`.`))
	if err != nil {
		t.Fatal(err)
	}
	if Stale(everything) {
		t.Error("a file encrypting more than Encrypt is stale")
	}
	for name, in := range map[string][]byte{"not SOPS": plain, "not YAML": []byte("{")} {
		if !Stale(in) {
			t.Errorf("%s: not stale", name)
		}
	}
}

// TestSopsCLIDecryptsEncryptedAnnotations: the real sops CLI decrypts a file
// with encrypted annotations to the input, and encrypts annotations too when
// driven by our .sops.yaml.
func TestSopsCLIDecryptsEncryptedAnnotations(t *testing.T) {
	id := newIdentity(t)
	in := annotatedSecret(t)
	enc, err := Encrypt(in, []string{id.Recipient().String()})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "x.sops.yaml"), enc)
	out, err := runSops(t, dir, []string{"SOPS_AGE_KEY=" + id.String()}, "-d", "x.sops.yaml")
	if err != nil {
		t.Fatal(err)
	}
	assertSameDocument(t, out, in)
	if !bytes.Contains(out, []byte("annotation-token-secret")) {
		t.Errorf("sops -d did not restore the annotation:\n%s", out)
	}

	// A human's `sops -e` under the .sops.yaml we commit encrypts the same.
	writeFile(t, filepath.Join(dir, ".sops.yaml"), SOPSConfig([]string{id.Recipient().String()}))
	writeFile(t, filepath.Join(dir, "y.sops.yaml"), in)
	cli, err := runSops(t, dir, nil, "-e", "y.sops.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(cli, []byte("annotation-token-secret")) {
		t.Errorf("sops -e under our .sops.yaml left an annotation in plaintext:\n%s", cli)
	}
	if Stale(cli) {
		t.Error("sops -e under our .sops.yaml wrote a stale file")
	}
	got, err := Decrypt(cli, []age.Identity{id})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, in) {
		t.Errorf("got\n%s\nwant\n%s", got, in)
	}
}
