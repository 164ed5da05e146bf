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
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"
)

// This file mirrors github.com/getsops/sops/v3/aes (Cipher.Encrypt and
// Cipher.Decrypt) and sops.ToBytes.

const (
	// dataKeySize is the size of the AES-256 data key sops generates.
	dataKeySize = 32
	// ivSize is the GCM nonce size sops uses (not the usual 12 bytes).
	ivSize = 32
)

// encRe is sops' grammar for an encrypted value.
var encRe = regexp.MustCompile(`^ENC\[AES256_GCM,data:(.+),iv:(.+),tag:(.+),type:(.+)\]`)

// leafBytes returns the byte form sops uses for a leaf, both as the
// plaintext of an encrypted value and as MAC input (sops.ToBytes).
func leafBytes(v any) ([]byte, error) {
	switch v := v.(type) {
	case string:
		return []byte(v), nil
	case int:
		return []byte(strconv.Itoa(v)), nil
	case float64:
		return []byte(strconv.FormatFloat(v, 'f', -1, 64)), nil
	case bool:
		// sops inherited Python's spelling.
		if v {
			return []byte("True"), nil
		}
		return []byte("False"), nil
	case time.Time:
		return v.MarshalText()
	default:
		return nil, fmt.Errorf("unsupported value type %T", v)
	}
}

// leafType returns the sops type name recorded in ENC[...,type:...].
func leafType(v any) (string, error) {
	switch v.(type) {
	case string:
		return "str", nil
	case int:
		return "int", nil
	case float64:
		return "float", nil
	case bool:
		return "bool", nil
	case time.Time:
		return "time", nil
	default:
		return "", fmt.Errorf("unsupported value type %T", v)
	}
}

// newGCM returns AES-256-GCM with the given nonce size.
func newGCM(key []byte, nonceSize int) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("initializing AES: %w", err)
	}
	gcm, err := cipher.NewGCMWithNonceSize(block, nonceSize)
	if err != nil {
		return nil, fmt.Errorf("initializing GCM: %w", err)
	}
	return gcm, nil
}

// encryptValue encrypts a leaf with a fresh random IV, authenticating aad.
// An empty string stays empty, as in sops.
func encryptValue(key []byte, v any, aad string) (string, error) {
	if s, ok := v.(string); ok && s == "" {
		return "", nil
	}
	typ, err := leafType(v)
	if err != nil {
		return "", err
	}
	plain, err := leafBytes(v)
	if err != nil {
		return "", err
	}
	iv := make([]byte, ivSize)
	if _, err := rand.Read(iv); err != nil {
		return "", fmt.Errorf("generating IV: %w", err)
	}
	gcm, err := newGCM(key, ivSize)
	if err != nil {
		return "", err
	}
	sealed := gcm.Seal(nil, iv, plain, []byte(aad))
	ct, tag := sealed[:len(sealed)-gcm.Overhead()], sealed[len(sealed)-gcm.Overhead():]
	b64 := base64.StdEncoding.EncodeToString
	return fmt.Sprintf("ENC[AES256_GCM,data:%s,iv:%s,tag:%s,type:%s]", b64(ct), b64(iv), b64(tag), typ), nil
}

// decryptValue reverses encryptValue. The empty string decrypts to itself.
// Errors never include the value.
func decryptValue(key []byte, s, aad string) (any, error) {
	if s == "" {
		return "", nil
	}
	m := encRe.FindStringSubmatch(s)
	if m == nil {
		return nil, errors.New("value is not in sops' ENC[AES256_GCM,...] format")
	}
	var parts [3][]byte
	for i, name := range []string{"data", "iv", "tag"} {
		b, err := base64.StdEncoding.DecodeString(m[i+1])
		if err != nil {
			return nil, fmt.Errorf("decoding %s: %w", name, err)
		}
		parts[i] = b
	}
	ct, iv, tag := parts[0], parts[1], parts[2]
	if len(iv) == 0 {
		return nil, errors.New("empty IV")
	}
	gcm, err := newGCM(key, len(iv))
	if err != nil {
		return nil, err
	}
	plain, err := gcm.Open(nil, iv, append(ct, tag...), []byte(aad))
	if err != nil {
		return nil, errors.New("AES-GCM authentication failed (wrong key, or value or its key path was modified)")
	}
	str := string(plain)
	switch typ := m[4]; typ {
	case "str":
		return str, nil
	case "int":
		n, err := strconv.Atoi(str)
		if err != nil {
			return nil, errors.New("decrypted value of type int is not an integer")
		}
		return n, nil
	case "float":
		f, err := strconv.ParseFloat(str, 64)
		if err != nil {
			return nil, errors.New("decrypted value of type float is not a number")
		}
		return f, nil
	case "bool":
		b, err := strconv.ParseBool(str)
		if err != nil {
			return nil, errors.New("decrypted value of type bool is not a boolean")
		}
		return b, nil
	case "time":
		var t time.Time
		if err := t.UnmarshalText(plain); err != nil {
			return nil, errors.New("decrypted value of type time is not a timestamp")
		}
		return t, nil
	default:
		// "bytes" (binary store) and "comment" cannot be leaves of a YAML tree
		// here; anything else is unknown to sops too.
		return nil, fmt.Errorf("unsupported encrypted value type %q", typ)
	}
}
