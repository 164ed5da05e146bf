package attribution

import (
	"strconv"

	"k8s.io/apimachinery/pkg/types"
)

// The store keeps a report per write for up to its TTL: after a burst of
// 100,000 creates it holds 100,000 of them, so each is kept small. A UID
// kube-apiserver makes is a UUID and a resourceVersion etcd makes is a
// decimal number: as 16 bytes and a uint64 a report's key is 24 bytes held
// in the map, instead of two strings (32 bytes) and the 40-odd bytes of
// their contents elsewhere. Both are opaque by the API's contract, so any
// other form is kept as it came, in a map of its own.

// compactKey is a write's object UID and resourceVersion, when both are in
// the forms kube-apiserver and etcd make.
type compactKey struct {
	uid [16]byte
	rv  uint64
}

// versionKey is a write's key in any other form.
type versionKey struct {
	uid types.UID
	rv  string
}

// compactVersion returns the compact key of (uid, rv), if both are in their
// canonical forms. Only the canonical forms are taken, so that two different
// strings never share a key: the UUID in lowercase hex with its four
// hyphens, the number in decimal without a sign or leading zeros.
func compactVersion(uid types.UID, rv string) (compactKey, bool) {
	var k compactKey
	var ok bool
	if k.uid, ok = parseUUID(string(uid)); !ok {
		return k, false
	}
	if len(rv) == 0 || len(rv) > 1 && rv[0] == '0' {
		return k, false
	}
	for i := 0; i < len(rv); i++ {
		if rv[i] < '0' || rv[i] > '9' {
			return k, false
		}
	}
	n, err := strconv.ParseUint(rv, 10, 64)
	if err != nil {
		return k, false
	}
	k.rv = n
	return k, true
}

// parseUUID reads a UUID in canonical lowercase form (8-4-4-4-12 hex digits).
func parseUUID(s string) ([16]byte, bool) {
	var out [16]byte
	if len(s) != 36 {
		return out, false
	}
	j := 0
	for i := 0; i < 36; {
		switch i {
		case 8, 13, 18, 23:
			if s[i] != '-' {
				return out, false
			}
			i++
			continue
		}
		hi, ok1 := lowerHex(s[i])
		lo, ok2 := lowerHex(s[i+1])
		if !ok1 || !ok2 {
			return out, false
		}
		out[j] = hi<<4 | lo
		j++
		i += 2
	}
	return out, true
}

func lowerHex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}
