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

// Interoperability with the real sops CLI (v3.13.3, built into <repo>/bin by
// `make tools`). These tests are the proof that the files we write are SOPS
// files and that we read what sops writes.

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"filippo.io/age"
	yaml2 "go.yaml.in/yaml/v2"
	yaml3 "go.yaml.in/yaml/v3"
)

// sopsBinary returns the pinned sops CLI; its absence is a failure, not a
// skip, so that interop is never silently untested.
func sopsBinary(t *testing.T) string {
	t.Helper()
	path, err := filepath.Abs(filepath.Join("..", "..", "bin", "sops"))
	if err != nil {
		t.Fatalf("locating sops: %v", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("sops CLI not found at %s: run `make tools` (or hack/tools/install.sh sops) first", path)
	}
	return path
}

// runSops runs the sops CLI in dir with a minimal environment: no inherited
// SOPS_* variables, HOME and XDG_CONFIG_HOME pointing at dir so that no user
// key file or config is picked up.
func runSops(t *testing.T, dir string, env []string, args ...string) ([]byte, error) {
	t.Helper()
	cmd := exec.Command(sopsBinary(t), args...)
	cmd.Dir = dir
	cmd.Env = append([]string{"HOME=" + dir, "XDG_CONFIG_HOME=" + dir, "PATH=" + os.Getenv("PATH")}, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, &sopsError{args: args, err: err, stderr: stderr.String()}
	}
	return stdout.Bytes(), nil
}

type sopsError struct {
	args   []string
	err    error
	stderr string
}

func (e *sopsError) Error() string {
	return "sops " + strings.Join(e.args, " ") + ": " + e.err.Error() + "\n" + e.stderr
}

func writeFile(t *testing.T, path string, content []byte) {
	t.Helper()
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
}

// sopsLayout renders a document the way `sops -d` prints YAML: sops builds
// yaml.v3 nodes from the decoded values (stores/yaml.Store.treeValueToNode)
// and encodes them with a 4-space indent.
func sopsLayout(t *testing.T, in []byte) []byte {
	t.Helper()
	tree, err := parseDocument(in, parseOptions{allowComments: true})
	if err != nil {
		t.Fatalf("parsing: %v", err)
	}
	var toNode func(v any) *yaml3.Node
	toNode = func(v any) *yaml3.Node {
		n := &yaml3.Node{}
		switch v := v.(type) {
		case yaml2.MapSlice:
			n.Kind = yaml3.MappingNode
			for _, item := range v {
				k := &yaml3.Node{}
				if err := k.Encode(item.Key); err != nil {
					t.Fatal(err)
				}
				n.Content = append(n.Content, k, toNode(item.Value))
			}
		case []any:
			n.Kind = yaml3.SequenceNode
			for _, item := range v {
				n.Content = append(n.Content, toNode(item))
			}
		default:
			if err := n.Encode(v); err != nil {
				t.Fatal(err)
			}
		}
		return n
	}
	var buf bytes.Buffer
	e := yaml3.NewEncoder(&buf)
	e.SetIndent(4)
	if err := e.Encode(&yaml3.Node{Kind: yaml3.DocumentNode, Content: []*yaml3.Node{toNode(tree)}}); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// assertSameDocument compares two YAML documents by content: key order,
// values and their types. want is normalized first, as a YAML round trip
// can change a type (yaml writes float64(1) as 1, which reads back as int).
func assertSameDocument(t *testing.T, got, want []byte) {
	t.Helper()
	g, err := parseDocument(got, parseOptions{allowComments: true})
	if err != nil {
		t.Fatalf("parsing output: %v\n%s", err, got)
	}
	w, err := parseDocument(canonical(t, want), parseOptions{allowComments: true})
	if err != nil {
		t.Fatalf("parsing expectation: %v", err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("documents differ\ngot:\n%s\nwant:\n%s", got, want)
	}
}

func TestSopsCLIDecryptsEncrypt(t *testing.T) {
	a, b := newIdentity(t), newIdentity(t)
	pq, err := age.GenerateHybridIdentity()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range roundTripCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			enc, err := Encrypt(tc.in, []string{a.Recipient().String(), b.Recipient().String(), pq.Recipient().String()})
			if err != nil {
				t.Fatalf("Encrypt: %v", err)
			}
			writeFile(t, filepath.Join(dir, "x.sops.yaml"), enc)
			writeFile(t, filepath.Join(dir, "keys.txt"), []byte("# b\n"+b.String()+"\n"))

			for _, key := range []struct {
				name string
				env  string
			}{
				{"SOPS_AGE_KEY, first recipient", "SOPS_AGE_KEY=" + a.String()},
				{"SOPS_AGE_KEY_FILE, second recipient", "SOPS_AGE_KEY_FILE=" + filepath.Join(dir, "keys.txt")},
				{"SOPS_AGE_KEY, post-quantum recipient", "SOPS_AGE_KEY=" + pq.String()},
			} {
				out, err := runSops(t, dir, []string{key.env}, "-d", "x.sops.yaml")
				if err != nil {
					t.Fatalf("%s: %v", key.name, err)
				}
				// Same data, same types, same key order ...
				assertSameDocument(t, out, tc.in)
				// ... and byte for byte what sops prints for that document.
				if want := sopsLayout(t, tc.in); !bytes.Equal(out, want) {
					t.Errorf("%s: sops -d output differs from sops' own layout of the input\ngot:\n%s\nwant:\n%s", key.name, out, want)
				}
			}
		})
	}
}

