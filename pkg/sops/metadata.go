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
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"filippo.io/age"
	yaml2 "go.yaml.in/yaml/v2"
)

// The sops metadata block of a file: which leaves are encrypted (its rule),
// its MAC and the data key wrapped for each age recipient.

// parseSOPSFile parses a SOPS YAML file into the document without its sops
// metadata, and that metadata.
func parseSOPSFile(encryptedYAML []byte) (yaml2.MapSlice, *metadata, error) {
	tree, err := parseDocument(encryptedYAML, parseOptions{allowComments: true, stored: true})
	if err != nil {
		return nil, nil, err
	}
	var raw yaml2.MapSlice
	for i, item := range tree {
		if item.Key != metadataKey {
			continue
		}
		m, ok := item.Value.(yaml2.MapSlice)
		if !ok {
			return nil, nil, fmt.Errorf("top-level %q key is not a mapping", metadataKey)
		}
		raw = m
		tree = append(tree[:i:i], tree[i+1:]...)
		break
	}
	if raw == nil {
		return nil, nil, fmt.Errorf("not a SOPS file: no top-level %q key", metadataKey)
	}
	md, err := parseMetadata(raw)
	if err != nil {
		return nil, nil, err
	}
	return tree, md, nil
}

// cryptRule decides which leaves are encrypted (sops.Tree.shouldBeEncrypted
// without the comment rules). At most one field is set.
type cryptRule struct {
	unencryptedSuffix string
	encryptedSuffix   string
	unencryptedRegex  *regexp.Regexp
	encryptedRegex    *regexp.Regexp
}

func (r cryptRule) encrypted(path []string) bool {
	anyKey := func(match func(string) bool) bool {
		for _, k := range path {
			if match(k) {
				return true
			}
		}
		return false
	}
	hasSuffix := func(suffix string) func(string) bool {
		return func(k string) bool { return strings.HasSuffix(k, suffix) }
	}
	switch {
	case r.unencryptedSuffix != "":
		return !anyKey(hasSuffix(r.unencryptedSuffix))
	case r.encryptedSuffix != "":
		return anyKey(hasSuffix(r.encryptedSuffix))
	case r.unencryptedRegex != nil:
		return !anyKey(r.unencryptedRegex.MatchString)
	case r.encryptedRegex != nil:
		return anyKey(r.encryptedRegex.MatchString)
	default:
		return true
	}
}

// metadata is the part of the sops metadata block Decrypt needs.
type metadata struct {
	ageKeys          []ageKey
	lastModified     string // RFC 3339, re-formatted as sops does: the MAC's additional data
	mac              string
	macOnlyEncrypted bool
	rule             cryptRule
}

type ageKey struct {
	recipient string
	enc       string
}

// parseMetadata reads the sops metadata block the way sops'
// stores.ExtractMetadata does, restricted to what this package supports.
func parseMetadata(raw yaml2.MapSlice) (*metadata, error) {
	md := &metadata{}
	var rules int
	for _, item := range raw {
		rule, err := md.set(item.Key.(string), item.Value)
		if err != nil {
			return nil, err
		}
		if rule {
			rules++
		}
	}
	if md.lastModified == "" {
		return nil, errors.New("sops.lastmodified is missing")
	}
	if len(md.ageKeys) == 0 {
		return nil, errors.New("sops.age lists no keys (only age is supported)")
	}
	switch {
	case rules > 1:
		return nil, errors.New("sops metadata sets more than one encryption rule")
	case rules == 0:
		md.rule.unencryptedSuffix = defaultUnencryptedSuffix
	}
	return md, nil
}

// set reads one key of the metadata block; rule reports that it set an
// encryption rule. Keys this package does not use are ignored.
func (md *metadata) set(key string, value any) (rule bool, err error) {
	switch key {
	case "age":
		keys, err := parseAgeKeys(value)
		if err != nil {
			return false, err
		}
		md.ageKeys = append(md.ageKeys, keys...)
	case "key_groups":
		return false, errors.New("sops key_groups (Shamir secret sharing) are not supported")
	case "encrypted_comment_regex", "unencrypted_comment_regex":
		return false, fmt.Errorf("sops.%s is not supported", key)
	case "lastmodified":
		s, ok := value.(string)
		if !ok {
			return false, errors.New("sops.lastmodified is not a string")
		}
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return false, fmt.Errorf("sops.lastmodified: %w", err)
		}
		md.lastModified = t.Format(time.RFC3339)
	case "mac":
		s, ok := value.(string)
		if !ok {
			return false, errors.New("sops.mac is not a string")
		}
		md.mac = s
	case "mac_only_encrypted":
		md.macOnlyEncrypted, err = parseMACOnlyEncrypted(value)
		return false, err
	case "unencrypted_suffix", "encrypted_suffix", "unencrypted_regex", "encrypted_regex":
		return md.rule.set(key, value)
	}
	return false, nil
}

