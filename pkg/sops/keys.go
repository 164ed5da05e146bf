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
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"filippo.io/age"
	"filippo.io/age/armor"
	yaml2 "go.yaml.in/yaml/v2"
)

// AgeKeySuffix is the suffix of the Secret keys holding age identities (the
// Flux kustomize-controller convention, e.g. "identity.agekey").
const AgeKeySuffix = ".agekey"

// ErrNoAgeKey is returned by ParseIdentities when the Secret has no ".agekey" key.
var ErrNoAgeKey = fmt.Errorf("no key ending in %q found", AgeKeySuffix)

// MaxIdentities bounds the age identities read from one Secret (all its
// ".agekey" keys together, duplicates counted). Every identity is tried on
// every file decrypted, and parsing a hybrid identity derives an ML-KEM key:
// a Secret of a million lines must not cost a million of either. A target
// needs one identity, a few during a key rotation.
const MaxIdentities = 16

// ErrTooManyIdentities is returned (wrapped) by ParseIdentities when the
// Secret holds more than MaxIdentities identities.
var ErrTooManyIdentities = fmt.Errorf("more than %d age identities", MaxIdentities)

// ParseIdentities reads the age identities from every key of secretData that
// ends in ".agekey". A value may hold several identities, one per line, with
// blank lines and "#" comments (the age-keygen file format). It returns the
// identities and their public recipients, sorted and de-duplicated.
//
// It fails when there is no ".agekey" key, when a key holds no identity, when
// a line is not an X25519 or hybrid (post-quantum) age identity, or when there
// are more than MaxIdentities identities (ErrTooManyIdentities; the identity
// after the last one allowed is not parsed). Error messages name the Secret
// key and line number, never the key material.
func ParseIdentities(secretData map[string][]byte) ([]age.Identity, []string, error) {
	names := make([]string, 0, len(secretData))
	for name := range secretData {
		if strings.HasSuffix(name, AgeKeySuffix) {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return nil, nil, ErrNoAgeKey
	}
	slices.Sort(names)

	var identities []age.Identity
	seen := map[string]bool{}
	total := 0
	for _, name := range names {
		found, i := 0, -1
		for line := range strings.SplitSeq(string(secretData[name]), "\n") {
			i++
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			if total++; total > MaxIdentities {
				return nil, nil, fmt.Errorf("key %q line %d: %w in the Secret", name, i+1, ErrTooManyIdentities)
			}
			id, recipient, err := parseIdentity(line)
			if err != nil {
				return nil, nil, fmt.Errorf("key %q line %d: %w", name, i+1, err)
			}
			found++
			if !seen[recipient] {
				seen[recipient] = true
				identities = append(identities, id)
			}
		}
		if found == 0 {
			return nil, nil, fmt.Errorf("key %q holds no age identity", name)
		}
	}
	recipients := make([]string, 0, len(seen))
	for r := range seen {
		recipients = append(recipients, r)
	}
	slices.Sort(recipients)
	return identities, recipients, nil
}

// parseIdentity parses one identity line and derives its recipient.
func parseIdentity(line string) (age.Identity, string, error) {
	// The underlying parse errors can echo characters of the key: drop them.
	ids, err := age.ParseIdentities(strings.NewReader(line))
	if err != nil || len(ids) != 1 {
		return nil, "", errors.New("not a valid age identity (expected AGE-SECRET-KEY-1... or AGE-SECRET-KEY-PQ-1...)")
	}
	switch id := ids[0].(type) {
	case *age.X25519Identity:
		return id, id.Recipient().String(), nil
	case *age.HybridIdentity:
		return id, id.Recipient().String(), nil
	default:
		return nil, "", fmt.Errorf("unsupported age identity type %T", id)
	}
}

// normalizeRecipients trims, sorts and de-duplicates recipients, so that the
// files written do not depend on the order they were given in.
func normalizeRecipients(recipients []string) []string {
	out := make([]string, 0, len(recipients))
	for _, r := range recipients {
		if r = strings.TrimSpace(r); r != "" {
			out = append(out, r)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// parseRecipients parses normalized age recipients (X25519 "age1..." or
// hybrid post-quantum "age1pq1...").
func parseRecipients(recipients []string) ([]age.Recipient, error) {
	if len(recipients) == 0 {
		return nil, errors.New("no age recipients")
	}
	parsed := make([]age.Recipient, 0, len(recipients))
	for _, r := range recipients {
		rs, err := age.ParseRecipients(strings.NewReader(r))
		if err != nil || len(rs) != 1 {
			// A public key is safe to print; the age error is not needed.
			return nil, fmt.Errorf("invalid age recipient %q", r)
		}
		parsed = append(parsed, rs[0])
	}
	return parsed, nil
}

// RecipientsHash identifies a set of recipients independent of their order:
// the hex SHA-256 of the sorted recipients joined by "\n".
func RecipientsHash(recipients []string) string {
	sorted := slices.Clone(recipients)
	slices.Sort(sorted)
	sum := sha256.Sum256([]byte(strings.Join(sorted, "\n")))
	return hex.EncodeToString(sum[:])
}

// SOPSConfig returns a .sops.yaml with one creation rule matching the files
// this package writes, so that `sops -e`/`sops edit` by a human encrypts the
// same way: files ending ".sops.yaml", encrypted_regex EncryptedRegex, and the
// given age recipients (sorted, comma-separated).
func SOPSConfig(recipients []string) []byte {
	cfg := yaml2.MapSlice{{Key: "creation_rules", Value: []any{
		yaml2.MapSlice{
			{Key: "path_regex", Value: `\.sops\.yaml$`},
			{Key: "encrypted_regex", Value: EncryptedRegex},
			{Key: "age", Value: strings.Join(normalizeRecipients(recipients), ",")},
		},
	}}}
	out, err := yaml2.Marshal(cfg)
	if err != nil {
		// Only strings are marshaled; this cannot fail.
		panic(fmt.Sprintf("sops: marshaling .sops.yaml: %v", err))
	}
	return out
}

// wrapDataKey age-encrypts the data key to one recipient, ASCII-armored, as
// sops' age key source does (one age file per recipient).
func wrapDataKey(dataKey []byte, recipient age.Recipient) (string, error) {
	var buf bytes.Buffer
	aw := armor.NewWriter(&buf)
	w, err := age.Encrypt(aw, recipient)
	if err != nil {
		return "", fmt.Errorf("age encrypting data key: %w", err)
	}
	if _, err := w.Write(dataKey); err != nil {
		return "", fmt.Errorf("age encrypting data key: %w", err)
	}
	if err := w.Close(); err != nil {
		return "", fmt.Errorf("age encrypting data key: %w", err)
	}
	if err := aw.Close(); err != nil {
		return "", fmt.Errorf("armoring data key: %w", err)
	}
	return buf.String(), nil
}

// dearmor decodes an armored age file (at most MaxAgeEncSize bytes, checked
// by parseMetadata).
func dearmor(enc string) ([]byte, error) {
	return io.ReadAll(io.LimitReader(armor.NewReader(strings.NewReader(enc)), MaxAgeEncSize))
}

// countStanzas counts the recipient stanzas ("-> " lines) in the header of an
// age file: its lines up to the one starting "---".
func countStanzas(file []byte) int {
	hdr := file
	if i := bytes.Index(file, []byte("\n---")); i >= 0 {
		hdr = file[:i]
	}
	return bytes.Count(hdr, []byte("\n-> "))
}

// unwrapDataKey decrypts an age file holding the data key.
func unwrapDataKey(file []byte, identities []age.Identity) ([]byte, error) {
	r, err := age.Decrypt(bytes.NewReader(file), identities...)
	if err != nil {
		return nil, err
	}
	// Read one byte more than a data key so a longer payload is detected.
	key, err := io.ReadAll(io.LimitReader(r, dataKeySize+1))
	if err != nil {
		return nil, err
	}
	if len(key) != dataKeySize {
		return nil, fmt.Errorf("data key has %d bytes, want %d", len(key), dataKeySize)
	}
	return key, nil
}
