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

	"github.com/go-git/go-billy/v5/osfs"
	gogit "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// remoteName is the name of the single remote of every clone.
const remoteName = "origin"

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
	if _, err := parseRemoteURL(o.URL); err != nil {
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
type Repo struct {
	mu      sync.Mutex
	opts    Options
	storage *filesystem.Storage
	repo    *gogit.Repository

	branchRef   plumbing.ReferenceName // refs/heads/<branch>, mirrors head
	trackingRef plumbing.ReferenceName // refs/remotes/origin/<branch>
	head        plumbing.Hash          // our view of the remote branch tip
	secrets     []string               // values scrubbed from error messages

	trees       map[plumbing.Hash]*object.Tree // decoded-tree cache, see getTree
	treeEntries int                            // entries held by trees
	// headTreeOf and headTreeHash remember the tree of the last head looked
	// up: decoding the commit (its message lists every changed file) for each
	// file read was a fifth of a live batch's time.
	headTreeOf, headTreeHash plumbing.Hash
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
	if p, err := parseRemoteURL(o.URL); err == nil {
		if p.hasPwd {
			s = append(s, p.pass)
		}
		if p.kind == kindHTTP && p.user != "" {
			s = append(s, p.user) // may be a token ("https://TOKEN@host/...")
		}
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
	st := newStorage(o.Dir)
	repo, err := gogit.Open(st, nil)
	if errors.Is(err, gogit.ErrRepositoryNotExists) {
		if !create {
			_ = st.Close()
			return nil, fmt.Errorf("git: %s exists but is not a git repository", o.Dir)
		}
		repo, err = gogit.Init(st, nil)
	}
	if err != nil {
		_ = st.Close()
		return nil, fmt.Errorf("git: open %s: %w", o.Dir, err)
	}
	r := &Repo{
		opts:        o,
		storage:     st,
		repo:        repo,
		branchRef:   plumbing.NewBranchReferenceName(o.Branch),
		trackingRef: plumbing.NewRemoteReferenceName(remoteName, o.Branch),
		secrets:     secrets,
	}
	if err := r.configure(); err != nil {
		_ = st.Close()
		return nil, err
	}
	return r, nil
}

func newStorage(dir string) *filesystem.Storage {
	// go-git's default object cache is 96 MiB; we read few objects twice
	// (decoded trees have their own cache), so a small one keeps RSS down.
	return filesystem.NewStorageWithOptions(osfs.New(dir), cache.NewObjectLRU(8*cache.MiByte), filesystem.Options{
		// Only this Repo touches Dir: let go-git cache the pack list.
		ExclusiveAccess: true,
		// Keep a bounded number of pack files open between reads.
		MaxOpenDescriptors: 32,
	})
}

// reopenStorage drops every go-git cache about the object database (pack
// list, pack indexes, open files), e.g. after packfiles were deleted.
func (r *Repo) reopenStorage() error {
	old := r.storage
	st := newStorage(r.opts.Dir)
	repo, err := gogit.Open(st, nil)
	if err != nil {
		_ = st.Close()
		return fmt.Errorf("git: reopen %s: %w", r.opts.Dir, err)
	}
	r.storage, r.repo, r.trees, r.treeEntries = st, repo, nil, 0
	// The swap is done: failing to close the old storage's files must not
	// make the caller (a commit already in the clone) report a failure.
	_ = old.Close()
	return nil
}

var zeroTime time.Time

// configure makes the repository config match the options (idempotent).
func (r *Repo) configure() error {
	cfg, err := r.repo.Config()
	if err != nil {
		return fmt.Errorf("git: read config: %w", err)
	}
	cfg.Core.IsBare = true
	// No delta search when go-git encodes packs for this clone (its
	// Remote.Push and RepackObjects read config.Pack.Window): deltas cost far
	// more CPU than they save for freshly written small YAML files (10k
	// files: 3.9s -> 1.0s). Our own push path writes delta-less packs anyway.
	cfg.Pack.Window = 0
	cfg.Remotes[remoteName] = &config.RemoteConfig{
		Name:  remoteName,
		URLs:  []string{r.opts.URL},
		Fetch: []config.RefSpec{r.fetchSpec()},
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("git: invalid config: %w", redactErr(err, r.secrets))
	}
	if err := r.repo.SetConfig(cfg); err != nil {
		return fmt.Errorf("git: write config: %w", err)
	}
	if err := r.storage.SetReference(plumbing.NewSymbolicReference(plumbing.HEAD, r.branchRef)); err != nil {
		return fmt.Errorf("git: set HEAD: %w", err)
	}
	return nil
}

// Close releases open file descriptors. The Repo must not be used after.
func (r *Repo) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.storage == nil {
		return nil
	}
	err := r.storage.Close()
	r.storage = nil
	return err
}

// Dir returns the absolute clone directory.
func (r *Repo) Dir() string { return r.opts.Dir }

// Branch returns the branch name.
func (r *Repo) Branch() string { return r.opts.Branch }

// Head returns our view of the branch tip: the commit last fetched or pushed.
// It is the zero hash while the branch does not exist on the remote.
func (r *Repo) Head() plumbing.Hash {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.head
}

// Fetch updates Head from the remote branch. A missing remote branch (or an
// empty remote) is not an error: Head becomes zero.
func (r *Repo) Fetch(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.fetch(ctx)
}

func (r *Repo) fetch(ctx context.Context) error {
	if r.storage == nil {
		return errors.New("git: repository is closed")
	}
	if err := checkRemote(ctx, r.opts.URL); err != nil {
		return fmt.Errorf("git: %w", err)
	}
	remote, err := r.repo.Remote(remoteName)
	if err != nil {
		return fmt.Errorf("git: %w", err)
	}
	if limit := MaxObjectSize(); limit > 0 {
		// The same remote over the clone's storage, except that the pack
		// it receives is scanned against the object size bound on its way
		// (packscan.go).
		remote = gogit.NewRemote(scanStorage{Storage: r.storage, limit: limit}, remote.Config())
	}
	// Only the branch: the remote's one refspec (configure) and no tags, so
	// a repository's other branches and tags are never downloaded. Bounded
	// by MaxFetchSize and MaxObjectSize.
	ctx, dl := withDownload(ctx)
	err = remote.FetchContext(ctx, &gogit.FetchOptions{
		RemoteName: remoteName,
		RefSpecs:   []config.RefSpec{r.fetchSpec()},
		Auth:       r.opts.Auth,
		Tags:       gogit.NoTags,
	})
	err = dl.check(err)
	switch {
	case err == nil:
		// New objects arrived as a new packfile. Best effort, see
		// maybeConsolidatePacks.
		_ = r.maybeConsolidatePacks()
		return r.loadHead()
	case errors.Is(err, gogit.NoErrAlreadyUpToDate):
		return r.loadHead()
	case errors.Is(err, transport.ErrEmptyRemoteRepository), errors.Is(err, gogit.NoMatchingRefSpecError{}):
		// The branch does not exist (yet) on the remote.
		if err := r.storage.RemoveReference(r.trackingRef); err != nil {
			return fmt.Errorf("git: %w", err)
		}
		return r.loadHead()
	default:
		// A fetch cut short leaves go-git's temporary pack behind.
		r.removeTempPacks()
		return fmt.Errorf("git: fetch %s branch %s: %w", Redact(r.opts.URL), r.opts.Branch, redactErr(err, r.secrets))
	}
}

// fetchSpec is the one refspec fetched: the branch into its tracking ref.
func (r *Repo) fetchSpec() config.RefSpec {
	return config.RefSpec(fmt.Sprintf("+%s:%s", r.branchRef, r.trackingRef))
}

// loadHead sets r.head from the tracking ref and mirrors it into the local
// branch ref (the push source).
func (r *Repo) loadHead() error {
	ref, err := r.storage.Reference(r.trackingRef)
	switch {
	case errors.Is(err, plumbing.ErrReferenceNotFound):
		r.head = plumbing.ZeroHash
	case err != nil:
		return fmt.Errorf("git: read %s: %w", r.trackingRef, err)
	default:
		r.head = ref.Hash()
	}
	return r.setLocalBranch(r.head)
}

func (r *Repo) setLocalBranch(h plumbing.Hash) error {
	var err error
	if h.IsZero() {
		err = r.storage.RemoveReference(r.branchRef)
	} else {
		err = r.storage.SetReference(plumbing.NewHashReference(r.branchRef, h))
	}
	if err != nil {
		return fmt.Errorf("git: update %s: %w", r.branchRef, err)
	}
	return nil
}
