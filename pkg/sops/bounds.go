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
	"errors"
	"fmt"
)

// The files Decrypt and Stale parse come from a tenant's repository, where
// anything may be written. Parsing YAML costs some 450 bytes of memory per
// node (yaml.v3's node tree, then ours), and flow YAML has a node every two
// bytes: the 8 MiB the server reads of a file, as [0,0,0,...], cost 1.7 GiB.
// So before parsing, a pass over the bytes (no allocation) refuses what is
// not shaped like a file this package or the sops CLI writes:
//   - flow collections: both write block YAML, with flow only for an empty
//     collection ([] or {}); any other is refused,
//   - more than MaxNodes nodes, counted by that pass (an upper bound of what
//     the parser makes; a "key: value" line counts 3 for 2 nodes).
//
// The plaintext Encrypt and Normalize parse (a Secret rendered from the
// cluster) is held to the same rules, so that a file this package writes is
// always one it reads back.
//
// The sops metadata is bounded too, since unwrapping the data key costs the
// age stanzas tried times the identities: at most MaxAgeEntries entries in
// sops.age, each enc at most MaxAgeEncSize bytes, and the entries' stanzas
// together at most MaxAgeEntries (sops writes one per entry).
//
// A file past these bounds fails with an error wrapping ErrOutOfBounds: a
// caller treats it like any file that does not decrypt (Stale reports it).

const (
	// MaxNodes bounds the YAML nodes of a document this package parses, as
	// counted by its pre-scan: 150,000, some 65 MiB of parsing at most. A
	// Secret of 1.5 MiB (etcd's limit) with 50,000 keys counts 150,000; a
	// stored file may count metadataNodes more for its sops metadata.
	MaxNodes = 150_000
	// metadataNodes is what a stored file may count beyond MaxNodes: the
	// sops metadata at its bounds (each line of an enc counts 1).
	metadataNodes = 64 + MaxAgeEntries*(MaxAgeEncSize/32+8)

	// MaxAgeEntries bounds the entries of sops.age (one per recipient),
	// and the age stanzas of all of them together.
	MaxAgeEntries = 64
	// MaxAgeEncSize bounds the armored age file (enc) of one sops.age
	// entry: one X25519 stanza makes some 400 bytes, a hybrid
	// (post-quantum) one some 2.5 KiB.
	MaxAgeEncSize = 16 << 10
)

// ErrOutOfBounds is wrapped by the error for a document or sops metadata
// past the bounds of what this package parses (see MaxNodes, MaxAgeEntries,
// MaxAgeEncSize).
var ErrOutOfBounds = errors.New("not shaped like a file sops or this server writes")

// checkShape is the pre-scan: it counts an upper bound of the nodes of in,
// line by line, and refuses flow collections other than [] and {}, without
// allocating. It follows the YAML structure only as far as that takes: the
// lines of a block scalar (|, >), of a quoted scalar and of a plain scalar
// continued over lines hold no node and are skipped. Elsewhere nodes start at
// a line's content, after a "- " or "? " indicator and after a ": "; the
// count takes 1 for each line with content and 2 for each indicator, so it
// never counts less than the parser makes.
func checkShape(in []byte, maxNodes int) error {
	_, err := countNodes(in, maxNodes)
	return err
}

// CheckShape is the pre-scan, for other readers of the files this package
// and the server's renderer write: nil when in is block YAML (flow only for
// an empty collection) of at most maxNodes nodes, so that parsing it costs
// in proportion to maxNodes; else an error wrapping ErrOutOfBounds.
func CheckShape(in []byte, maxNodes int) error { return checkShape(in, maxNodes) }

// countNodes is checkShape, returning the count.
func countNodes(in []byte, maxNodes int) (int, error) {
	var sc shapeScanner
	nodes := 1 // the document
	for len(in) > 0 {
		end, next := lineBreak(in)
		n, err := sc.line(in[:end])
		if err != nil {
			return 0, err
		}
		if nodes += n; nodes > maxNodes {
			return 0, fmt.Errorf("%w: more than %d YAML nodes", ErrOutOfBounds, maxNodes)
		}
		in = in[next:]
	}
	return nodes, nil
}

