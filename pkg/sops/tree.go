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
	"io"
	"strings"
	"time"

	yaml2 "go.yaml.in/yaml/v2"
	yaml3 "go.yaml.in/yaml/v3"

	"github.com/configbutler/gitops-reverser/pkg/yamlemit"
)

// The document tree used throughout this package:
//   - mappings are yaml2.MapSlice (ordered) with string keys,
//   - sequences are []any,
//   - leaves are what go.yaml.in/yaml/v3 decodes a scalar to when the target is
//     an interface{}: string, int, float64, bool, time.Time or nil.
//
// The leaf types are exactly the values sops' YAML store sees (it decodes each
// scalar node with node.Decode(&interface{})), which matters because the MAC
// is computed over their byte form (see leafBytes).

// parseOptions controls what parseDocument accepts.
type parseOptions struct {
	// allowComments makes comments silently ignored instead of an error.
	allowComments bool
	// stored allows the nodes of a stored file's sops metadata beyond
	// MaxNodes.
	stored bool
}

// parseDocument parses a single YAML document whose root is a mapping, once
// checkShape found it within bounds (see bounds.go).
func parseDocument(in []byte, opts parseOptions) (yaml2.MapSlice, error) {
	maxNodes := MaxNodes
	if opts.stored {
		maxNodes += metadataNodes
	}
	if err := checkShape(in, maxNodes); err != nil {
		return nil, err
	}
	dec := yaml3.NewDecoder(bytes.NewReader(in))
	var doc yaml3.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("empty YAML document")
		}
		return nil, fmt.Errorf("parsing YAML: %w", err)
	}
	var next yaml3.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, fmt.Errorf("parsing YAML: %w", err)
	default:
		return nil, errors.New("multiple YAML documents are not supported")
	}
	if !opts.allowComments && hasComment(&doc) {
		return nil, errors.New("YAML comments are not supported")
	}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml3.MappingNode {
		return nil, errors.New("YAML document root must be a mapping")
	}
	root, err := fromNode(doc.Content[0], nil)
	if err != nil {
		return nil, err
	}
	return root.(yaml2.MapSlice), nil
}

func hasComment(n *yaml3.Node) bool {
	if n.HeadComment != "" || n.LineComment != "" || n.FootComment != "" {
		return true
	}
	for _, c := range n.Content {
		if hasComment(c) {
			return true
		}
	}
	return false
}

// fromNode converts a yaml.v3 node to the tree representation. Errors name the
// key path but never a value: values may be secret.
func fromNode(n *yaml3.Node, path []string) (any, error) {
	switch n.Kind {
	case yaml3.MappingNode:
		m := make(yaml2.MapSlice, 0, len(n.Content)/2)
		seen := make(map[string]struct{}, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			kn, vn := n.Content[i], n.Content[i+1]
			if kn.Kind != yaml3.ScalarNode {
				return nil, fmt.Errorf("%s: only scalar mapping keys are supported", describePath(path))
			}
			var k any
			if err := kn.Decode(&k); err != nil {
				return nil, fmt.Errorf("%s: invalid mapping key", describePath(path))
			}
			key, ok := k.(string)
			if !ok {
				// sops refuses non-string keys as well.
				return nil, fmt.Errorf("%s: mapping key of type %T, only string keys are supported", describePath(path), k)
			}
			if _, dup := seen[key]; dup {
				return nil, fmt.Errorf("%s: duplicate mapping key %q", describePath(path), key)
			}
			seen[key] = struct{}{}
			v, err := fromNode(vn, append(path, key))
			if err != nil {
				return nil, err
			}
			m = append(m, yaml2.MapItem{Key: key, Value: v})
		}
		return m, nil
	case yaml3.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := fromNode(c, path)
			if err != nil {
				return nil, err
			}
			s = append(s, v)
		}
		return s, nil
	case yaml3.ScalarNode:
		var v any
		if err := n.Decode(&v); err != nil {
			// The decoder's message can quote the value; do not wrap it.
			return nil, fmt.Errorf("%s: invalid scalar value (tag %s)", describePath(path), n.ShortTag())
		}
		switch v.(type) {
		case nil, string, int, float64, bool, time.Time:
			return v, nil
		default:
			return nil, fmt.Errorf("%s: unsupported scalar of type %T", describePath(path), v)
		}
	case yaml3.AliasNode:
		return nil, fmt.Errorf("%s: YAML aliases are not supported", describePath(path))
	default:
		return nil, fmt.Errorf("%s: unsupported YAML node kind %d", describePath(path), n.Kind)
	}
}

// describePath renders a key path for error messages.
func describePath(path []string) string {
	if len(path) == 0 {
		return "document root"
	}
	return "key " + strings.Join(path, ".")
}

// emit renders a tree in the canonical layout of this package: the
// go.yaml.in/yaml/v2 emitter that sigs.k8s.io/yaml uses (2-space indent,
// sequences not indented, keys in tree order): its bytes, mostly written
// without it (pkg/yamlemit; it was 11% of a snapshot of 25,000 Secrets).
func emit(tree yaml2.MapSlice) ([]byte, error) {
	out, err := yamlemit.Marshal(tree)
	if err != nil {
		// yaml.v2 only fails on unsupported Go types, never quoting values.
		return nil, fmt.Errorf("rendering YAML: %w", err)
	}
	return out, nil
}

// leafFunc is called for every non-nil leaf in document order with the path
// of mapping keys leading to it, and returns the leaf's replacement.
type leafFunc func(v any, path []string) (any, error)

// walk visits the tree the way sops does (sops.TreeBranch.walkBranch):
// mapping keys extend the path, sequence items share their parent's path, and
// nil leaves are neither passed to fn nor changed. The tree is updated in
// place.
func walk(v any, path []string, fn leafFunc) (any, error) {
	switch t := v.(type) {
	case yaml2.MapSlice:
		for i := range t {
			nv, err := walk(t[i].Value, append(path, t[i].Key.(string)), fn)
			if err != nil {
				return nil, err
			}
			t[i].Value = nv
		}
		return t, nil
	case []any:
		for i := range t {
			nv, err := walk(t[i], path, fn)
			if err != nil {
				return nil, err
			}
			t[i] = nv
		}
		return t, nil
	case nil:
		return nil, nil
	default:
		return fn(t, path)
	}
}

// sameTree reports whether two trees have the same shape, keys and leaves.
// Leaves are compared by kind and MAC byte form, so a float64 1 and an int 1
// (yaml.v2 writes both as "1") count as equal, as they do for the MAC, but a
// string "1" and an int 1 do not.
func sameTree(a, b any) bool {
	switch ta := a.(type) {
	case yaml2.MapSlice:
		tb, ok := b.(yaml2.MapSlice)
		if !ok || len(ta) != len(tb) {
			return false
		}
		for i := range ta {
			if ta[i].Key != tb[i].Key || !sameTree(ta[i].Value, tb[i].Value) {
				return false
			}
		}
		return true
	case []any:
		tb, ok := b.([]any)
		if !ok || len(ta) != len(tb) {
			return false
		}
		for i := range ta {
			if !sameTree(ta[i], tb[i]) {
				return false
			}
		}
		return true
	case nil:
		return b == nil
	default:
		if b == nil || leafKind(a) != leafKind(b) {
			return false
		}
		ba, errA := leafBytes(a)
		bb, errB := leafBytes(b)
		return errA == nil && errB == nil && bytes.Equal(ba, bb)
	}
}

// leafKind classifies a leaf for sameTree.
func leafKind(v any) string {
	switch v.(type) {
	case int, float64:
		return "number"
	default:
		return fmt.Sprintf("%T", v)
	}
}
