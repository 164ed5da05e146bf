package history

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"

	"github.com/configbutler/gitops-reverser/pkg/gitmodel"
)

// BranchKey identifies one read-only clone: the repository, the branch, and
// an opaque name the caller gives (e.g. "repo#branch via ns/provider"), so
// two keys that differ in any part never share a clone (nor its
// credentials).
type BranchKey struct {
	URL    string
	Branch string
	Name   string
}

// Remote is how to reach a key's repository.
type Remote struct {
	// URL to fetch from ("": the key's URL).
	URL string
	// Auth for the transport (nil: none).
	Auth transport.AuthMethod
}

// Resolver returns how to reach a key's repository. It is called when a
// clone is opened, and again when a fetch failed (credentials may have
// changed).
type Resolver func(ctx context.Context, key BranchKey) (Remote, error)

// Defaults of StoreOptions.
const (
	DefaultFreshFor     = 2 * time.Second
	DefaultIdleAfter    = 10 * time.Minute
	DefaultMaxOpening   = 2
	DefaultOpenTimeout  = 10 * time.Minute
	DefaultFetchTimeout = time.Minute
	DefaultSaveEvery    = time.Minute
	DefaultWalkCache    = 32 << 20
	DefaultWaitOpen     = 10 * time.Second
)

// StoreOptions configure a Store.
type StoreOptions struct {
	// Dir holds the clones, one directory per key (CloneDirName), e.g.
	// <workdir>/history. Required.
	Dir string
	// Resolve returns each key's URL and credentials. Required.
	Resolve Resolver
	// FreshFor: a query fetches (in the background) when the last fetch of
	// the clone is older than this (DefaultFreshFor).
	FreshFor time.Duration
	// IdleAfter: a clone no query used for this long is closed (its
	// directory and index file stay, so opening it again is a fetch and a
	// load) (DefaultIdleAfter).
	IdleAfter time.Duration
	// MaxOpening bounds the clones being opened (cloned, fetched, indexed)
	// at once (DefaultMaxOpening).
	MaxOpening int
	// OpenTimeout bounds opening one clone, FetchTimeout one refresh
	// (DefaultOpenTimeout, DefaultFetchTimeout).
	OpenTimeout, FetchTimeout time.Duration
	// SaveEvery: an index that moved is saved at most this often while its
	// clone is open, and when it is closed (DefaultSaveEvery).
	SaveEvery time.Duration
	// WaitOpen bounds how long a query waits for a clone being opened;
	// after it the query fails with ErrOpening and the open goes on
	// (DefaultWaitOpen). A long history takes minutes to clone and index
	// the first time, longer than a client waits for one response: the
	// client is told to retry (503 with Retry-After, which client-go and
	// kubectl follow), never left hanging until a proxy times out.
	WaitOpen time.Duration
	// WalkCache is the object cache, in bytes, of the reader a walk of the
	// history uses (DefaultWalkCache; see git.OpenObjectReader): more makes
	// the first index of a long history faster, for more memory while it
	// is built.
	WalkCache int64
}

func (o *StoreOptions) setDefaults() error {
	if o.Dir == "" || o.Resolve == nil {
		return errors.New("history: StoreOptions.Dir and Resolve are required")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.FreshFor, DefaultFreshFor)
	def(&o.IdleAfter, DefaultIdleAfter)
	def(&o.OpenTimeout, DefaultOpenTimeout)
	def(&o.FetchTimeout, DefaultFetchTimeout)
	def(&o.SaveEvery, DefaultSaveEvery)
	def(&o.WaitOpen, DefaultWaitOpen)
	if o.MaxOpening <= 0 {
		o.MaxOpening = DefaultMaxOpening
	}
	if o.WalkCache <= 0 {
		o.WalkCache = DefaultWalkCache
	}
	return nil
}

// ErrClosed is returned by a Store's queries after Close.
var ErrClosed = errors.New("history: store is closed")

// ErrOpening is returned (wrapped) by a query that waited WaitOpen for its
// clone to be cloned and indexed: retry it later.
var ErrOpening = errors.New("history: the branch is still being cloned and indexed")

// Store keeps one read-only clone and revision index per BranchKey. Its
// methods are safe for concurrent use: queries answer from the index as it
// is (stale-while-revalidate) and start a background fetch when the clone's
// last one is older than FreshFor; one fetch at a time per clone. The first
// query of a clone waits until it is cloned (or fetched) and indexed.
type Store struct {
	o      StoreOptions
	ctx    context.Context
	cancel context.CancelFunc
	sem    chan struct{} // bounds opening clones
	wg     sync.WaitGroup

	mu      sync.Mutex
	closed  bool
	clones  map[BranchKey]*clone
	closing map[BranchKey]chan struct{} // evicted clones still closing
}

