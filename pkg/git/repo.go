package git

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"

	"github.com/configbutler/gitops-reverser/pkg/gitmodel"
)

// Signature identifies the author/committer of the commits we create.
type Signature struct {
	Name  string
	Email string
}

// Default values for Options.
const (
	DefaultAuthorName      = "gitops-reverser"
	DefaultAuthorEmail     = "gitops-reverser@localhost"
	DefaultMaxPushAttempts = 5
	DefaultRetryBaseDelay  = 100 * time.Millisecond
	DefaultRetryMaxDelay   = 5 * time.Second
	DefaultMaxPacks        = 64
)

// Options configures Open.
type Options struct {
	// URL of the remote repository (https://, http://, ssh://, scp-like
	// git@host:org/repo, file:// or a local path). Prefer keeping
	// credentials out of the URL (see HasCredentials); they are stored in
	// the clone's config otherwise.
	URL string
	// Branch is the short branch name, e.g. "main".
	Branch string
	// Dir is the local clone directory, owned exclusively by this Repo.
	Dir string
	// Auth is the transport auth (see AuthFromSecret); nil for none.
	Auth transport.AuthMethod
	// Author is the committer of our commits, and their author unless a
	// Commit names another. Defaults: DefaultAuthorName / DefaultAuthorEmail.
	Author Signature

	// Sign, when set, signs every commit: it gets the commit as git encodes
	// it without a signature and returns the armored signature (see
	// OpenPGPSigner).
	Sign func(payload []byte) (string, error)

	// MaxPushAttempts bounds the push attempts of one CommitAndPush,
	// including the first (default DefaultMaxPushAttempts).
	MaxPushAttempts int
	// RetryBaseDelay and RetryMaxDelay shape the jittered exponential
	// backoff between attempts (defaults DefaultRetryBaseDelay,
	// DefaultRetryMaxDelay).
	RetryBaseDelay time.Duration
	RetryMaxDelay  time.Duration
	// MaxPacks: after a push or a fetch that adds a packfile, if the clone
	// holds more packfiles than this, the small ones are merged (default
	// DefaultMaxPacks; negative disables). Every commit adds one packfile.
	MaxPacks int
}

func (o *Options) setDefaults() error {
	if strings.TrimSpace(o.URL) == "" {
		return errors.New("git: Options.URL is required")
	}
	if o.Dir == "" {
		return errors.New("git: Options.Dir is required")
	}
	if o.Branch == "" {
		return errors.New("git: Options.Branch is required")
	}
	if strings.HasPrefix(o.Branch, "refs/") {
		return fmt.Errorf("git: Options.Branch must be a short branch name, got %q", o.Branch)
	}
	if err := plumbing.NewBranchReferenceName(o.Branch).Validate(); err != nil || strings.HasPrefix(o.Branch, "-") {
		return fmt.Errorf("git: invalid branch name %q", o.Branch)
	}
	if _, err := gitmodel.ParseRemoteURL(o.URL); err != nil {
		return fmt.Errorf("git: %w", err)
	}
	if o.Author.Name == "" {
		o.Author.Name = DefaultAuthorName
	}
	if o.Author.Email == "" {
		o.Author.Email = DefaultAuthorEmail
	}
	if o.MaxPushAttempts <= 0 {
		o.MaxPushAttempts = DefaultMaxPushAttempts
	}
	if o.RetryBaseDelay <= 0 {
		o.RetryBaseDelay = DefaultRetryBaseDelay
	}
	if o.RetryMaxDelay <= 0 {
		o.RetryMaxDelay = DefaultRetryMaxDelay
	}
	if o.MaxPacks == 0 {
		o.MaxPacks = DefaultMaxPacks
	}
	return nil
}

// Repo is a long-lived local clone of one branch of one remote repository.
// See the package documentation for the concurrency contract.
//
// Its jobs are split among its parts, each the one owner of its state:
//   - remote: the remote branch (URL, auth, the refs that track it), its
//     receive-pack sessions, pushes and access checks (remote.go);
//   - db: the object database on disk, the trees decoded from it and its
//     packfiles (store.go, packmerge.go);
//   - tree: reading the tree of Head (read.go, blocked.go);
//   - commits: building commits from change sets (tree.go);
//   - the Repo itself: opening, cloning and fetching (bounded, download.go)
//     and the branch tip, head (fetch.go, push.go).
type Repo struct {
	// mu serializes the methods of a Repo: every method that reads or
	// writes the clone holds it for its whole run (a fetch or a push,
	// network included). It guards head, db, tree and the state they hold
	// (the storage, the decoded trees, Head's tree), which have no lock of
	// their own. remote, commits, retry and db's directory are fixed at
	// Open and read without it (Dir, Branch, CheckPushAccess).
	mu sync.Mutex

	remote  remote
	commits commitWriter
	retry   retryPolicy

	db   *objectDB
	tree treeReader
	// head is our view of the remote branch tip: the commit last fetched
	// (loadHead) or pushed (pushed); zero while the branch does not exist.
	head plumbing.Hash
}

