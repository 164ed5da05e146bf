package render

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Field cleaning: besides what the server owns (always stripped, see
// stripMetadata), a file leaves out what controllers and the API server
// write back into objects (DefaultDrops), and what a GitTarget names in
// spec.ignoreFields. A change that touches only dropped fields renders to the
// same bytes, so it makes no commit.

// FieldPath is a parsed path: dot-separated field names, a map key in
// brackets ("metadata.annotations[example.com/x]"), keys by prefix
// ("[example.com/*]"), or every list element or map entry ("[*]").
type FieldPath struct {
	raw   string
	steps []step
}

type step struct {
	field  string // a map key (a field name)
	key    string // [key], or a prefix when prefix is set
	prefix bool
	all    bool // [*]
}

func (p FieldPath) String() string { return p.raw }

// ParseFieldPath parses a field path; the error says what is wrong.
func ParseFieldPath(s string) (FieldPath, error) {
	p := FieldPath{raw: s}
	if s == "" {
		return p, fmt.Errorf("empty path")
	}
	rest := s
	for rest != "" {
		if strings.HasPrefix(rest, "[") {
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return p, fmt.Errorf("%q: an unclosed [", s)
			}
			k := rest[1:end]
			switch {
			case k == "":
				return p, fmt.Errorf("%q: an empty []", s)
			case k == "*":
				p.steps = append(p.steps, step{all: true})
			case strings.HasSuffix(k, "*"):
				if strings.Contains(strings.TrimSuffix(k, "*"), "*") {
					return p, fmt.Errorf("%q: * only at the end of a key", s)
				}
				p.steps = append(p.steps, step{key: strings.TrimSuffix(k, "*"), prefix: true})
			default:
				if strings.Contains(k, "*") {
					return p, fmt.Errorf("%q: * only at the end of a key", s)
				}
				p.steps = append(p.steps, step{key: k})
			}
			rest = rest[end+1:]
			if rest != "" && rest[0] == '.' {
				rest = rest[1:]
				if rest == "" {
					return p, fmt.Errorf("%q: ends in a dot", s)
				}
			} else if rest != "" && rest[0] != '[' {
				return p, fmt.Errorf("%q: a name after ] needs a dot", s)
			}
			continue
		}
		end := strings.IndexAny(rest, ".[")
		name := rest
		if end >= 0 {
			name = rest[:end]
		}
		if name == "" {
			return p, fmt.Errorf("%q: an empty field name", s)
		}
		if strings.ContainsAny(name, "]*") {
			return p, fmt.Errorf("%q: a field name with ] or *; use [key] for such keys", s)
		}
		p.steps = append(p.steps, step{field: name})
		if end < 0 {
			break
		}
		rest = rest[end:]
		if rest[0] == '.' {
			rest = rest[1:]
			if rest == "" {
				return p, fmt.Errorf("%q: ends in a dot", s)
			}
		}
	}
	return p, nil
}

// Drop is a field dropped from the files of some kinds.
type Drop struct {
	// Groups and Kinds the drop applies to (empty or "*": all).
	Groups, Kinds []string
	Path          FieldPath
	// KeepValues keeps the field when it holds one of these (a headless
	// Service's clusterIP "None" is the user's choice, not an allocation).
	KeepValues []string
}

func (d Drop) applies(group, kind string) bool {
	match := func(list []string, v string) bool {
		return len(list) == 0 || slices.Contains(list, "*") || slices.Contains(list, v)
	}
	return match(d.Groups, group) && match(d.Kinds, kind)
}

func mustPath(s string) FieldPath {
	p, err := ParseFieldPath(s)
	if err != nil {
		panic(err)
	}
	return p
}

// DefaultDrops are the fields controllers and the API server write into
// objects, left out of every file (the README lists them):
var DefaultDrops = []Drop{
	// Owner references carry the uids of one cluster's objects; an owned
	// object's owner is what belongs in Git.
	{Path: mustPath("metadata.ownerReferences")},
	// Set by the Deployment controller on every rollout.
	{Groups: []string{"apps"}, Kinds: []string{"Deployment", "ReplicaSet"}, Path: mustPath("metadata.annotations[deployment.kubernetes.io/*]")},
	// Allocated by the API server; "None" (headless) is the user's.
	{Groups: []string{""}, Kinds: []string{"Service"}, Path: mustPath("spec.clusterIP"), KeepValues: []string{"None"}},
	{Groups: []string{""}, Kinds: []string{"Service"}, Path: mustPath("spec.clusterIPs"), KeepValues: []string{"None"}},
	// Bound by the volume controllers.
	{Groups: []string{""}, Kinds: []string{"PersistentVolumeClaim"}, Path: mustPath("spec.volumeName")},
	{Groups: []string{""}, Kinds: []string{"PersistentVolumeClaim", "PersistentVolume"}, Path: mustPath("metadata.annotations[pv.kubernetes.io/*]")},
	{Groups: []string{""}, Kinds: []string{"PersistentVolumeClaim"}, Path: mustPath("metadata.annotations[volume.kubernetes.io/*]")},
	{Groups: []string{""}, Kinds: []string{"PersistentVolumeClaim"}, Path: mustPath("metadata.annotations[volume.beta.kubernetes.io/*]")},
	// Set by the API server on every namespace.
	{Groups: []string{""}, Kinds: []string{"Namespace"}, Path: mustPath("metadata.labels[kubernetes.io/metadata.name]")},
	{Groups: []string{""}, Kinds: []string{"Namespace"}, Path: mustPath("spec.finalizers")},
	// Written by the endpoints controller.
	{Path: mustPath("metadata.annotations[endpoints.kubernetes.io/last-change-trigger-time]")},
	// Neighbours' bookkeeping on the objects they manage (docs/mirroring.md):
	// Argo CD's tracking, Flux's owner labels and the checksums older Flux
	// wrote. Helm's ownership (meta.helm.sh/* and managed-by) stays: Helm
	// refuses to manage a restored object without it.
	{Path: mustPath("metadata.annotations[argocd.argoproj.io/tracking-id]")},
	{Path: mustPath("metadata.annotations[argocd.argoproj.io/installation-id]")},
	{Path: mustPath("metadata.labels[kustomize.toolkit.fluxcd.io/*]")},
	{Path: mustPath("metadata.labels[helm.toolkit.fluxcd.io/*]")},
	{Path: mustPath("metadata.annotations[kustomize.toolkit.fluxcd.io/checksum]")},
	{Path: mustPath("metadata.annotations[fluxcd.io/sync-checksum]")},
	{Path: mustPath("metadata.labels[fluxcd.io/sync-gc-mark]")},
}