// NewStore returns a Store; Close releases it.
func NewStore(o StoreOptions) (*Store, error) {
	if err := o.setDefaults(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Store{
		o: o, ctx: ctx, cancel: cancel, sem: make(chan struct{}, o.MaxOpening),
		clones: map[BranchKey]*clone{}, closing: map[BranchKey]chan struct{}{},
	}
	s.wg.Add(1)
	go s.janitor()
	return s, nil
}

// CloneDirName is the directory of a key's clone under StoreOptions.Dir, as
// the branch workers name theirs (gitmodel.CloneDirName).
func CloneDirName(k BranchKey) string { return gitmodel.CloneDirName(k.URL, k.Branch, k.Name) }

// Revisions returns the revisions of the file at path on the key's branch,
// newest first.
func (s *Store) Revisions(ctx context.Context, key BranchKey, path string) ([]Revision, error) {
	c, err := s.acquire(ctx, key)
	if err != nil {
		return nil, err
	}
	defer s.release(c)
	return c.idx.Revisions(path), nil
}

// Revision returns the revision of path made by the commit with the prefix
// (see Index.Revision).
func (s *Store) Revision(ctx context.Context, key BranchKey, commitPrefix, path string) (Revision, bool, error) {
	c, err := s.acquire(ctx, key)
	if err != nil {
		return Revision{}, false, err
	}
	defer s.release(c)
	return c.idx.Revision(commitPrefix, path)
}

// InCommit returns the revisions of one commit (see Index.InCommit).
func (s *Store) InCommit(ctx context.Context, key BranchKey, commitPrefix string, match func(path string) bool) ([]Revision, bool, error) {
	c, err := s.acquire(ctx, key)
	if err != nil {
		return nil, false, err
	}
	defer s.release(c)
	return c.idx.InCommit(commitPrefix, match)
}

// List returns a page of revisions, newest first (see Index.List).
func (s *Store) List(ctx context.Context, key BranchKey, o ListOptions) (Page, error) {
	c, err := s.acquire(ctx, key)
	if err != nil {
		return Page{}, err
	}
	defer s.release(c)
	return c.idx.List(o)
}

// Content returns the file of a revision of the key's branch: after the
// change, for a Delete before it. Files over git.MaxFileSize are not read
// (the error wraps git.ErrFileTooLarge).
func (s *Store) Content(ctx context.Context, key BranchKey, rev Revision) ([]byte, error) {
	c, err := s.acquire(ctx, key)
	if err != nil {
		return nil, err
	}
	defer s.release(c)
	return c.blob(rev.Blob)
}

// ContentAndDiff returns Content and the unified diff of the revision
// against the path's previous content ("/dev/null" for the side of a Create
// or a Delete where the file does not exist).
func (s *Store) ContentAndDiff(ctx context.Context, key BranchKey, rev Revision) (content []byte, diff string, err error) {
	c, err := s.acquire(ctx, key)
	if err != nil {
		return nil, "", err
	}
	defer s.release(c)
	if content, err = c.blob(rev.Blob); err != nil {
		return nil, "", err
	}
	switch rev.Operation {
	case Create:
		return content, gitmodel.UnifiedDiff(nil, content, "/dev/null", "b/"+rev.Path), nil
	case Delete:
		return content, gitmodel.UnifiedDiff(content, nil, "a/"+rev.Path, "/dev/null"), nil
	}
	before, err := c.blob(rev.PreviousBlob)
	if err != nil {
		return nil, "", err
	}
	return content, gitmodel.UnifiedDiff(before, content, "a/"+rev.Path, "b/"+rev.Path), nil
}

func (c *clone) blob(h string) ([]byte, error) {
	hash := plumbing.NewHash(h)
	if len(h) != 40 || hash.IsZero() || hash.String() != h {
		return nil, fmt.Errorf("history: bad blob hash %q", h)
	}
	return c.obj.ReadBlob(hash)
}

// BranchStats describe a key's clone.
type BranchStats struct {
	IndexStats
	// Dir is the clone's directory.
	Dir string
	// Ready: the clone is open and indexed.
	Ready bool
	// Fetches counts the background fetches; LastFetch is when the last
	// ended; LastError is its error ("" if it succeeded).
	Fetches   int64
	LastFetch time.Time
	LastError string
}

// Stats describes the open clone of key; false when none is open.
func (s *Store) Stats(key BranchKey) (BranchStats, bool) {
	s.mu.Lock()
	c := s.clones[key]
	if c == nil {
		s.mu.Unlock()
		return BranchStats{}, false
	}
	st := BranchStats{Dir: c.dir, Fetches: c.fetches, LastFetch: c.lastFetch, Ready: c.opened}
	if c.fetchErr != nil {
		st.LastError = c.fetchErr.Error()
	}
	s.mu.Unlock()
	if st.Ready {
		st.IndexStats = c.idx.Stats()
	}
	return st, true
}
