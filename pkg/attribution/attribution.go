// Package attribution finds the Kubernetes user behind each live change, so a
// commit is authored by whoever made the change.
//
// Watch events carry no user; kube-apiserver knows the user of every write
// and reports it through its audit webhook backend to an endpoint of our
// server (Handler). The audit backend is asynchronous: it never sits on the
// write path, and a report arrives shortly after the watch event it explains
// (the branch worker waits for it a short grace). A report is matched to the
// event exactly, not by time:
//
//   - a create, update, patch or apply by the uid and resourceVersion of the
//     object it returned (audit level RequestResponse), which is the object
//     version the watch event carries;
//   - a delete by the uid of the object it deleted;
//   - a Secret, reported at level Metadata (no object, so no Secret value is
//     ever sent to us), by its namespace and name: the latest report for the
//     name. This is the one inexact match.
//
// Coalesced changes (several writes to one object within a push interval) are
// attributed to the last write. A change no report explains in time (the
// webhook down, a managed cluster without audit access, a deletecollection)
// is committed anyway, authored by the field manager of the object's last
// write (managedFields) or the configured default: nothing waits for
// attribution longer than the grace.
//
// Several replicas share reports through their etcd (Shared): the audit
// webhook reaches the replica its Service picks, the change is committed by
// the one that owns the branch's worker.
package attribution

import (
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/configbutler/gitops-reverser/pkg/commitstyle"
)

// Author is who made a write, and how. It is defined by commitstyle, which
// renders commits from it without importing this package.
type Author = commitstyle.Author

// Report is one write as kube-apiserver reported it.
type Report struct {
	Resource        schema.GroupResource
	Namespace, Name string
	UID             types.UID
	// ResourceVersion is the version the write produced ("" for Secrets and
	// deletes).
	ResourceVersion string
	Author
	Received time.Time
}

// event is the part of an audit.k8s.io/v1 Event we read. Request and
// response objects are decoded no further than their metadata.
type event struct {
	Stage string `json:"stage"`
	Verb  string `json:"verb"`
	User  struct {
		Username string   `json:"username"`
		Groups   []string `json:"groups"`
	} `json:"user"`
	ImpersonatedUser *struct {
		Username string   `json:"username"`
		Groups   []string `json:"groups"`
	} `json:"impersonatedUser"`
	RequestURI string `json:"requestURI"`
	UserAgent  string `json:"userAgent"`
	ObjectRef  *struct {
		Resource    string    `json:"resource"`
		Namespace   string    `json:"namespace"`
		Name        string    `json:"name"`
		UID         types.UID `json:"uid"`
		APIGroup    string    `json:"apiGroup"`
		Subresource string    `json:"subresource"`
	} `json:"objectRef"`
	ResponseStatus *struct {
		Code int `json:"code"`
	} `json:"responseStatus"`
	ResponseObject *struct {
		Kind     string `json:"kind"`
		Metadata struct {
			UID             types.UID `json:"uid"`
			ResourceVersion string    `json:"resourceVersion"`
			ManagedFields   []struct {
				Operation string `json:"operation"`
				Time      string `json:"time"`
			} `json:"managedFields"`
		} `json:"metadata"`
		Details *struct {
			UID types.UID `json:"uid"`
		} `json:"details"`
	} `json:"responseObject"`
}

