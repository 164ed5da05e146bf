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
	"crypto/sha512"
	"crypto/subtle"
	"errors"
	"fmt"
	"hash"
	"regexp"
	"slices"
	"strings"
	"time"

	"filippo.io/age"
	yaml2 "go.yaml.in/yaml/v2"
)

const (
	// EncryptedRegex selects the values Encrypt encrypts: a leaf is encrypted
	// when any mapping key on its path matches (sops' encrypted_regex). That is
	// the Secret's data and stringData, and the values of metadata.annotations
	// (a tenant's annotation may hold a token as well as data does); names,
	// namespaces, labels (selectors) and annotation keys stay readable.
	//
	// Files written under the earlier rule, ^(data|stringData)$, still decrypt
	// (the rule is read from each file's metadata); Stale tells them apart.
	EncryptedRegex = `^(data|stringData|annotations)$`

	// sopsVersion is written to sops.version: the sops release whose format
	// this package implements and is tested against.
	sopsVersion = "3.13.3"

	// metadataKey is the top-level key holding the sops metadata.
	metadataKey = "sops"

	// defaultUnencryptedSuffix is what sops applies to a file that names no
	// encryption rule at all.
	defaultUnencryptedSuffix = "_unencrypted"
)

// macOnlyEncryptedInit seeds the MAC of files with mac_only_encrypted: true
// (sops.MACOnlyEncryptedInitialization), so such a MAC never equals the MAC of
// the same tree without that option.
var macOnlyEncryptedInit = []byte{
	0x8a, 0x3f, 0xd2, 0xad, 0x54, 0xce, 0x66, 0x52, 0x7b, 0x10, 0x34, 0xf3, 0xd1, 0x47, 0xbe, 0x0b,
	0x0b, 0x97, 0x5b, 0x3b, 0xf4, 0x4f, 0x72, 0xc6, 0xfd, 0xad, 0xec, 0x81, 0x76, 0xf2, 0x7d, 0x69,
}

var encryptedRe = regexp.MustCompile(EncryptedRegex)

// Encrypt encrypts a Kubernetes Secret manifest (one YAML document whose root
// is a mapping) into a SOPS file for the given age recipients. The values
// under data, stringData and metadata.annotations are encrypted with a data
// key shared with the files encrypted to the same recipients just before
// (sharedDataKey; see EncryptedRegex and the package documentation for the exact
// rule); everything else stays readable.
// Recipients are trimmed, sorted and de-duplicated; X25519 ("age1...") and
// hybrid post-quantum ("age1pq1...") recipients are accepted.
//
// The layout is deterministic (input key order, canonical indentation); the
// ciphertexts, data key and sops.lastmodified are not.
func Encrypt(plaintextYAML []byte, recipients []string) ([]byte, error) {
	return encrypt(plaintextYAML, recipients, time.Now())
}

func encrypt(plaintextYAML []byte, recipients []string, now time.Time) ([]byte, error) {
	return encryptWith(plaintextYAML, recipients, now, encryptedRe)
}

// encryptWith is encrypt under another encrypted_regex (tests write files of
// an earlier rule with it).
func encryptWith(plaintextYAML []byte, recipients []string, now time.Time, rule *regexp.Regexp) ([]byte, error) {
	recipients = normalizeRecipients(recipients)
	parsedRecipients, err := parseRecipients(recipients)
	if err != nil {
		return nil, err
	}
	tree, err := parseDocument(plaintextYAML, parseOptions{})
	if err != nil {
		return nil, err
	}
	for _, item := range tree {
		if item.Key == metadataKey {
			return nil, fmt.Errorf("document already has a top-level %q key", metadataKey)
		}
	}

	// A data key shared with the files encrypted to these recipients just
	// before (see sharedDataKey), with its age stanzas.
	dataKey, wrapped, err := sharedDataKey(recipients, parsedRecipients, now)
	if err != nil {
		return nil, err
	}

	crypt := cryptRule{encryptedRegex: rule}
	mac := sha512.New()
	if _, err := walk(tree, nil, func(v any, path []string) (any, error) {
		if err := macAdd(mac, v); err != nil {
			return nil, fmt.Errorf("%s: %w", describePath(path), err)
		}
		if !crypt.encrypted(path) {
			return v, nil
		}
		enc, err := encryptValue(dataKey, v, additionalData(path))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", describePath(path), err)
		}
		return enc, nil
	}); err != nil {
		return nil, err
	}

	lastModified := now.UTC().Format(time.RFC3339)
	encMAC, err := encryptValue(dataKey, macString(mac), lastModified)
	if err != nil {
		return nil, fmt.Errorf("encrypting MAC: %w", err)
	}
	ageKeys := make([]any, 0, len(wrapped))
	for i, enc := range wrapped {
		// Key order as sops writes it (it sorts metadata keys by name).
		ageKeys = append(ageKeys, yaml2.MapSlice{
			{Key: "enc", Value: enc},
			{Key: "recipient", Value: recipients[i]},
		})
	}
	tree = append(tree, yaml2.MapItem{Key: metadataKey, Value: yaml2.MapSlice{
		{Key: "age", Value: ageKeys},
		{Key: "encrypted_regex", Value: rule.String()},
		{Key: "lastmodified", Value: lastModified},
		{Key: "mac", Value: encMAC},
		{Key: "version", Value: sopsVersion},
	}})

	out, err := emit(tree)
	if err != nil {
		return nil, err
	}
	// sops verifies the MAC over the values it parses back from our output.
	// The yaml.v2 emitter quotes at least everything the yaml.v3 parser would
	// read as a non-string, so this holds by construction; checking is cheap
	// and turns any emitter corner case into an error here instead of an
	// undecryptable file in Git.
	if back, err := parseDocument(out, parseOptions{stored: true}); err != nil || !sameTree(tree, back) {
		return nil, errors.New("internal error: encrypted document does not survive a YAML round trip")
	}
	return out, nil
}