// Cleaner drops fields from objects before they are rendered.
type Cleaner struct {
	drops []Drop
	hash  string
}

// NewCleaner returns the cleaner of DefaultDrops plus extra. Without extra it
// is the one default cleaner: most targets ignore no fields of their own, and
// a copy of the defaults for each of 1,000 targets is some 3.5 MB.
func NewCleaner(extra []Drop) *Cleaner {
	if len(extra) == 0 {
		return defaultCleaner
	}
	return newCleaner(extra)
}

func newCleaner(extra []Drop) *Cleaner {
	c := &Cleaner{drops: append(append([]Drop(nil), DefaultDrops...), extra...)}
	lines := make([]string, 0, len(extra))
	for _, d := range extra {
		lines = append(lines, strings.Join(d.Groups, ",")+"|"+strings.Join(d.Kinds, ",")+"|"+d.Path.raw+"|"+strings.Join(d.KeepValues, ","))
	}
	sort.Strings(lines)
	h := sha256.Sum256([]byte(strings.Join(lines, "\n")))
	c.hash = hex.EncodeToString(h[:8])
	return c
}

// Hash identifies what the cleaner drops beyond the defaults (the defaults
// are part of the renderer's version).
func (c *Cleaner) Hash() string {
	if c == nil {
		return ""
	}
	return c.hash
}

// clean returns obj without the dropped fields. It copies what it changes
// and never modifies obj (objects come from shared informer caches).
func (c *Cleaner) clean(obj map[string]interface{}, group, kind string) map[string]interface{} {
	out := obj
	for _, d := range c.drops {
		if d.applies(group, kind) {
			if v, changed := drop(out, d.Path.steps, d.KeepValues); changed {
				out = v.(map[string]interface{})
			}
		}
	}
	return out
}

// drop returns v without what steps select, and whether anything was
// dropped; it copies only the containers on the way to a dropped field. A map
// that key drops leave empty (annotations, labels) is removed from its parent.
func drop(v interface{}, steps []step, keep []string) (interface{}, bool) {
	if len(steps) == 0 {
		return v, false
	}
	st, last := steps[0], len(steps) == 1
	switch t := v.(type) {
	case map[string]interface{}:
		var keys []string
		switch {
		case st.field != "":
			keys = []string{st.field}
		case st.all:
			for k := range t {
				keys = append(keys, k)
			}
		case st.prefix:
			for k := range t {
				if strings.HasPrefix(k, st.key) {
					keys = append(keys, k)
				}
			}
		default:
			keys = []string{st.key}
		}
		var out map[string]interface{}
		copyOnce := func() {
			if out == nil {
				out = make(map[string]interface{}, len(t))
				for kk, vv := range t {
					out[kk] = vv
				}
			}
		}
		for _, k := range keys {
			e, ok := t[k]
			if !ok {
				continue
			}
			if last {
				if !kept(e, keep) {
					copyOnce()
					delete(out, k)
				}
				continue
			}
			ne, changed := drop(e, steps[1:], keep)
			if !changed {
				continue
			}
			copyOnce()
			if m, ok := ne.(map[string]interface{}); ok && len(m) == 0 {
				delete(out, k)
			} else {
				out[k] = ne
			}
		}
		if out == nil {
			return t, false
		}
		return out, true
	case []interface{}:
		if !st.all || last {
			return t, false // [*] last would drop every element: not a field
		}
		var out []interface{}
		for i, e := range t {
			ne, changed := drop(e, steps[1:], keep)
			if !changed {
				continue
			}
			if out == nil {
				out = append([]interface{}(nil), t...)
			}
			out[i] = ne
		}
		if out == nil {
			return t, false
		}
		return out, true
	}
	return v, false
}

func kept(v interface{}, keep []string) bool {
	if len(keep) == 0 {
		return false
	}
	switch t := v.(type) {
	case string:
		return slices.Contains(keep, t)
	case []interface{}:
		for _, e := range t {
			if s, ok := e.(string); !ok || !slices.Contains(keep, s) {
				return false
			}
		}
		return len(t) > 0
	}
	return false
}