// Open opens the clone in o.Dir and fetches, or clones into o.Dir when it
// does not exist or is empty. It never re-clones an existing clone. If Dir
// exists but is not a git repository, Open fails (it never deletes data it
// did not create).
func Open(ctx context.Context, o Options) (*Repo, error) {
	if err := o.setDefaults(); err != nil {
		return nil, err
	}
	if err := checkRemote(ctx, o.URL); err != nil {
		return nil, fmt.Errorf("git: %w", err)
	}
	secrets := secretsOf(o)

	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("git: %w", err)
	}
	o.Dir = dir

	empty, err := isAbsentOrEmptyDir(dir)
	if err != nil {
		return nil, fmt.Errorf("git: %w", err)
	}
	if empty {
		if err := cloneInto(ctx, o, secrets); err != nil {
			return nil, err
		}
		r, err := openDir(o, secrets, false)
		if err != nil {
			return nil, err
		}
		if err := r.loadHead(); err != nil {
			_ = r.Close()
			return nil, err
		}
		return r, nil
	}

	r, err := openDir(o, secrets, false)
	if err != nil {
		return nil, err
	}
	if err := r.fetch(ctx); err != nil {
		_ = r.Close()
		return nil, err
	}
	return r, nil
}

func secretsOf(o Options) []string {
	var s []string
	if p, err := gitmodel.ParseRemoteURL(o.URL); err == nil {
		s = append(s, p.Secrets()...) // its password, an http(s) user name (may be a token)
	}
	if ba, ok := o.Auth.(*githttp.BasicAuth); ok && ba != nil {
		s = append(s, ba.Password)
	}
	if ta, ok := o.Auth.(*githttp.TokenAuth); ok && ta != nil {
		s = append(s, ta.Token)
	}
	return s
}

func isAbsentOrEmptyDir(dir string) (bool, error) {
	f, err := os.Open(dir)
	if errors.Is(err, os.ErrNotExist) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return false, err
	}
	if !fi.IsDir() {
		return false, fmt.Errorf("%s exists and is not a directory", dir)
	}
	_, err = f.Readdirnames(1)
	if errors.Is(err, io.EOF) {
		return true, nil
	}
	return false, err
}

// cloneInto initializes and fetches a clone in a temporary sibling
// directory, then renames it to o.Dir. On failure nothing is left behind.
func cloneInto(ctx context.Context, o Options, secrets []string) error {
	parent := filepath.Dir(o.Dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("git: create clone parent dir: %w", err)
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	tmp := o.Dir + ".tmp-" + hex.EncodeToString(rnd[:])
	if err := os.Mkdir(tmp, 0o755); err != nil {
		return fmt.Errorf("git: create temporary clone dir: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			_ = os.RemoveAll(tmp)
		}
	}()

	topts := o
	topts.Dir = tmp
	r, err := openDir(topts, secrets, true)
	if err != nil {
		return err
	}
	err = r.fetch(ctx)
	cerr := r.Close()
	if err != nil {
		return err
	}
	if cerr != nil {
		return fmt.Errorf("git: close temporary clone: %w", cerr)
	}
	// Replace an empty directory created by the caller.
	if err := os.Remove(o.Dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("git: %w", err)
	}
	if err := os.Rename(tmp, o.Dir); err != nil {
		return fmt.Errorf("git: move clone into place: %w", err)
	}
	ok = true
	return nil
}

// openDir opens (initializing if needed) the bare repository in o.Dir and
// makes its configuration match o. It does not touch the network.
func openDir(o Options, secrets []string, create bool) (*Repo, error) {
	db, err := openObjectDB(o.Dir, o.MaxPacks, create)
	if err != nil {
		return nil, err
	}
	r := &Repo{
		remote:  newRemote(o, secrets),
		commits: commitWriter{db: db, author: o.Author, sign: o.Sign},
		retry:   retryPolicy{attempts: o.MaxPushAttempts, baseDelay: o.RetryBaseDelay, maxDelay: o.RetryMaxDelay},
		db:      db,
		tree:    treeReader{db: db},
	}
	if err := r.remote.configure(db); err != nil {
		_ = db.storage.Close()
		return nil, err
	}
	return r, nil
}

// Close releases open file descriptors. The Repo must not be used after.
func (r *Repo) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.db.close()
}

// DropCaches lets go of what the clone keeps in memory between reads (the
// decoded trees, go-git's object cache and pack indexes); the next read
// loads what it needs from disk again. An idle worker calls it: no idle
// branch needs those caches (about 9 MB for the bench's clone of 1,000
// target directories).
func (r *Repo) DropCaches() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.db.closed() {
		return errClosed
	}
	return r.db.reopen()
}

// CachedTreeEntries is how many tree entries the clone holds decoded: what
// DropCaches lets go of, besides go-git's own caches.
func (r *Repo) CachedTreeEntries() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.db.treeEntries
}

// Dir returns the absolute clone directory.
func (r *Repo) Dir() string { return r.db.dir }

// Branch returns the branch name.
func (r *Repo) Branch() string { return r.remote.branch }

// Head returns our view of the branch tip: the commit last fetched or pushed.
// It is the zero hash while the branch does not exist on the remote.
func (r *Repo) Head() plumbing.Hash {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.head
}