func TestDecryptReadsSopsCLIOutput(t *testing.T) {
	a, b := newIdentity(t), newIdentity(t)
	pq, err := age.GenerateHybridIdentity()
	if err != nil {
		t.Fatal(err)
	}
	type input struct {
		name string
		in   []byte
	}
	var all []input
	for _, tc := range roundTripCases(t) {
		all = append(all, input{tc.name, tc.in})
	}
	all = append(all, input{"comments", []byte(`# head comment
apiVersion: v1
kind: Secret
metadata:
  name: commented # line comment
data:
  # a comment sops encrypts, as it sits under data
  password: c2VjcmV0 # another
type: Opaque
`)})
	some := all[:3]

	for _, tc := range []struct {
		name     string
		args     []string
		identity age.Identity
		inputs   []input
	}{
		{
			name:     "encrypted-regex",
			args:     []string{"--encrypted-regex", EncryptedRegex, "--age", a.Recipient().String()},
			identity: a,
			inputs:   all,
		},
		{
			name:     "default rule encrypts everything",
			args:     []string{"--age", a.Recipient().String()},
			identity: a,
			inputs:   all,
		},
		{
			name:     "unencrypted-regex",
			args:     []string{"--unencrypted-regex", "^(apiVersion|kind|metadata|type)$", "--age", a.Recipient().String()},
			identity: a,
			inputs:   some,
		},
		{
			name:     "encrypted-suffix",
			args:     []string{"--encrypted-suffix", "Data", "--age", a.Recipient().String()},
			identity: a,
			inputs:   some,
		},
		{
			name:     "unencrypted-suffix",
			args:     []string{"--unencrypted-suffix", "data", "--age", a.Recipient().String()},
			identity: a,
			inputs:   some,
		},
		{
			name:     "mac-only-encrypted",
			args:     []string{"--encrypted-regex", EncryptedRegex, "--mac-only-encrypted", "--age", a.Recipient().String()},
			identity: a,
			inputs:   some,
		},
		{
			name:     "second of two recipients",
			args:     []string{"--encrypted-regex", EncryptedRegex, "--age", a.Recipient().String() + "," + b.Recipient().String()},
			identity: b,
			inputs:   some,
		},
		{
			name:     "post-quantum recipient",
			args:     []string{"--encrypted-regex", EncryptedRegex, "--age", pq.Recipient().String()},
			identity: pq,
			inputs:   some,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, in := range tc.inputs {
				dir := t.TempDir()
				writeFile(t, filepath.Join(dir, "x.yaml"), in.in)
				enc, err := runSops(t, dir, nil, append(append([]string{"-e"}, tc.args...), "x.yaml")...)
				if err != nil {
					t.Fatalf("%s: %v", in.name, err)
				}
				got, err := Decrypt(enc, []age.Identity{tc.identity})
				if err != nil {
					t.Fatalf("%s: Decrypt: %v\n%s", in.name, err, enc)
				}
				if want := canonical(t, in.in); !bytes.Equal(got, want) {
					t.Errorf("%s: Decrypt of sops output\ngot:\n%s\nwant:\n%s", in.name, got, want)
				}
			}
		})
	}
}

// The .sops.yaml we commit must drive the CLI the same way Encrypt works, so
// that a human running `sops -e`/`sops edit` in the repository produces
// compatible files.
func TestSopsCLIUsesSOPSConfig(t *testing.T) {
	a, b := newIdentity(t), newIdentity(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, ".sops.yaml"), SOPSConfig([]string{a.Recipient().String(), b.Recipient().String()}))
	in := render(t, secret(map[string]any{"password": b64("config-secret")}, map[string]any{"note": "note-secret"}))
	writeFile(t, filepath.Join(dir, "db.sops.yaml"), in)
	writeFile(t, filepath.Join(dir, "db.yaml"), in)

	enc, err := runSops(t, dir, nil, "-e", "db.sops.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"config-secret", b64("config-secret"), "note-secret"} {
		if bytes.Contains(enc, []byte(s)) {
			t.Errorf("sops left %q in clear", s)
		}
	}
	if !bytes.Contains(enc, []byte("name: db-credentials")) {
		t.Errorf("metadata was encrypted, want only data/stringData:\n%s", enc)
	}
	for _, id := range []*age.X25519Identity{a, b} {
		got, err := Decrypt(enc, []age.Identity{id})
		if err != nil {
			t.Fatalf("Decrypt: %v", err)
		}
		if !bytes.Equal(got, in) {
			t.Errorf("got\n%s\nwant\n%s", got, in)
		}
	}
	if _, err := runSops(t, dir, nil, "-e", "db.yaml"); err == nil {
		t.Error("sops encrypted db.yaml, want no matching creation rule (path_regex is \\.sops\\.yaml$)")
	}
}