// ParseEvents reads an audit.k8s.io/v1 EventList and returns the writes it
// reports: completed, successful, on an object (not a subresource other than
// scale or status, whose writes change the object too). Everything else, and
// any request or response body beyond metadata, is ignored; nothing of it is
// kept or logged.
func ParseEvents(body []byte, now time.Time) ([]Report, error) {
	var list struct {
		Kind       string  `json:"kind"`
		APIVersion string  `json:"apiVersion"`
		Items      []event `json:"items"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, fmt.Errorf("not an audit EventList: %w", err)
	}
	if list.Kind != "EventList" || list.APIVersion != "audit.k8s.io/v1" {
		return nil, fmt.Errorf("not an audit.k8s.io/v1 EventList (%s %s)", list.APIVersion, list.Kind)
	}
	var out []Report
	for _, e := range list.Items {
		if e.Stage != "ResponseComplete" || e.ObjectRef == nil || e.ObjectRef.Name == "" || e.ResponseStatus == nil ||
			e.ResponseStatus.Code < 200 || e.ResponseStatus.Code >= 300 {
			continue
		}
		switch e.ObjectRef.Subresource {
		case "", "status", "scale":
		default:
			continue
		}
		verb := e.Verb
		switch verb {
		case "create", "update", "patch", "delete":
		default:
			continue
		}
		r := Report{
			Resource:  schema.GroupResource{Group: e.ObjectRef.APIGroup, Resource: e.ObjectRef.Resource},
			Namespace: e.ObjectRef.Namespace, Name: e.ObjectRef.Name, UID: e.ObjectRef.UID,
			Author: Author{User: commitstyle.Clean(e.User.Username), Verb: verb, Groups: cleanGroups(e.User.Groups),
				Manager: fieldManager(e.RequestURI, e.UserAgent)}, Received: now,
		}
		if e.ImpersonatedUser != nil && e.ImpersonatedUser.Username != "" {
			r.User, r.Impersonator = commitstyle.Clean(e.ImpersonatedUser.Username), commitstyle.Clean(e.User.Username)
			r.Groups = cleanGroups(e.ImpersonatedUser.Groups)
		}
		if r.User == "" {
			continue
		}
		if ro := e.ResponseObject; ro != nil {
			md := ro.Metadata
			if md.UID != "" {
				r.UID = md.UID
			}
			if verb != "delete" {
				r.ResourceVersion = md.ResourceVersion
			}
			if ro.Kind == "Status" && ro.Details != nil && ro.Details.UID != "" {
				r.UID = ro.Details.UID // a delete answered with a Status
			}
			// Server-side apply is a patch whose latest managed fields entry
			// is an Apply.
			if verb == "patch" {
				latest, op := "", ""
				for _, m := range md.ManagedFields {
					if m.Time >= latest {
						latest, op = m.Time, m.Operation
					}
				}
				if op == "Apply" {
					r.Verb = "apply"
				}
			}
		}
		out = append(out, r)
	}
	return out, nil
}

// Query is a change to attribute.
type Query struct {
	Resource        schema.GroupResource
	Namespace, Name string
	UID             types.UID
	ResourceVersion string
	Deleted         bool
}

type nameKey struct {
	gr       schema.GroupResource
	ns, name string
}

// entry is a kept report: its author, held once per distinct author, and
// when it came (Unix nanoseconds).
type entry struct {
	author *Author
	at     int64
}

func (e entry) older(now time.Time, age time.Duration) bool { return now.UnixNano()-e.at > int64(age) }

// Store holds reports until their changes are committed, or for TTL.
type Store struct {
	TTL time.Duration

	mu        sync.Mutex
	byVersion map[compactKey]entry
	otherKeys map[versionKey]entry // versions in other forms (keys.go)
	byUID     map[types.UID]entry  // deletes
	byName    map[nameKey]entry    // Secrets
	received  int
	names     interner
}

// DefaultTTL is how long a report is kept for a change to find it: far longer
// than any grace, so a report that arrives before its watch event (a watch
// that lags, a target that starts streaming a type late) is still there.
const DefaultTTL = 10 * time.Minute

// ExpireEvery expires reports every interval until done is closed.
func (s *Store) ExpireEvery(done <-chan struct{}, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case now := <-t.C:
			s.Expire(now)
		}
	}
}

// NewStore returns an empty store keeping reports for ttl.
func NewStore(ttl time.Duration) *Store {
	return &Store{TTL: ttl, byVersion: map[compactKey]entry{}, otherKeys: map[versionKey]entry{}, byUID: map[types.UID]entry{}, byName: map[nameKey]entry{}}
}

// maxEntries bounds the store (some 40 bytes a report in its map, see
// keys.go; its author held once): when it is exceeded, reports are dropped oldest first, by age thresholds, down to
// nine tenths of it, so a flood of writes costs bounded memory and one O(n)
// sweep per tenth of the bound, not one per report. A change whose report
// was dropped is authored by its field manager, as without reports.
const maxEntries = 200_000

// evictAges are the age thresholds tried, in order, until the store is small
// enough (the last one empties it).
func (s *Store) evictAges() []time.Duration {
	return []time.Duration{s.TTL / 2, s.TTL / 8, s.TTL / 32, 10 * time.Second, time.Second, -1}
}

func (s *Store) size() int {
	return len(s.byVersion) + len(s.otherKeys) + len(s.byUID) + len(s.byName)
}

func isSecret(gr schema.GroupResource) bool { return gr.Group == "" && gr.Resource == "secrets" }

// Add keeps reports.
func (s *Store) Add(reports ...Report) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range reports {
		s.received++
		e := entry{author: s.names.author(r.Author), at: r.Received.UnixNano()}
		switch {
		case isSecret(r.Resource):
			s.byName[nameKey{r.Resource, r.Namespace, r.Name}] = e
		case r.Author.Verb == "delete" && r.UID != "":
			s.byUID[r.UID] = e
		case r.UID != "" && r.ResourceVersion != "":
			// The first report of a version is the write that made it: a
			// later no-op write (an apply that changed nothing) returns the
			// same version and must not take it over.
			if k, ok := compactVersion(r.UID, r.ResourceVersion); ok {
				if _, made := s.byVersion[k]; !made {
					s.byVersion[k] = e
				}
			} else if _, made := s.otherKeys[versionKey{r.UID, r.ResourceVersion}]; !made {
				s.otherKeys[versionKey{r.UID, r.ResourceVersion}] = e
			}
		}
	}
	if s.size() > maxEntries {
		now := time.Now()
		for _, age := range s.evictAges() {
			if s.size() <= maxEntries*9/10 {
				break
			}
			s.expireLocked(now, age)
		}
	}
}

// Lookup returns the author of a change and whether a report explains it;
// the report is used up.
func (s *Store) Lookup(q Query) (Author, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case isSecret(q.Resource):
		k := nameKey{q.Resource, q.Namespace, q.Name}
		e, ok := s.byName[k]
		if ok {
			delete(s.byName, k)
		}
		return e.get(ok)
	case q.Deleted:
		e, ok := s.byUID[q.UID]
		if ok {
			delete(s.byUID, q.UID)
		}
		return e.get(ok)
	}
	if k, compact := compactVersion(q.UID, q.ResourceVersion); compact {
		e, ok := s.byVersion[k]
		if ok {
			delete(s.byVersion, k)
		}
		return e.get(ok)
	}
	k := versionKey{q.UID, q.ResourceVersion}
	e, ok := s.otherKeys[k]
	if ok {
		delete(s.otherKeys, k)
	}
	return e.get(ok)
}

// get is the entry's author (a copy: the interned one is shared), if found.
func (e entry) get(found bool) (Author, bool) {
	if !found {
		return Author{}, false
	}
	return *e.author, true
}

// Expire forgets reports older than the TTL (writes nobody mirrors).
func (s *Store) Expire(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireLocked(now, s.TTL)
}

func (s *Store) expireLocked(now time.Time, ttl time.Duration) {
	expire(s.byVersion, now, ttl)
	expire(s.otherKeys, now, ttl)
	expire(s.byUID, now, ttl)
	expire(s.byName, now, ttl)
}

func expire[K comparable](m map[K]entry, now time.Time, ttl time.Duration) {
	for k, e := range m {
		if e.older(now, ttl) {
			delete(m, k)
		}
	}
}

// Received counts the reports added.
func (s *Store) Received() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.received
}
