package render

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"unicode/utf8"
)

// File names of objects. Kubernetes accepts, for kinds whose names are path
// segments (RBAC objects, many custom resources), any name without '/' or '%'
// that is not "." or "..": a backslash, control characters, a leading dot, or
// 253 characters. A Git path cannot hold all of those as they are (backslashes
// and control characters are refused by Git tooling and by repopath), hidden
// files surprise everyone who reads the repository, and a file name over 255
// bytes cannot be checked out on ext4 (one such file leaves a clone empty).
// So the file name of an object is its name, encoded:
//
//   - the bytes of a control character (U+0000 to U+001F, U+007F), '\', '%'
//     and a leading '.' are percent-encoded as %XX (upper-case hex). A name
//     never holds '%', so a '%' in a file name always starts an escape and
//     the encoding is reversible; so are invalid UTF-8 bytes (the API server
//     stores valid UTF-8 only, but nothing here relies on it);
//   - when the encoded name and its extension exceed MaxFileName bytes, the
//     name is shortened to a prefix of it, "%~" and 32 hex digits of the
//     SHA-256 of the whole name. "%~" cannot occur in an encoded name, so a
//     shortened file name is told apart from every other; the full name is
//     inside the file (metadata.name).
//
// Names that need none of this (every DNS subdomain name, so nearly all
// objects) are their own file names.

// MaxFileName is the longest file name written, in bytes (ext4, xfs and most
// other filesystems allow 255).
const MaxFileName = 255

// shortMark starts the hash of a shortened file name.
const shortMark = "%~"

// shortHashLen is the number of hex digits of a shortened name's hash.
const shortHashLen = 32

// FileStem returns the file name of an object called name, without its
// extension ext (Ext or SecretExt): the encoded name, shortened when the file
// name would exceed MaxFileName bytes.
func FileStem(name, ext string) string {
	enc := encodeName(name)
	if len(enc)+len(ext) <= MaxFileName {
		return enc
	}
	sum := sha256.Sum256([]byte(name))
	keep := MaxFileName - len(ext) - len(shortMark) - shortHashLen
	return cutEncoded(enc, keep) + shortMark + hex.EncodeToString(sum[:])[:shortHashLen]
}

// ParseStem is the inverse of FileStem: the object name a file stem stands
// for. A shortened stem names its object only inside the file: short is true
// and name is "". ok is false for a stem that cannot stand for a valid object
// name (a bad escape, a '%' alone). Spellings FileStem no longer writes (a
// leading '.' or an over-long name, as written before the encoding) are
// accepted too, so a snapshot can find and remove them: a file is only ever
// removed when it holds the object its path names (pkg/lifecycle/snapshot).
func ParseStem(stem, ext string) (name string, short, ok bool) {
	if i := strings.Index(stem, shortMark); i >= 0 {
		hash := stem[i+len(shortMark):]
		// A shortened file name is MaxFileName bytes, less up to 5 when the
		// cut backed off an escape or a UTF-8 sequence.
		if n := len(stem) + len(ext); n > MaxFileName || n < MaxFileName-5 || len(hash) != shortHashLen || !isLowerHex(hash) {
			return "", false, false
		}
		if _, ok := decodeName(stem[:i]); !ok {
			return "", false, false
		}
		return "", true, true
	}
	name, ok = decodeName(stem)
	if !ok || !validObjectName(name) {
		return "", false, false
	}
	return name, false, true
}

// needsEscape reports whether byte b of a name at position i is encoded.
func needsEscape(b byte, i int) bool {
	return b < 0x20 || b == 0x7f || b == '\\' || b == '%' || (i == 0 && b == '.')
}

const hexDigits = "0123456789ABCDEF"

func encodeName(name string) string {
	clean := true
	for i := 0; i < len(name); i++ {
		if needsEscape(name[i], i) {
			clean = false
			break
		}
	}
	if clean && utf8.ValidString(name) {
		return name // the common case allocates nothing
	}
	var b strings.Builder
	b.Grow(len(name) + 8)
	for i := 0; i < len(name); {
		r, size := utf8.DecodeRuneInString(name[i:])
		if r == utf8.RuneError && size == 1 || needsEscape(name[i], i) {
			b.WriteByte('%')
			b.WriteByte(hexDigits[name[i]>>4])
			b.WriteByte(hexDigits[name[i]&0xf])
			i++
			continue
		}
		b.WriteString(name[i : i+size])
		i += size
	}
	return b.String()
}

// decodeName reverses encodeName; false for a malformed escape.
func decodeName(s string) (string, bool) {
	if !strings.Contains(s, "%") {
		return s, true
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", false
		}
		hi, lo := unhex(s[i+1]), unhex(s[i+2])
		if hi < 0 || lo < 0 {
			return "", false
		}
		b.WriteByte(byte(hi<<4 | lo))
		i += 2
	}
	return b.String(), true
}

// unhex is the value of an upper-case hex digit, -1 for anything else (the
// canonical encoding has upper case only).
func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if !(s[i] >= '0' && s[i] <= '9' || s[i] >= 'a' && s[i] <= 'f') {
			return false
		}
	}
	return true
}

// cutEncoded returns at most n bytes of an encoded name, never cutting an
// escape or a UTF-8 sequence in two.
func cutEncoded(enc string, n int) string {
	if len(enc) <= n {
		return enc
	}
	cut := n
	// Back off from inside an escape ("%X" or "%" at the end).
	for k := 1; k <= 2 && cut-k >= 0; k++ {
		if enc[cut-k] == '%' {
			cut -= k
			break
		}
	}
	for cut > 0 && !utf8.RuneStart(enc[cut]) {
		cut--
	}
	return enc[:cut]
}