// Decrypt decrypts a SOPS YAML file with any of the given age identities: it
// unwraps the data key, decrypts the values, verifies the MAC and returns the
// plaintext document without the sops metadata, in the canonical layout (for
// a file made by Encrypt from sigs.k8s.io/yaml output: exactly that input).
//
// Files written by the sops CLI are accepted too when they use age keys (no
// Shamir key groups) and any of encrypted_regex, unencrypted_regex,
// encrypted_suffix, unencrypted_suffix and mac_only_encrypted; comments are
// dropped. Errors never contain plaintext or key material.
//
// The file may come from anywhere: one past the bounds of what this package
// parses (MaxNodes, flow collections, MaxAgeEntries, MaxAgeEncSize) fails
// with an error wrapping ErrOutOfBounds, before it costs more than they allow.
func Decrypt(encryptedYAML []byte, identities []age.Identity) ([]byte, error) {
	if len(identities) == 0 {
		return nil, errors.New("no age identities given")
	}
	tree, md, err := parseSOPSFile(encryptedYAML)
	if err != nil {
		return nil, err
	}
	dataKey, err := md.dataKey(identities)
	if err != nil {
		return nil, err
	}
	defer clear(dataKey)

	mac := sha512.New()
	if md.macOnlyEncrypted {
		mac.Write(macOnlyEncryptedInit)
	}
	if _, err := walk(tree, nil, func(v any, path []string) (any, error) {
		encrypted := md.rule.encrypted(path)
		if encrypted {
			s, ok := v.(string)
			if !ok {
				return nil, fmt.Errorf("%s: expected an encrypted value, found %T", describePath(path), v)
			}
			plain, err := decryptValue(dataKey, s, additionalData(path))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", describePath(path), err)
			}
			v = plain
		}
		if !md.macOnlyEncrypted || encrypted {
			if err := macAdd(mac, v); err != nil {
				return nil, fmt.Errorf("%s: %w", describePath(path), err)
			}
		}
		return v, nil
	}); err != nil {
		return nil, err
	}

	fileMAC, err := decryptValue(dataKey, md.mac, md.lastModified)
	if err != nil {
		return nil, fmt.Errorf("decrypting MAC: %w", err)
	}
	want, ok := fileMAC.(string)
	if !ok || subtle.ConstantTimeCompare([]byte(want), []byte(macString(mac))) != 1 {
		return nil, errors.New("MAC mismatch: the file was modified or is corrupt")
	}
	return emit(tree)
}

// Stale reports whether a SOPS file leaves in plaintext a value that Encrypt
// encrypts now: a file written under an earlier, narrower rule (before
// metadata.annotations were encrypted) or by a human with a rule of their own.
// Such a file should be encrypted again even when it decrypts to the current
// plaintext. A file that is not a SOPS file this package reads is stale too,
// as is one past its bounds (ErrOutOfBounds; not parsed).
// Nothing is decrypted: the file's own rule (its sops metadata) says which of
// its values are encrypted.
func Stale(encryptedYAML []byte) bool {
	tree, md, err := parseSOPSFile(encryptedYAML)
	if err != nil {
		return true
	}
	ours := cryptRule{encryptedRegex: encryptedRe}
	stale := false
	_, _ = walk(tree, nil, func(v any, path []string) (any, error) {
		if !stale && ours.encrypted(path) && !md.rule.encrypted(path) {
			stale = true
		}
		return v, nil
	})
	return stale
}

// EncryptedTo reports whether a SOPS file's data key is wrapped for exactly
// recipients (in any order): when a target's recipients change (a public key
// added to spec.encryption.age), a file that still decrypts to the current
// plaintext is encrypted again, so every reader named now can open it and no
// one removed still can.
func EncryptedTo(encryptedYAML []byte, recipients []string) bool {
	_, md, err := parseSOPSFile(encryptedYAML)
	if err != nil {
		return false
	}
	have := make([]string, 0, len(md.ageKeys))
	for _, k := range md.ageKeys {
		have = append(have, k.recipient)
	}
	return slices.Equal(normalizeRecipients(have), normalizeRecipients(recipients))
}

// Normalize returns plaintextYAML in the layout Decrypt returns, applying the
// same checks as Encrypt. Decrypt(Encrypt(x)) equals Normalize(x), so
// comparing Decrypt(stored) with Normalize(rendered) tells whether a Secret
// changed whatever layout the renderer uses (for sigs.k8s.io/yaml output,
// Normalize is the identity).
func Normalize(plaintextYAML []byte) ([]byte, error) {
	tree, err := parseDocument(plaintextYAML, parseOptions{})
	if err != nil {
		return nil, err
	}
	return emit(tree)
}

// additionalData is the AES-GCM additional data sops binds a value to: its
// key path joined and terminated by ":" (e.g. "data:password:").
func additionalData(path []string) string {
	return strings.Join(path, ":") + ":"
}

func macAdd(h hash.Hash, v any) error {
	b, err := leafBytes(v)
	if err != nil {
		return err
	}
	h.Write(b)
	return nil
}

// macString is the MAC as sops stores it (before encryption): uppercase hex.
func macString(h hash.Hash) string {
	return fmt.Sprintf("%X", h.Sum(nil))
}
