package history

import (
	"encoding/hex"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// List returns a page of the revisions of paths under o.Prefix (and accepted
// by o.Filter), newest first: by commit, and in tree order within a commit.
//
// Pages are position-based: entries are numbered in first-parent order and
// only ever appended, so a continue token ("<entry>.<its commit's hash>")
// continues below the last entry returned, in the index as it is now. A
// token whose entry no longer holds that commit (the history was rewritten)
// is refused with ErrExpired.
func (x *Index) List(o ListOptions) (Page, error) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	d := x.d
	end := uint32(len(d.entries))
	if o.Continue != "" {
		id, ok := d.parseToken(o.Continue)
		if !ok {
			return Page{}, ErrExpired
		}
		end = id
	}
	limit := o.Limit
	if limit <= 0 {
		limit = len(d.entries)
	}
	ids := d.pick(o, end, limit+1)
	var p Page
	if len(ids) > limit {
		ids = ids[:limit]
		p.Continue = d.token(ids[len(ids)-1])
	}
	p.Items = make([]Revision, len(ids))
	for i, id := range ids {
		p.Items[i] = d.revision(id, -1)
	}
	return p, nil
}

// pick returns up to n entry ids below end, newest first, of the paths o
// selects. When those paths hold few entries (an eighth of those below end
// or less), their lists are gathered and sorted; otherwise the entries are
// scanned down from end.
func (d *data) pick(o ListOptions, end uint32, n int) []uint32 {
	prefix := strings.Trim(o.Prefix, "/")
	if prefix == "" && o.Filter == nil && o.Namespaces == nil && o.FileNames == nil {
		var ids []uint32
		for id := end; id > 0 && len(ids) < n; id-- {
			ids = append(ids, id-1)
		}
		return ids
	}
	var paths []uint32
	total := 0
	var cands []uint32
	switch {
	case o.FileNames != nil:
		cands = d.fileNamePaths(prefix, o.Namespaces, o.FileNames)
	case o.Namespaces != nil:
		cands = d.namespacePaths(prefix, o.Namespaces)
	default:
		cands = d.pathRange(prefix)
	}
	for _, pid := range cands {
		if o.Filter == nil || o.Filter(d.paths[pid]) {
			paths = append(paths, pid)
			total += len(d.byPath[pid])
		}
	}
	if total*8 <= int(end) {
		var ids []uint32
		for _, pid := range paths {
			list := d.byPath[pid]
			k := sort.Search(len(list), func(i int) bool { return list[i] >= end })
			ids = append(ids, list[:k]...)
		}
		slices.SortFunc(ids, func(a, b uint32) int { return int(b) - int(a) })
		return ids[:min(n, len(ids))]
	}
	match := make([]bool, len(d.paths))
	for _, pid := range paths {
		match[pid] = true
	}
	var ids []uint32
	for id := end; id > 0 && len(ids) < n; id-- {
		if match[d.entries[id-1].path()] {
			ids = append(ids, id-1)
		}
	}
	return ids
}

// pathRange returns the ids of the paths under the directory prefix ("": all)
// from the sorted path order.
func (d *data) pathRange(prefix string) []uint32 {
	if prefix == "" {
		return d.sorted
	}
	dir := prefix + "/"
	lo := sort.Search(len(d.sorted), func(i int) bool { return d.paths[d.sorted[i]] >= dir })
	hi := lo + sort.Search(len(d.sorted)-lo, func(i int) bool { return !strings.HasPrefix(d.paths[d.sorted[lo+i]], dir) })
	return d.sorted[lo:hi]
}

// nsView is, for one prefix, the paths that hold objects by namespace.
type nsView struct {
	seen int                 // path ids below seen are parsed
	byNS map[string][]uint32 // namespace ("": cluster-scoped) -> path ids
}

// maxViews bounds the prefixes whose views are kept (the target paths of a
// branch: a few).
const maxViews = 64

// namespacePaths returns the ids of the paths under prefix holding objects
// of the namespaces, from the prefix's view (extended with the paths added
// since it was last used: path ids only grow).
func (d *data) namespacePaths(prefix string, namespaces []string) []uint32 {
	d.viewMu.Lock()
	defer d.viewMu.Unlock()
	v := d.views[prefix]
	if v == nil {
		if d.views == nil || len(d.views) >= maxViews {
			d.views = map[string]*nsView{}
		}
		v = &nsView{byNS: map[string][]uint32{}}
		d.views[prefix] = v
	}
	for ; v.seen < len(d.paths); v.seen++ {
		if o, ok := ParsePath(prefix, d.paths[v.seen]); ok {
			v.byNS[o.Namespace] = append(v.byNS[o.Namespace], uint32(v.seen))
		}
	}
	var out []uint32
	for i, ns := range namespaces {
		if !slices.Contains(namespaces[:i], ns) {
			out = append(out, v.byNS[ns]...)
		}
	}
	return out
}

// fileView is the paths by file name (their last segment).
type fileView struct {
	seen   int // path ids below seen are in byName
	byName map[string][]uint32
}

// fileNamePaths returns the ids of the paths under prefix named one of
// names, of the namespaces when namespaces is not nil (see namespacePaths).
func (d *data) fileNamePaths(prefix string, namespaces, names []string) []uint32 {
	d.viewMu.Lock()
	v := &d.files
	if v.byName == nil {
		v.byName = map[string][]uint32{}
	}
	for ; v.seen < len(d.paths); v.seen++ {
		p := d.paths[v.seen]
		name := p[strings.LastIndexByte(p, '/')+1:]
		v.byName[name] = append(v.byName[name], uint32(v.seen))
	}
	var cands []uint32
	for i, n := range names {
		if !slices.Contains(names[:i], n) {
			cands = append(cands, v.byName[n]...)
		}
	}
	d.viewMu.Unlock()
	var out []uint32
	for _, pid := range cands {
		p := d.paths[pid]
		if prefix != "" && !strings.HasPrefix(p, prefix+"/") {
			continue
		}
		if namespaces != nil {
			o, ok := ParsePath(prefix, p)
			if !ok || !slices.Contains(namespaces, o.Namespace) {
				continue
			}
		}
		out = append(out, pid)
	}
	return out
}

// token is the continue token after entry id.
func (d *data) token(id uint32) string {
	h := d.commits[d.entries[id].commit].hash
	return strconv.FormatUint(uint64(id), 10) + "." + hex.EncodeToString(h[:8])
}

func (d *data) parseToken(tok string) (uint32, bool) {
	idStr, hashStr, ok := strings.Cut(tok, ".")
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseUint(idStr, 10, 32)
	if err != nil || id >= uint64(len(d.entries)) {
		return 0, false
	}
	h := d.commits[d.entries[id].commit].hash
	if hashStr != hex.EncodeToString(h[:8]) {
		return 0, false
	}
	return uint32(id), true
}