// parseAgeKeys reads sops.age: a list of at most MaxAgeEntries recipients
// with their wrapped data key (enc, at most MaxAgeEncSize bytes).
func parseAgeKeys(value any) ([]ageKey, error) {
	entries, ok := value.([]any)
	if !ok {
		return nil, errors.New("sops.age is not a list")
	}
	if len(entries) > MaxAgeEntries {
		return nil, fmt.Errorf("%w: sops.age has %d entries, more than %d", ErrOutOfBounds, len(entries), MaxAgeEntries)
	}
	var keys []ageKey
	for i, e := range entries {
		m, ok := e.(yaml2.MapSlice)
		if !ok {
			return nil, fmt.Errorf("sops.age[%d] is not a mapping", i)
		}
		var k ageKey
		for _, f := range m {
			switch f.Key {
			case "recipient":
				k.recipient, _ = f.Value.(string)
			case "enc":
				k.enc, _ = f.Value.(string)
			}
		}
		if k.enc == "" {
			return nil, fmt.Errorf("sops.age[%d] has no enc", i)
		}
		if len(k.enc) > MaxAgeEncSize {
			return nil, fmt.Errorf("%w: sops.age[%d].enc has %d bytes, more than %d", ErrOutOfBounds, i, len(k.enc), MaxAgeEncSize)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// parseMACOnlyEncrypted reads sops.mac_only_encrypted: a boolean, or a
// string that parses as one.
func parseMACOnlyEncrypted(value any) (bool, error) {
	switch v := value.(type) {
	case bool:
		return v, nil
	case string:
		b, err := strconv.ParseBool(v)
		if err != nil {
			return false, fmt.Errorf("sops.mac_only_encrypted: %w", err)
		}
		return b, nil
	default:
		return false, errors.New("sops.mac_only_encrypted is not a boolean")
	}
}

// set sets the rule key names (one of unencrypted_suffix, encrypted_suffix,
// unencrypted_regex, encrypted_regex) to value; an empty value sets nothing
// (set is false), as in sops.
func (r *cryptRule) set(key string, value any) (set bool, err error) {
	s, ok := value.(string)
	if !ok {
		return false, fmt.Errorf("sops.%s is not a string", key)
	}
	if s == "" {
		return false, nil
	}
	switch key {
	case "unencrypted_suffix":
		r.unencryptedSuffix = s
	case "encrypted_suffix":
		r.encryptedSuffix = s
	default:
		re, err := regexp.Compile(s)
		if err != nil {
			return false, fmt.Errorf("sops.%s: %w", key, err)
		}
		if key == "unencrypted_regex" {
			r.unencryptedRegex = re
		} else {
			r.encryptedRegex = re
		}
	}
	return true, nil
}

// dataKey unwraps the data key from the first age entry an identity opens.
// Each identity is tried on each stanza: the entries' stanzas together are
// at most MaxAgeEntries, counted before any is tried.
func (md *metadata) dataKey(identities []age.Identity) ([]byte, error) {
	files := make([][]byte, len(md.ageKeys))
	errs := make([]error, len(md.ageKeys))
	stanzas := 0
	for i, k := range md.ageKeys {
		files[i], errs[i] = dearmor(k.enc)
		if stanzas += countStanzas(files[i]); stanzas > MaxAgeEntries {
			return nil, fmt.Errorf("%w: sops.age holds more than %d age stanzas", ErrOutOfBounds, MaxAgeEntries)
		}
	}
	recipients := make([]string, 0, len(md.ageKeys))
	for i, k := range md.ageKeys {
		if errs[i] == nil {
			key, err := unwrapDataKey(files[i], identities)
			if err == nil {
				return key, nil
			}
			errs[i] = err
		}
		recipients = append(recipients, k.recipient)
	}
	return nil, fmt.Errorf("no given age identity decrypts the data key (file recipients: %s): %w",
		strings.Join(recipients, ", "), errors.Join(errs...))
}