// lineBreak finds the end of the first line of in and where the next starts:
// at every line break the YAML parser knows (\n, \r, NEL, LS, PS).
func lineBreak(in []byte) (end, next int) {
	for i := 0; i < len(in); i++ {
		switch c := in[i]; {
		case c == '\n' || c == '\r':
			return i, i + 1
		case c == 0xc2 && i+1 < len(in) && in[i+1] == 0x85:
			return i, i + 2
		case c == 0xe2 && i+2 < len(in) && in[i+1] == 0x80 && (in[i+2] == 0xa8 || in[i+2] == 0xa9):
			return i, i + 3
		}
	}
	return len(in), len(in)
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' }

func isAnchorChar(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c == '_' || c == '-'
}

// skipBlank skips spaces, tabs and byte order marks from i.
func skipBlank(line []byte, i int) int {
	for i < len(line) {
		switch {
		case isBlank(line[i]):
			i++
		case bytes.HasPrefix(line[i:], []byte("\xef\xbb\xbf")):
			i += 3
		default:
			return i
		}
	}
	return i
}

// endsToken reports whether line[i:] starts with a blank or is empty.
func endsToken(line []byte, i int) bool { return i >= len(line) || isBlank(line[i]) }

// shapeScanner is checkShape's state from one line to the next.
type shapeScanner struct {
	// block: the lines of a block scalar follow, those indented more than
	// blockParent (at least blockIndent once known).
	block                    bool
	blockParent, blockIndent int
	// plain: a plain scalar may continue, on lines indented more than
	// plainParent.
	plain       bool
	plainParent int
	// quote: a quoted scalar is open ('"' or '\'').
	quote byte
}

// line counts the nodes that may start on one line.
func (s *shapeScanner) line(line []byte) (int, error) {
	indent := 0
	for indent < len(line) && line[indent] == ' ' {
		indent++
	}
	p := skipBlank(line, 0)
	if p == len(line) {
		return 0, nil // empty lines end nothing
	}
	if s.block {
		if s.blockIndent == 0 && indent > s.blockParent {
			s.blockIndent = indent
		}
		if s.blockIndent > 0 && indent >= s.blockIndent {
			return 0, nil
		}
		s.block = false
	}
	if s.quote != 0 {
		end := closeQuote(line, 0, s.quote)
		if end < 0 {
			return 0, nil
		}
		s.quote = 0
		return s.after(line, end, indent)
	}
	if s.plain {
		// A line more indented goes on with the scalar, unless it has a
		// comment or a ": " (which end it, or are not YAML).
		if indent > s.plainParent && line[p] != '#' && !endsPlain(line, p) {
			return 0, nil
		}
		s.plain = false
	}
	if line[p] == '#' {
		return 0, nil
	}
	if indent == 0 && (line[0] == '%' || bytes.HasPrefix(line, []byte("...")) && endsToken(line, 3)) {
		return 1, nil // a directive, the end of a document
	}

	n := 1
	parent := indent // an upper bound of the parent collection's column
	if bytes.HasPrefix(line[p:], []byte("---")) && endsToken(line, p+3) {
		n += 2
		parent = p
		p = skipBlank(line, p+3)
	}
	m, err := s.node(line, p, parent)
	return n + m, err
}

// node scans from a node's start at line[p] to the end of the line; parent
// is an upper bound of the column of the collection holding the node.
func (s *shapeScanner) node(line []byte, p, parent int) (int, error) {
	n := 0
	for p < len(line) {
		switch c := line[p]; {
		case (c == '-' || c == '?' || c == ':') && endsToken(line, p+1):
			// A block sequence's entry, an explicit key or value: what
			// follows on the line is a node (of a compact collection).
			n += 2
			parent = p
			p = skipBlank(line, p+1)
			continue
		case c == '!': // a tag: up to a blank
			for p < len(line) && !isBlank(line[p]) {
				p++
			}
			p = skipBlank(line, p)
			continue
		case c == '&': // an anchor: letters, digits, '_' and '-'
			for p++; p < len(line) && isAnchorChar(line[p]); p++ {
			}
			p = skipBlank(line, p)
			continue
		}
		break
	}
	m, err := s.scalar(line, p, parent)
	return n + m, err
}

// scalar scans from the content of a node at line[p] (a scalar, an alias or
// a flow collection) to the end of the line.
func (s *shapeScanner) scalar(line []byte, p, parent int) (int, error) {
	if p == len(line) {
		return 0, nil
	}
	switch c := line[p]; c {
	case '|', '>':
		if indent, ok := blockHeader(line, p+1); ok {
			s.block, s.blockParent, s.blockIndent = true, parent, 0
			if indent > 0 {
				s.blockIndent = parent + indent
			}
			return 0, nil
		}
	case '[', '{':
		closing := byte(']')
		if c == '{' {
			closing = '}'
		}
		if q := skipBlank(line, p+1); q < len(line) && line[q] == closing {
			return s.after(line, q+1, p)
		}
		return 0, fmt.Errorf("%w: a flow-style collection", ErrOutOfBounds)
	case '"', '\'':
		end := closeQuote(line, p+1, c)
		if end < 0 {
			s.quote = c
			return 0, nil
		}
		return s.after(line, end, p)
	case '#':
		return 0, nil
	case '*': // an alias
		q := p + 1
		for q < len(line) && isAnchorChar(line[q]) {
			q++
		}
		return s.after(line, q, p)
	}
	// A plain scalar: it ends at a ": " (it was a key), a " #" or the end
	// of the line, where it may go on over the next lines.
	for i := p + 1; i < len(line); i++ {
		switch {
		case line[i] == ':' && endsToken(line, i+1):
			m, err := s.node(line, skipBlank(line, i+1), p)
			return 2 + m, err
		case line[i] == '#' && i > p && isBlank(line[i-1]):
			return 0, nil
		}
	}
	s.plain, s.plainParent = true, parent
	return 0, nil
}

// endsPlain reports whether line[p:] has a ": " or a " #".
func endsPlain(line []byte, p int) bool {
	for i := p; i < len(line); i++ {
		switch {
		case line[i] == ':' && endsToken(line, i+1), line[i] == '#' && i > 0 && isBlank(line[i-1]):
			return true
		}
	}
	return false
}

// after scans the rest of a line after a closed scalar, an alias or an empty
// collection that started at column key: a ": " (it was a key) or a comment.
// Anything else is not YAML.
func (s *shapeScanner) after(line []byte, i, key int) (int, error) {
	i = skipBlank(line, i)
	switch {
	case i == len(line) || line[i] == '#' && isBlank(line[i-1]):
		return 0, nil
	case line[i] == ':' && endsToken(line, i+1):
		m, err := s.node(line, skipBlank(line, i+1), key)
		return 2 + m, err
	}
	return 0, fmt.Errorf("%w: text after a quoted scalar", ErrOutOfBounds)
}

// closeQuote returns the index after the quote closing a scalar quoted with q
// that goes on at line[i], or -1 when it goes on past the line.
func closeQuote(line []byte, i int, q byte) int {
	for ; i < len(line); i++ {
		switch {
		case q == '"' && line[i] == '\\':
			i++
		case line[i] == q && q == '\'' && i+1 < len(line) && line[i+1] == '\'':
			i++
		case line[i] == q:
			return i + 1
		}
	}
	return -1
}

// blockHeader checks the rest of a block scalar's header at line[i]: an
// indentation and a chomping indicator in any order, then a comment or the
// end of the line. It returns the indentation indicator (0: none).
func blockHeader(line []byte, i int) (int, bool) {
	indent := 0
	for k := 0; k < 2 && i < len(line); k++ {
		switch c := line[i]; {
		case c >= '1' && c <= '9' && indent == 0:
			indent = int(c - '0')
			i++
		case c == '+' || c == '-':
			i++
		}
	}
	i = skipBlank(line, i)
	return indent, i == len(line) || (line[i] == '#' && isBlank(line[i-1]))
}
